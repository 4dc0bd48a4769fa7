import { describe, expect, it } from "vitest";
import {
  BackendError,
  IntegrityError,
  InvalidKeyError,
  MemoryBucket,
  MiB,
  NotFoundError,
  ObjectTooLargeError,
  RangeConfigError,
  createMemoryStore,
  createObjectStore,
  type ObjectMeta,
  type RangeStats,
  type StoreDriver,
} from "../src/index.js";
import { collect, equalBytes, patternBytes } from "./helpers.js";

/** A driver over a memory store that counts requests by kind, optionally without `readHead`. */
function countingDriver(options: { readHead: boolean }) {
  const backing = createMemoryStore();
  const counts = { stat: 0, read: 0, head: 0 };
  const etags = new Map<string, string>();
  const driver: StoreDriver = {
    scheme: "counting",
    async stat(key) {
      counts.stat++;
      return backing.stat(key);
    },
    async read(key, offset, length, opts) {
      counts.read++;
      if (opts.etag !== undefined && (await backing.stat(key)).etag !== opts.etag) {
        throw new IntegrityError("changed", { code: "E_OBJECT_CHANGED" });
      }
      const bytes = await backing.getRange(key, offset, length);
      if (opts.target) {
        opts.target.set(bytes);
        return opts.target;
      }
      return bytes;
    },
    ...(options.readHead
      ? {
          async readHead(key: string, length: number) {
            counts.head++;
            const meta = await backing.stat(key);
            return { meta, data: await backing.getRange(key, 0, Math.min(length, meta.size)) };
          },
        }
      : {}),
    write: (key, data, opts) => backing.put(key, data, opts),
    list: (prefix, opts) => backing.list(prefix, opts),
    delete: (key) => backing.delete(key),
  };
  return { store: createObjectStore(driver), counts, backing, etags };
}

/** A driver whose reads share one opened reader; counts opens and closes. */
function readerDriver(data: Uint8Array, failAt = Number.POSITIVE_INFINITY) {
  const counts = { open: 0, close: 0, read: 0, stat: 0 };
  const driver: StoreDriver = {
    scheme: "reader",
    stat: async (key) => {
      counts.stat++;
      return { key, size: data.length };
    },
    read: async () => {
      throw new Error("reads go through the reader");
    },
    async openReader(key, { headLength }) {
      counts.open++;
      const meta = { key, size: data.length };
      return {
        meta,
        ...(data.length < headLength ? { head: data.slice() } : {}),
        async read(offset, length, opts) {
          counts.read++;
          await new Promise((r) => setTimeout(r, 1));
          if (opts.signal?.aborted) throw opts.signal.reason;
          if (offset >= failAt) throw new NotFoundError("gone");
          return data.slice(offset, offset + length);
        },
        async close() {
          counts.close++;
        },
      };
    },
    write: async () => ({ key: "", size: 0 }),
    list: async function* () {},
    delete: async () => {},
  };
  return { driver, counts };
}

