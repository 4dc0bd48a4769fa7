import { performance as clock } from "node:perf_hooks";
import { RangeConfigError } from "../errors.js";

/** The operations an {@link OperationObserver} hears of: the hot ones, where a wrapper's own promise would cost most. */
export type ObservedOperation = "get" | "getRange" | "stat" | "put";

/**
 * Told of every `get`, `getRange`, `stat` and `put` of a store view made with
 * `ObjectStore.withOperationObserver(observer)`, synchronously, from inside the store's own call: no promise, no
 * microtask and no closure per operation on top of the store's (what a wrapper that waits on the store's promise
 * pays). For per-operation records such as `@range/oplog`'s.
 *
 * Each operation makes exactly one `start`, then exactly one `done` or `failed`, once the operation has settled
 * (its bytes read or written, its reader closed) and before its promise settles. Times are `performance.now()` of
 * this thread, in ms. Methods must not throw: an exception is reported as an uncaught one on a later microtask and
 * does not change the operation's result.
 */
export interface OperationObserver<Token = unknown> {
  /** The operation starts now (before its inputs are checked). The value returned is handed to `done` / `failed`. */
  start(operation: ObservedOperation, key: string): Token;
  /**
   * The operation succeeded. `offset`: the requested offset of a `getRange` (as given), -1 for the others. `bytes`:
   * the length of what `get` / `getRange` returned, the object's size for `stat` and `put`.
   */
  done(token: Token, operation: ObservedOperation, key: string, offset: number, bytes: number, startMs: number, durationMs: number): void;
  /**
   * The operation failed with `error` (the error its promise rejects with: bad input, not found, an abort, ...).
   * `bytes`: 0, except for a `put`: the length of its `Uint8Array`, or what its stream had yielded.
   */
  failed(
    token: Token,
    operation: ObservedOperation,
    key: string,
    offset: number,
    bytes: number,
    startMs: number,
    durationMs: number,
    error: unknown,
  ): void;
}

/** A {@link RangeConfigError} unless `observer` has the three methods. */
export function assertOperationObserver(observer: unknown): asserts observer is OperationObserver {
  const o = observer as Partial<Record<keyof OperationObserver, unknown>> | null;
  if (typeof o !== "object" || o === null || typeof o.start !== "function" || typeof o.done !== "function" || typeof o.failed !== "function") {
    throw new RangeConfigError("an operation observer must be an object with start, done and failed methods", { code: "E_INVALID_OPTION" });
  }
}

/** An observer's exception must not fail the operation: it surfaces as an uncaught one, as a listener's would. */
export function reportObserverError(error: unknown): void {
  queueMicrotask(() => {
    throw error;
  });
}

// An observer's calls, guarded: whatever it throws must not change the operation's result. The clock is read through
// `node:perf_hooks`: Node 20's global `performance` is a lazy getter, one more call per read.
export function observeStart(observer: OperationObserver, operation: ObservedOperation, key: string): unknown {
  try {
    return observer.start(operation, key);
  } catch (error) {
    reportObserverError(error);
    return undefined;
  }
}

export function observeDone(observer: OperationObserver, token: unknown, operation: ObservedOperation, key: string, offset: number, bytes: number, startedAt: number): void {
  try {
    observer.done(token, operation, key, offset, bytes, startedAt, clock.now() - startedAt);
  } catch (error) {
    reportObserverError(error);
  }
}

export function observeFailure(
  observer: OperationObserver,
  token: unknown,
  operation: ObservedOperation,
  key: string,
  offset: number,
  bytes: number,
  startedAt: number,
  failure: unknown,
): void {
  try {
    observer.failed(token, operation, key, offset, bytes, startedAt, clock.now() - startedAt, failure);
  } catch (error) {
    reportObserverError(error);
  }
}
