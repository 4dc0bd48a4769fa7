import { maxStreamSize as coreMaxStreamSize, partSizeForLength as corePartSizeForLength, streamPartSize as coreStreamPartSize, type PartLimits } from "@range/core";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

/** S3's limits for multipart uploads. */
export const MIN_PART_SIZE = 5 * MiB;
export const MAX_PART_SIZE = 5 * GiB;
export const MAX_PARTS = 10_000;
/** Parts per size step when the total is unknown (a stream): see {@link streamPartSize}. */
export const PARTS_PER_STEP = 900;

const S3_LIMITS: PartLimits = { maxParts: MAX_PARTS, maxPartSize: MAX_PART_SIZE, partsPerStep: PARTS_PER_STEP };

/**
 * Part size for an upload of known `size`: the configured `partSize`, raised (to a whole MiB) when `size` would
 * otherwise need more than 10,000 parts.
 */
export function partSizeForLength(size: number, partSize: number): number {
  return corePartSizeForLength(size, partSize, S3_LIMITS);
}

/**
 * Size of part `partNumber` (1-based) of a stream of unknown length: `partSize` for the first 900 parts, then twice
 * that for the next 900, and so on (capped at 5 GiB). Memory stays at `partSize` for ordinary objects, while 10,000
 * parts reach beyond S3's 5 TiB object limit even from the 5 MiB minimum (doubling every 1,000 parts would stop at
 * 4.9 TiB): with 8 MiB parts, 900 parts cover 7 GiB, 1,800 cover 21 GiB, 10,000 cover more than 10 TiB.
 */
export function streamPartSize(partNumber: number, partSize: number): number {
  return coreStreamPartSize(partNumber - 1, partSize, S3_LIMITS);
}

/** The most bytes a stream can upload with `partSize` before running out of part numbers. */
export function maxStreamSize(partSize: number): number {
  return coreMaxStreamSize(partSize, S3_LIMITS);
}
