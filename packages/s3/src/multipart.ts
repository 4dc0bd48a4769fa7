const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** S3's limits for multipart uploads. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
export const MAX_PARTS = 10_000;
/** Parts per size step when the total is unknown (a stream): see {@link streamPartSize}. */
export const PARTS_PER_STEP = 900;

/**
 * Part size for an upload of known `size`: the configured `partSize`, raised (to a whole MiB) when `size` would
 * otherwise need more than 10,000 parts.
 */
export function partSizeForLength(size: number, partSize: number): number {
  const needed = Math.ceil(size / MAX_PARTS / MiB) * MiB;
  return Math.min(MAX_PART_SIZE, Math.max(partSize, needed));
}

/**
 * Size of part `partNumber` (1-based) of a stream of unknown length: `partSize` for the first 900 parts, then twice
 * that for the next 900, and so on (capped at 5 GiB). Memory stays at `partSize` for ordinary objects, while 10,000
 * parts reach beyond S3's 5 TiB object limit even from the 5 MiB minimum (doubling every 1,000 parts would stop at
 * 4.9 TiB): with 8 MiB parts, 900 parts cover 7 GiB, 1,800 cover 21 GiB, 10,000 cover more than 10 TiB.
 */
export function streamPartSize(partNumber: number, partSize: number): number {
  const step = Math.floor((partNumber - 1) / PARTS_PER_STEP);
  return Math.min(MAX_PART_SIZE, partSize * 2 ** step);
}

/** The most bytes a stream can upload with `partSize` before running out of part numbers. */
export function maxStreamSize(partSize: number): number {
  let total = 0;
  for (let n = 1; n <= MAX_PARTS; n += PARTS_PER_STEP) total += Math.min(PARTS_PER_STEP, MAX_PARTS - n + 1) * streamPartSize(n, partSize);
  return total;
}

/**
 * Cuts an AsyncIterable of chunks into parts of the requested sizes, copying each chunk once (the caller may reuse
 * its buffers as soon as it yields the next one).
 */
export class PartReader {
  readonly #iterator: AsyncIterator<Uint8Array>;
  #pending: Uint8Array | undefined;
  #done = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#iterator = source[Symbol.asyncIterator]();
  }

  get done(): boolean {
    return this.#done && this.#pending === undefined;
  }

  /** Up to `size` bytes; fewer only at the end of the stream (possibly 0). */
  async read(size: number): Promise<Uint8Array> {
    let part: Buffer | undefined;
    let filled = 0;
    while (filled < size) {
      let chunk = this.#pending;
      this.#pending = undefined;
      if (chunk === undefined) {
        if (this.#done) break;
        const next = await this.#iterator.next();
        if (next.done) {
          this.#done = true;
          break;
        }
        chunk = next.value;
      }
      if (chunk.length === 0) continue;
      part ??= Buffer.allocUnsafeSlow(size);
      const take = Math.min(chunk.length, size - filled);
      part.set(take === chunk.length ? chunk : chunk.subarray(0, take), filled);
      filled += take;
      if (take < chunk.length) this.#pending = chunk.subarray(take);
    }
    if (part === undefined) return new Uint8Array(0);
    return filled === size ? part : part.subarray(0, filled);
  }

  /** Stops the source (its `finally` blocks run). */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#pending = undefined;
    await this.#iterator.return?.();
  }
}
