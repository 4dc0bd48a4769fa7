import { randomBytes } from "node:crypto";

const MiB = 1024 * 1024;

/** Azure's limits for block blobs (service version 2019-12-12 and later). */
export const MAX_BLOCKS = 50_000;
export const MAX_BLOCK_SIZE = 4000 * MiB;
/** Blocks per size step when the total is unknown (a stream): see {@link streamBlockSize}. */
export const BLOCKS_PER_STEP = 5_000;

/**
 * Block size for an upload of known `size`: the configured `blockSize`, raised (to a whole MiB) when `size` would
 * otherwise need more than 50,000 blocks.
 */
export function blockSizeForLength(size: number, blockSize: number): number {
  const needed = Math.ceil(size / MAX_BLOCKS / MiB) * MiB;
  return Math.min(MAX_BLOCK_SIZE, Math.max(blockSize, needed));
}

/**
 * Size of block `index` (0-based) of a stream of unknown length: `blockSize` for the first 5,000 blocks, twice that
 * for the next 5,000, and so on (capped at 4000 MiB). Memory stays at `blockSize` for ordinary objects, while the
 * 50,000 blocks still reach ~38 TiB from 8 MiB blocks (fixed 8 MiB blocks would stop at 390 GiB).
 */
export function streamBlockSize(index: number, blockSize: number): number {
  return Math.min(MAX_BLOCK_SIZE, blockSize * 2 ** Math.floor(index / BLOCKS_PER_STEP));
}

/** The most bytes a stream can upload with `blockSize` before running out of blocks. */
export function maxStreamSize(blockSize: number): number {
  let total = 0;
  for (let index = 0; index < MAX_BLOCKS; index += BLOCKS_PER_STEP) total += BLOCKS_PER_STEP * streamBlockSize(index, blockSize);
  return total;
}

/**
 * Block ids for one upload. Azure wants base64 ids of equal length within a blob; the random part keeps two uploads
 * racing on the same blob from committing each other's blocks.
 */
export function blockIdFactory(): (index: number) => string {
  const nonce = randomBytes(8).toString("hex");
  return (index) => Buffer.from(`range-${nonce}-${String(index).padStart(6, "0")}`).toString("base64");
}

/**
 * Cuts an AsyncIterable of chunks into blocks of the requested sizes, copying each chunk once (the caller may reuse
 * its buffers as soon as it yields the next one).
 */
export class BlockReader {
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
    let block: Buffer | undefined;
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
      block ??= Buffer.allocUnsafeSlow(size);
      const take = Math.min(chunk.length, size - filled);
      block.set(take === chunk.length ? chunk : chunk.subarray(0, take), filled);
      filled += take;
      if (take < chunk.length) this.#pending = chunk.subarray(take);
    }
    if (block === undefined) return new Uint8Array(0);
    return filled === size ? block : block.subarray(0, filled);
  }

  /** Stops the source (its `finally` blocks run). */
  async close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.#pending = undefined;
    await this.#iterator.return?.();
  }
}
