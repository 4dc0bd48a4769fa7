import { execFileSync } from "node:child_process";
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BackendError, openStore } from "@range/core";
import { addressOf, allocatorKind, isAligned } from "@range/aligned-memory";
import { runObjectStoreConformance } from "@range/conformance";
import { createDirectIoStore } from "../src/index.js";

const O_DIRECT = 0o40000;
let root: string;

beforeAll(async () => {
  // /tmp is ext4 here: O_DIRECT works. (tmpfs accepts O_DIRECT too since Linux 6.6; ramfs never does.)
  root = await mkdtemp(join(tmpdir(), "range-directio-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

runObjectStoreConformance({
  name: "directio",
  create: async () => createDirectIoStore({ root }),
  capabilities: { listPagination: false },
});

/** O_* flags of every descriptor of this process whose path matches `test`, read from /proc/self/fdinfo. */
function descriptorFlags(test: (path: string) => boolean): number[] {
  const flags: number[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      if (!test(readlinkSync(`/proc/self/fd/${fd}`))) continue;
      const info = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8");
      flags.push(Number.parseInt(/flags:\s+([0-7]+)/.exec(info)![1]!, 8));
    } catch {
      // closed meanwhile
    }
  }
  return flags;
}

function pattern(size: number, seed: number): Uint8Array {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 131 + seed + (i >>> 11)) & 0xff;
  return out;
}

describe("@range/directio", () => {
  it("reads through descriptors that really carry O_DIRECT (fdinfo)", async () => {
    const store = createDirectIoStore({ root, engine: { minSplitSize: 1 << 20, chunkSize: 1 << 20, maxConcurrentRanges: 4 } });
    const data = pattern(6 * 1024 * 1024 + 123, 1);
    await writeFile(join(root, "fdinfo.bin"), data);
    const seen: number[] = [];
    const out = await store.get("fdinfo.bin", {
      onProgress: () => seen.push(...descriptorFlags((p) => p.endsWith("/fdinfo.bin"))),
    });
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    expect(seen.length).toBeGreaterThan(0);
    for (const flags of seen) expect(flags & O_DIRECT).toBe(O_DIRECT);
  });

  it("writes through an O_DIRECT descriptor and leaves the exact size on disk (partial tail block)", async () => {
    const store = createDirectIoStore({ root });
    const sizes = [1, 511, 4095, 4097, 8 * 1024 * 1024 + 17];
    for (const size of sizes) {
      const data = pattern(size, size);
      const flagsDuringWrite: number[] = [];
      async function* source() {
        yield data.subarray(0, Math.floor(size / 2));
        flagsDuringWrite.push(...descriptorFlags((p) => p.includes(`.w${size}.bin.`) && p.endsWith(".range-tmp")));
        yield data.subarray(Math.floor(size / 2));
      }
      const meta = await store.put(`w${size}.bin`, source());
      expect(meta.size).toBe(size);
      expect(flagsDuringWrite).toHaveLength(1);
      expect(flagsDuringWrite[0]! & O_DIRECT).toBe(O_DIRECT);
      const onDisk = await readFile(join(root, `w${size}.bin`));
      expect(onDisk.length).toBe(size);
      expect(onDisk.equals(Buffer.from(data))).toBe(true);
    }
  });

  it("handles unaligned offsets and lengths and sizes that are not a block multiple", async () => {
    const store = createDirectIoStore({ root });
    const data = pattern(3 * 4096 + 1000, 7);
    await writeFile(join(root, "ragged.bin"), data);
    for (const [offset, length] of [
      [0, 1],
      [1, 4095],
      [4095, 2],
      [4096, 4096],
      [5000, 7000],
      [data.length - 1, 1],
      [12_000, data.length - 12_000],
    ] as const) {
      const got = await store.getRange("ragged.bin", offset, length);
      expect(Buffer.from(got).equals(Buffer.from(data.subarray(offset, offset + length)))).toBe(true);
    }
    const unalignedInto = new Uint8Array(data.length + 8).subarray(3);
    const out = await store.get("ragged.bin", { into: unalignedInto, engine: { minSplitSize: 4096, chunkSize: 4096 } });
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
  });

  it("returns results in aligned memory (proved by address with the native allocator)", async () => {
    const store = createDirectIoStore({ root });
    const data = pattern(9 * 1024 * 1024, 3);
    await writeFile(join(root, "aligned.bin"), data);
    const out = await store.get("aligned.bin");
    expect(Buffer.from(out).equals(Buffer.from(data))).toBe(true);
    expect(isAligned(out, 4096)).toBe(true);
    if (allocatorKind === "native") expect(addressOf(out)! % 4096).toBe(0);
  });

  it("opens via directio:// URIs", async () => {
    const store = await openStore(`directio://${root}`);
    await store.put("uri.bin", pattern(10, 1));
    expect((await store.get("uri.bin")).length).toBe(10);
  });
});

describe("a file system without O_DIRECT (ramfs)", () => {
  let mountPoint: string | undefined;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), "range-ramfs-"));
    try {
      execFileSync("mount", ["-t", "ramfs", "ramfs", dir], { stdio: "ignore" });
      mountPoint = dir;
      await mkdir(join(dir, "root"));
      await writeFile(join(dir, "root", "f.bin"), pattern(10_000, 5));
    } catch {
      await rm(dir, { recursive: true, force: true });
    }
  });
  afterAll(async () => {
    if (!mountPoint) return;
    execFileSync("umount", [mountPoint], { stdio: "ignore" });
    await rm(mountPoint, { recursive: true, force: true });
  });

  it("can mount ramfs (root); CI must", () => {
    if (process.env.CI) expect(mountPoint).toBeDefined();
  });

  it("fails with a clear typed error by default", async (ctx) => {
    if (!mountPoint) return ctx.skip();
    const store = createDirectIoStore({ root: join(mountPoint, "root") });
    for (const op of [() => store.get("f.bin"), () => store.put("g.bin", pattern(10, 1))]) {
      const error = await op().catch((e: unknown) => e);
      expect(BackendError.isInstance(error)).toBe(true);
      expect((error as BackendError).code).toBe("E_DIRECTIO_UNSUPPORTED");
      expect((error as Error).message).toMatch(/does not support O_DIRECT/);
    }
    expect(readdirSync(join(mountPoint, "root"))).toEqual(["f.bin"]);
  });

  it('falls back to page-cache I/O with { unsupported: "buffered" }', async (ctx) => {
    if (!mountPoint) return ctx.skip();
    const store = createDirectIoStore({ root: join(mountPoint, "root"), unsupported: "buffered" });
    expect(Buffer.from(await store.get("f.bin")).equals(Buffer.from(pattern(10_000, 5)))).toBe(true);
    await store.put("g.bin", pattern(5000, 2));
    expect(Buffer.from(await store.get("g.bin")).equals(Buffer.from(pattern(5000, 2)))).toBe(true);
  });
});
