import { constants as bufferConstants } from "node:buffer";
import {
  AbortError,
  IntegrityError,
  InvalidRangeError,
  ObjectTooLargeError,
  RangeConfigError,
  TimeoutError,
  abortErrorFrom,
  isRangeStoreError,
} from "../errors.js";
import { onAbort } from "../abort.js";
import { backoffDelay, sleep } from "./backoff.js";
import { finalAttemptError, isRetryableError } from "./retrying.js";
import {
  resolveEngineOptions,
  type RangeEngineOptions,
  type ResolvedHedgeOptions,
  type ResolvedRangeEngineOptions,
} from "./options.js";
import { assertValidSize, planRanges, type PlannedRange } from "./plan.js";
import { StallTimer } from "./stall-timer.js";
import { StatsRecorder, type DownloadProgress, type RangeStats } from "./stats.js";

/** What the engine tells a fetcher about the range it asks for. */
export interface RangeFetchContext {
  /** Position of the range in the plan. */
  readonly index: number;
  /** 1 for the first try, 2 for the first retry, ... */
  readonly attempt: number;
  /** Call whenever bytes arrive: it restarts the stall timer, so a slow but moving range is not aborted. */
  progress(): void;
  /**
   * Where the bytes of this range will end up (exactly `length` bytes), when the engine has such a place. A fetcher
   * may read straight into it and return it: the engine then copies nothing. It must stop writing to it once
   * `signal` aborts.
   */
  readonly target?: Uint8Array;
}

/** Fetches `length` bytes at `offset`. Must return exactly `length` bytes and honour `signal`. */
export type RangeFetcher = (
  offset: number,
  length: number,
  signal: AbortSignal,
  context?: RangeFetchContext,
) => Promise<Uint8Array>;

export interface DownloadOptions {
  /** Aborting rejects with an {@link AbortError} (`name === "AbortError"`) and aborts every in-flight range. */
  signal?: AbortSignal;
  /** Called after each completed range. */
  onProgress?: (progress: DownloadProgress) => void;
  /** Write into this buffer (`length >= size`) instead of allocating; the result is a view of its first `size` bytes. */
  into?: Uint8Array;
}

export type RangeSink = (offset: number, bytes: Uint8Array) => void | Promise<void>;

export interface DownloadResult {
  data: Uint8Array;
  stats: RangeStats;
}

/** Allocates a result buffer without zero-filling (every byte is overwritten before it is returned). */
export function allocateBuffer(size: number): Uint8Array {
  assertFitsInBuffer(size);
  // allocUnsafeSlow: never a slice of Buffer's shared pool, so `.buffer` holds only this object's bytes.
  return Buffer.allocUnsafeSlow(size);
}

export function assertFitsInBuffer(size: number): void {
  if (size > bufferConstants.MAX_LENGTH) {
    throw new ObjectTooLargeError(
      `object of ${size} bytes exceeds the largest buffer this platform allows (${bufferConstants.MAX_LENGTH} bytes); ` +
        "read it with getStream() or downloadFile() instead",
    );
  }
}

function assertSignal(signal: unknown): asserts signal is AbortSignal | undefined {
  if (signal === undefined) return;
  const s = signal as AbortSignal;
  if (typeof s !== "object" || s === null || typeof s.aborted !== "boolean" || typeof s.addEventListener !== "function") {
    throw new RangeConfigError("signal must be an AbortSignal", { code: "E_INVALID_OPTION" });
  }
}

function assertFunction(name: string, value: unknown): void {
  if (typeof value !== "function") {
    throw new RangeConfigError(`${name} must be a function, got ${typeof value}`, { code: "E_INVALID_OPTION" });
  }
}

function describeRange(range: PlannedRange): string {
  return `range ${range.index} [${range.offset}, ${range.offset + range.length})`;
}

/** A request that may be hedged: when it has run for the hedge threshold, `fire` issues the second request. */
interface HedgeWatch {
  readonly startedAt: number;
  timer: ReturnType<typeof setTimeout> | undefined;
  fire(): void;
}

