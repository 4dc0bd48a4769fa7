import { constants as fsConstants } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, stat, symlink, writeFile, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidKeyError, NotFoundError, createObjectStore, isAbortError, type ObjectStore } from "@range/core";
import { FileDriver, createFileStore } from "../src/index.js";

let base: string;
let root: string;
let store: ObjectStore;

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "range-file-copy-"));
  root = join(base, "root");
  await mkdir(root);
  store = createFileStore({ root });
});
afterEach(async () => {
  await store.close();
  await rm(base, { recursive: true, force: true });
});

function bytes(size: number, seed = 1): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return out;
}

/** Every file under `dir`, relative, sorted (temp files included: they start with "."). */
async function tree(dir: string): Promise<string[]> {
  return ((await readdir(dir, { recursive: true, withFileTypes: true })) as { name: string; parentPath: string; isFile(): boolean }[])
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe("file:// copy", () => {
  it("copies into new directories; the copy is its own file with the same bytes", async () => {
    const data = bytes(3 * 1024 * 1024 + 17);
    await writeFile(join(root, "a.bin"), data);
    expect(typeof store.copy).toBe("function");
    const meta = await store.copy!("a.bin", "x/y/b.bin");
    expect(meta).toMatchObject({ key: "x/y/b.bin", size: data.length });
    expect((await readFile(join(root, "x/y/b.bin"))).equals(data)).toBe(true);
    expect((await stat(join(root, "x/y/b.bin"))).ino).not.toBe((await stat(join(root, "a.bin"))).ino);
    expect(meta.etag).toBe((await store.stat("x/y/b.bin")).etag);
    await writeFile(join(root, "a.bin"), "changed");
    expect((await readFile(join(root, "x/y/b.bin"))).equals(data)).toBe(true);
    expect(await tree(root)).toEqual(["a.bin", "x/y/b.bin"]);
  });

  it("replaces an existing destination", async () => {
    await writeFile(join(root, "a"), "new bytes");
    await writeFile(join(root, "b"), "old");
    await store.copy!("a", "b");
    expect(await readFile(join(root, "b"), "utf8")).toBe("new bytes");
  });

  it("a missing source is NotFoundError and leaves nothing behind", async () => {
    const error = await store.copy!("missing", "d/b").catch((e: unknown) => e);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect(await readdir(root)).toEqual([]);
  });

  it("refuses a symlinked source unless followSymlinks is on", async () => {
    await writeFile(join(base, "outside"), "secret");
    await symlink(join(base, "outside"), join(root, "link"));
    const error = await store.copy!("link", "b").catch((e: unknown) => e);
    expect(InvalidKeyError.isInstance(error)).toBe(true);
    expect(await tree(root)).toEqual([]);
    const following = createFileStore({ root, followSymlinks: true });
    await following.copy!("link", "b");
    expect(await readFile(join(root, "b"), "utf8")).toBe("secret");
    await following.close();
  });

  it("an aborted signal copies nothing", async () => {
    await writeFile(join(root, "a"), "x");
    const controller = new AbortController();
    controller.abort();
    await expect(store.copy!("a", "b", { signal: controller.signal })).rejects.toSatisfy(isAbortError);
    expect(await tree(root)).toEqual(["a"]);
  });

  it("a subclass that opens files its own way (like directio) gets no kernel copy", () => {
    class OwnOpen extends FileDriver {
      protected override openFile(path: string, flags: number, mode?: number): Promise<FileHandle> {
        return super.openFile(path, flags | fsConstants.O_NOATIME, mode);
      }
    }
    expect(createObjectStore(new OwnOpen({ root })).copy).toBeUndefined();
    expect(createObjectStore(new FileDriver({ root })).copy).toBeTypeOf("function");
  });
});
