import { truncateSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { IntegrityError, downloadFile, type ObjectStore } from "@range/core";
import { createFileStore } from "../src/index.js";

/**
 * Failures while reading to disk or writing a file object: the destination is the complete object or untouched, and
 * no temporary file stays behind.
 */

const MiB = 1024 * 1024;
let base: string;
let root: string;
let out: string;
let store: ObjectStore;

function pattern(size: number, seed: number): Buffer {
  const data = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) data[i] = (i * 131 + seed * 17 + (i >> 10)) & 0xff;
  return data;
}

beforeEach(async () => {
  base = await mkdtemp(join(tmpdir(), "range-file-faults-"));
  root = join(base, "root");
  out = join(base, "out");
  await mkdir(root);
  await mkdir(out);
  // Small ranges, one at a time: the file can be changed between two of them.
  store = createFileStore({ root, engine: { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 1 } });
});
afterEach(async () => {
  await store.close();
  await rm(base, { recursive: true, force: true });
});

describe("file:// get to disk that fails leaves no partial file", () => {
  it("the source shrinks mid-download: IntegrityError, no destination file, no temporary file", async () => {
    await writeFile(join(root, "big.bin"), pattern(8 * MiB, 1));
    let truncated = false;
    const error = await downloadFile(store, "big.bin", join(out, "big.bin"), {
      onProgress: (p) => {
        if (!truncated && p.bytes >= 2 * MiB) {
          truncated = true;
          truncateSync(join(root, "big.bin"), 3 * MiB);
        }
      },
    }).catch((e: unknown) => e);
    expect(truncated).toBe(true);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).code).toBe("E_OBJECT_CHANGED");
    expect(await readdir(out)).toEqual([]);
  });

  it("the same failure over an existing destination leaves the old file as it was", async () => {
    await writeFile(join(root, "big.bin"), pattern(8 * MiB, 2));
    const old = pattern(1234, 3);
    await writeFile(join(out, "big.bin"), old);
    let truncated = false;
    await expect(
      downloadFile(store, "big.bin", join(out, "big.bin"), {
        onProgress: (p) => {
          if (!truncated && p.bytes >= 2 * MiB) {
            truncated = true;
            truncateSync(join(root, "big.bin"), 1 * MiB);
          }
        },
      }),
    ).rejects.toBeInstanceOf(IntegrityError);
    expect(Buffer.compare(await readFile(join(out, "big.bin")), old)).toBe(0);
    expect(await readdir(out)).toEqual(["big.bin"]);
  });

  it("an abort mid-download: AbortError, no destination file, no temporary file", async () => {
    await writeFile(join(root, "big.bin"), pattern(8 * MiB, 4));
    const controller = new AbortController();
    const error = await downloadFile(store, "big.bin", join(out, "aborted.bin"), {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.bytes >= 1 * MiB) controller.abort();
      },
    }).catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    expect(await readdir(out)).toEqual([]);
  });

  it("readTo into a sink that fails: the error comes back and the read stops", async () => {
    await writeFile(join(root, "big.bin"), pattern(8 * MiB, 5));
    let calls = 0;
    const error = await store.readTo!("big.bin", () => {
      calls++;
      if (calls === 2) throw new Error("disk full");
    }).catch((e: unknown) => e);
    expect((error as Error).message).toBe("disk full");
    expect(calls).toBe(2);
  });
});

describe("file:// put that fails part-way leaves no visible object and no temporary file", () => {
  it("a source stream that throws after some chunks", async () => {
    async function* broken() {
      yield pattern(1 * MiB, 6);
      yield pattern(1 * MiB, 7);
      throw new Error("source broke");
    }
    await expect(store.put("dir/obj.bin", broken())).rejects.toThrow("source broke");
    expect(await store.exists("dir/obj.bin")).toBe(false);
    const left = await readdir(root, { recursive: true });
    expect(left.filter((name) => name.includes("obj.bin"))).toEqual([]);
  });

  it("an abort during a streamed put keeps the previous object whole", async () => {
    const previous = pattern(100_000, 8);
    await store.put("obj.bin", previous);
    const controller = new AbortController();
    async function* slow() {
      yield pattern(1 * MiB, 9);
      controller.abort();
      yield pattern(1 * MiB, 10);
    }
    await expect(store.put("obj.bin", slow(), { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(Buffer.compare(Buffer.from(await store.get("obj.bin")), previous)).toBe(0);
    expect(await readdir(root)).toEqual(["obj.bin"]);
  });
});
