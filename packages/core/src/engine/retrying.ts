import { onAbort, raceAbort } from "../abort.js";
import { BackendError, TimeoutError, abortErrorFrom, isRangeStoreError } from "../errors.js";
import { backoffDelay, sleep } from "./backoff.js";
import type { ResolvedRangeEngineOptions } from "./options.js";
import { StallTimer } from "./stall-timer.js";

/** Our errors say whether they are retryable; foreign ones (sockets, SDKs) are assumed transient unless they say not. */
export function isRetryableError(error: unknown): boolean {
  if (isRangeStoreError(error)) return error.retryable;
  const flag = (error as { retryable?: unknown } | null)?.retryable;
  return typeof flag === "boolean" ? flag : true;
}

/** One try of a request run by {@link withRetries}. */
export interface AttemptContext {
  /** Aborted by the parent signal, or with a {@link TimeoutError} when the attempt makes no progress in time. */
  signal: AbortSignal;
  /** Restarts the stall timer; call as bytes arrive. */
  progress: () => void;
  /** 1 for the first try. */
  attempt: number;
}

export interface WithRetriesOptions {
  /** Describes the request in messages, e.g. `first 4194304 bytes of "a.bin"`. */
  what: string;
  /** Aborting it stops the current attempt and every later one (rejecting with an AbortError). */
  signal?: AbortSignal;
  /** The error of a first try made elsewhere: it counts as attempt 1, and the next try follows its backoff. */
  failed?: unknown;
  /** Called before each retry (e.g. to count it in RangeStats). */
  onRetry?: () => void;
}

const NEVER_ABORTED = new AbortController().signal;

/**
 * Runs one request the way the engine runs a range — a stall timer per attempt (`rangeTimeoutMs` without progress
 * aborts it with a {@link TimeoutError}), jittered backoff with the server's `Retry-After` as a floor, at most
 * `retry.attempts` tries, retryable errors only — for the requests a read makes outside the engine's plan: the first
 * request that learns the size, a metadata request, a single `getRange`.
 */
export async function withRetries<T>(
  options: Pick<ResolvedRangeEngineOptions, "rangeTimeoutMs" | "retry">,
  run: (context: AttemptContext) => Promise<T>,
  { what, signal = NEVER_ABORTED, failed, onRetry }: WithRetriesOptions,
): Promise<T> {
  let attempt = 0;
  let error: unknown = failed;
  if (failed !== undefined) attempt = 1;
  for (;;) {
    if (attempt > 0) {
      if (signal.aborted) throw abortErrorFrom(signal);
      if (!isRetryableError(error) || attempt >= options.retry.attempts) throw finalAttemptError(what, error, attempt);
      onRetry?.();
      const hint = isRangeStoreError(error) ? error.retryAfterMs : undefined;
      await sleep(backoffDelay(attempt, options.retry, hint), signal);
    }
    attempt++;
    try {
      return await attemptOnce(options.rangeTimeoutMs, run, what, signal, attempt);
    } catch (caught) {
      error = caught;
    }
  }
}

async function attemptOnce<T>(
  timeoutMs: number,
  run: (context: AttemptContext) => Promise<T>,
  what: string,
  signal: AbortSignal,
  attempt: number,
): Promise<T> {
  if (signal.aborted) throw abortErrorFrom(signal);
  const controller = new AbortController();
  const stopForwarding = onAbort(signal, () => controller.abort(signal.reason));
  const timer = new StallTimer(timeoutMs, () => controller.abort(new TimeoutError(`${what} made no progress for ${timeoutMs} ms`)));
  try {
    let work: Promise<T>;
    try {
      work = run({ signal: controller.signal, progress: () => timer.touch(), attempt });
    } catch (error) {
      work = Promise.reject(error);
    }
    return await raceAbort(work, controller.signal);
  } finally {
    timer.stop();
    stopForwarding();
  }
}

/** The error a request gives up with: ours as they are (a timeout says how many tries), foreign ones wrapped. */
export function finalAttemptError(what: string, error: unknown, attempt: number): unknown {
  const tries = `${attempt} attempt${attempt === 1 ? "" : "s"}`;
  if (error instanceof TimeoutError) return new TimeoutError(`${error.message} (${tries})`, { cause: error });
  if (isRangeStoreError(error)) return error;
  return new BackendError(`${what} failed after ${tries}: ${error instanceof Error ? error.message : String(error)}`, {
    cause: error,
    retryable: isRetryableError(error),
  });
}
