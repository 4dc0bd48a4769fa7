import { InvalidRangeError } from "../errors.js";
import { MiB, type ResolvedRangeEngineOptions } from "./options.js";

export interface PlannedRange {
  /** Position of the range in the plan (0-based); ranges are in offset order. */
  index: number;
  offset: number;
  length: number;
}

/**
 * Smallest range the planner chooses on its own. Below ~1 MiB a request's fixed cost (round trip, headers, a
 * syscall, a promise) starts to rival its transfer time; the benchmark's planner scenario measures this.
 */
export const MIN_PLANNED_RANGE = 1 * MiB;
/** Ranges are multiples of this, so they line up with pages and O_DIRECT blocks. */
export const RANGE_ALIGNMENT = 64 * 1024;

/**
 * The size of each range for an object of `size` bytes.
 *
 * Rule: objects below `minSplitSize` are one request. Otherwise aim for one range per concurrency slot
 * (`size / maxConcurrentRanges`, rounded up to 64 KiB), but never below 1 MiB and never above `chunkSize`.
 *
 * Why: s3dlio's fixed 64 MiB chunk gives a 16 MiB or 60 MiB object a single range, i.e. no parallelism exactly where
 * most ML samples and shards live. Dividing by the concurrency keeps every slot busy for mid-sized objects (16 MiB →
 * 16 × 1 MiB; 256 MiB → 32 × 8 MiB) while huge objects still use `chunkSize` ranges (10 GiB → 160 × 64 MiB), which
 * bounds per-range memory and retry cost. See docs/benchmarks.md for the measurements behind it.
 */
export function chooseRangeSize(size: number, options: Pick<ResolvedRangeEngineOptions, "chunkSize" | "maxConcurrentRanges" | "minSplitSize">): number {
  if (size < options.minSplitSize) return size;
  const perSlot = Math.ceil(size / options.maxConcurrentRanges / RANGE_ALIGNMENT) * RANGE_ALIGNMENT;
  return Math.min(options.chunkSize, Math.max(MIN_PLANNED_RANGE, perSlot));
}

/** Validates an object size: a non-negative safe integer. */
export function assertValidSize(size: unknown, what = "size"): asserts size is number {
  if (typeof size !== "number" || !Number.isSafeInteger(size) || size < 0) {
    throw new InvalidRangeError(`${what} must be a non-negative safe integer, got ${String(size)}`);
  }
}

/** Splits `[0, size)` into ordered ranges per {@link chooseRangeSize}. `size === 0` plans nothing. */
export function planRanges(
  size: number,
  options: Pick<ResolvedRangeEngineOptions, "chunkSize" | "maxConcurrentRanges" | "minSplitSize">,
): PlannedRange[] {
  assertValidSize(size);
  if (size === 0) return [];
  const rangeSize = chooseRangeSize(size, options);
  const ranges: PlannedRange[] = [];
  for (let offset = 0, index = 0; offset < size; offset += rangeSize, index++) {
    ranges.push({ index, offset, length: Math.min(rangeSize, size - offset) });
  }
  return ranges;
}
