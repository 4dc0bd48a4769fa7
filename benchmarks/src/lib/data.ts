import { randomFillSync } from "node:crypto";
import { MiB } from "@range/core";

const SEED_BLOCK = 64 * MiB;
const PAGE = 4096;

/**
 * `size` bytes of non-zero-looking pseudo-random data, made quickly: 64 MiB from `randomFillSync`, repeated, and every
 * 4 KiB page stamped with its own index (xor a per-block byte) so that no two pages are equal. A range landing at the
 * wrong offset (any multiple of 4 KiB; ranges are multiples of 64 KiB) therefore fails the comparison.
 */
export function pseudoRandomBytes(size: number): Buffer {
  const out = Buffer.allocUnsafeSlow(size);
  const seed = Math.min(size, SEED_BLOCK);
  randomFillSync(out, 0, seed);
  for (let offset = seed; offset < size; offset += SEED_BLOCK) {
    out.copy(out, offset, 0, Math.min(SEED_BLOCK, size - offset));
  }
  for (let page = 0; page * PAGE + 4 <= size; page++) {
    const block = Math.floor((page * PAGE) / SEED_BLOCK);
    // Varying byte per 64 MiB block, and the page index: distinct, and never four zero bytes.
    out.writeUInt32LE(((page + 1) ^ (((block * 0x9d) & 0xff) << 24)) >>> 0, page * PAGE);
  }
  return out;
}

/** Byte-exact comparison of two views. */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}
