import { describe, expect, it } from "vitest";
import {
  MemoryBucket,
  NotFoundError,
  RangeConfigError,
  createMemoryStore,
  createObjectStore,
  type ObjectStore,
  type StoreDriver,
} from "@range/core";
import { createLoader, shard, shuffled, type Batch } from "../src/index.js";

function keyName(i: number): string {
  return `data/item-${String(i).padStart(5, "0")}.bin`;
}

async function fill(store: ObjectStore, count: number, size = 100): Promise<string[]> {
  const keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = new Uint8Array(size).fill(i & 0xff);
    bytes[0] = i >> 8;
    await store.put(keyName(i), bytes);
    keys.push(keyName(i));
  }
  return keys;
}

async function drain(loader: AsyncIterable<Batch>): Promise<Batch[]> {
  const batches: Batch[] = [];
  for await (const batch of loader) batches.push(batch);
  return batches;
}

/**
 * A store over memory whose reads take `delayFor(key)` ms (abortable) and that counts reads in flight, ever started,
 * and still running after an abort.
 */
function slowStore(delayFor: (key: string) => number) {
  const backing = createMemoryStore();
  const counters = { active: 0, maxActive: 0, started: 0, stat: 0, head: 0, read: 0 };
  const wait = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(signal.reason);
      }, { once: true });
    });
  const track = async <T>(key: string, signal: AbortSignal | undefined, work: () => Promise<T>): Promise<T> => {
    counters.active++;
    counters.started++;
    counters.maxActive = Math.max(counters.maxActive, counters.active);
    try {
      await wait(delayFor(key), signal);
      return await work();
    } finally {
      counters.active--;
    }
  };
  const driver: StoreDriver = {
    scheme: "slow",
    stat: (key) => {
      counters.stat++;
      return backing.stat(key);
    },
    readHead: (key, length, { signal }) =>
      track(key, signal, async () => {
        counters.head++;
        const meta = await backing.stat(key);
        return { meta, data: await backing.getRange(key, 0, Math.min(length, meta.size)) };
      }),
    read: (key, offset, length, { signal }) =>
      track(key, signal, () => {
        counters.read++;
        return backing.getRange(key, offset, length);
      }),
    write: (key, data, opts) => backing.put(key, data, opts),
    list: (prefix, opts) => backing.list(prefix, opts),
    delete: (key) => backing.delete(key),
  };
  return { store: createObjectStore(driver), backing, counters };
}

