import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  MiB,
  NotFoundError,
  createMemoryStore,
  createObjectStore,
  downloadFile,
  type ObjectStore,
  type StoreDriver,
} from "../src/index.js";
import { equalBytes, patternBytes } from "./helpers.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "range-dl-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A driver that serves `data` but fails every read at or beyond `failAt`. */
function failingStore(data: Uint8Array, failAt: number): ObjectStore {
  const driver: StoreDriver = {
    scheme: "failing",
    stat: async (key) => ({ key, size: data.length, etag: '"1"' }),
    async read(_key, offset, length) {
      if (offset >= failAt) throw new NotFoundError("object vanished mid-download");
      return data.slice(offset, offset + length);
    },
    write: async () => ({ key: "", size: 0 }),
    list: async function* () {},
    delete: async () => {},
  };
  return createObjectStore(driver, { engine: { minSplitSize: 64 * 1024, chunkSize: 64 * 1024, maxConcurrentRanges: 2 } });
}

describe("downloadFile", () => {
  it("writes the exact bytes with positioned writes and leaves no temp file", async () => {
    const store = createMemoryStore();
    const data = patternBytes(9 * MiB + 3);
    await store.put("model.bin", data);
    const path = join(dir, "nested", "model.bin");
    const { meta, stats } = await downloadFile(store, "model.bin", path);
    expect(meta.size).toBe(data.length);
    expect(stats.bytes).toBe(data.length);
    expect(stats.ranges).toBeGreaterThan(1);
    expect(equalBytes(await readFile(path), data)).toBe(true);
    expect(await readdir(join(dir, "nested"))).toEqual(["model.bin"]);
  });

  it("writes an empty object", async () => {
    const store = createMemoryStore();
    await store.put("empty", new Uint8Array(0));
    await downloadFile(store, "empty", join(dir, "empty"));
    expect((await readFile(join(dir, "empty"))).length).toBe(0);
  });

  it("a failed download leaves no file at the destination and no temp file", async () => {
    const data = patternBytes(1 * MiB);
    const path = join(dir, "out.bin");
    await expect(downloadFile(failingStore(data, 512 * 1024), "k", path)).rejects.toBeInstanceOf(NotFoundError);
    expect(await readdir(dir)).toEqual([]);
  });

  it("a failed download leaves an existing destination untouched", async () => {
    const path = join(dir, "out.bin");
    await writeFile(path, "previous");
    await expect(downloadFile(failingStore(patternBytes(1 * MiB), 0), "k", path)).rejects.toThrow();
    expect(await readFile(path, "utf8")).toBe("previous");
    expect(await readdir(dir)).toEqual(["out.bin"]);
  });

  it("an aborted download leaves no file and no temp file", async () => {
    const store = createMemoryStore({ latencyMs: 5 });
    await store.put("k", patternBytes(2 * MiB));
    const controller = new AbortController();
    const pending = downloadFile(store, "k", join(dir, "out.bin"), {
      signal: controller.signal,
      engine: { minSplitSize: 64 * 1024, chunkSize: 64 * 1024, maxConcurrentRanges: 2 },
      onProgress: () => controller.abort(),
    });
    await expect(pending).rejects.toMatchObject({ name: "AbortError" });
    expect(await readdir(dir)).toEqual([]);
    expect(store.probe.activeReads).toBe(0);
  });

  it("works with a third-party store that has no readTo (public API only)", async () => {
    const inner = createMemoryStore();
    const data = patternBytes(5 * MiB);
    await inner.put("k", data);
    const { readTo: _omit, ...rest } = Object.fromEntries(
      ["scheme", "stat", "get", "getRange", "getStream", "put", "list", "delete", "deletePrefix", "exists", "close"].map((name) => [
        name,
        typeof (inner as unknown as Record<string, unknown>)[name] === "function"
          ? ((inner as unknown as Record<string, (...a: unknown[]) => unknown>)[name]!).bind(inner)
          : (inner as unknown as Record<string, unknown>)[name],
      ]),
    ) as Record<string, unknown>;
    const plain = { ...rest, [Symbol.asyncDispose]: () => inner.close() } as unknown as ObjectStore;
    expect(plain.readTo).toBeUndefined();
    await downloadFile(plain, "k", join(dir, "k.bin"));
    expect(equalBytes(await readFile(join(dir, "k.bin")), data)).toBe(true);
  });
});
