import { describe, expect, it } from "vitest";
import {
  InvalidKeyError,
  MemoryBucket,
  NotFoundError,
  RangeConfigError,
  createMemoryStore,
  createObjectStore,
  isAbortError,
  type PutProgress,
  type StoreDriver,
} from "../src/index.js";
import { equalBytes, patternBytes } from "./helpers.js";

async function* chunksOf(data: Uint8Array, size: number): AsyncIterable<Uint8Array> {
  for (let offset = 0; offset < data.length; offset += size) yield data.subarray(offset, offset + size);
}

/**
 * A driver whose `write` consumes the stream itself and records, for each chunk it receives, the progress the caller
 * had been told just before; it gives up after `failAfter` chunks when set.
 */
function consumingDriver(progress: PutProgress[], failAfter?: number) {
  const seenBeforeChunk: number[] = [];
  const driver: StoreDriver = {
    scheme: "consuming",
    stat: () => Promise.reject(new NotFoundError("none")),
    read: () => Promise.reject(new NotFoundError("none")),
    async write(key, data) {
      let size = 0;
      if (data instanceof Uint8Array) return { key, size: data.length };
      for await (const chunk of data) {
        seenBeforeChunk.push(progress.at(-1)?.bytes ?? 0);
        size += chunk.length;
        if (failAfter !== undefined && seenBeforeChunk.length >= failAfter) throw new Error("disk full");
      }
      return { key, size };
    },
    async *list() {},
    async delete() {},
  };
  return { driver, seenBeforeChunk };
}

describe("put onProgress", () => {
  it("counts a stream's chunks as the backend takes them, ending at the total", async () => {
    const store = createMemoryStore();
    const data = patternBytes(10_000, 3);
    const progress: PutProgress[] = [];
    await store.put("a", chunksOf(data, 1024), { onProgress: (p) => progress.push({ ...p }) });
    expect(progress.map((p) => p.bytes)).toEqual([1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 9216, 10_000]);
    expect(equalBytes(await store.get("a"), data)).toBe(true);
  });

  it("reports a chunk when the backend receives it, never before, and nothing the backend did not take", async () => {
    const progress: PutProgress[] = [];
    const { driver, seenBeforeChunk } = consumingDriver(progress, 3);
    const store = createObjectStore(driver);
    const error = await store.put("a", chunksOf(patternBytes(10 * 100, 1), 100), { onProgress: (p) => progress.push(p) }).catch((e: unknown) => e);
    expect((error as Error).message).toBe("disk full");
    // Chunk i arrives with the first i - 1 chunks counted and its own count already given.
    expect(seenBeforeChunk).toEqual([100, 200, 300]);
    expect(progress.at(-1)?.bytes).toBe(300);
  });

  it("reports a Uint8Array once, after it is stored; not at all when the put fails", async () => {
    const store = createMemoryStore();
    const progress: number[] = [];
    await store.put("a", patternBytes(5000), { onProgress: (p) => progress.push(p.bytes) });
    expect(progress).toEqual([5000]);

    const failing: StoreDriver = { ...consumingDriver([]).driver, write: () => Promise.reject(new Error("refused")) };
    const failed: number[] = [];
    await expect(createObjectStore(failing).put("a", patternBytes(10), { onProgress: (p) => failed.push(p.bytes) })).rejects.toThrow("refused");
    expect(failed).toEqual([]);
  });

  it("rejects an onProgress that is not a function before any I/O", async () => {
    const store = createMemoryStore();
    const error = await store.put("a", patternBytes(10), { onProgress: 5 as never }).catch((e: unknown) => e);
    expect(RangeConfigError.isInstance(error)).toBe(true);
    expect(await store.exists("a")).toBe(false);
  });
});

describe("copy (server-side, optional)", () => {
  it("memory stores copy within the bucket; the copy is a new version independent of the source", async () => {
    const bucket = new MemoryBucket();
    const store = createMemoryStore({ bucket, prefix: "p/" });
    const data = patternBytes(70_000, 9);
    const original = await store.put("src/a.bin", data);
    expect(typeof store.copy).toBe("function");
    const copied = await store.copy!("src/a.bin", "dst/b.bin");
    expect(copied).toMatchObject({ key: "dst/b.bin", size: data.length });
    expect(copied.etag).not.toBe(original.etag);
    expect(bucket.objects.has("p/dst/b.bin")).toBe(true);
    await store.put("src/a.bin", patternBytes(5, 1)); // overwriting the source leaves the copy alone
    expect(equalBytes(await store.get("dst/b.bin"), data)).toBe(true);
    const listed: string[] = [];
    for await (const meta of store.list("dst/")) listed.push(meta.key);
    expect(listed).toEqual(["dst/b.bin"]);
  });

  it("a missing source is NotFoundError and creates nothing", async () => {
    const store = createMemoryStore();
    const error = await store.copy!("nope", "x").catch((e: unknown) => e);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect(await store.exists("x")).toBe(false);
  });

  it("checks its input before any I/O: bad keys, the same key twice, an aborted signal", async () => {
    const store = createMemoryStore({ latencyMs: 1 });
    await store.put("a", patternBytes(3));
    const reads = store.probe.statRequests;
    await expect(store.copy!("../a", "b")).rejects.toSatisfy((e) => InvalidKeyError.isInstance(e));
    await expect(store.copy!("a", "")).rejects.toSatisfy((e) => InvalidKeyError.isInstance(e));
    await expect(store.copy!("a", "a")).rejects.toMatchObject({ name: "RangeConfigError", code: "E_SAME_KEY" });
    const controller = new AbortController();
    controller.abort();
    await expect(store.copy!("a", "b", { signal: controller.signal })).rejects.toSatisfy(isAbortError);
    expect(store.probe.statRequests).toBe(reads);
    expect(await store.exists("b")).toBe(false);
  });

  it("a store whose driver cannot copy has no copy method (callers read and put instead)", () => {
    const { driver } = consumingDriver([]);
    expect(createObjectStore(driver).copy).toBeUndefined();
  });

  it("a closed store refuses to copy", async () => {
    const store = createMemoryStore();
    await store.put("a", patternBytes(3));
    await store.close();
    await expect(store.copy!("a", "b")).rejects.toMatchObject({ code: "E_CLOSED" });
  });
});
