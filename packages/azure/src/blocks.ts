import { randomBytes } from "node:crypto";
import { maxStreamSize as coreMaxStreamSize, partSizeForLength, streamPartSize, type PartLimits } from "@range/core";

const MiB = 1024 * 1024;

/** Azure's limits for block blobs (service version 2019-12-12 and later). */
export const MAX_BLOCKS = 50_000;
export const MAX_BLOCK_SIZE = 4000 * MiB;
/** Blocks per size step when the total is unknown (a stream): see {@link streamBlockSize}. */
export const BLOCKS_PER_STEP = 5_000;

const AZURE_LIMITS: PartLimits = { maxParts: MAX_BLOCKS, maxPartSize: MAX_BLOCK_SIZE, partsPerStep: BLOCKS_PER_STEP };

/**
 * Block size for an upload of known `size`: the configured `blockSize`, raised (to a whole MiB) when `size` would
 * otherwise need more than 50,000 blocks.
 */
export function blockSizeForLength(size: number, blockSize: number): number {
  return partSizeForLength(size, blockSize, AZURE_LIMITS);
}

/**
 * Size of block `index` (0-based) of a stream of unknown length: `blockSize` for the first 5,000 blocks, twice that
 * for the next 5,000, and so on (capped at 4000 MiB). Memory stays at `blockSize` for ordinary objects, while the
 * 50,000 blocks still reach ~38 TiB from 8 MiB blocks (fixed 8 MiB blocks would stop at 390 GiB).
 */
export function streamBlockSize(index: number, blockSize: number): number {
  return streamPartSize(index, blockSize, AZURE_LIMITS);
}

/** The most bytes a stream can upload with `blockSize` before running out of blocks. */
export function maxStreamSize(blockSize: number): number {
  return coreMaxStreamSize(blockSize, AZURE_LIMITS);
}

/**
 * Block ids for one upload. Azure wants base64 ids of equal length within a blob; the random part keeps two uploads
 * racing on the same blob from committing each other's blocks.
 */
export function blockIdFactory(): (index: number) => string {
  const nonce = randomBytes(8).toString("hex");
  return (index) => Buffer.from(`range-${nonce}-${String(index).padStart(6, "0")}`).toString("base64");
}