/**
 * Decides when ranges of one download are hedged: keeps the completion times of its ranges and, whenever a new one
 * arrives, re-times every waiting request against the new threshold (the percentile moves as siblings complete).
 */
class Hedger {
  readonly #durations: number[] = [];
  readonly #watches = new Set<HedgeWatch>();
  #threshold: number | undefined;
  #budget: number;

  constructor(
    private readonly options: ResolvedHedgeOptions,
    rangeCount: number,
  ) {
    this.#budget = Math.max(1, Math.floor(rangeCount * options.maxFraction));
  }

  /** Takes one unit of the budget; false when it is spent. */
  take(): boolean {
    if (this.#budget <= 0) return false;
    this.#budget--;
    return true;
  }

  completed(durationMs: number): void {
    this.#durations.push(durationMs);
    if (this.#durations.length < this.options.minSamples) return;
    const sorted = this.#durations.slice().sort((a, b) => a - b);
    const at = sorted[Math.max(0, Math.ceil(this.options.percentile * sorted.length) - 1)]!;
    this.#threshold = Math.max(this.options.minDelayMs, at * this.options.multiplier);
    for (const watch of this.#watches) this.#schedule(watch);
  }

  watch(watch: HedgeWatch): void {
    if (this.#budget <= 0) return;
    this.#watches.add(watch);
    if (this.#threshold !== undefined) this.#schedule(watch);
  }

  unwatch(watch: HedgeWatch): void {
    clearTimeout(watch.timer);
    this.#watches.delete(watch);
  }

  /** Stops every timer (the download is over). */
  close(): void {
    for (const watch of this.#watches) clearTimeout(watch.timer);
    this.#watches.clear();
  }

  #schedule(watch: HedgeWatch): void {
    clearTimeout(watch.timer);
    const delay = Math.max(0, watch.startedAt + this.#threshold! - performance.now());
    watch.timer = setTimeout(() => {
      this.#watches.delete(watch);
      watch.fire();
    }, delay);
    // A pending hedge never keeps the process alive on its own.
    watch.timer.unref?.();
  }
}

/** The state of one download: its ranges share one stop, one stats recorder and one first error. */
class RangeRun {
  readonly stats = new StatsRecorder();
  /** Set when the run stops (its first failure, or closed with ranges pending): every range ends with `#stopReason`. */
  #stopped = false;
  #stopReason: unknown;
  /**
   * What runs now and must end when the run stops: attempts, backoff waits. A plain list, not an AbortController whose
   * signal they listen on: that signal (an EventTarget), its listener and its entry in `onAbort`'s WeakMap per download
   * made young-generation GCs slower, and the list is what a stop needs.
   */
  readonly #onStop: ((reason: unknown) => void)[] = [];
  readonly #stopWatchingUser: () => void;
  readonly #hedger: Hedger | undefined;
  #error: unknown;
  #failed = false;
  /** `fetchRange` calls not yet settled: an attempt, or a backoff wait before the next. */
  #pending = 0;

  constructor(
    private readonly options: ResolvedRangeEngineOptions,
    private readonly fetch: RangeFetcher,
    private readonly total: number,
    rangeCount: number,
    userSignal: AbortSignal | undefined,
    private readonly onProgress: DownloadOptions["onProgress"],
  ) {
    this.#stopWatchingUser = userSignal ? onAbort(userSignal, () => this.fail(abortErrorFrom(userSignal))) : () => {};
    // One range has no siblings to compare with.
    this.#hedger = options.hedge && rangeCount > 1 ? new Hedger(options.hedge, rangeCount) : undefined;
  }

  get failed(): boolean {
    return this.#failed;
  }

  get error(): unknown {
    return this.#error;
  }

  /** Records the first error and aborts every range still running. */
  fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#error = error;
    this.#stop(error);
  }

  /** Ends the run: aborts what still runs (a consumer that stopped early) and detaches from the caller's signal. */
  close(): void {
    this.#hedger?.close();
    this.#stopWatchingUser();
    // Nothing pending (every download that ran to its end): nothing to abort, so no AbortError either (its stack
    // capture alone was ~2% of an 8 MiB file get's main-thread time).
    if (this.#pending > 0) this.#stop(new AbortError("download closed"));
  }

  #stop(reason: unknown): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#stopReason = reason;
    // Oldest first; a callback may unregister others (one attempt's end): those are already out of the copy's way.
    for (const callback of this.#onStop.splice(0)) callback(reason);
  }

  /** Calls `callback` once when the run stops (the run must not have stopped yet); returns its unregister. */
  #whenStopped(callback: (reason: unknown) => void): () => void {
    const callbacks = this.#onStop;
    callbacks.push(callback);
    return () => {
      const at = callbacks.indexOf(callback);
      if (at >= 0) callbacks.splice(at, 1);
    };
  }

  rangeCompleted(range: PlannedRange): void {
    this.stats.rangeCompleted(range.length);
    this.onProgress?.({ bytes: this.stats.bytes, total: this.total, ranges: this.stats.ranges });
  }

  /** Fetches one range with stall timeout and retries; resolves with exactly `range.length` bytes. */
  async fetchRange(range: PlannedRange, target?: Uint8Array): Promise<Uint8Array> {
    const { attempts } = this.options.retry;
    this.#pending++;
    try {
      for (let attempt = 1; ; attempt++) {
        if (this.#stopped) throw this.#stopReason;
        try {
          return await (this.#hedger ? this.#hedgedAttempt(this.#hedger, range, attempt, target) : this.#attempt(range, attempt, target));
        } catch (error) {
          if (this.#stopped) throw this.#stopReason;
          if (!isRetryableError(error) || attempt >= attempts) throw finalAttemptError(describeRange(range), error, attempt);
          this.stats.retries++;
          const hint = isRangeStoreError(error) ? error.retryAfterMs : undefined;
          const wake = new AbortController();
          const stopWaking = this.#whenStopped((reason) => wake.abort(reason));
          try {
            await sleep(backoffDelay(attempt, this.options.retry, hint), wake.signal);
          } finally {
            stopWaking();
          }
        }
      }
    } finally {
      this.#pending--;
    }
  }

  /**
   * One attempt that may get twins: while its newest request lags behind the siblings, the same range is requested
   * again (within the download's hedge budget) and the first success wins; the others are aborted. Twins get no
   * `target`, so two requests never write the same caller memory at once; the engine copies a twin's bytes if it
   * wins. Fails only when every request failed.
   */
  #hedgedAttempt(hedger: Hedger, range: PlannedRange, attempt: number, target: Uint8Array | undefined): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const rangeStartedAt = performance.now();
      const requests: AbortController[] = [];
      let watch: HedgeWatch | undefined;
      let settled = false;
      let running = 0;
      let firstError: unknown;
      const finish = () => {
        settled = true;
        if (watch) hedger.unwatch(watch);
      };
      const issue = (withTarget: Uint8Array | undefined) => {
        const controller = new AbortController();
        const isTwin = requests.length > 0;
        requests.push(controller);
        running++;
        this.#attempt(range, attempt, withTarget, controller.signal).then(
          (bytes) => {
            if (settled) return;
            finish();
            for (const other of requests) {
              if (other !== controller) other.abort(new AbortError("a hedged twin of this request answered first"));
            }
            if (isTwin) this.stats.hedgeWins++;
            hedger.completed(performance.now() - rangeStartedAt);
            resolve(bytes);
          },
          (error: unknown) => {
            running--;
            firstError ??= error;
            if (settled) return;
            // A failing request is not slowness: no more twins for this range; the ones running carry on.
            if (watch) hedger.unwatch(watch);
            if (running > 0) return;
            finish();
            reject(firstError);
          },
        );
        if (settled) return;
        // Watch the newest request: a twin that straggles as well may get a twin of its own.
        watch = {
          startedAt: performance.now(),
          timer: undefined,
          fire: () => {
            if (settled || this.#stopped || !hedger.take()) return;
            this.stats.hedges++;
            issue(undefined);
          },
        };
        hedger.watch(watch);
      };
      issue(target);
    });
  }

  /**
   * One request for a range under its stall timer. Settles as soon as its signal is aborted (by the run's stop, by a
   * hedged twin's win, or by the stall timer), without waiting for a fetcher that ignores the signal. Those three are
   * the only ways the signal is aborted, and each goes through `stop`, so no listener on the attempt's own signal (and
   * no separate `raceAbort`) is needed: ~10 fewer objects and two fewer microtask hops per range.
   */
  #attempt(range: PlannedRange, attempt: number, target: Uint8Array | undefined, cancel?: AbortSignal): Promise<Uint8Array> {
    return new Promise<Uint8Array>((resolve, reject) => {
      const attemptController = new AbortController();
      let settled = false;
      let stopForwarding: (() => void) | undefined;
      let stopCancel: (() => void) | undefined;
      const finish = (): boolean => {
        if (settled) return false;
        settled = true;
        timer.stop();
        this.stats.requestEnded();
        stopForwarding?.();
        stopCancel?.();
        return true;
      };
      const stop = (reason: unknown): void => {
        if (!finish()) return;
        attemptController.abort(reason);
        reject(reason);
      };
      const timer = new StallTimer(this.options.rangeTimeoutMs, () =>
        stop(new TimeoutError(`${describeRange(range)} made no progress for ${this.options.rangeTimeoutMs} ms`)),
      );
      this.stats.requestStarted();
      if (this.#stopped) return stop(this.#stopReason);
      stopForwarding = this.#whenStopped(stop);
      if (cancel) {
        if (cancel.aborted) return stop(cancel.reason);
        stopCancel = onAbort(cancel, () => stop(cancel.reason));
      }
      const context: RangeFetchContext = {
        index: range.index,
        attempt,
        progress: () => {
          timer.touch();
          this.stats.markFirstByte();
        },
        ...(target ? { target } : {}),
      };
      let work: Promise<Uint8Array>;
      try {
        work = Promise.resolve(this.fetch(range.offset, range.length, attemptController.signal, context));
      } catch (error) {
        work = Promise.reject(error);
      }
      work.then(
        (bytes) => {
          if (!finish()) return;
          if (!(bytes instanceof Uint8Array)) {
            reject(
              new IntegrityError(`fetcher returned ${typeof bytes} for ${describeRange(range)}, expected a Uint8Array`, {
                code: "E_BAD_FETCHER_RESULT",
              }),
            );
          } else if (bytes.length !== range.length) {
            reject(
              new IntegrityError(`${describeRange(range)}: fetcher returned ${bytes.length} bytes, expected ${range.length}`, {
                code: "E_LENGTH_MISMATCH",
                retryable: true,
              }),
            );
          } else {
            resolve(bytes);
          }
        },
        (error: unknown) => {
          // A late rejection after an abort is swallowed here: the attempt already rejected with the abort's reason.
          if (finish()) reject(error);
        },
      );
    });
  }
}

/**
 * Splits an object into ranges and fetches them concurrently through any {@link RangeFetcher}, with bounded
 * concurrency, a stall timeout per range, jittered retries and cancellation. Knows nothing about backends.
 */
export class RangeEngine {
  readonly options: ResolvedRangeEngineOptions;

  constructor(options?: RangeEngineOptions) {
    this.options = resolveEngineOptions(options);
  }

  /** The ranges this engine would fetch for an object of `size` bytes. */
  plan(size: number): PlannedRange[] {
    return planRanges(size, this.options);
  }

  /** Downloads the whole object into one buffer (the caller's `into`, or a new one), in order. */
  async download(size: number, fetch: RangeFetcher, opts: DownloadOptions = {}): Promise<DownloadResult> {
    assertValidSize(size);
    const { into } = opts;
    if (into !== undefined) {
      if (!(into instanceof Uint8Array)) throw new RangeConfigError("into must be a Uint8Array", { code: "E_INVALID_OPTION" });
      if (into.length < size) {
        throw new InvalidRangeError(`into holds ${into.length} bytes but the object has ${size}`);
      }
    }
    const data = into ? into.subarray(0, size) : allocateBuffer(size);
    const stats = await this.#execute(
      size,
      fetch,
      (range, bytes) => {
        if (bytes.buffer !== data.buffer || bytes.byteOffset !== data.byteOffset + range.offset) {
          data.set(bytes, range.offset);
        }
      },
      opts,
      (range) => data.subarray(range.offset, range.offset + range.length),
    );
    return { data, stats };
  }

  /**
   * Hands each range to `sink` exactly once, as soon as it arrives (not in order). The primitive `download` and
   * `downloadFile` are built on. A range keeps its concurrency slot until `sink` settles, so a slow sink pushes back.
   */
  async downloadTo(size: number, fetch: RangeFetcher, sink: RangeSink, opts: Omit<DownloadOptions, "into"> = {}): Promise<RangeStats> {
    assertFunction("sink", sink);
    return this.#execute(size, fetch, (range, bytes) => sink(range.offset, bytes), opts);
  }

  /**
   * Yields the object's bytes in order, one range at a time, holding at most `maxConcurrentRanges + 1` ranges in
   * memory. Leaving the loop early (`break`, `return`, a throw) aborts every range still in flight.
   */
  stream(size: number, fetch: RangeFetcher, opts: Omit<DownloadOptions, "into"> = {}): AsyncIterable<Uint8Array> {
    const plan = this.#validate(size, fetch, opts);
    const window = this.options.maxConcurrentRanges;
    const startRun = () => this.#startRun(fetch, size, plan.length, opts);
    return {
      [Symbol.asyncIterator]: async function* () {
        const run = startRun();
        const pending: Promise<Uint8Array>[] = [];
        let launched = 0;
        const launch = () => {
          const range = plan[launched++]!;
          const work = run.fetchRange(range);
          // A failure anywhere aborts the rest at once, not when the consumer reaches that range.
          work.catch((error: unknown) => run.fail(error));
          pending.push(work);
        };
        try {
          while (launched < plan.length && launched < window) launch();
          for (const range of plan) {
            let bytes: Uint8Array;
            try {
              bytes = await pending.shift()!;
            } catch (error) {
              throw run.failed ? run.error : error;
            }
            // A range that arrived before an abort or a sibling's failure is not handed out after it.
            if (run.failed) throw run.error;
            run.rangeCompleted(range);
            if (launched < plan.length) launch();
            yield bytes;
          }
        } finally {
          run.close();
        }
      },
    };
  }

  /** Checks every input before any I/O and returns the plan. */
  #validate(size: number, fetch: RangeFetcher, opts: Omit<DownloadOptions, "into">): PlannedRange[] {
    assertValidSize(size);
    assertFunction("fetch", fetch);
    if (typeof opts !== "object" || opts === null) {
      throw new RangeConfigError("download options must be an object", { code: "E_INVALID_OPTION" });
    }
    assertSignal(opts.signal);
    if (opts.onProgress !== undefined) assertFunction("onProgress", opts.onProgress);
    return planRanges(size, this.options);
  }

  #startRun(fetch: RangeFetcher, size: number, rangeCount: number, opts: Omit<DownloadOptions, "into">): RangeRun {
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    return new RangeRun(this.options, fetch, size, rangeCount, opts.signal, opts.onProgress);
  }

  async #execute(
    size: number,
    fetch: RangeFetcher,
    deliver: (range: PlannedRange, bytes: Uint8Array) => void | Promise<void>,
    opts: Omit<DownloadOptions, "into">,
    targetFor?: (range: PlannedRange) => Uint8Array,
  ): Promise<RangeStats> {
    const plan = this.#validate(size, fetch, opts);
    const run = this.#startRun(fetch, size, plan.length, opts);
    let next = 0;
    const worker = async () => {
      while (!run.failed && next < plan.length) {
        const range = plan[next++]!;
        const bytes = await run.fetchRange(range, targetFor?.(range));
        await deliver(range, bytes);
        run.rangeCompleted(range);
      }
    };
    const workers: Promise<void>[] = [];
    for (let i = 0; i < Math.min(this.options.maxConcurrentRanges, plan.length); i++) {
      workers.push(worker().catch((error: unknown) => run.fail(error)));
    }
    await Promise.all(workers);
    run.close();
    if (run.failed) throw run.error;
    return run.stats.snapshot();
  }
}
