import { createHash } from "node:crypto";
import { constants as zlibConstants, createDeflateRaw } from "node:zlib";
import { RangeConfigError } from "@range/core";
import { DEFAULT_BLOCK_SIZE } from "./dataset.js";

export interface DataAnalysis {
  bytes: number;
  /** Fixed-size blocks (a final partial block counts as one). */
  blocks: number;
  /** Distinct blocks (by SHA-1 of their bytes). */
  uniqueBlocks: number;
  /** blocks ÷ uniqueBlocks. */
  dedupRatio: number;
  /** Bytes of the distinct blocks. */
  uniqueBytes: number;
  /** The distinct blocks, in order of first appearance, through one raw deflate stream. */
  compressedBytes: number;
  /** uniqueBytes ÷ compressedBytes. */
  compressionRatio: number;
}

export interface AnalyzeOptions {
  blockSize?: number;
  /** zlib level for the compression measure (default 6, zlib's default). */
  level?: number;
}

/**
 * Measures what a dedup + compression storage system would see: the data is cut into consecutive `blockSize` blocks,
 * duplicates are removed (dedup ratio), and the remaining blocks go through deflate (compression ratio, measured after
 * dedup so the two numbers are independent). The input is one byte stream: chunks are concatenated, so analyse
 * objects whose size is not a multiple of `blockSize` one at a time if block alignment per object matters.
 */
export async function analyzeData(
  data: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>,
  options: AnalyzeOptions = {},
): Promise<DataAnalysis> {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  if (!Number.isSafeInteger(blockSize) || blockSize < 1) throw new RangeConfigError(`blockSize must be a positive integer, got ${String(blockSize)}`);
  const seen = new Set<string>();
  const deflate = createDeflateRaw({ level: options.level ?? zlibConstants.Z_DEFAULT_COMPRESSION });
  let compressedBytes = 0;
  deflate.on("data", (chunk: Buffer) => (compressedBytes += chunk.length));
  const ended = new Promise<void>((resolve, reject) => {
    deflate.on("end", resolve);
    deflate.on("error", reject);
  });
  let bytes = 0;
  let blocks = 0;
  let uniqueBytes = 0;
  const pending = Buffer.allocUnsafe(blockSize);
  let filled = 0;
  const writeUnique = async (block: Uint8Array) => {
    const digest = createHash("sha1").update(block).digest("base64");
    blocks++;
    if (seen.has(digest)) return;
    seen.add(digest);
    uniqueBytes += block.length;
    // A copy: the caller may reuse its chunk (and `pending` is refilled) while deflate still holds the block.
    if (!deflate.write(Buffer.from(block))) await new Promise((resolve) => deflate.once("drain", resolve));
  };
  const chunks = data instanceof Uint8Array ? [data] : data;
  for await (const chunk of chunks as AsyncIterable<Uint8Array>) {
    bytes += chunk.length;
    let at = 0;
    if (filled > 0) {
      const take = Math.min(blockSize - filled, chunk.length);
      pending.set(chunk.subarray(0, take), filled);
      filled += take;
      at = take;
      if (filled === blockSize) {
        await writeUnique(pending);
        filled = 0;
      }
    }
    for (; at + blockSize <= chunk.length; at += blockSize) await writeUnique(chunk.subarray(at, at + blockSize));
    if (at < chunk.length) {
      pending.set(chunk.subarray(at), 0);
      filled = chunk.length - at;
    }
  }
  if (filled > 0) await writeUnique(pending.subarray(0, filled));
  deflate.end();
  await ended;
  const uniqueBlocks = seen.size;
  return {
    bytes,
    blocks,
    uniqueBlocks,
    dedupRatio: uniqueBlocks > 0 ? blocks / uniqueBlocks : 1,
    uniqueBytes,
    compressedBytes,
    compressionRatio: compressedBytes > 0 ? uniqueBytes / compressedBytes : 1,
  };
}
