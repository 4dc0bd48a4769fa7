import { closeSync, constants, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { createRequire } from "node:module";
import { RangeConfigError } from "@range/core";
import { addressOf, allocateAligned, allocateForParallelFill, allocatorKind, hugePageStats, isAligned, prepareForFill } from "../src/index.js";

const MiB = 1024 * 1024;

/** Bytes of transparent huge pages backing [address, address + length), summed from /proc/self/smaps. */
function hugeBytesIn(address: number, length: number): number {
  let total = 0;
  let overlaps = false;
  for (const line of readFileSync("/proc/self/smaps", "utf8").split("\n")) {
    const range = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (range) {
      const start = Number.parseInt(range[1]!, 16);
      const end = Number.parseInt(range[2]!, 16);
      overlaps = start < address + length && end > address;
      continue;
    }
    const huge = /^AnonHugePages:\s+(\d+) kB/.exec(line);
    if (huge && overlaps) total += Number(huge[1]) * 1024;
  }
  return total;
}

const thpAvailable = (() => {
  try {
    return !readFileSync("/sys/kernel/mm/transparent_hugepage/enabled", "utf8").includes("[never]");
  } catch {
    return false;
  }
})();

describe("allocateAligned", () => {
  it("uses the native allocator when it is built (CI builds it)", () => {
    if (process.env.CI) expect(allocatorKind).toBe("native");
    expect(["native", "wasm"]).toContain(allocatorKind);
  });

  it("returns zero-filled memory of the exact size", () => {
    for (const size of [1, 4095, 4096, 1_000_003, 3 * 1024 * 1024]) {
      const buf = allocateAligned(size);
      expect(buf.length).toBe(size);
      expect(buf.every((b) => b === 0)).toBe(true);
      buf.fill(7);
      expect(buf[size - 1]).toBe(7);
    }
    expect(allocateAligned(0).length).toBe(0);
    expect(() => allocateAligned(-1)).toThrow();
    expect(() => allocateAligned(1.5)).toThrow();
  });

  it("is aligned: 4 KiB always, 2 MiB with huge pages (native)", () => {
    const small = allocateAligned(10_000, { hugePages: false });
    const huge = allocateAligned(8 * 1024 * 1024);
    const a = addressOf(small);
    const b = addressOf(huge);
    if (allocatorKind === "native") {
      expect(a! % 4096).toBe(0);
      expect(b! % (2 * 1024 * 1024)).toBe(0);
    } else {
      expect(a).toBeUndefined();
    }
  });

  it("satisfies O_DIRECT: a direct read into it succeeds where a Node Buffer fails", () => {
    const path = join(tmpdir(), `range-aligned-${process.pid}.bin`);
    const data = Buffer.alloc(1024 * 1024, 0x5a);
    writeFileSync(path, data);
    const fd = openSync(path, constants.O_RDONLY | constants.O_DIRECT);
    try {
      const flags = Number.parseInt(/flags:\s+(\d+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!, 8);
      expect(flags & 0o40000).toBe(0o40000);
      const buf = allocateAligned(data.length);
      expect(readSync(fd, buf, 0, buf.length, 0)).toBe(data.length);
      expect(Buffer.from(buf.buffer, buf.byteOffset, buf.length).equals(data)).toBe(true);
      // An offset of 512 into aligned memory is still block-aligned for 512-byte logical sectors.
      expect(readSync(fd, buf, 4096, 4096, 4096)).toBe(4096);
    } finally {
      closeSync(fd);
      rmSync(path, { force: true });
    }
  });
});

describe("isAligned", () => {
  it("knows the alignment of views into aligned memory", () => {
    const buf = allocateAligned(64 * 1024);
    expect(isAligned(buf, 4096)).toBe(true);
    expect(isAligned(buf.subarray(4096), 4096)).toBe(true);
    expect(isAligned(buf.subarray(512), 4096)).toBe(false);
    expect(isAligned(buf.subarray(512), 512)).toBe(true);
    expect(() => isAligned(buf, 3000)).toThrow();
  });
});

describe("hugePages modes", () => {
  it("every mode gives zero-filled, exact-size memory, 2 MiB aligned unless hugePages is false", () => {
    for (const hugePages of [true, false, "auto"] as const) {
      const buf = allocateAligned(5 * MiB + 123, { hugePages });
      expect(buf.length).toBe(5 * MiB + 123);
      expect(buf.every((b) => b === 0)).toBe(true);
      if (allocatorKind === "native") expect(addressOf(buf)! % (hugePages === false ? 4096 : 2 * MiB)).toBe(0);
    }
  });

  it("rejects a hugePages value that is not true, false or \"auto\" with a typed error", () => {
    expect(() => allocateAligned(4096, { hugePages: "yes" as never })).toThrow(RangeConfigError);
  });

  it.runIf(allocatorKind === "native" && thpAvailable)("\"auto\" faults huge pages in up front, counted by hugePageStats", () => {
    const before = hugePageStats();
    const buf = allocateAligned(16 * MiB);
    const after = hugePageStats();
    const faulted = after.faulted - before.faulted;
    expect(faulted).toBeGreaterThanOrEqual(1);
    if (after.fallbacks === before.fallbacks) {
      // Every huge page was cheap: all 8 are in, before anything wrote to the buffer.
      expect(faulted).toBe(8);
      expect(hugeBytesIn(addressOf(buf)!, buf.length)).toBe(16 * MiB);
    }
  });

  it.runIf(allocatorKind === "native" && thpAvailable)("a slow huge page switches the rest of the buffer to ordinary pages", () => {
    // The addon itself, with a CPU-time limit of 0 ns: the first huge page is always "too slow".
    const native = createRequire(import.meta.url)("../build/aligned_memory.node") as {
      allocate(size: number, mode: number, limitNs: number): ArrayBuffer;
    };
    const before = hugePageStats();
    const buf = new Uint8Array(native.allocate(16 * MiB, 2, 0));
    const after = hugePageStats();
    expect(after.fallbacks - before.fallbacks).toBe(1);
    expect(after.faulted - before.faulted).toBe(1);
    buf.fill(1); // fault in the rest
    expect(buf.every((b) => b === 1)).toBe(true);
    // Only the probed page is huge; the other 14 MiB are 4 KiB pages (MADV_NOHUGEPAGE keeps khugepaged away too).
    expect(hugeBytesIn(addressOf(buf)!, buf.length)).toBeLessThanOrEqual(2 * MiB);
  });
});

describe("allocateForParallelFill / prepareForFill", () => {
  it("gives zero-filled, 2 MiB aligned memory whose parts are prepared on pool threads, keeping their bytes", async () => {
    const buf = allocateForParallelFill(24 * MiB + 5);
    expect(buf.length).toBe(24 * MiB + 5);
    if (allocatorKind === "native") expect(addressOf(buf)! % (2 * MiB)).toBe(0);
    buf[3 * MiB] = 42; // written before its part is prepared: preparing must not change it
    const before = hugePageStats();
    await Promise.all([0, 1, 2].map((i) => prepareForFill(buf.subarray(i * 8 * MiB, (i + 1) * 8 * MiB))));
    const after = hugePageStats();
    expect(buf[3 * MiB]).toBe(42);
    buf[3 * MiB] = 0;
    expect(buf.every((b) => b === 0)).toBe(true);
    if (allocatorKind === "native" && thpAvailable) {
      expect(after.faulted - before.faulted).toBeGreaterThanOrEqual(1);
      if (after.fallbacks === before.fallbacks) {
        expect(after.faulted - before.faulted).toBe(12);
        expect(hugeBytesIn(addressOf(buf)!, 24 * MiB)).toBe(24 * MiB);
      }
    }
  });

  it.runIf(allocatorKind === "native" && thpAvailable)("a slow huge page in one part gives that part's rest, and later parts, ordinary pages", async () => {
    // The addon itself, with a CPU-time limit of 0 ns: every huge page is "too slow".
    const native = createRequire(import.meta.url)("../build/aligned_memory.node") as {
      allocate(size: number, mode: number, limitNs: number): ArrayBuffer;
      prefault(view: Uint8Array, limitNs: number, skip: boolean): Promise<boolean>;
    };
    const buf = new Uint8Array(native.allocate(16 * MiB, 1, 0));
    const before = hugePageStats();
    expect(await native.prefault(buf.subarray(0, 8 * MiB), 0, false)).toBe(true);
    expect(await native.prefault(buf.subarray(8 * MiB), 0, true)).toBe(false); // skipped: no probing at all
    const after = hugePageStats();
    expect(after.faulted - before.faulted).toBe(1);
    expect(after.fallbacks - before.fallbacks).toBe(1);
    buf.fill(1);
    expect(hugeBytesIn(addressOf(buf)!, buf.length)).toBeLessThanOrEqual(2 * MiB);
  });

  it("prepares the huge pages a part shares with its neighbours too, without changing their bytes", async () => {
    const buf = allocateForParallelFill(8 * MiB);
    buf[MiB - 1] = 7; // in the first huge page, outside the part
    buf[5 * MiB] = 9; // in the third, outside the part
    const before = hugePageStats();
    await prepareForFill(buf.subarray(MiB, 5 * MiB)); // touches pages [0, 2), [2, 4) and [4, 6) MiB
    const after = hugePageStats();
    expect(buf[MiB - 1]).toBe(7);
    expect(buf[5 * MiB]).toBe(9);
    if (allocatorKind === "native" && thpAvailable && after.fallbacks === before.fallbacks) {
      expect(after.faulted - before.faulted).toBe(3);
    }
  });

  it("does nothing for memory it did not allocate, and rejects bad sizes like allocateAligned", async () => {
    const plain = Buffer.alloc(4 * MiB, 9);
    const before = hugePageStats();
    await prepareForFill(plain);
    expect(hugePageStats()).toEqual(before);
    expect(plain.every((b) => b === 9)).toBe(true);
    expect(() => allocateForParallelFill(-1)).toThrow(RangeConfigError);
    expect(allocateForParallelFill(0).length).toBe(0);
  });
});
