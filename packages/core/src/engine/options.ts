import { constants as bufferConstants } from "node:buffer";
import { RangeConfigError } from "../errors.js";

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;

export interface RetryOptions {
  /** Total tries per range, the first included. Default 4. */
  attempts?: number;
  /** First backoff step in ms; each retry doubles it (full jitter). Default 100. */
  baseDelayMs?: number;
  /** Upper bound of one backoff wait in ms. Default 5_000. */
  maxDelayMs?: number;
}

/**
 * Hedged requests (off by default: they cost extra requests). Once `minSamples` ranges of a download have completed,
 * a range still running after `multiplier` × the `percentile`-th completion time of its siblings (and at least
 * `minDelayMs`) is requested a second time; the first answer wins and the other request is aborted. At most
 * `maxFraction` of a download's ranges (at least one) are hedged.
 */
export interface HedgeOptions {
  /** Which completion time of the siblings a range must exceed, as a fraction in (0, 1]. Default 0.9. */
  percentile?: number;
  /** Factor on that time, ≥ 1. Default 1.5. */
  multiplier?: number;
  /** Completed ranges needed before any range is hedged. Default 3. */
  minSamples?: number;
  /** Never hedge a request younger than this, in ms. Default 20. */
  minDelayMs?: number;
  /** Budget: most hedged requests per download as a fraction of its ranges, in (0, 1]. Default 0.1. */
  maxFraction?: number;
}

export interface ResolvedHedgeOptions {
  percentile: number;
  multiplier: number;
  minSamples: number;
  minDelayMs: number;
  maxFraction: number;
}

export const DEFAULT_HEDGE_OPTIONS: Readonly<ResolvedHedgeOptions> = Object.freeze({
  percentile: 0.9,
  multiplier: 1.5,
  minSamples: 3,
  minDelayMs: 20,
  maxFraction: 0.1,
});

export interface RangeEngineOptions {
  /** Upper bound of one range, in bytes. Default 64 MiB (s3dlio's value). */
  chunkSize?: number;
  /** Most ranges in flight at once for one download. Default 32. */
  maxConcurrentRanges?: number;
  /** Objects smaller than this are fetched in ONE request. Default 4 MiB. */
  minSplitSize?: number;
  /**
   * A range that makes no progress for this long is aborted and retried. A fetcher reports progress through
   * `context.progress()`; one that never does is timed as a whole. `Infinity` disables the timer. Default 30_000.
   */
  rangeTimeoutMs?: number;
  retry?: RetryOptions;
  /** Re-issue ranges that lag far behind their siblings (tail latency); `true` for the defaults. Default off. */
  hedge?: boolean | HedgeOptions;
}

export interface ResolvedRetryOptions {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export interface ResolvedRangeEngineOptions {
  chunkSize: number;
  maxConcurrentRanges: number;
  minSplitSize: number;
  rangeTimeoutMs: number;
  retry: ResolvedRetryOptions;
  /** `false` when hedging is off. */
  hedge: ResolvedHedgeOptions | false;
}

export const DEFAULT_ENGINE_OPTIONS: Readonly<ResolvedRangeEngineOptions> = Object.freeze({
  chunkSize: 64 * MiB,
  maxConcurrentRanges: 32,
  minSplitSize: 4 * MiB,
  rangeTimeoutMs: 30_000,
  retry: Object.freeze({ attempts: 4, baseDelayMs: 100, maxDelayMs: 5_000 }),
  hedge: false,
});

/** One range must fit in one buffer. */
export const MAX_CHUNK_SIZE = Math.min(bufferConstants.MAX_LENGTH, 4 * GiB);
/** Far beyond any useful fan-out; larger values are a typo, not a setting. */
export const MAX_CONCURRENT_RANGES = 4096;
/** setTimeout's limit (about 24.8 days). */
const MAX_TIMER_MS = 2 ** 31 - 1;
const MAX_RETRY_ATTEMPTS = 100;

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw new RangeConfigError(
      `${name} must be an integer between ${min} and ${max}, got ${describe(value)}`,
      { code: "E_INVALID_OPTION" },
    );
  }
  return value;
}

function describe(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "number" || typeof value === "boolean" || value == null) return String(value);
  return typeof value;
}

const ENGINE_KEYS = new Set(["chunkSize", "maxConcurrentRanges", "minSplitSize", "rangeTimeoutMs", "retry", "hedge"]);
const RETRY_KEYS = new Set(["attempts", "baseDelayMs", "maxDelayMs"]);
const HEDGE_KEYS = new Set(Object.keys(DEFAULT_HEDGE_OPTIONS));

