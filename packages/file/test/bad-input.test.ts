import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InvalidKeyError,
  InvalidRangeError,
  RangeConfigError,
  createObjectStore,
  isRangeStoreError,
  openStore,
  registerBackend,
  type ObjectStore,
  type StoreDriver,
} from "@range/core";
import { FileDriver, backend, createFileStore } from "../src/index.js";

/**
 * The bad-input table for file://, one test per row: each bad argument fails with a typed error whose message names
 * the value, before any I/O. Proof: the store sits on a FileDriver whose every method call is counted (must stay 0),
 * and the directory tree around the root (with a file just outside it, the target of the `..` rows) is unchanged.
 */

let base: string;
let root: string;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "range-file-bad-"));
  root = join(base, "root");
  await mkdir(join(root, "dir"), { recursive: true });
  await writeFile(join(root, "dir", "a.bin"), "inside");
  await writeFile(join(base, "outside.txt"), "outside the root");
  registerBackend(backend, { replace: true });
});
afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const rel = `${prefix}${entry.name}`;
    out.push(rel);
    if (entry.isDirectory()) out.push(...(await tree(join(dir, entry.name), `${rel}/`)));
  }
  return out.sort();
}

/** A file store whose driver counts every call made to it. */
function countingFileStore(): { store: ObjectStore; calls: () => number } {
  const driver = new FileDriver({ root });
  let calls = 0;
  const counted = new Proxy(driver, {
    get(target, property) {
      const value = Reflect.get(target, property, target) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  }) as StoreDriver;
  return { store: createObjectStore(counted), calls: () => calls };
}

async function drain(iterable: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of iterable) {
    // the first step is what matters
  }
}

interface Row {
  name: string;
  run: (store: ObjectStore) => Promise<unknown> | unknown;
  error: new (...args: never[]) => Error;
  names: string;
}

const ROWS: Row[] = [
  { name: "`..` escaping the root (get)", run: (s) => s.get("../outside.txt"), error: InvalidKeyError, names: '"../outside.txt" contains a ".." segment' },
  { name: "`..` escaping the root (put)", run: (s) => s.put("../outside.txt", new Uint8Array(1)), error: InvalidKeyError, names: '"../outside.txt" contains a ".." segment' },
  { name: "`..` escaping the root (delete)", run: (s) => s.delete("dir/../../outside.txt"), error: InvalidKeyError, names: '"dir/../../outside.txt" contains a ".." segment' },
  { name: "`..` inside the root (still refused)", run: (s) => s.stat("dir/../dir/a.bin"), error: InvalidKeyError, names: '"dir/../dir/a.bin" contains a ".." segment' },
  { name: "absolute path (get)", run: (s) => s.get(join(base, "outside.txt")), error: InvalidKeyError, names: "must be relative" },
  { name: "absolute path (put)", run: (s) => s.put("/etc/passwd", new Uint8Array(1)), error: InvalidKeyError, names: '"/etc/passwd" must be relative' },
  { name: "NUL in the key", run: (s) => s.put("a\0.bin", new Uint8Array(1)), error: InvalidKeyError, names: "contains a NUL character" },
  { name: "lone surrogate (not encodable as a file name)", run: (s) => s.put("bad\uD83D.bin", new Uint8Array(1)), error: InvalidKeyError, names: "lone UTF-16 surrogate" },
  { name: "empty key", run: (s) => s.get(""), error: InvalidKeyError, names: "key must not be empty" },
  { name: "key naming a directory with a trailing slash", run: (s) => s.put("dir/", new Uint8Array(1)), error: InvalidKeyError, names: '"dir/" has an empty path segment' },
  { name: "key of 1025 bytes", run: (s) => s.put("k".repeat(1025), new Uint8Array(1)), error: InvalidKeyError, names: "longer than 1024 bytes" },
  { name: "`.` segment", run: (s) => s.get("./dir/a.bin"), error: InvalidKeyError, names: '"./dir/a.bin" contains a "." segment' },
  { name: "prefix escaping the root (list)", run: (s) => drain(s.list("../")), error: InvalidKeyError, names: 'prefix "../" contains a ".." segment' },
  { name: "prefix escaping the root (deletePrefix)", run: (s) => s.deletePrefix("dir/../.."), error: InvalidKeyError, names: 'contains a ".." segment' },
  { name: "negative offset", run: (s) => s.getRange("dir/a.bin", -1, 1), error: InvalidRangeError, names: "got -1" },
  { name: "NaN length", run: (s) => s.getRange("dir/a.bin", 0, Number.NaN), error: InvalidRangeError, names: "got NaN" },
  { name: "fractional offset", run: (s) => s.getRange("dir/a.bin", 0.25, 1), error: InvalidRangeError, names: "got 0.25" },
  { name: "offset beyond MAX_SAFE_INTEGER", run: (s) => s.getRange("dir/a.bin", 2 ** 53, 1), error: InvalidRangeError, names: "got 9007199254740992" },
  { name: "concurrency 0", run: (s) => s.get("dir/a.bin", { engine: { maxConcurrentRanges: 0 } }), error: RangeConfigError, names: "got 0" },
  { name: "concurrency 1e9", run: (s) => s.get("dir/a.bin", { engine: { maxConcurrentRanges: 1e9 } }), error: RangeConfigError, names: "got 1000000000" },
  { name: "chunkSize 0", run: (s) => s.get("dir/a.bin", { engine: { chunkSize: 0 } }), error: RangeConfigError, names: "chunkSize must be an integer between 1 and" },
  { name: "negative timeout", run: (s) => s.get("dir/a.bin", { engine: { rangeTimeoutMs: -1 } }), error: RangeConfigError, names: "rangeTimeoutMs must be an integer between 1 and 2147483647, got -1" },
];

