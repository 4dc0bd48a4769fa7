import { createCipheriv, createHash, randomFillSync } from "node:crypto";
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

/**
 * `size` bytes that any process can regenerate from `seed` alone: an AES-128-CTR keystream (fast, deterministic) for
 * the first 64 MiB, repeated, every 4 KiB page stamped with its index like {@link pseudoRandomBytes}. The parent
 * writes an object with it, a worker regenerates it to check ranges, and the memory backend seeds its store with it.
 */
export function seededBytes(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafeSlow(size);
  const block = Math.min(size, SEED_BLOCK);
  const key = createHash("sha256").update(`range-bench:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv("aes-128-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(Math.min(block, 4 * 1024 * 1024));
  for (let done = 0; done < block; done += zeros.length) {
    const n = Math.min(zeros.length, block - done);
    cipher.update(zeros.subarray(0, n)).copy(out, done);
  }
  for (let offset = block; offset < size; offset += SEED_BLOCK) out.copy(out, offset, 0, Math.min(SEED_BLOCK, size - offset));
  for (let page = 0; page * PAGE + 4 <= size; page++) {
    const b = Math.floor((page * PAGE) / SEED_BLOCK);
    out.writeUInt32LE(((page + 1) ^ (((b * 0x9d) & 0xff) << 24)) >>> 0, page * PAGE);
  }
  return out;
}

/** SHA-256 of the bytes, hex: how a worker proves the object it read is the object that was written. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
