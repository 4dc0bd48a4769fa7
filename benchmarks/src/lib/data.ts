import { createHash, randomInt } from "node:crypto";
import { generateData } from "@range/datagen";

// The suite's objects and files come from `@range/datagen` with its defaults: incompressible by deflate (compress 1)
// and no 4 KiB block repeated anywhere (dedup 1: every block starts with its own stamp), so a range that lands at a
// wrong offset fails the byte comparison. (Blocks reuse the seed's 16 MiB random pool behind their stamps: only a
// long-window compressor such as `zstd --long` could find those repeats.)

const asBuffer = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** `size` bytes of synthetic data from a fresh random seed (see above). */
export function pseudoRandomBytes(size: number): Buffer {
  return asBuffer(generateData({ size, seed: randomInt(2 ** 47) }));
}

/** Byte-exact comparison of two views. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/**
 * `size` bytes that any process can regenerate from `seed` alone: `generateData({ size, seed })`. The parent writes an
 * object with it, a worker regenerates it to check ranges, and the memory backend seeds its store with it.
 */
export function seededBytes(size: number, seed: number): Buffer {
  return asBuffer(generateData({ size, seed }));
}

/** SHA-256 of the bytes, hex: how a worker proves the object it read is the object that was written. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