describe("file:// bad input → a typed error naming the value, before any I/O", () => {
  for (const row of ROWS) {
    it(row.name, async () => {
      const before = await tree(base);
      const { store, calls } = countingFileStore();
      const error = await Promise.resolve()
        .then(() => row.run(store))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error, "expected a rejection").toBeInstanceOf(row.error);
      expect(isRangeStoreError(error)).toBe(true);
      expect((error as Error).message).toContain(row.names);
      expect(calls(), "the driver was called").toBe(0);
      expect(await tree(base)).toEqual(before);
    });
  }
});

describe("file:// store options and URIs", () => {
  it.each([
    ["a relative root", { root: "relative/dir" }, 'root must be an absolute path, got "relative/dir"'],
    ["an empty root", { root: "" }, 'got ""'],
    ["a root with NUL", { root: "/tmp/a\0b" }, "root must be an absolute path"],
    ["a root that is a number", { root: 42 }, "got 42"],
    ["fsync 'yes'", { root: "/tmp", fsync: "yes" }, 'fsync must be a boolean, got "yes"'],
    ["followSymlinks 1", { root: "/tmp", followSymlinks: 1 }, "followSymlinks must be a boolean, got 1"],
    ["hugePages 'no'", { root: "/tmp", hugePages: "no" }, 'hugePages must be a boolean, got "no"'],
    ["engine.maxConcurrentRanges -1", { root: "/tmp", engine: { maxConcurrentRanges: -1 } }, "got -1"],
  ] as const)("createFileStore with %s", (_, options, names) => {
    let error: unknown;
    try {
      createFileStore(options as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RangeConfigError);
    expect((error as Error).message).toContain(names);
  });

  it.each([
    ["a host", "file://server/share/data", "E_INVALID_URI", 'got host "server"'],
    ["a `..` segment", "file:///tmp/../etc", "E_INVALID_URI", '"file:///tmp/../etc"'],
    ["a single slash", "file:/tmp/data", "E_INVALID_URI", '"file:/tmp/data"'],
  ])("openStore of a file:// URI with %s", async (_, uri, code, names) => {
    const error = await openStore(uri).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RangeConfigError);
    expect((error as RangeConfigError).code).toBe(code);
    expect((error as Error).message).toContain(names);
  });

  it("a symlink inside the root that leads outside: InvalidKeyError, and the outside file is untouched", async () => {
    const { symlink, readFile } = await import("node:fs/promises");
    await symlink(base, join(root, "escape"));
    try {
      const store = createFileStore({ root });
      await expect(store.get("escape/outside.txt")).rejects.toBeInstanceOf(InvalidKeyError);
      await expect(store.put("escape/outside.txt", new Uint8Array([1]))).rejects.toBeInstanceOf(InvalidKeyError);
      expect(await readFile(join(base, "outside.txt"), "utf8")).toBe("outside the root");
      await store.close();
    } finally {
      await rm(join(root, "escape"));
    }
  });

  it("a file:// URI opened through the registry refuses the same keys", async () => {
    const store = await openStore(pathToFileURL(root).href);
    await expect(store.get("../outside.txt")).rejects.toBeInstanceOf(InvalidKeyError);
    await store.close();
  });
});
