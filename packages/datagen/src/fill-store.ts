import { RangeConfigError, abortErrorFrom, type ObjectMeta, type ObjectStore } from "@range/core";
import { SyntheticDataset, type SyntheticDataOptions } from "./dataset.js";

export interface FillStoreOptions extends SyntheticDataOptions {
  /** Prepended to every default key (default ""). */
  prefix?: string;
  /** The key of object `index` (default `<prefix>obj-000000.bin`, zero-padded to the count's width, at least 6). */
  keyOf?: (index: number) => string;
  /** Puts in flight at once (default 8). */
  concurrency?: number;
  /** Objects of at least this many bytes are put as a stream of chunks, never as one buffer (default 64 MiB). */
  streamThreshold?: number;
  /** Chunk size of those streams (default 1 MiB). */
  chunkSize?: number;
  signal?: AbortSignal;
  /** Called after each object is stored. */
  onObject?: (meta: ObjectMeta, index: number) => void;
}

export interface FillStoreResult {
  objects: number;
  bytes: number;
  seconds: number;
  /** The key of object `index` (no array of every key: a fill of ten million small objects stays small). */
  keyOf: (index: number) => string;
  firstKey: string;
  lastKey: string;
}

/** The default key of object `index` out of `count`: `obj-000042.bin`, sorted in index order by any listing. */
export function defaultObjectKey(index: number, count: number, prefix = ""): string {
  const width = Math.max(6, String(Math.max(0, count - 1)).length);
  return `${prefix}obj-${String(index).padStart(width, "0")}.bin`;
}

/**
 * Writes a synthetic dataset into a store: `count` objects of `size` bytes, `concurrency` puts at a time. The first
 * failure stops new puts, waits for those in flight and is rethrown; aborting `signal` does the same with an abort
 * error. Objects are generated just before their put, so memory stays at `concurrency` objects (or chunks).
 */
export async function fillStore(store: ObjectStore, options: FillStoreOptions): Promise<FillStoreResult> {
  const dataset = new SyntheticDataset(options);
  const { prefix = "", keyOf, concurrency = 8, streamThreshold = 64 * 1024 * 1024, chunkSize, signal, onObject } = options;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new RangeConfigError(`concurrency must be a positive integer, got ${String(concurrency)}`);
  if (typeof prefix !== "string") throw new RangeConfigError("prefix must be a string");
  const keyAt = keyOf ?? ((i: number) => defaultObjectKey(i, dataset.count, prefix));
  const started = performance.now();
  let next = 0;
  let objects = 0;
  let bytes = 0;
  let failure: { error: unknown } | undefined;
  const lane = async () => {
    while (next < dataset.count && !failure) {
      if (signal?.aborted) {
        failure ??= { error: abortErrorFrom(signal) };
        return;
      }
      const index = next++;
      try {
        const data =
          dataset.size >= streamThreshold ? dataset.stream(index, chunkSize === undefined ? {} : { chunkSize }) : dataset.object(index);
        const meta = await store.put(keyAt(index), data, signal ? { signal } : {});
        objects++;
        bytes += dataset.size;
        onObject?.(meta, index);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, dataset.count) }, lane));
  if (failure) throw failure.error;
  return { objects, bytes, seconds: (performance.now() - started) / 1000, keyOf: keyAt, firstKey: keyAt(0), lastKey: keyAt(dataset.count - 1) };
}
