import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RangeConfigError, createMemoryStore, isAbortError, type ObjectStore } from "@range/core";
import { createFileStore } from "@range/file";
import { SyntheticDataset, analyzeData, defaultObjectKey, fillStore } from "../src/index.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "range-datagen-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Counts puts in flight and how each one's data arrived, around a real store. */
function observed(store: ObjectStore) {
  const stats = { inFlight: 0, maxInFlight: 0, buffers: 0, streams: 0 };
  const wrapped: ObjectStore = Object.assign(Object.create(store) as ObjectStore, {
    async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: Parameters<ObjectStore["put"]>[2]) {
      stats.inFlight++;
      stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight);
      if (data instanceof Uint8Array) stats.buffers++;
      else stats.streams++;
      try {
        return await store.put(key, data, opts);
      } finally {
        stats.inFlight--;
      }
    },
  });
  return { store: wrapped, stats };
}

describe("fillStore", () => {
  it("writes count objects of the exact size into a file store, with the dataset's bytes and ratios", async () => {
    const root = join(dir, "fill");
    const store = createFileStore({ root });
    const { store: counting, stats } = observed(store);
    const options = { count: 40, size: 64 * 1024 + 3, dedup: 2, compress: 2, seed: 21, prefix: "train/", concurrency: 5 };
    const result = await fillStore(counting, options);
    expect(result.objects).toBe(40);
    expect(result.bytes).toBe(40 * (64 * 1024 + 3));
    expect(result.firstKey).toBe("train/obj-000000.bin");
    expect(result.lastKey).toBe("train/obj-000039.bin");
    expect(Array.from({ length: 40 }, (_, i) => result.keyOf(i))).toEqual(Array.from({ length: 40 }, (_, i) => defaultObjectKey(i, 40, "train/")));
    expect(stats.maxInFlight).toBeLessThanOrEqual(5);
    expect(stats.maxInFlight).toBeGreaterThan(1);

    const files = (await readdir(join(root, "train"))).sort();
    expect(files).toHaveLength(40);
    const dataset = new SyntheticDataset(options);
    const onDisk: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      const bytes = await readFile(join(root, "train", files[i]!));
      expect(bytes.length).toBe(64 * 1024 + 3);
      expect(bytes.equals(dataset.object(i))).toBe(true);
      onDisk.push(bytes.subarray(0, 64 * 1024)); // whole blocks only: the 3-byte tails are partial blocks
    }
    const measured = await analyzeData(onDisk);
    expect(Math.abs(measured.dedupRatio - 2) / 2).toBeLessThan(0.02);
    expect(Math.abs(measured.compressionRatio - 2) / 2).toBeLessThan(0.05);
    await store.close();
  });

  it("puts objects at or above streamThreshold as streams, with custom keys", async () => {
    const memory = createMemoryStore();
    const { store, stats } = observed(memory);
    const result = await fillStore(store, { count: 3, size: 3 * 1024 * 1024, streamThreshold: 2 * 1024 * 1024, chunkSize: 256 * 1024, keyOf: (i) => `big/${i}` });
    expect(stats.streams).toBe(3);
    expect(stats.buffers).toBe(0);
    expect([result.firstKey, result.keyOf(1), result.lastKey]).toEqual(["big/0", "big/1", "big/2"]);
    const dataset = new SyntheticDataset({ count: 3, size: 3 * 1024 * 1024 });
    expect(Buffer.from(await memory.get("big/2")).equals(dataset.object(2))).toBe(true);
  });

  it("stops on abort with an abort error, and on the first failure with that failure", async () => {
    const controller = new AbortController();
    const memory = createMemoryStore();
    let puts = 0;
    const aborting = Object.assign(Object.create(memory) as ObjectStore, {
      async put(key: string, data: Uint8Array) {
        if (++puts === 3) controller.abort();
        return memory.put(key, data);
      },
    });
    const aborted = await fillStore(aborting, { count: 100, size: 10, concurrency: 1, signal: controller.signal }).catch((e: unknown) => e);
    expect(isAbortError(aborted)).toBe(true);
    expect(puts).toBe(3);

    const failing = Object.assign(Object.create(memory) as ObjectStore, {
      async put(key: string) {
        throw new Error(`disk full at ${key}`);
      },
    });
    await expect(fillStore(failing, { count: 100, size: 10, concurrency: 4 })).rejects.toThrow(/disk full/);
  });

  it("rejects bad options before any put", async () => {
    const { store, stats } = observed(createMemoryStore());
    await expect(fillStore(store, { count: 2, size: 10, concurrency: 0 })).rejects.toThrow(RangeConfigError);
    await expect(fillStore(store, { count: 2, size: -5 })).rejects.toThrow(RangeConfigError);
    expect(stats.buffers + stats.streams).toBe(0);
  });
});
