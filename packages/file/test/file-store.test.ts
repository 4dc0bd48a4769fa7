import { readdirSync, readlinkSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidKeyError, NotFoundError, RangeConfigError, openStore, type ObjectStore } from "@range/core";
import { createFileStore } from "../src/index.js";

let base: string;
let root: string;
let store: ObjectStore;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "range-file-"));
  root = join(base, "root");
  await mkdir(root);
  store = createFileStore({ root });
});
afterEach(async () => {
  await store.close();
  await rm(base, { recursive: true, force: true });
});

function bytes(size: number, seed = 1): Uint8Array {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/** Open descriptors of this process that point at `path`, counted synchronously (a snapshot mid-download). */
function descriptorsOn(path: string): number {
  let count = 0;
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`) === path) count++;
    } catch {
      // closed between readdir and readlink
    }
  }
  return count;
}

async function openDescriptors(): Promise<number> {
  return (await readdir("/proc/self/fd")).length;
}

async function* chunks(parts: Uint8Array[], onEach?: (i: number) => void): AsyncIterable<Uint8Array> {
  for (let i = 0; i < parts.length; i++) {
    onEach?.(i);
    await new Promise((r) => setTimeout(r, 1));
    yield parts[i]!;
  }
}

describe("@range/file specifics", () => {
  it("rejects a root that is not absolute", () => {
    expect(() => createFileStore({ root: "relative/dir" })).toThrow(RangeConfigError);
    expect(() => createFileStore({ root: "" })).toThrow(RangeConfigError);
  });

  it("stores keys as paths under the root", async () => {
    await store.put("a/b/c.bin", bytes(10));
    expect(await readFile(join(root, "a", "b", "c.bin"))).toEqual(Buffer.from(bytes(10)));
  });

  it("shares ONE descriptor among the ranges of a get and closes it after success, error and abort", async () => {
    const data = bytes(8 * 1024 * 1024 + 11);
    await store.put("big.bin", data);
    const path = join(root, "big.bin");
    const baseline = await openDescriptors();
    const during: number[] = [];
    const engine = { minSplitSize: 256 * 1024, chunkSize: 256 * 1024, maxConcurrentRanges: 8 };
    const out = await store.get("big.bin", {
      engine,
      onProgress: () => during.push(descriptorsOn(path)),
    });
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    expect(during.length).toBe(33);
    expect(Math.max(...during)).toBe(1);
    expect(await openDescriptors()).toBe(baseline);

    const controller = new AbortController();
    await expect(
      store.get("big.bin", { engine, signal: controller.signal, onProgress: () => controller.abort() }),
    ).rejects.toMatchObject({ name: "AbortError" });
    expect(await openDescriptors()).toBe(baseline);

    await expect(store.get("big.bin", { engine, into: new Uint8Array(10) })).rejects.toThrow();
    expect(await openDescriptors()).toBe(baseline);
  });

  it("keeps one range in flight per libuv pool thread by default; an explicit maxConcurrentRanges wins", async () => {
    const poolSize = Number.parseInt(process.env.UV_THREADPOOL_SIZE ?? "", 10) || 4;
    await store.put("many.bin", bytes(16 * 1024 * 1024));
    // 64 ranges of 256 KiB: plenty to fill 32 slots if the store kept the engine's default.
    const small = { minSplitSize: 256 * 1024, chunkSize: 256 * 1024 };
    let byDefault = 0;
    await store.get("many.bin", { engine: small, onStats: (s) => (byDefault = s.maxInFlight) });
    expect(byDefault).toBeGreaterThan(1);
    expect(byDefault).toBeLessThanOrEqual(poolSize);
    let explicit = 0;
    await store.get("many.bin", { engine: { ...small, maxConcurrentRanges: 16 }, onStats: (s) => (explicit = s.maxInFlight) });
    expect(explicit).toBeGreaterThan(poolSize);
    const configured = createFileStore({ root, engine: { ...small, maxConcurrentRanges: 12 } });
    let fromStore = 0;
    await configured.get("many.bin", { onStats: (s) => (fromStore = s.maxInFlight) });
    expect(fromStore).toBeGreaterThan(poolSize);
  });

  it("a get of 32 MiB or more (huge-page result, each range prepared first) returns the exact bytes; abort closes", async () => {
    const data = bytes(40 * 1024 * 1024 + 4097, 3);
    await store.put("huge.bin", data);
    const out = await store.get("huge.bin");
    expect(out.length).toBe(data.length);
    expect(Buffer.from(out.buffer, out.byteOffset, out.length).equals(Buffer.from(data))).toBe(true);
    const baseline = await openDescriptors();
    const controller = new AbortController();
    await expect(
      store.get("huge.bin", { signal: controller.signal, onProgress: () => controller.abort() }),
    ).rejects.toMatchObject({ name: "AbortError" });
    expect(await openDescriptors()).toBe(baseline);
  });

  it("reports the same version from an open read (fstat) as from stat (lstat)", async () => {
    await store.put("v.bin", bytes(1000));
    const { meta } = await store.readTo!("v.bin", () => {}); // a file store always has readTo
    const stat = await store.stat("v.bin");
    expect(meta.etag).toBe(stat.etag);
    expect(meta.size).toBe(1000);
    expect(meta.lastModified?.getTime()).toBe(stat.lastModified?.getTime());
  });

  it("reads into the caller's buffer in place", async () => {
    const data = bytes(5 * 1024 * 1024);
    await store.put("x", data);
    const into = new Uint8Array(data.length + 4);
    const out = await store.get("x", { into });
    expect(out.buffer).toBe(into.buffer);
    expect(Buffer.from(into.subarray(0, data.length)).equals(Buffer.from(data))).toBe(true);
  });

  it("a failed or aborted put leaves no file and no temp litter, and keeps the previous object", async () => {
    const controller = new AbortController();
    const parts = [bytes(1000, 1), bytes(1000, 2), bytes(1000, 3)];
    await expect(
      store.put("dir/new.bin", chunks(parts, (i) => i === 1 && controller.abort()), { signal: controller.signal }),
    ).rejects.toMatchObject({ name: "AbortError" });
    expect(await store.exists("dir/new.bin")).toBe(false);

    await store.put("dir/old.bin", bytes(50, 9));
    const failing = (async function* () {
      yield bytes(100);
      throw new Error("producer failed");
    })();
    await expect(store.put("dir/old.bin", failing)).rejects.toThrow("producer failed");
    expect(Buffer.from(await store.get("dir/old.bin")).equals(Buffer.from(bytes(50, 9)))).toBe(true);
    expect(await readdir(join(root, "dir"))).toEqual(["old.bin"]);
  });

  it("never shows in-progress temp files in listings", async () => {
    await store.put("d/real.bin", bytes(3));
    await writeFile(join(root, "d", ".real.bin.abcdef.range-tmp"), "partial");
    const keys: string[] = [];
    for await (const meta of store.list("d/")) keys.push(meta.key);
    expect(keys).toEqual(["d/real.bin"]);
  });

  it("lists in full-key byte order across directories", async () => {
    for (const key of ["a-c", "a/b", "a.txt", "a0", "b/z/1", "b/y"]) await store.put(key, bytes(1));
    const keys: string[] = [];
    for await (const meta of store.list()) keys.push(meta.key);
    expect(keys).toEqual(["a-c", "a.txt", "a/b", "a0", "b/y", "b/z/1"]);
  });

  it("delete removes directories it leaves empty (object stores have none)", async () => {
    await store.put("x/y/z.bin", bytes(1));
    await store.put("x/keep.bin", bytes(1));
    await store.delete("x/y/z.bin");
    expect(await readdir(join(root, "x"))).toEqual(["keep.bin"]);
    const entries: string[] = [];
    for await (const meta of store.list("x/", { recursive: false })) entries.push(meta.key);
    expect(entries).toEqual(["x/keep.bin"]);
  });

  it("a key that is a directory is not an object", async () => {
    await store.put("folder/file", bytes(1));
    await expect(store.get("folder")).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.stat("folder")).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.delete("folder")).resolves.toBeUndefined();
    expect(await store.exists("folder/file")).toBe(true);
  });
});

describe("symlinks and the root boundary", () => {
  beforeEach(async () => {
    await writeFile(join(base, "secret.txt"), "outside the root");
    await mkdir(join(base, "outside-dir"));
    await writeFile(join(base, "outside-dir", "f.txt"), "also outside");
    await symlink(join(base, "secret.txt"), join(root, "link.txt"));
    await symlink(join(base, "outside-dir"), join(root, "linkdir"));
  });

  it("refuses keys that name or pass through a symlink leading outside the root", async () => {
    for (const op of [() => store.get("link.txt"), () => store.stat("link.txt"), () => store.getRange("link.txt", 0, 3)]) {
      await expect(op()).rejects.toBeInstanceOf(InvalidKeyError);
    }
    for (const op of [() => store.get("linkdir/f.txt"), () => store.stat("linkdir/f.txt"), () => store.put("linkdir/new", bytes(1))]) {
      await expect(op()).rejects.toBeInstanceOf(InvalidKeyError);
    }
    expect(await readdir(join(base, "outside-dir"))).toEqual(["f.txt"]);
    const keys: string[] = [];
    for await (const meta of store.list()) keys.push(meta.key);
    expect(keys).toEqual([]);
  });

  it("rejects traversal keys before touching the disk", async () => {
    for (const key of ["../secret.txt", "a/../../secret.txt", "/etc/passwd", "nul\0byte"]) {
      await expect(store.get(key)).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.put(key, bytes(1))).rejects.toBeInstanceOf(InvalidKeyError);
    }
    expect((await readFile(join(base, "secret.txt"), "utf8"))).toBe("outside the root");
  });

  it("follows symlinks when followSymlinks is on", async () => {
    const following = createFileStore({ root, followSymlinks: true });
    expect(Buffer.from(await following.get("link.txt")).toString()).toBe("outside the root");
    expect(Buffer.from(await following.get("linkdir/f.txt")).toString()).toBe("also outside");
    await following.close();
  });
});

describe("file:// URIs", () => {
  it("openStore opens a file store", async () => {
    const viaUri = await openStore(pathToFileURL(root).href);
    await viaUri.put("from-uri.txt", new TextEncoder().encode("hi"));
    expect(await readFile(join(root, "from-uri.txt"), "utf8")).toBe("hi");
    await expect(openStore("file://remote-host/x")).rejects.toBeInstanceOf(RangeConfigError);
  });
});
