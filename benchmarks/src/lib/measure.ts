export interface Summary {
  median: number;
  min: number;
  max: number;
  samples: number[];
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) throw new Error("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]!, samples };
}

/** Decimal megabytes per second (1 MB = 10^6 bytes), the unit storage vendors quote. */
export function mbPerSec(bytes: number, ms: number): number {
  return ms > 0 ? bytes / 1e6 / (ms / 1000) : Number.POSITIVE_INFINITY;
}

/** Calls `global.gc` when node runs with --expose-gc; otherwise does nothing. */
export function maybeGc(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (typeof gc === "function") gc();
}

export const now = (): number => performance.now();

/** The q-quantile (0..1) of `values` by linear interpolation between closest ranks; NaN for none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

export interface Latency {
  p50: number;
  p90: number;
  p99: number;
  max: number;
  count: number;
}

/** Latency percentiles of a set of per-operation times (ms). */
export function latencyOf(values: readonly number[]): Latency {
  return {
    p50: percentile(values, 0.5),
    p90: percentile(values, 0.9),
    p99: percentile(values, 0.99),
    max: values.length ? values.reduce((m, v) => Math.max(m, v), -Infinity) : Number.NaN,
    count: values.length,
  };
}
