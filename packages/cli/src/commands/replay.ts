import { resolve } from "node:path";
import { replayOpLog, type LatencySummary, type ReplaySummary } from "@range/oplog";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { parseStoreLocation, prefixOf, uriOf } from "../location.js";
import { formatSize } from "../sizes.js";

export interface ReplayCommandOptions {
  speed?: number;
  prepare?: boolean;
  maxInFlight?: number;
  threadOrder?: boolean;
}

/** A speed factor > 0: "2", "0.5", "10". */
export function parseSpeed(text: string): number {
  const value = Number(text);
  if (!/^\s*(\d+(\.\d*)?|\.\d+)\s*$/.test(text) || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`expected a speed factor > 0 (e.g. 2 for twice as fast, 0.5 for half), got ${JSON.stringify(text)}`);
  }
  return value;
}

const ms = (value: number) => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));
const latency = (l: LatencySummary) => `p50 ${ms(l.p50Ms)} ms, p99 ${ms(l.p99Ms)} ms, max ${ms(l.maxMs)} ms`;

function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  return rows.map((r) => `  ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join("  ")}`).join("\n");
}

function describeSummary(summary: ReplaySummary): string {
  const lines: string[] = [];
  const speed = summary.speed === 1 ? "" : `, speed ${summary.speed}×`;
  lines.push(`replayed ${summary.ops} operation${summary.ops === 1 ? "" : "s"} in ${summary.seconds.toFixed(2)} s (recorded: ${summary.recordedSeconds.toFixed(2)} s${speed})`);
  if (summary.prepared.objects > 0) lines.push(`  prepared ${summary.prepared.objects} object(s), ${formatSize(summary.prepared.bytes)}, before the replay`);
  const codes = Object.entries(summary.errorCodes)
    .map(([code, n]) => `${code} ${n}`)
    .join(", ");
  lines.push(
    `  ok ${summary.ok}, errors ${summary.errors}${codes ? ` (${codes})` : ""}, reproduced errors ${summary.reproducedErrors}` +
      `${summary.unexpectedSuccesses > 0 ? `, succeeded where the recording failed ${summary.unexpectedSuccesses}` : ""}` +
      `${summary.skipped > 0 ? `, skipped ${summary.skipped} (unknown operations)` : ""}` +
      `${summary.sizeMismatches > 0 ? `, sizes differing from the recording ${summary.sizeMismatches}` : ""}`,
  );
  lines.push(`  latency ${latency(summary.latency)}; start lag p99 ${ms(summary.lag.p99Ms)} ms`);
  const methods = Object.entries(summary.byMethod);
  if (methods.length > 0) {
    const rows = [["method", "ops", "errors", "p50 ms", "p99 ms", "bytes"]];
    for (const [method, s] of methods) rows.push([method, String(s.count), String(s.errors), ms(s.p50Ms), ms(s.p99Ms), formatSize(s.bytes)]);
    lines.push(table(rows));
  }
  if (summary.missing.count > 0) {
    lines.push(
      `missing: ${summary.missing.count} read(s) found no object where the recording found one, e.g. ${summary.missing.keys.slice(0, 3).join(", ")}` +
        " (--prepare creates them first)",
    );
  }
  return lines.join("\n");
}

/**
 * `replay <oplog> <uri>`: re-issues a recorded op-log (ours, or warp's/s3dlio's TSV) against the store at <uri>, the
 * recorded keys taken relative to it, at the recorded pace divided by --speed. Exit 1 when an operation failed that
 * the recording has as successful (or failed differently).
 */
export async function replay(ctx: CommandContext, oplog: string, uri: string, options: ReplayCommandOptions): Promise<number> {
  const path = resolve(ctx.io.cwd, oplog);
  if (ctx.options.oplog !== undefined && resolve(ctx.io.cwd, ctx.options.oplog) === path) {
    throw new UsageError(`--oplog ${ctx.options.oplog} would overwrite the op-log being replayed; record the replay into another file`);
  }
  // The recorded keys are relative to <uri>, read as a prefix ("bucket/run" = "bucket/run/").
  const target = prefixOf(parseStoreLocation(uri, ctx.io.cwd, "replay"));
  const store = await ctx.open(target);
  // A bad file or option is a RangeConfigError (exit 2), a missing file a NotFoundError (exit 3).
  const summary = await replayOpLog(path, store, {
    keyPrefix: target.path,
    ...(options.speed !== undefined ? { speed: options.speed } : {}),
    ...(options.maxInFlight !== undefined ? { maxInFlight: options.maxInFlight } : {}),
    prepare: options.prepare === true,
    sequentialThreads: options.threadOrder !== false,
    signal: ctx.signal,
  });
  if (ctx.json) await ctx.printJson({ oplog, uri: uriOf(target), ...summary });
  else if (!ctx.quiet) await ctx.line(describeSummary(summary));
  return summary.errors > 0 ? 1 : 0;
}
