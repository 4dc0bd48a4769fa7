import { describe, expect, it } from "vitest";
import {
  BackendError,
  IntegrityError,
  InvalidRangeError,
  NotFoundError,
  TimeoutError,
  checkContentRange,
  createMemoryStore,
  createObjectStore,
  redactSecrets,
  withRetries,
  type DriverHead,
  type RangeStats,
  type StoreDriver,
} from "../src/index.js";
import { abortableDelay, equalBytes, patternBytes, untilAbort } from "./helpers.js";

/**
 * The requests a read makes outside the engine's plan — the head request that learns the size (the whole object when
 * it is small), a stat, a single getRange — run under the same stall timer and retry policy as the engine's ranges.
 */

const TIMEOUT = 100;
const ENGINE = { minSplitSize: 1024, chunkSize: 1024, maxConcurrentRanges: 2, rangeTimeoutMs: TIMEOUT, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 5 } };

type Behaviour = "ok" | "stall" | "stall-body" | "fail" | "fail-body" | "not-found";

/** A driver over a memory store whose readHead / read / stat calls follow a script, one entry per call. */
function scriptedDriver(data: Uint8Array, script: { head?: Behaviour[]; read?: Behaviour[]; stat?: Behaviour[] }, withReadHead = true) {
  const backing = createMemoryStore();
  void backing.put("k", data);
  const calls = { head: 0, read: 0, stat: 0 };
  const next = (list: Behaviour[] | undefined, n: number): Behaviour => list?.[n - 1] ?? "ok";
  const act = async (behaviour: Behaviour, signal: AbortSignal | undefined): Promise<void> => {
    if (behaviour === "stall") await untilAbort(signal!);
    if (behaviour === "fail") throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    if (behaviour === "not-found") throw new NotFoundError("no such object", { key: "k" });
  };
  const driver: StoreDriver = {
    scheme: "scripted",
    async stat(key, opts) {
      await act(next(script.stat, ++calls.stat), opts.signal);
      return backing.stat(key);
    },
    async read(key, offset, length, opts) {
      const behaviour = next(script.read, ++calls.read);
      await act(behaviour, opts.signal);
      const bytes = await backing.getRange(key, offset, length);
      if (behaviour === "stall-body") {
        opts.progress?.();
        await untilAbort(opts.signal!);
      }
      return bytes;
    },
    write: (key, body) => backing.put(key, body),
    list: (prefix, opts) => backing.list(prefix, opts),
    delete: (key) => backing.delete(key),
  };
  if (withReadHead) {
    driver.readHead = async (key, length, opts): Promise<DriverHead> => {
      const behaviour = next(script.head, ++calls.head);
      await act(behaviour, opts.signal);
      const meta = await backing.stat(key);
      const bytes = await backing.getRange(key, 0, Math.min(length, meta.size));
      // The headers came; the body stalls or breaks afterwards (as a ranged GET's stream can).
      if (behaviour === "stall-body") return { meta, data: untilAbort(opts.signal!) };
      if (behaviour === "fail-body") return { meta, data: abortableDelay(5, opts.signal!).then(() => Promise.reject(new Error("socket hang up"))) };
      return { meta, data: bytes };
    };
  }
  return { store: createObjectStore(driver, { engine: ENGINE }), calls };
}

async function getWithStats(store: ReturnType<typeof createObjectStore>, opts: Parameters<typeof store.get>[1] = {}) {
  let stats: RangeStats | undefined;
  const started = performance.now();
  const data = await store.get("k", { ...opts, onStats: (s) => (stats = s) });
  return { data, stats: stats!, ms: performance.now() - started };
}

