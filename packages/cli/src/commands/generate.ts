import { RangeConfigError } from "@range/core";
import { SyntheticDataset, defaultObjectKey, fillStore } from "@range/datagen";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { isDirectory, reportTransfer, type TransferSummary } from "../transfer.js";
import { isPrefix, localPath, parseStoreLocation, prefixOf, uriOf } from "../location.js";
import { megabytesPerSecond, parseSize } from "../sizes.js";

export interface GenerateOptions {
  generate?: string;
  dedup?: number;
  compress?: number;
  seed?: number;
  jobs?: number;
}

/** "<count>x<size>": "100x1MiB", "1x4GiB", "10000X64KiB". */
export function parseGenerateSpec(text: string): { count: number; size: number } {
  const match = /^\s*(\d+)\s*[xX]\s*(\S.*)$/.exec(text);
  if (!match) throw new TypeError(`expected <count>x<size>, e.g. 100x1MiB, got ${JSON.stringify(text)}`);
  const count = Number(match[1]);
  if (!Number.isSafeInteger(count) || count < 1) throw new TypeError(`the count in ${JSON.stringify(text)} must be a positive integer`);
  return { count, size: parseSize(match[2]!) };
}

/** A ratio ≥ 1 (for --dedup and --compress): "2", "1.5". */
export function parseRatio(text: string): number {
  const value = Number(text);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(text) || !Number.isFinite(value) || value < 1) throw new TypeError(`expected a ratio ≥ 1 (e.g. 2 or 1.5), got ${JSON.stringify(text)}`);
  return value;
}

/**
 * `put --generate <count>x<size> <uri>`: writes `count` synthetic objects (`@range/datagen`: deterministic from
 * --seed, with --dedup and --compress ratios) under a prefix, `--jobs` at a time. One object may go to a full key.
 */
export async function putGenerated(ctx: CommandContext, uri: string, options: GenerateOptions): Promise<number> {
  const { count, size } = parseGenerateSpec(options.generate!);
  let dst = parseStoreLocation(uri, ctx.io.cwd, "put --generate");
  const dedup = options.dedup ?? 1;
  const compress = options.compress ?? 1;
  const seed = options.seed ?? 0;
  // Checked before any I/O (RangeConfigError → exit 2).
  new SyntheticDataset({ count, size, dedup, compress, seed });
  const prefix = isPrefix(dst) || (dst.local && (await isDirectory(localPath(dst))));
  if (prefix) dst = prefixOf(dst);
  else if (count > 1) throw new UsageError(`${dst.text} names one object; --generate ${count}x… needs a prefix ending in "/"`);
  const keyOf = prefix ? (i: number) => defaultObjectKey(i, count, dst.path) : () => dst.path;

  const store = await ctx.open(dst);
  const progress = ctx.progress({ totalBytes: count * size, totalObjects: count });
  let result: Awaited<ReturnType<typeof fillStore>>;
  try {
    result = await fillStore(store, {
      count,
      size,
      dedup,
      compress,
      seed,
      keyOf,
      concurrency: options.jobs ?? 8,
      signal: ctx.signal,
      onObject: () => {
        progress.add(size);
        progress.objectDone();
      },
    });
  } catch (error) {
    if (RangeConfigError.isInstance(error)) throw new UsageError(error.message);
    throw error;
  } finally {
    progress.stop();
  }
  const summary: TransferSummary = {
    objects: result.objects,
    bytes: result.bytes,
    serverSideCopies: 0,
    seconds: result.seconds,
    mbPerSec: megabytesPerSecond(result.bytes, result.seconds),
    failed: [],
  };
  return reportTransfer(ctx, "generated", summary, {
    dst: uriOf(dst),
    first: uriOf(dst, result.firstKey),
    last: uriOf(dst, result.lastKey),
    count,
    size,
    dedup,
    compress,
    seed,
  });
}
