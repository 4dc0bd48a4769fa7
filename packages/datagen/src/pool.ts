import { Xoshiro128 } from "./prng.js";

/**
 * The random bytes unique blocks are cut from, per seed: a prefix of one xoshiro128** stream, grown on demand and
 * shared by every dataset with that seed (the stream is prefix-stable, so growing never changes bytes handed out).
 *
 * At most {@link POOL_LIMIT} bytes: beyond that, unique blocks reuse pool bytes (each still starts with its own
 * 8-byte stamp, so no two unique blocks are equal). 16 MiB is twice the largest window of zstd's standard levels
 * (8 MiB at level 19) and 512 times deflate's 32 KiB, so those compressors see no repeat; `zstd --long` (128 MiB+)
 * would find them. Generating the full pool costs about 14 ms once per seed (xoshiro128** at ~1.2 GB/s).
 */
export const POOL_LIMIT = 16 * 1024 * 1024;

/** Pools kept for this many seeds at once (least recently used dropped first): 64 MiB at most. */
const CACHED_SEEDS = 4;

interface Pool {
  rng: Xoshiro128;
  words: Uint32Array;
  /** Words of `words` generated so far. */
  filled: number;
}

const pools = new Map<number, Pool>();

/** At least `bytes` (≤ POOL_LIMIT) bytes of the seed's stream, as a view starting at its first byte. */
export function poolBytes(seed: number, bytes: number): Uint8Array {
  const wordsNeeded = Math.ceil(Math.min(bytes, POOL_LIMIT) / 4);
  let pool = pools.get(seed);
  if (pool) {
    pools.delete(seed); // re-inserted below: Map order is the LRU order
  } else {
    pool = { rng: new Xoshiro128(seed), words: new Uint32Array(0), filled: 0 };
    if (pools.size >= CACHED_SEEDS) pools.delete(pools.keys().next().value!);
  }
  pools.set(seed, pool);
  if (pool.filled < wordsNeeded) {
    if (pool.words.length < wordsNeeded) {
      // Grow geometrically (within the limit) so a run of slightly larger requests does not copy each time.
      const capacity = Math.min(Math.ceil(POOL_LIMIT / 4), Math.max(wordsNeeded, pool.words.length * 2));
      const grown = new Uint32Array(capacity);
      grown.set(pool.words.subarray(0, pool.filled));
      pool.words = grown;
    }
    pool.rng.fill(pool.words.subarray(pool.filled, wordsNeeded));
    pool.filled = wordsNeeded;
  }
  return new Uint8Array(pool.words.buffer, 0, pool.filled * 4);
}