describe("createObjectStore with openReader", () => {
  const engine = { minSplitSize: 64 * 1024, chunkSize: 64 * 1024, maxConcurrentRanges: 4 };

  it("opens once per get, shares it across ranges and closes it", async () => {
    const data = patternBytes(1 * MiB);
    const { driver, counts } = readerDriver(data);
    const store = createObjectStore(driver, { engine });
    expect(equalBytes(await store.get("k"), data)).toBe(true);
    expect(counts).toEqual({ open: 1, close: 1, read: 16, stat: 0 });
    expect(equalBytes(await collect(store.getStream("k")), data)).toBe(true);
    expect(counts.open).toBe(2);
    expect(counts.close).toBe(2);
  });

  it("a small object comes whole from the open", async () => {
    const { driver, counts } = readerDriver(patternBytes(1000));
    await createObjectStore(driver, { engine }).get("k");
    expect(counts).toEqual({ open: 1, close: 1, read: 0, stat: 0 });
  });

  it("closes the reader on error, on abort and when a stream is left early", async () => {
    const data = patternBytes(1 * MiB);
    const failing = readerDriver(data, 512 * 1024);
    await expect(createObjectStore(failing.driver, { engine }).get("k")).rejects.toBeInstanceOf(NotFoundError);
    expect(failing.counts.close).toBe(1);

    const aborted = readerDriver(data);
    const controller = new AbortController();
    const pending = createObjectStore(aborted.driver, { engine }).get("k", {
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(aborted.counts.close).toBe(1);

    const early = readerDriver(data);
    for await (const _chunk of createObjectStore(early.driver, { engine }).getStream("k")) break;
    expect(early.counts.close).toBe(1);
  });

  it("a caller's abort during an open that ignores it still stops the read: no range starts, AbortError, reader closed", async () => {
    const data = patternBytes(1 * MiB);
    const { driver, counts } = readerDriver(data);
    const open = driver.openReader!.bind(driver);
    const controller = new AbortController();
    // The open neither checks nor forwards the signal; the caller aborts while it runs.
    driver.openReader = async (key, opts) => {
      const reader = await open(key, { headLength: opts.headLength });
      controller.abort();
      return reader;
    };
    const store = createObjectStore(driver, { engine });
    await expect(store.get("k", { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(counts).toMatchObject({ open: 1, close: 1, read: 0 });
  });

  it("an open that fails after the caller aborted reports the abort, not the driver's error", async () => {
    const { driver, counts } = readerDriver(patternBytes(1000));
    const controller = new AbortController();
    driver.openReader = async () => {
      counts.open++;
      controller.abort();
      throw new BackendError("connection reset", { code: "E_TEST", retryable: false });
    };
    await expect(createObjectStore(driver, { engine }).get("k", { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
  });
});

/** A driver whose readHead resolves on "headers" and delivers the head's body `bodyDelayMs` later. */
function lateBodyDriver(data: Uint8Array, opts: { bodyDelayMs: number; headFails?: boolean; readFails?: boolean }) {
  const events: string[] = [];
  let headSignal: AbortSignal | undefined;
  const driver: StoreDriver = {
    scheme: "late",
    stat: async () => {
      throw new Error("no stat expected");
    },
    async readHead(key, length, { signal }) {
      headSignal = signal;
      events.push("head-headers");
      const body = new Promise<Uint8Array>((resolve, reject) => {
        const timer = setTimeout(() => {
          events.push("head-body");
          if (opts.headFails) reject(new NotFoundError("head body failed"));
          else resolve(data.slice(0, Math.min(length, data.length)));
        }, opts.bodyDelayMs);
        signal?.addEventListener("abort", () => {
          clearTimeout(timer);
          reject(signal.reason);
        });
      });
      return { meta: { key, size: data.length, etag: '"v1"' }, data: body };
    },
    async read(_key, offset, length, { signal }) {
      events.push("range");
      await new Promise((r) => setTimeout(r, 2));
      if (signal?.aborted) throw signal.reason;
      if (opts.readFails) throw new NotFoundError("range failed");
      return data.slice(offset, offset + length);
    },
    write: async () => ({ key: "", size: 0 }),
    list: async function* () {},
    delete: async () => {},
  };
  return { driver, events, headSignal: () => headSignal };
}

describe("createObjectStore with a head whose body arrives late", () => {
  const engine = { minSplitSize: 64 * 1024, chunkSize: 64 * 1024, maxConcurrentRanges: 4 };

  it("starts the other ranges as soon as the size is known, not when the head's body is in", async () => {
    const data = patternBytes(1 * MiB);
    const { driver, events } = lateBodyDriver(data, { bodyDelayMs: 40 });
    const store = createObjectStore(driver, { engine });
    expect(equalBytes(await store.get("k"), data)).toBe(true);
    expect(events[0]).toBe("head-headers");
    expect(events.indexOf("range")).toBeLessThan(events.indexOf("head-body"));
    const assembled = new Uint8Array(data.length);
    await store.readTo!("k", (offset, bytes) => assembled.set(bytes, offset));
    expect(equalBytes(assembled, data)).toBe(true);
    expect(equalBytes(await collect(store.getStream("k")), data)).toBe(true);
  });

  it("a failing head body aborts the ranges and is the error the caller sees", async () => {
    const { driver } = lateBodyDriver(patternBytes(1 * MiB), { bodyDelayMs: 10, headFails: true });
    const error = await createObjectStore(driver, { engine }).get("k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotFoundError);
    expect((error as Error).message).toBe("head body failed");
  });

  it("a failing range aborts the head's body", async () => {
    const late = lateBodyDriver(patternBytes(1 * MiB), { bodyDelayMs: 5_000, readFails: true });
    const startedAt = performance.now();
    const error = await createObjectStore(late.driver, { engine }).get("k").catch((e: unknown) => e);
    expect((error as Error).message).toBe("range failed");
    expect(late.headSignal()?.aborted).toBe(true);
    expect(performance.now() - startedAt).toBeLessThan(1_000);
  });
});

describe("createObjectStore reads", () => {
  it("a small object costs ONE request and no stat when the driver has readHead", async () => {
    const { store, counts, backing } = countingDriver({ readHead: true });
    const data = patternBytes(4 * MiB - 1);
    await backing.put("small", data);
    expect(equalBytes(await store.get("small"), data)).toBe(true);
    expect(counts).toEqual({ stat: 0, read: 0, head: 1 });
  });

  it("a large object learns its size from the first range: no stat, the rest through the engine", async () => {
    const { store, counts, backing } = countingDriver({ readHead: true });
    const data = patternBytes(16 * MiB + 5);
    await backing.put("big", data);
    let stats: RangeStats | undefined;
    const progress: number[] = [];
    const out = await store.get("big", { onStats: (s) => (stats = s), onProgress: (p) => progress.push(p.bytes) });
    expect(equalBytes(out, data)).toBe(true);
    expect(counts.stat).toBe(0);
    expect(counts.head).toBe(1);
    expect(counts.read).toBeGreaterThan(1);
    expect(stats!.bytes).toBe(data.length);
    expect(stats!.ranges).toBe(counts.read + 1);
    expect(progress.at(-1)).toBe(data.length);
  });

  it("without readHead: one stat, then one read below the threshold or ranges above it", async () => {
    const { store, counts, backing } = countingDriver({ readHead: false });
    await backing.put("small", patternBytes(1000));
    await store.get("small");
    expect(counts).toEqual({ stat: 1, read: 1, head: 0 });
    await backing.put("big", patternBytes(9 * MiB));
    const out = await store.get("big");
    expect(equalBytes(out, patternBytes(9 * MiB))).toBe(true);
    expect(counts.stat).toBe(2);
    expect(counts.read).toBe(1 + 9);
  });

  it("knownMeta (e.g. from a listing) plans at once: no stat, no probing head", async () => {
    const { store, counts, backing } = countingDriver({ readHead: true });
    const big = patternBytes(9 * MiB);
    const meta = await backing.put("big", big);
    await backing.put("small", patternBytes(1000));
    expect(equalBytes(await store.get("big", { knownMeta: meta }), big)).toBe(true);
    expect(counts).toEqual({ stat: 0, read: 9, head: 0 });
    await store.get("small", { knownMeta: { size: 1000 } });
    expect(counts).toEqual({ stat: 0, read: 10, head: 0 });
    await expect(store.get("big", { knownMeta: { size: -1 } })).rejects.toMatchObject({ name: "InvalidRangeError" });
    // A stale listing: the object changed since, so the pinned etag no longer matches.
    await backing.put("big", patternBytes(9 * MiB, 2));
    await expect(store.get("big", { knownMeta: meta })).rejects.toMatchObject({ code: "E_OBJECT_CHANGED" });
  });

  it("knownMeta below the split threshold: one pinned read, retried like a range, whole-object stats", async () => {
    const backing = createMemoryStore();
    const data = patternBytes(100 * 1024);
    const meta = await backing.put("small", data);
    const reads: { offset: number; length: number; etag: string | undefined }[] = [];
    let failures = 1;
    const driver: StoreDriver = {
      scheme: "flaky",
      stat: () => Promise.reject(new Error("no stat expected")),
      async read(key, offset, length, opts) {
        reads.push({ offset, length, etag: opts.etag });
        if (failures-- > 0) throw new BackendError("reset", { code: "E_NETWORK", retryable: true });
        return backing.getRange(key, offset, length);
      },
      write: (key, bytes, opts) => backing.put(key, bytes, opts),
      list: (prefix, opts) => backing.list(prefix, opts),
      delete: (key) => backing.delete(key),
    };
    const store = createObjectStore(driver, { engine: { retry: { baseDelayMs: 1, maxDelayMs: 2 } } });
    let stats: RangeStats | undefined;
    const out = await store.get("small", { knownMeta: meta, onStats: (s) => (stats = s) });
    expect(equalBytes(out, data)).toBe(true);
    expect(reads).toEqual([
      { offset: 0, length: data.length, etag: meta.etag },
      { offset: 0, length: data.length, etag: meta.etag },
    ]);
    expect(stats).toMatchObject({ bytes: data.length, ranges: 1, retries: 1 });
    // A reused `into` gets the bytes too.
    const into = new Uint8Array(data.length + 10);
    expect(equalBytes(await store.get("small", { knownMeta: meta, into }), data)).toBe(true);
    expect(equalBytes(into.subarray(0, data.length), data)).toBe(true);
  });

  it("engine: false reads a large object in a single request", async () => {
    const { store, counts, backing } = countingDriver({ readHead: true });
    await backing.put("big", patternBytes(9 * MiB));
    await store.get("big", { engine: false });
    expect(counts).toEqual({ stat: 0, read: 0, head: 1 });
  });

  it("pins every range to the version it started with: an overwrite mid-read is an IntegrityError, never mixed bytes", async () => {
    const bucket = new MemoryBucket();
    const store = createMemoryStore({ bucket, latencyMs: 2 });
    const writer = createMemoryStore({ bucket });
    await writer.put("obj", patternBytes(2 * MiB, 1));
    let overwritten = false;
    const read = store.get("obj", {
      engine: { minSplitSize: 64 * 1024, chunkSize: 64 * 1024, maxConcurrentRanges: 2 },
      onProgress: () => {
        if (!overwritten) {
          overwritten = true;
          void writer.put("obj", patternBytes(2 * MiB, 2));
        }
      },
    });
    const error = await read.catch((e: unknown) => e);
    expect(IntegrityError.isInstance(error)).toBe(true);
    expect((error as IntegrityError).code).toBe("E_OBJECT_CHANGED");
  });

  it("streams in order and getStream + readTo agree with get", async () => {
    const store = createMemoryStore();
    const data = patternBytes(5 * MiB + 17);
    await store.put("k", data);
    const engine = { minSplitSize: 256 * 1024, chunkSize: 256 * 1024 };
    expect(equalBytes(await collect(store.getStream("k", { engine })), data)).toBe(true);
    const assembled = new Uint8Array(data.length);
    const offsets = new Set<number>();
    const { meta } = await store.readTo!("k", (offset, bytes) => {
      expect(offsets.has(offset)).toBe(false);
      offsets.add(offset);
      assembled.set(bytes, offset);
    }, { engine });
    expect(meta.size).toBe(data.length);
    expect(equalBytes(assembled, data)).toBe(true);
  });

  it("validates before any I/O", async () => {
    const { store, counts } = countingDriver({ readHead: true });
    await expect(store.get("../etc/passwd")).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.get("ok", { engine: { chunkSize: -1 } })).rejects.toBeInstanceOf(RangeConfigError);
    await expect(collect(store.getStream("a//b"))).rejects.toBeInstanceOf(InvalidKeyError);
    await expect(store.put("k", "text" as never)).rejects.toBeInstanceOf(RangeConfigError);
    await expect(collect(store.list("../") as never)).rejects.toBeInstanceOf(InvalidKeyError);
    expect(counts).toEqual({ stat: 0, read: 0, head: 0 });
  });

  it("stores and returns copies, also for Buffers (whose slice() is a view)", async () => {
    const store = createMemoryStore();
    const input = Buffer.from("hello world");
    await store.put("buf", input);
    input[0] = 0x4a;
    const first = await store.get("buf");
    expect(Buffer.from(first).toString()).toBe("hello world");
    first[0] = 0x4a;
    expect(Buffer.from(await store.get("buf")).toString()).toBe("hello world");
    await store.put("streamed", (async function* () {
      yield Buffer.from([1, 2, 3]);
    })());
    const got = await store.get("streamed");
    got[0] = 9;
    expect([...(await store.get("streamed"))]).toEqual([1, 2, 3]);
  });

  it("missing objects are NotFoundError; delete is idempotent; exists reflects state", async () => {
    const store = createMemoryStore();
    await expect(store.get("nope")).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.stat("nope")).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.delete("nope")).resolves.toBeUndefined();
    expect(await store.exists("nope")).toBe(false);
    await store.put("yes", new Uint8Array([1]));
    expect(await store.exists("yes")).toBe(true);
  });

  it("an aborted put settles at once even while its source is stalled, and stops the source", async () => {
    const store = createMemoryStore();
    let returned = false;
    const stalled: AsyncIterable<Uint8Array> = {
      [Symbol.asyncIterator]: () => ({
        next: () => new Promise<IteratorResult<Uint8Array>>(() => {}),
        return: async () => {
          returned = true;
          return { done: true, value: undefined };
        },
      }),
    };
    const controller = new AbortController();
    const pending = store.put("k", stalled, { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    const startedAt = performance.now();
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(performance.now() - startedAt).toBeLessThan(500);
    expect(returned).toBe(true);
    expect(await store.exists("k")).toBe(false);
  });

  it("many reads sharing one caller signal add one listener to it, and an abort still reaches them all", async () => {
    const store = createMemoryStore({ latencyMs: 20 });
    for (let i = 0; i < 40; i++) await store.put(`k${i}`, patternBytes(2 * MiB, i));
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    try {
      const controller = new AbortController();
      const engine = { minSplitSize: 256 * 1024, chunkSize: 256 * 1024 };
      const reads = Array.from({ length: 40 }, (_, i) => store.get(`k${i}`, { signal: controller.signal, engine }).catch((e: unknown) => e));
      await new Promise((r) => setTimeout(r, 5));
      controller.abort();
      const results = await Promise.all(reads);
      expect(results.every((r) => (r as Error).name === "AbortError")).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(warnings).not.toContain("MaxListenersExceededWarning");
      expect(store.probe.activeReads).toBe(0);
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("a closed store refuses work", async () => {
    const store = createMemoryStore();
    await store[Symbol.asyncDispose]();
    await expect(store.get("k")).rejects.toMatchObject({ code: "E_CLOSED" });
  });

  it("an object too big for one buffer points to getStream/downloadFile", async () => {
    const driver: StoreDriver = {
      scheme: "huge",
      stat: async (key): Promise<ObjectMeta> => ({ key, size: 2 ** 33 }),
      read: async (_k, _o, length) => new Uint8Array(length),
      write: async () => ({ key: "", size: 0 }),
      list: async function* () {},
      delete: async () => {},
    };
    const error = await createObjectStore(driver).get("k").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ObjectTooLargeError);
    expect((error as Error).message).toMatch(/getStream\(\) or downloadFile\(\)/);
  });

  it("deletePrefix removes only that prefix and counts", async () => {
    const store = createMemoryStore();
    for (const key of ["a/1", "a/2", "a/b/3", "ab/4", "b/5"]) await store.put(key, new Uint8Array([1]));
    expect(await store.deletePrefix("a/")).toBe(3);
    const left: string[] = [];
    for await (const meta of store.list()) left.push(meta.key);
    expect(left).toEqual(["ab/4", "b/5"]);
  });

  it("lists one level with sub-prefix entries", async () => {
    const store = createMemoryStore();
    for (const key of ["d/x", "d/y/1", "d/y/2", "d/z/3", "e"]) await store.put(key, new Uint8Array(2));
    const entries: ObjectMeta[] = [];
    for await (const meta of store.list("d/", { recursive: false })) entries.push(meta);
    expect(entries).toEqual([
      expect.objectContaining({ key: "d/x", size: 2 }),
      { key: "d/y/", size: 0, isPrefix: true },
      { key: "d/z/", size: 0, isPrefix: true },
    ]);
  });
});

describe("createObjectStore prepareTarget", () => {
  const engine = { minSplitSize: 64 * 1024, chunkSize: 64 * 1024, maxConcurrentRanges: 4 };

  /** A driver over a memory store that logs each read into a target, and the target's first byte then. */
  function loggingDriver(log: string[]) {
    const backing = createMemoryStore();
    const driver: StoreDriver = {
      scheme: "logging",
      stat: (key) => backing.stat(key),
      async read(key, offset, length, opts) {
        log.push(`read ${offset} ${opts.target ? `target[0]=${opts.target[0]}` : "no target"}`);
        const bytes = await backing.getRange(key, offset, length);
        if (!opts.target) return bytes;
        opts.target.set(bytes);
        return opts.target;
      },
      write: (key, data, opts) => backing.put(key, data, opts),
      list: (prefix, opts) => backing.list(prefix, opts),
      delete: (key) => backing.delete(key),
    };
    return { driver, backing };
  }

  it("runs before every range is read into its part of the result, and the read waits for it", async () => {
    const log: string[] = [];
    const { driver, backing } = loggingDriver(log);
    const data = patternBytes(256 * 1024 + 5);
    await backing.put("k", data);
    const store = createObjectStore(driver, {
      engine,
      // Marks the part, later: the read must see the mark, so it started only after the promise resolved.
      prepareTarget: (target) =>
        new Promise<void>((resolve) =>
          setTimeout(() => {
            target[0] = 0xee;
            log.push(`prepare ${target.byteOffset}`);
            resolve();
          }, 5),
        ),
    });
    const got = await store.get("k");
    expect(equalBytes(got, data)).toBe(true);
    const reads = log.filter((line) => line.startsWith("read"));
    expect(reads.length).toBe(5);
    for (const line of reads) expect(line).toMatch(/target\[0\]=238$/);
    expect(log.filter((line) => line.startsWith("prepare")).length).toBe(5);
  });

  it("is skipped when it returns undefined, and reads without a target never call it", async () => {
    const log: string[] = [];
    const { driver, backing } = loggingDriver(log);
    await backing.put("small", patternBytes(1000));
    await backing.put("big", patternBytes(200 * 1024));
    let calls = 0;
    const store = createObjectStore(driver, {
      engine,
      prepareTarget: () => {
        calls++;
        return undefined;
      },
    });
    expect(equalBytes(await store.get("big"), patternBytes(200 * 1024))).toBe(true);
    expect(calls).toBe(4);
    await store.get("small");
    expect(calls).toBe(4);
    expect(equalBytes(await collect(store.getStream("big")), patternBytes(200 * 1024))).toBe(true);
    expect(calls).toBe(4);
  });

  it("an abort while a range waits for it rejects with AbortError and sends no read for that range", async () => {
    const log: string[] = [];
    const { driver, backing } = loggingDriver(log);
    await backing.put("k", patternBytes(256 * 1024));
    const controller = new AbortController();
    const store = createObjectStore(driver, {
      engine,
      prepareTarget: () => {
        controller.abort();
        return new Promise<void>((resolve) => setTimeout(resolve, 5));
      },
    });
    await expect(store.get("k", { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.filter((line) => line.startsWith("read"))).toEqual([]);
  });

  it("must be a function", () => {
    const { driver } = loggingDriver([]);
    expect(() => createObjectStore(driver, { prepareTarget: 1 as never })).toThrow(RangeConfigError);
  });
});
