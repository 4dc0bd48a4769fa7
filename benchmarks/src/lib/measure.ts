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

export interface MedianInterval {
  low: number;
  high: number;
  /** The probability the interval holds the median (≥ the level asked for). */
  level: number;
}

/**
 * A distribution-free confidence interval for the median of `samples`: the pair of order statistics that holds the
 * true median with probability ≥ `level` whatever the distribution (from the binomial law of how many samples fall
 * below it). No resampling, so the same samples always give the same interval. Undefined for fewer than 6 samples
 * (no interval reaches 95% then).
 */
export function medianInterval(samples: readonly number[], level = 0.95): MedianInterval | undefined {
  const n = samples.length;
  const sorted = [...samples].sort((a, b) => a - b);
  // The interval [x(j), x(n - j + 1)] (1-based order statistics) misses the median with probability 2·P(B ≤ j - 1),
  // B ~ Binomial(n, 1/2): take the largest j that keeps that within 1 - level.
  // P(B = i) in logarithms: 0.5^n underflows to 0 from n = 1075 on, and a product that starts at 0 stays 0.
  let logTerm = n * Math.log(0.5); // ln P(B = i), starting at i = 0
  let tail = 0; // P(B ≤ j - 1)
  let j = 0;
  while (j < n && 2 * (tail + Math.exp(logTerm)) <= 1 - level) {
    tail += Math.exp(logTerm);
    logTerm += Math.log((n - j) / (j + 1));
    j++;
  }
  if (j === 0) return undefined;
  return { low: sorted[j - 1]!, high: sorted[n - j]!, level: 1 - 2 * tail };
}

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
