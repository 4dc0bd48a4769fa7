import { randomBytes } from "node:crypto";
import type { CommandContext } from "../context.js";
import { ExitCode } from "../errors.js";
import { parseStoreLocation, prefixOf, uriOf, withPath } from "../location.js";
import { formatRate, formatSize, megabytesPerSecond } from "../sizes.js";
import { round } from "../transfer.js";

export interface BenchOptions {
  size: number;
  iterations: number;
}

/** Bytes per chunk handed to `put`: one random block, repeated. */
const WRITE_BLOCK = 8 * 1024 * 1024;
/** Above this a read streams instead of landing in one buffer (Node's buffers stop at a few GiB). */
const MAX_BUFFERED_READ = 1024 * 1024 * 1024;

async function* payload(size: number, onBytes: (n: number) => void): AsyncIterable<Uint8Array> {
  const block = randomBytes(Math.min(WRITE_BLOCK, Math.max(size, 1)));
  for (let sent = 0; sent < size; ) {
    const n = Math.min(block.length, size - sent);
    sent += n;
    onBytes(n);
    yield n === block.length ? block : block.subarray(0, n);
  }
}

interface Timing {
  seconds: number;
  mbPerSec: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Writes one object of `size` under the URI's prefix, reads it back `iterations` times and reports the throughput.
 * The object is deleted afterwards, also when a step fails or the run is interrupted.
 */
export async function bench(ctx: CommandContext, uri: string, opts: BenchOptions): Promise<number> {
  const location = prefixOf(parseStoreLocation(uri, ctx.io.cwd, "bench"));
  const key = `${location.path}.range-bench-${randomBytes(6).toString("hex")}`;
  const target = withPath(location, key);
  const store = await ctx.open(target);
  const progress = ctx.progress({ totalBytes: opts.size * (opts.iterations + 1) });
  const timing = (bytes: number, started: number): Timing => {
    const seconds = (performance.now() - started) / 1000;
    return { seconds: round(seconds, 4), mbPerSec: round(megabytesPerSecond(bytes, seconds), 1) };
  };
  let write: Timing;
  const reads: Timing[] = [];
  try {
    let started = performance.now();
    await store.put(key, payload(opts.size, (n) => progress.add(n)), { signal: ctx.signal });
    write = timing(opts.size, started);
    for (let i = 0; i < opts.iterations; i++) {
      started = performance.now();
      const options = { signal: ctx.signal, ...ctx.engineOption, knownMeta: { size: opts.size } };
      if (opts.size <= MAX_BUFFERED_READ) {
        let reported = 0;
        await store.get(key, {
          ...options,
          onProgress: (p) => {
            progress.add(p.bytes - reported);
            reported = p.bytes;
          },
        });
      } else {
        for await (const chunk of store.getStream(key, options)) progress.add(chunk.length);
      }
      reads.push(timing(opts.size, started));
    }
  } finally {
    progress.stop();
    // Not tied to the signal: after Ctrl-C the object must still go.
    await store.delete(key).catch((error: unknown) => {
      ctx.io.stderr.write(`range: could not delete the benchmark object ${uriOf(target)}: ${(error as Error).message}\n`);
    });
  }
  const readMedian = median(reads.map((r) => r.mbPerSec));
  if (ctx.json) {
    await ctx.printJson({
      uri: uriOf(location),
      size: opts.size,
      iterations: opts.iterations,
      ...(ctx.engine ? { engine: ctx.engine } : {}),
      write,
      reads,
      readMedianMbPerSec: round(readMedian, 1),
    });
    return ExitCode.ok;
  }
  if (!ctx.quiet) {
    await ctx.line(`bench ${uriOf(location)}: one ${formatSize(opts.size)} object, ${opts.iterations} read${opts.iterations === 1 ? "" : "s"}`);
    await ctx.line(`  write        ${formatRate(write.mbPerSec * 1e6).padStart(12)}  (${write.seconds.toFixed(3)} s)`);
    for (const [i, r] of reads.entries()) {
      await ctx.line(`  read ${String(i + 1).padEnd(7)} ${formatRate(r.mbPerSec * 1e6).padStart(12)}  (${r.seconds.toFixed(3)} s)`);
    }
    await ctx.line(`  read median  ${formatRate(readMedian * 1e6).padStart(12)}`);
  }
  return ExitCode.ok;
}