describe("the head request: stall timer and retries like a range", () => {
  const small = patternBytes(700, 1); // below minSplitSize: the head is the whole object
  const large = patternBytes(5000, 2); // head of 1024 bytes, then ranges

  for (const [name, behaviour] of [
    ["stalls before its headers", "stall"],
    ["stalls after its headers (the body never comes)", "stall-body"],
    ["fails before its headers", "fail"],
    ["fails after its headers", "fail-body"],
  ] as const) {
    it(`${name}: a small object is still read exactly, retries 1`, async () => {
      const { store, calls } = scriptedDriver(small, { head: [behaviour] });
      const { data, stats, ms } = await getWithStats(store);
      expect(equalBytes(data, small)).toBe(true);
      expect(stats.retries).toBe(1);
      expect(calls.head + calls.read).toBe(2);
      expect(ms).toBeLessThan(TIMEOUT * 3 + 500);
    });

    it(`${name}: a large object is still read exactly, retries 1`, async () => {
      const { store } = scriptedDriver(large, { head: [behaviour] });
      const { data, stats } = await getWithStats(store);
      expect(equalBytes(data, large)).toBe(true);
      expect(stats.retries).toBe(1);
    });
  }

  it("a body that fails after the headers is read again as a range pinned to the version the headers named", async () => {
    const { store, calls } = scriptedDriver(small, { head: ["fail-body"] });
    await getWithStats(store);
    expect(calls).toMatchObject({ head: 1, read: 1 });
  });

  it("stalling on every try: TimeoutError after `attempts` tries of rangeTimeoutMs each", async () => {
    const { store, calls } = scriptedDriver(small, { head: ["stall", "stall", "stall"] });
    const started = performance.now();
    const error = await store.get("k").catch((e: unknown) => e);
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as Error).message).toContain(`made no progress for ${TIMEOUT} ms (3 attempts)`);
    expect(calls.head).toBe(3);
    expect(ms).toBeGreaterThanOrEqual(3 * TIMEOUT - 5);
    expect(ms).toBeLessThan(3 * TIMEOUT + 500);
  });

  it("a non-retryable error (NotFoundError) is thrown at once, one request", async () => {
    const { store, calls } = scriptedDriver(small, { head: ["not-found"] });
    await expect(store.get("k")).rejects.toBeInstanceOf(NotFoundError);
    expect(calls.head).toBe(1);
  });

  it("engine: false (one request for the whole object) has the store's timer and retries too", async () => {
    const { store } = scriptedDriver(large, { head: ["stall-body"] });
    const { data, stats } = await getWithStats(store, { engine: false });
    expect(equalBytes(data, large)).toBe(true);
    expect(stats.retries).toBe(1);
  });

  it("getStream and readTo recover the same way", async () => {
    const { store } = scriptedDriver(large, { head: ["stall-body"] });
    const parts: Uint8Array[] = [];
    for await (const part of store.getStream("k")) parts.push(part);
    expect(equalBytes(Buffer.concat(parts), large)).toBe(true);
    const again = scriptedDriver(small, { head: ["fail"] });
    const out = new Uint8Array(small.length);
    const { stats } = await again.store.readTo!("k", (offset, bytes) => out.set(bytes, offset));
    expect(equalBytes(out, small)).toBe(true);
    expect(stats.retries).toBe(1);
  });

  it("an abort during a stalled head rejects AbortError at once", async () => {
    const { store } = scriptedDriver(small, { head: ["stall", "stall", "stall"] });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    const started = performance.now();
    const error = await store.get("k", { signal: controller.signal, engine: { rangeTimeoutMs: 10_000 } }).catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    expect(performance.now() - started).toBeLessThan(1_000);
  });
});

describe("stat, the stat of a read without readHead, and getRange: timer and retries", () => {
  const data = patternBytes(3000, 3);

  it("stat() that stalls once is answered by the second try", async () => {
    const { store, calls } = scriptedDriver(data, { stat: ["stall"] });
    expect((await store.stat("k")).size).toBe(3000);
    expect(calls.stat).toBe(2);
  });

  it("a read that opens with stat (no readHead) retries the stat and counts it in RangeStats", async () => {
    const { store } = scriptedDriver(data, { stat: ["fail"] }, false);
    const { data: got, stats } = await getWithStats(store);
    expect(equalBytes(got, data)).toBe(true);
    expect(stats.retries).toBe(1);
  });

  it("getRange that stalls mid-body once, then succeeds", async () => {
    const { store, calls } = scriptedDriver(data, { read: ["stall-body"] });
    expect(equalBytes(await store.getRange("k", 100, 2000), data.subarray(100, 2100))).toBe(true);
    expect(calls.read).toBe(2);
  });

  it("getRange that keeps failing: BackendError after `attempts` tries, still retryable", async () => {
    const { store, calls } = scriptedDriver(data, { read: ["fail", "fail", "fail"] });
    const error = await store.getRange("k", 0, 10).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).retryable).toBe(true);
    expect((error as Error).message).toContain("failed after 3 attempts");
    expect(calls.read).toBe(3);
  });
});

