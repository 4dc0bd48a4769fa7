import { RangeConfigError } from "@range/core";
import { POOL_LIMIT, poolBytes } from "./pool.js";
import { hashInteger } from "./prng.js";

export interface SyntheticDataOptions {
  /** Bytes per object (0 allowed). */
  size: number;
  /** Objects in the dataset (default 1). */
  count?: number;
  /**
   * Dedup ratio ≥ 1 (default 1): blocks ÷ distinct blocks over the whole dataset. 2 means every distinct block
   * appears twice, i.e. half of the blocks repeat one seen before (the fraction that repeats is `1 - 1/dedup`).
   */
  dedup?: number;
  /**
   * Compression ratio ≥ 1 (default 1): bytes ÷ compressed bytes. The last `1 - 1/compress` of every block are
   * zeros, the rest is incompressible. At most `blockSize / 8` (a block keeps 8 random bytes).
   */
  compress?: number;
  /** Any non-negative safe integer (default 0). The same options and seed give the same bytes. */
  seed?: number;
  /** The dedup unit, in bytes: a multiple of 8 from 64 to 1 MiB (default 4096, the usual dedup block). */
  blockSize?: number;
}

export const DEFAULT_BLOCK_SIZE = 4096;
/** Dedup systems use 4–128 KiB blocks; 1 MiB keeps a block well inside the random pool. */
const MAX_BLOCK_SIZE = 1024 * 1024;
/** Bytes at the start of every block that make it distinct from every other distinct block. */
const STAMP_BYTES = 8;

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeConfigError(message);
}