function checkFraction(name: string, value: unknown, min: number, max: number, minInclusive: boolean): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value > max || value < min || (!minInclusive && value === min)) {
    throw new RangeConfigError(`${name} must be a number in ${minInclusive ? "[" : "("}${min}, ${max}], got ${describe(value)}`, {
      code: "E_INVALID_OPTION",
    });
  }
  return value;
}

function resolveHedge(value: unknown, base: ResolvedHedgeOptions | false): ResolvedHedgeOptions | false {
  if (value === undefined) return base;
  if (value === false) return false;
  const from = base === false ? DEFAULT_HEDGE_OPTIONS : base;
  if (value === true) return from;
  if (typeof value !== "object" || value === null) {
    throw new RangeConfigError(`hedge must be true, false or an object, got ${describe(value)}`, { code: "E_INVALID_OPTION" });
  }
  checkKnownKeys("hedge", value, HEDGE_KEYS);
  const h = value as HedgeOptions;
  return {
    percentile: checkFraction("hedge.percentile", h.percentile ?? from.percentile, 0, 1, false),
    multiplier: checkFraction("hedge.multiplier", h.multiplier ?? from.multiplier, 1, 1000, true),
    minSamples: checkInteger("hedge.minSamples", h.minSamples ?? from.minSamples, 1, MAX_CONCURRENT_RANGES),
    minDelayMs: checkInteger("hedge.minDelayMs", h.minDelayMs ?? from.minDelayMs, 0, MAX_TIMER_MS),
    maxFraction: checkFraction("hedge.maxFraction", h.maxFraction ?? from.maxFraction, 0, 1, false),
  };
}

function checkKnownKeys(name: string, value: object, known: Set<string>): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      throw new RangeConfigError(`unknown option ${name}.${key} (known: ${[...known].join(", ")})`, {
        code: "E_INVALID_OPTION",
      });
    }
  }
}

/** Validates engine options and fills in defaults. Throws {@link RangeConfigError} before any I/O. */
export function resolveEngineOptions(
  options: RangeEngineOptions | undefined,
  base: ResolvedRangeEngineOptions = DEFAULT_ENGINE_OPTIONS,
): ResolvedRangeEngineOptions {
  if (options === undefined) return base;
  if (typeof options !== "object" || options === null) {
    throw new RangeConfigError(`engine options must be an object, got ${describe(options)}`, { code: "E_INVALID_OPTION" });
  }
  checkKnownKeys("engine", options, ENGINE_KEYS);
  const pick = <K extends keyof RangeEngineOptions>(k: K) => (options[k] === undefined ? base[k] : options[k]);

  const chunkSize = checkInteger("chunkSize", pick("chunkSize"), 1, MAX_CHUNK_SIZE);
  const maxConcurrentRanges = checkInteger("maxConcurrentRanges", pick("maxConcurrentRanges"), 1, MAX_CONCURRENT_RANGES);
  const minSplitSize = checkInteger("minSplitSize", pick("minSplitSize"), 1, Number.MAX_SAFE_INTEGER);
  const timeout = pick("rangeTimeoutMs");
  const rangeTimeoutMs = timeout === Number.POSITIVE_INFINITY ? timeout : checkInteger("rangeTimeoutMs", timeout, 1, MAX_TIMER_MS);

  let retry = base.retry;
  if (options.retry !== undefined) {
    if (typeof options.retry !== "object" || options.retry === null) {
      throw new RangeConfigError(`retry must be an object, got ${describe(options.retry)}`, { code: "E_INVALID_OPTION" });
    }
    checkKnownKeys("retry", options.retry, RETRY_KEYS);
    const r = options.retry;
    const attempts = checkInteger("retry.attempts", r.attempts ?? base.retry.attempts, 1, MAX_RETRY_ATTEMPTS);
    const baseDelayMs = checkInteger("retry.baseDelayMs", r.baseDelayMs ?? base.retry.baseDelayMs, 0, MAX_TIMER_MS);
    const maxDelayMs = checkInteger("retry.maxDelayMs", r.maxDelayMs ?? Math.max(base.retry.maxDelayMs, baseDelayMs), 0, MAX_TIMER_MS);
    if (maxDelayMs < baseDelayMs) {
      throw new RangeConfigError(`retry.maxDelayMs (${maxDelayMs}) must be >= retry.baseDelayMs (${baseDelayMs})`, {
        code: "E_INVALID_OPTION",
      });
    }
    retry = { attempts, baseDelayMs, maxDelayMs };
  }
  const hedge = resolveHedge(options.hedge, base.hedge);
  return { chunkSize, maxConcurrentRanges, minSplitSize, rangeTimeoutMs, retry, hedge };
}

/** How an option's bad value reads in an error message: strings quoted, numbers as written, objects by type. */
export { describe as describeValue };
