/**
 * Cutting an upload into parts (S3 multipart parts, Azure blocks, ...): the part size for a known length, a growing
 * part size for a stream of unknown length, and a reader that cuts a stream of chunks into parts.
 */

const MiB = 1024 * 1024;

/** A service's multipart limits. */
export interface PartLimits {
  /** Most parts one upload may have (S3 10,000; Azure 50,000). */
  maxParts: number;
  /** Largest part the service accepts. */
  maxPartSize: number;
  /** For streams of unknown length, the part size doubles after this many parts. */
  partsPerStep: number;
}

/**
 * Part size for an upload of known `size`: the configured `partSize`, raised (to a whole MiB) when `size` would
 * otherwise need more than `limits.maxParts` parts.
 */
export function partSizeForLength(size: number, partSize: number, limits: PartLimits): number {
  const needed = Math.ceil(size / limits.maxParts / MiB) * MiB;
  return Math.min(limits.maxPartSize, Math.max(partSize, needed));
}

/**
 * Size of part `index` (0-based) of a stream of unknown length: `partSize` for the first `partsPerStep` parts, twice
 * that for the next step, and so on (capped at `maxPartSize`). Memory stays at `partSize` for ordinary objects, while
 * the last parts are large enough for the service's largest objects.
 */
export function streamPartSize(index: number, partSize: number, limits: PartLimits): number {
  return Math.min(limits.maxPartSize, partSize * 2 ** Math.floor(index / limits.partsPerStep));
}

/** The most bytes a stream can upload with `partSize` before running out of parts. */
export function maxStreamSize(partSize: number, limits: PartLimits): number {
  let total = 0;
  for (let index = 0; index < limits.maxParts; index += limits.partsPerStep) {
    total += Math.min(limits.partsPerStep, limits.maxParts - index) * streamPartSize(index, partSize, limits);
  }
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

  /** True once the source ended and every byte was handed out. */
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