function isNonNegativeInteger(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/**
 * A deterministic synthetic dataset: `count` objects of `size` bytes whose fixed-size blocks dedupe and compress by
 * the requested ratios. Any byte range of any object can be produced on its own (`fill`), so a dataset never has to
 * be held in memory: readers can verify what they read against it.
 *
 * How the bytes are made: the dataset's blocks are numbered globally (object after object); block `g` is a copy of
 * distinct block `g mod U`, where `U = ceil(blocks / dedup)`. Distinct block `u` is an 8-byte stamp derived from the
 * seed and `u`, then a slice of a per-seed pool of xoshiro128** output (incompressible), then zeros up to the block
 * size (`1 - 1/compress` of it). Filling is thus mostly memcpy and memset.
 */
export class SyntheticDataset {
  readonly size: number;
  readonly count: number;
  readonly dedup: number;
  readonly compress: number;
  readonly seed: number;
  readonly blockSize: number;
  /** Blocks per object (the last one is partial when `size` is not a multiple of `blockSize`). */
  readonly blocksPerObject: number;
  /** Distinct blocks in the whole dataset. */
  readonly uniqueBlocks: number;
  /** Random (incompressible) bytes at the start of each block, stamp included; the rest of the block is zeros. */
  readonly randomBytesPerBlock: number;
  readonly #seedHash: number;
  /** Pool bytes per distinct block (the random part after the stamp). */
  readonly #slice: number;
  /** Distinct slices the pool holds; distinct block `u` uses slice `u mod #slices`. */
  readonly #slices: number;
  #pool: Buffer | undefined;

  constructor(options: SyntheticDataOptions) {
    const { size, count = 1, dedup = 1, compress = 1, seed = 0, blockSize = DEFAULT_BLOCK_SIZE } = options ?? ({} as SyntheticDataOptions);
    check(isNonNegativeInteger(size), `size must be a non-negative integer number of bytes, got ${String(size)}`);
    check(isNonNegativeInteger(count) && count >= 1, `count must be a positive integer, got ${String(count)}`);
    check(
      isNonNegativeInteger(blockSize) && blockSize >= 64 && blockSize <= MAX_BLOCK_SIZE && blockSize % 8 === 0,
      `blockSize must be a multiple of 8 between 64 and ${MAX_BLOCK_SIZE}, got ${String(blockSize)}`,
    );
    check(typeof dedup === "number" && Number.isFinite(dedup) && dedup >= 1, `dedup must be a ratio ≥ 1 (1 = no duplicate blocks), got ${String(dedup)}`);
    check(
      typeof compress === "number" && Number.isFinite(compress) && compress >= 1 && compress <= blockSize / STAMP_BYTES,
      `compress must be a ratio between 1 (incompressible) and blockSize/8 = ${blockSize / STAMP_BYTES}, got ${String(compress)}`,
    );
    check(isNonNegativeInteger(seed), `seed must be a non-negative safe integer, got ${String(seed)}`);
    check(Number.isSafeInteger(size * count), `count × size (${count} × ${size}) is beyond 2^53 bytes`);
    this.size = size;
    this.count = count;
    this.dedup = dedup;
    this.compress = compress;
    this.seed = seed;
    this.blockSize = blockSize;
    this.blocksPerObject = Math.ceil(size / blockSize);
    const blocks = this.blocksPerObject * count;
    this.uniqueBlocks = Math.max(1, Math.ceil(blocks / dedup));
    this.randomBytesPerBlock = Math.min(blockSize, Math.max(STAMP_BYTES, Math.round(blockSize / compress)));
    this.#seedHash = hashInteger(seed, 0x5eed);
    this.#slice = this.randomBytesPerBlock - STAMP_BYTES;
    // The pool covers every distinct block's slice when it can (no reuse at all), else as many as POOL_LIMIT holds.
    this.#slices = this.#slice === 0 ? 1 : Math.min(this.uniqueBlocks, Math.floor(POOL_LIMIT / this.#slice));
  }

  /** Bytes in the whole dataset. */
  get totalBytes(): number {
    return this.size * this.count;
  }

  /** A fresh buffer with object `index`'s bytes. */
  object(index = 0): Uint8Array {
    this.#checkIndex(index);
    const out = Buffer.allocUnsafeSlow(this.size);
    this.fill(index, out, 0);
    return out;
  }

  /**
   * Writes bytes `[offset, offset + target.length)` of object `index` into `target` (random access: a reader can check
   * a ranged read against it without the whole object).
   */
  fill(index: number, target: Uint8Array, offset = 0): Uint8Array {
    this.#checkIndex(index);
    check(isNonNegativeInteger(offset) && offset + target.length <= this.size, `range [${offset}, ${offset + target.length}) is outside the object's ${this.size} bytes`);
    const B = this.blockSize;
    const random = this.randomBytesPerBlock;
    const pool = this.#slice > 0 ? this.#poolView() : undefined;
    const end = offset + target.length;
    let block = Math.floor(offset / B);
    const firstGlobal = index * this.blocksPerObject;
    for (let blockStart = block * B; blockStart < end; block++, blockStart += B) {
      const unique = (firstGlobal + block) % this.uniqueBlocks;
      // Block-relative [from, to) that falls inside the requested range, and where it lands in target.
      const from = Math.max(0, offset - blockStart);
      const to = Math.min(B, end - blockStart);
      const at = blockStart + from - offset;
      // Stamp: two 32-bit words, little-endian, from the seed and the distinct block's number.
      if (from < STAMP_BYTES) {
        const w0 = hashInteger(unique, this.#seedHash);
        const w1 = hashInteger(unique, w0 ^ 0x68e31da4);
        for (let i = from; i < Math.min(STAMP_BYTES, to); i++) {
          target[at + i - from] = ((i < 4 ? w0 : w1) >>> ((i & 3) * 8)) & 0xff;
        }
      }
      // Random part: a slice of the pool.
      const rFrom = Math.max(from, STAMP_BYTES);
      const rTo = Math.min(to, random);
      if (pool && rFrom < rTo) {
        const base = (unique % this.#slices) * this.#slice - STAMP_BYTES;
        // Buffer#copy: a memcpy without the view object `subarray` would allocate per block.
        pool.copy(target, at + rFrom - from, base + rFrom, base + rTo);
      }
      // Compressible tail: zeros.
      const zFrom = Math.max(from, random);
      if (zFrom < to) target.fill(0, at + zFrom - from, at + to - from);
    }
    return target;
  }

  /**
   * Object `index` as consecutive fresh chunks of `chunkSize` bytes (the last one shorter): bounded memory for objects
   * of any size, e.g. for `store.put(key, stream)`.
   */
  async *stream(index = 0, options: { chunkSize?: number } = {}): AsyncGenerator<Uint8Array, void, undefined> {
    this.#checkIndex(index);
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    check(isNonNegativeInteger(chunkSize) && chunkSize > 0, `chunkSize must be a positive integer, got ${String(chunkSize)}`);
    for (let offset = 0; offset < this.size; offset += chunkSize) {
      const chunk = Buffer.allocUnsafe(Math.min(chunkSize, this.size - offset));
      yield this.fill(index, chunk, offset);
    }
  }

  #poolView(): Buffer {
    if (!this.#pool || this.#pool.length < this.#slices * this.#slice) {
      const bytes = poolBytes(this.seed, this.#slices * this.#slice);
      this.#pool = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    return this.#pool;
  }

  #checkIndex(index: number): void {
    check(isNonNegativeInteger(index) && index < this.count, `object index must be an integer in [0, ${this.count}), got ${String(index)}`);
  }
}

/** Default chunk of `stream`: 1 MiB, large enough that per-chunk overhead vanishes, small enough to stay cache-friendly. */
export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

/** One object's bytes: `generateData({ size: 1 << 20, dedup: 2, compress: 3, seed: 7 })`. */
export function generateData(options: SyntheticDataOptions & { index?: number }): Uint8Array {
  return new SyntheticDataset(options).object(options.index ?? 0);
}

/** One object's bytes as an async stream of chunks (bounded memory for any size). */
export function generateStream(options: SyntheticDataOptions & { index?: number; chunkSize?: number }): AsyncIterable<Uint8Array> {
  const dataset = new SyntheticDataset(options);
  return dataset.stream(options.index ?? 0, options.chunkSize === undefined ? {} : { chunkSize: options.chunkSize });
}
