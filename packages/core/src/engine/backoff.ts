import { onAbort } from "../abort.js";
import { abortErrorFrom } from "../errors.js";
import type { ResolvedRetryOptions } from "./options.js";

/**
 * Delay before retry number `retry` (1 = first retry): "full jitter" exponential backoff, a uniform draw from
 * [0, min(maxDelay, base · 2^(retry-1))]. Jitter keeps many ranges that failed together from retrying together.
 * A server hint (`Retry-After`) raises the floor but never beyond `maxDelayMs`.
 */
export function backoffDelay(retry: number, options: ResolvedRetryOptions, hintMs?: number, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, retry - 1));
  const jittered = Math.floor(random() * ceiling);
  if (hintMs !== undefined && Number.isFinite(hintMs) && hintMs > 0) {
    return Math.min(options.maxDelayMs, Math.max(jittered, hintMs));
  }
  return jittered;
}

/** Resolves after `ms`, or rejects with an AbortError as soon as `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(abortErrorFrom(signal));
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const stop = signal
      ? onAbort(signal, () => {
          clearTimeout(timer);
          reject(abortErrorFrom(signal));
        })
      : () => {};
    const timer = setTimeout(() => {
      stop();
      resolve();
    }, ms);
  });
}