describe("withRetries", () => {
  const options = { rangeTimeoutMs: 1_000, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 2_000 } };

  it("waits at least the server's Retry-After before the next try", async () => {
    let tries = 0;
    const started = performance.now();
    const result = await withRetries(
      options,
      async () => {
        if (++tries === 1) throw new BackendError("slow down", { retryable: true, retryAfterMs: 300 });
        return "ok";
      },
      { what: "test" },
    );
    expect(result).toBe("ok");
    expect(performance.now() - started).toBeGreaterThanOrEqual(295);
  });

  it("a first failure made elsewhere (`failed`) counts as try 1", async () => {
    let tries = 0;
    let retries = 0;
    const error = await withRetries(
      options,
      async () => {
        tries++;
        throw new BackendError("down", { retryable: true });
      },
      { what: "test", failed: new BackendError("down", { retryable: true }), onRetry: () => retries++ },
    ).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect(tries).toBe(2);
    expect(retries).toBe(2);
  });
});

describe("checkContentRange: a ranged answer must be the range asked for", () => {
  const exact = { offset: 100, length: 50, exact: true, what: "GET k" };
  it.each([
    ["the exact answer", "bytes 100-149/1000", 50, exact, 1000],
    ["a probe answered short at the end of a small object", "bytes 0-699/700", 700, { offset: 0, length: 4096, exact: false, what: "GET k" }, 700],
    ["an unknown total", "bytes 100-149/*", 50, exact, undefined],
  ] as const)("accepts %s", (_, header, length, request, total) => {
    expect(checkContentRange(header, length, request)).toBe(total);
  });

  it.each([
    ["another range (shifted)", "bytes 101-150/1000", 50, exact, "E_BAD_CONTENT_RANGE"],
    ["a shorter range", "bytes 100-140/1000", 41, exact, "E_BAD_CONTENT_RANGE"],
    ["an end past the total", "bytes 0-699/699", 700, { offset: 0, length: 4096, exact: false, what: "GET k" }, "E_BAD_CONTENT_RANGE"],
    ["a probe cut short of a larger total", "bytes 0-699/701", 700, { offset: 0, length: 4096, exact: false, what: "GET k" }, "E_BAD_CONTENT_RANGE"],
    ["a body length that contradicts the header", "bytes 100-149/1000", 49, exact, "E_BAD_CONTENT_RANGE"],
    ["garbage", "bytes abc", 50, exact, "E_BAD_CONTENT_RANGE"],
    ["a total other than the size the read began with", "bytes 100-149/999", 50, { ...exact, size: 1000 }, "E_SIZE_MISMATCH"],
  ] as const)("rejects %s with a retryable IntegrityError", (_, header, length, request, code) => {
    let error: unknown;
    try {
      checkContentRange(header, length, request);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).code).toBe(code);
    expect((error as IntegrityError).retryable).toBe(true);
  });

  it("a request past the end is InvalidRangeError", () => {
    expect(() => checkContentRange("bytes 100-119/120", 20, exact)).toThrow(InvalidRangeError);
  });
});

describe("redactSecrets", () => {
  it.each([
    ["s3://AKIA:hunter2secret@bucket/x", "hunter2secret"],
    ["s3:/AKIA:hunter2secret@bucket", "hunter2secret"],
    ["s3:AKIA:hunter2secret@bucket", "hunter2secret"],
    ["malformed store URI \"memory://b/../x?token=hunter2secret\"", "hunter2secret"],
  ])("removes the credential from %s", (text, secret) => {
    expect(redactSecrets(text)).not.toContain(secret);
  });
});