describe("createLoader", () => {
  it("yields every object once, in key order, in batches of batchSize (last one short unless dropLast)", async () => {
    const store = createMemoryStore();
    const keys = await fill(store, 23);
    const batches = await drain(createLoader(store, "data/", { batchSize: 5 }));
    expect(batches.map((b) => b.length)).toEqual([5, 5, 5, 5, 3]);
    expect(batches.flat().map((item) => item.key)).toEqual(keys);
    const first = batches[0]![0]!;
    expect(first.size).toBe(100);
    expect(first.data).toBeInstanceOf(Uint8Array);
    expect((await drain(createLoader(store, keys, { batchSize: 5, dropLast: true }))).map((b) => b.length)).toEqual([5, 5, 5, 5]);
  });

  it("applies an async transform to every item", async () => {
    const store = createMemoryStore();
    await fill(store, 6);
    const batches = await drain(
      createLoader(store, "data/", {
        batchSize: 3,
        transform: async (bytes, meta) => ({ first: bytes[1], key: meta.key }),
      }),
    );
    expect(batches.flat().map((item) => item.data)).toEqual(
      Array.from({ length: 6 }, (_, i) => ({ first: i, key: keyName(i) })),
    );
  });

  it("a transform gets the listing's entry over a prefix (etag, lastModified) and key + size for a key list", async () => {
    const store = createMemoryStore();
    const keys = await fill(store, 3);
    const listed = new Map<string, unknown>();
    for await (const meta of store.list("data/", { recursive: true })) listed.set(meta.key, meta);
    const fromPrefix = await drain(createLoader(store, "data/", { transform: (_bytes, meta) => meta }));
    expect(fromPrefix.flat().map((item) => item.data)).toEqual(keys.map((key) => listed.get(key)));
    expect((fromPrefix[0]![0]!.data as { etag?: string }).etag).toEqual(expect.any(String));
    const fromKeys = await drain(createLoader(store, keys, { transform: (_bytes, meta) => meta }));
    expect(fromKeys.flat().map((item) => item.data)).toEqual(keys.map((key) => ({ key, size: 100 })));
  });

  it("ordered waits for a slow key and keeps order; unordered delivers everything else meanwhile", async () => {
    // The slow keys are held by a gate the test opens itself. Ordered: after 150 ms (nothing may arrive before the
    // gate, however long it stays shut). Unordered: 150 ms after every other key's get has finished, so a loaded
    // machine that fetches slowly cannot open the gate before the loader had its chance to deliver them.
    const slowKeys = new Set([keyName(0), keyName(5)]);
    const run = async (ordering: "ordered" | "unordered") => {
      let open!: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      const { store, backing } = slowStore(() => 0);
      await fill(backing, 40);
      let gateOpen = false;
      let opener: ReturnType<typeof setTimeout> | undefined;
      const openSoon = () => {
        opener ??= setTimeout(() => {
          gateOpen = true;
          open();
        }, 150);
      };
      let othersDone = 0;
      const gated: ObjectStore = {
        ...store,
        get: async (key, opts) => {
          if (slowKeys.has(key)) await gate;
          const bytes = await store.get(key, opts);
          if (!slowKeys.has(key) && ++othersDone === 40 - slowKeys.size) openSoon();
          return bytes;
        },
        list: (prefix, opts) => store.list(prefix, opts),
      } as ObjectStore;
      const keys: string[] = [];
      let beforeGate = 0;
      if (ordering === "ordered") openSoon();
      // Never hang the suite: if the other keys never finish, open anyway and let the assertions tell.
      const fallback = setTimeout(openSoon, 10_000);
      for await (const batch of createLoader(gated, "data/", { batchSize: 4, concurrency: 8, ordering })) {
        if (!gateOpen) beforeGate += batch.length;
        keys.push(...batch.map((i) => i.key));
      }
      clearTimeout(opener);
      clearTimeout(fallback);
      return { keys, beforeGate };
    };
    const ordered = await run("ordered");
    expect(ordered.beforeGate).toBe(0);
    expect(ordered.keys).toEqual(Array.from({ length: 40 }, (_, i) => keyName(i)));
    const unordered = await run("unordered");
    // Everything but the two gated keys (and a batch they would complete) arrives while they are stuck.
    expect(unordered.beforeGate).toBeGreaterThanOrEqual(36);
    expect(new Set(unordered.keys).size).toBe(40);
    expect(unordered.keys.slice(-2).sort()).toEqual([keyName(0), keyName(5)]);
  });

  it("keeps at most `concurrency` requests in flight and bounded memory ahead of a slow consumer", async () => {
    const { store, backing, counters } = slowStore(() => 2);
    await fill(backing, 200);
    const batchSize = 4;
    const prefetch = 2;
    const concurrency = 6;
    let maxAhead = 0;
    let consumed = 0;
    for await (const batch of createLoader(store, "data/", { batchSize, prefetch, concurrency })) {
      consumed += batch.length;
      await new Promise((r) => setTimeout(r, 10)); // slow consumer
      // Objects fetched or being fetched that the consumer has not received: the loader's memory.
      maxAhead = Math.max(maxAhead, counters.started - consumed);
    }
    expect(consumed).toBe(200);
    expect(counters.maxActive).toBeLessThanOrEqual(concurrency);
    expect(maxAhead).toBeLessThanOrEqual(concurrency + (prefetch + 1) * batchSize);
  });

  it("break aborts every in-flight request: nothing runs after the loop", async () => {
    const { store, backing, counters } = slowStore(() => 50);
    await fill(backing, 100);
    let batches = 0;
    for await (const _batch of createLoader(store, "data/", { batchSize: 2, concurrency: 8 })) {
      if (++batches === 2) break;
    }
    expect(counters.active).toBe(0);
    const started = counters.started;
    await new Promise((r) => setTimeout(r, 100));
    expect(counters.started).toBe(started);
  });

  it("signal.abort() rejects with AbortError and leaves nothing running", async () => {
    const { store, backing, counters } = slowStore(() => 30);
    await fill(backing, 100);
    const controller = new AbortController();
    const error = await (async () => {
      for await (const _batch of createLoader(store, "data/", { batchSize: 2, concurrency: 8, signal: controller.signal })) {
        controller.abort();
      }
    })().catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    expect(counters.active).toBe(0);
  });

  it("an error in transform ends the loader with it and aborts the rest", async () => {
    const { store, backing, counters } = slowStore((key) => (key === keyName(3) ? 1 : 40));
    await fill(backing, 50);
    const error = await drain(
      createLoader(store, "data/", {
        concurrency: 8,
        transform: (bytes, meta) => {
          if (meta.key === keyName(3)) throw new Error("corrupt sample");
          return bytes;
        },
      }),
    ).catch((e: unknown) => e);
    expect((error as Error).message).toBe("corrupt sample");
    expect(counters.active).toBe(0);
  });

  it('errors: "skip" reports failing items and goes on', async () => {
    const store = createMemoryStore();
    const keys = await fill(store, 10);
    const skipped: string[] = [];
    const batches = await drain(
      createLoader(store, [...keys.slice(0, 5), "data/missing.bin", ...keys.slice(5)], {
        batchSize: 4,
        errors: "skip",
        onSkip: (error, key) => {
          expect(NotFoundError.isInstance(error)).toBe(true);
          skipped.push(key);
        },
      }),
    );
    expect(skipped).toEqual(["data/missing.bin"]);
    expect(batches.flat().map((i) => i.key)).toEqual(keys);
    await expect(drain(createLoader(store, ["data/missing.bin"]))).rejects.toBeInstanceOf(NotFoundError);
  });

  it("an onSkip that throws ends the loader with its error and leaves nothing running", async () => {
    const { store, backing, counters } = slowStore(() => 5);
    const keys = await fill(backing, 40);
    const error = await drain(
      createLoader(store, [...keys.slice(0, 3), "data/missing.bin", ...keys.slice(3)], {
        concurrency: 8,
        errors: "skip",
        onSkip: () => {
          throw new Error("stop here");
        },
      }),
    ).catch((e: unknown) => e);
    expect((error as Error).message).toBe("stop here");
    expect(counters.active).toBe(0);
  });

  it("shuffle is reproducible for a seed, differs per epoch, and keeps every key once", async () => {
    const store = createMemoryStore();
    const keys = await fill(store, 50);
    const order = async (epoch: number, seed = 7) =>
      (await drain(createLoader(store, "data/", { shuffle: true, seed, epoch, batchSize: 50 }))).flat().map((i) => i.key);
    const e0 = await order(0);
    expect(await order(0)).toEqual(e0);
    expect(e0).not.toEqual(keys);
    expect([...e0].sort()).toEqual(keys);
    const e1 = await order(1);
    expect(e1).not.toEqual(e0);
    expect([...e1].sort()).toEqual(keys);
    expect(await order(0, 8)).not.toEqual(e0);
    expect(shuffled([1, 2, 3, 4, 5, 6, 7, 8], 42, 3)).toEqual(shuffled([1, 2, 3, 4, 5, 6, 7, 8], 42, 3));
  });

  it.each([1, 2, 3, 8])("rank/worldSize=%i gives disjoint shards that together cover every key once", async (worldSize) => {
    const store = createMemoryStore();
    const keys = await fill(store, 37);
    for (const shuffle of [true, false]) {
      const seen = new Map<string, number>();
      for (let rank = 0; rank < worldSize; rank++) {
        const got: string[] = [];
        for (const batch of await drain(createLoader(store, "data/", { rank, worldSize, shuffle, seed: 3, batchSize: 4 }))) {
          for (const item of batch) {
            seen.set(item.key, (seen.get(item.key) ?? 0) + 1);
            got.push(item.key);
          }
        }
        // Unshuffled, a prefix is sharded while it is listed: the same share, in key order, as for the key list.
        if (!shuffle) expect(got).toEqual(shard(keys, rank, worldSize));
      }
      expect([...seen.keys()].sort()).toEqual(keys);
      expect([...seen.values()].every((n) => n === 1)).toBe(true);
    }
    expect(shard([0, 1, 2, 3, 4, 5, 6], 1, 3)).toEqual([1, 4]);
  });

  it("over a prefix, fetching starts with the listing's first entries, and leaving early stops the listing too", async () => {
    const backing = createMemoryStore();
    await fill(backing, 40);
    const events: string[] = [];
    let readStarted: () => void = () => {};
    const firstRead = new Promise<void>((resolve) => (readStarted = resolve));
    let listingRunning = false;
    const driver: StoreDriver = {
      scheme: "paged",
      stat: (key) => backing.stat(key),
      readHead: async (key, length) => {
        readStarted();
        const meta = await backing.stat(key);
        return { meta, data: await backing.getRange(key, 0, Math.min(length, meta.size)) };
      },
      read: (key, offset, length) => backing.getRange(key, offset, length),
      // A first "page" of 10 entries; the next ones only once a read has started, or the listing is aborted.
      async *list(prefix, opts) {
        listingRunning = true;
        try {
          let n = 0;
          for await (const meta of backing.list(prefix, { recursive: true })) {
            if (n++ === 10) {
              const aborted = new Promise<void>((resolve) => opts.signal?.addEventListener("abort", () => resolve(), { once: true }));
              const timeout = new Promise<void>((resolve) => setTimeout(resolve, 2000));
              events.push(await Promise.race([firstRead.then(() => "read"), aborted.then(() => "aborted"), timeout.then(() => "timeout")]));
              if (opts.signal?.aborted) throw opts.signal.reason;
            }
            yield meta;
          }
        } finally {
          listingRunning = false;
        }
      },
      write: (key, data, opts) => backing.put(key, data, opts),
      delete: (key) => backing.delete(key),
    };
    const store = createObjectStore(driver);
    const batches = await drain(createLoader(store, "data/", { batchSize: 8 }));
    expect(batches.flat().map((item) => item.key)).toEqual(Array.from({ length: 40 }, (_, i) => keyName(i)));
    expect(events).toEqual(["read"]); // the second page waited for a read, not for its 2 s timeout

    // A listing that stalls (reads that never answer never release it) ends with the loader: nothing runs afterwards.
    const stalled = createObjectStore({
      ...driver,
      readHead: (_key, _length, { signal }) =>
        new Promise((_resolve, reject) => signal?.addEventListener("abort", () => reject(signal.reason), { once: true })),
    });
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    await expect(drain(createLoader(stalled, "data/", { signal: controller.signal }))).rejects.toMatchObject({ name: "AbortError" });
    expect(listingRunning).toBe(false);
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it("over a prefix, sizes come from the listing: no stat, large objects split without a probe, small ones one request", async () => {
    const { store, backing, counters } = slowStore(() => 0);
    const size = 9 * 1024 * 1024; // above minSplitSize: 9 ranges of 1 MiB
    for (let i = 0; i < 3; i++) await backing.put(`big/${i}`, new Uint8Array(size).fill(i + 1));
    for (let i = 0; i < 5; i++) await backing.put(`small/${i}`, new Uint8Array(1000).fill(i + 1));
    const big = await drain(createLoader(store, "big/", { batchSize: 3 }));
    expect(big.flat().map((i) => (i.data as Uint8Array)[size - 1])).toEqual([1, 2, 3]);
    expect(counters).toMatchObject({ stat: 0, head: 0, read: 27 });
    // A small object is one request either way; the first range tells its size (no metadata round trip).
    await drain(createLoader(store, "small/"));
    expect(counters).toMatchObject({ stat: 0, head: 5, read: 27 });
    // An explicit key list has no sizes: still ONE request per small object.
    await drain(createLoader(store, ["small/0", "small/1"]));
    expect(counters).toMatchObject({ stat: 0, head: 7, read: 27 });
    // With an explicit engine setting, its split threshold decides which listed sizes are used.
    await drain(createLoader(store, "small/", { engine: { minSplitSize: 999 } }));
    expect(counters).toMatchObject({ stat: 0, head: 7, read: 27 + 5 });
  });

  it("rejects bad configuration before any I/O", () => {
    const store = createMemoryStore({ bucket: new MemoryBucket() });
    for (const config of [
      { batchSize: 0 },
      { concurrency: 1.5 },
      { prefetch: -1 },
      { rank: 2, worldSize: 2 },
      { worldSize: 0 },
      { ordering: "random" },
      { errors: "ignore" },
      { seed: -1 },
      { transform: 3 },
      { engine: { chunkSize: 0 } },
      { batchsize: 4 },
    ]) {
      expect(() => createLoader(store, "data/", config as never)).toThrow(RangeConfigError);
    }
    expect(() => createLoader(store, ["../escape"])).toThrow(/key/);
    expect(() => createLoader(store, 42 as never)).toThrow(RangeConfigError);
  });
});
