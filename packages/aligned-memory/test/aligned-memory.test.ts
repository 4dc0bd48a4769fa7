import { closeSync, constants, openSync, readFileSync, readSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { addressOf, allocateAligned, allocatorKind, isAligned } from "../src/index.js";

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
