import { performance } from "node:perf_hooks";
import { onAbort, raceAbort } from "../abort.js";
import { describeValue, resolveEngineOptions, type RangeEngineOptions, type ResolvedRangeEngineOptions } from "../engine/options.js";
import { assertValidSize } from "../engine/plan.js";
import { RangeEngine, allocateBuffer, assertFitsInBuffer, type RangeFetcher } from "../engine/range-engine.js";
import { withRetries } from "../engine/retrying.js";
import { IncrementalVerifier, OrderedVerifier, verifyWholeObject, type WholeObjectChecksum } from "../checksum/whole-object.js";
import { StallTimer } from "../engine/stall-timer.js";
import type { DownloadProgress, RangeStats } from "../engine/stats.js";
import {
  IntegrityError,
  InvalidRangeError,
  NotFoundError,
  RangeConfigError,
  TimeoutError,
  abortErrorFrom,
} from "../errors.js";
import type { DriverCopyOptions, DriverDeleteOptions, DriverHead, DriverReadOptions, StoreDriver } from "./driver.js";
import type { RequestListener } from "./request-events.js";
import { assertOperationObserver, observeDone, observeFailure, observeStart, type ObservedOperation, type OperationObserver } from "./operation-observer.js";
import { assertValidKey, assertValidPrefix, assertValidRange } from "./keys.js";
import type {
  CopyOptions,
  DeletePrefixOptions,
  GetOptions,
  GetRangeOptions,
  ListOptions,
  ObjectMeta,
  ObjectSink,
  ObjectStore,
  PutOptions,
  ReadToResult,
} from "./types.js";

export interface CreateObjectStoreOptions {
  /** Default engine settings for this store's reads; each call may override them with `GetOptions.engine`. */
  engine?: RangeEngineOptions;
  /**
   * Allocates the result buffer of a `get` that goes through the engine (default: `Buffer.allocUnsafeSlow`). A
   * backend can pass memory that is cheaper to fill, e.g. huge-page-backed buffers for local files.
   */
  allocate?: (size: number) => Uint8Array;
  /**
   * Called before each range of an engine read is read into its part of the result (or of the caller's `into`);
   * the read waits for the promise it returns. For memory whose first touch is costly: e.g. `prepareForFill` of
   * `@range/aligned-memory` faults the part's pages in on a pool thread, so concurrent ranges pay for them in
   * parallel instead of on the thread that copies the bytes. Return `undefined` (synchronously, not an empty
   * promise) when there is nothing to wait for.
   */
  prepareTarget?: (target: Uint8Array) => Promise<void> | undefined;
}

/** Keys deleted per batch by `deletePrefix`: S3's DeleteObjects limit. */
const DELETE_BATCH = 1000;
/** Single deletes in flight when a driver has no batch delete. */
const DELETE_CONCURRENCY = 16;

/**
 * One whole-object read: what the open learned (size, version, maybe the first bytes) and one abort signal shared by
 * all its requests, aborted by the caller's signal or by the read's first failure.
 */
class ReadSession {
  meta: ObjectMeta = { key: "", size: 0 };
  /** Length of the prefix the open fetched (known as soon as the size is), 0 when none. */
  headLength = 0;
  /** That prefix's bytes; may still be arriving while the other ranges start. */
  head: Promise<Uint8Array> | undefined;
  /** The driver's whole-object check from `readHead`, for a `get` that assembled the object. */
  verifyWhole: DriverHead["verifyWhole"];
  /** The whole object's stored digest, from the open: every whole-object read is checked against it. */
  checksum: WholeObjectChecksum | undefined;
  read: (offset: number, length: number, opts: DriverReadOptions) => Promise<Uint8Array> = readNotOpened;
  closeReader: () => Promise<void> = closeNothing;
  /** Retries of the requests made outside the engine (the head request, a stat), added to the read's RangeStats. */
  retries = 0;
  /** Created on first use: a small-object read that never fans out (and has no caller signal) needs none. */
  #controller: AbortController | undefined;
  readonly #parent: AbortSignal | undefined;
  /** Undefined until the read first needs to hear of the caller's abort (see `#watchParent`). */
  #stopWatchingParent: (() => void) | undefined;
  #failed = false;
  #error: unknown;
  /** Called with the first failure: cheaper than listening on `signal` (no AbortController, no EventTarget). */
  #onFail: ((error: unknown) => void)[] | undefined;

  constructor(parent: AbortSignal | undefined) {
    this.#parent = parent;
  }

  /**
   * Starts listening to the caller's signal when the read first hands out its own signal or failure callbacks. A
   * read the open completed (a small file, whose driver got the caller's signal itself) never does. Registering every
   * get on one signal shared by many (a loader's) was half of what sent 16 concurrent 64 KiB file gets into
   * back-to-back full GCs (~150 instead of ~100 µs CPU per get; the other half: the spread in `#open`).
   */
  #watchParent(): void {
    const parent = this.#parent;
    if (parent === undefined || this.#stopWatchingParent !== undefined) return;
    if (parent.aborted) {
      this.#stopWatchingParent = noop;
      this.fail(abortErrorFrom(parent));
      return;
    }
    this.#stopWatchingParent = onAbort(parent, () => this.fail(abortErrorFrom(parent)));
  }

  get signal(): AbortSignal {
    this.#watchParent();
    if (this.#controller === undefined) {
      this.#controller = new AbortController();
      if (this.#failed) this.#controller.abort(this.#error);
    }
    return this.#controller.signal;
  }

  /** The open already returned the whole object: nothing is left for the engine. */
  get headIsWhole(): boolean {
    return this.head !== undefined && this.headLength >= this.meta.size;
  }

  get failed(): boolean {
    return this.#failed;
  }

  /** Calls `callback` with the read's first failure (at once if it already failed); returns its unsubscribe. */
  whenFailed(callback: (error: unknown) => void): () => void {
    this.#watchParent();
    if (this.#failed) {
      callback(this.#error);
      return noop;
    }
    const callbacks = (this.#onFail ??= []);
    callbacks.push(callback);
    return () => {
      const at = callbacks.indexOf(callback);
      if (at >= 0) callbacks.splice(at, 1);
    };
  }

  /** Records the first failure and aborts every request of the read. */
  fail(error: unknown): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#error = error;
    this.#controller?.abort(error);
    const callbacks = this.#onFail;
    this.#onFail = undefined;
    if (callbacks) for (const callback of callbacks) callback(error);
  }

  /** The error the caller should see: the first failure, not the aborts it caused. */
  rethrow(error: unknown): never {
    // A caller's abort the read was not listening for yet is still the failure to report.
    if (!this.#failed && this.#parent?.aborted) this.fail(abortErrorFrom(this.#parent));
    throw this.#failed ? this.#error : error;
  }

  adoptChecksum(checksum: WholeObjectChecksum | undefined): void {
    // A digest the read never gets to compare with (it failed first, the head was the whole object) must not
    // leave an unhandled rejection behind.
    if (checksum instanceof Promise) checksum.catch(() => {});
    this.checksum = checksum;
  }

  async close(): Promise<void> {
    this.#stopWatchingParent?.();
    this.#stopWatchingParent = noop; // closed: never start listening
    await this.closeReader();
  }
}

const noop = (): void => {};

const readNotOpened = (): Promise<Uint8Array> => Promise.reject(new Error("read session not opened"));
const closeNothing = (): Promise<void> => Promise.resolve();

/** Checks that `signal` is an AbortSignal (or absent), then that it has not aborted yet. */
function throwIfAborted(signal: unknown): void {
  if (signal === undefined) return;
  const s = signal as AbortSignal | null;
  if (typeof s !== "object" || s === null || typeof s.aborted !== "boolean" || typeof s.addEventListener !== "function") {
    throw new RangeConfigError(`signal must be an AbortSignal, got ${describeValue(signal)}`, { code: "E_INVALID_OPTION" });
  }
  if (s.aborted) throw abortErrorFrom(s);
}

function invalidOption(what: string, value: unknown): RangeConfigError {
  return new RangeConfigError(`${what}, got ${describeValue(value)}`, { code: "E_INVALID_OPTION" });
}

function checkOptionsObject(opts: unknown): void {
  if (opts !== undefined && (typeof opts !== "object" || opts === null)) throw invalidOption("options must be an object", opts);
}

/**
 * The caller's chunks, checked to be bytes. An abort ends the iteration at once, even while the source is stalled
 * between chunks (a slow network producer), and tells the source to stop (`return()`).
 */
async function* checkedChunks(
  data: AsyncIterable<unknown>,
  signal: AbortSignal | undefined,
  onChunk: ((bytes: number) => void) | undefined,
): AsyncIterable<Uint8Array> {
  const iterator = data[Symbol.asyncIterator]();
  let finished = false;
  try {
    for (;;) {
      const next = signal ? await raceAbort(iterator.next(), signal, abortErrorFrom) : await iterator.next();
      if (next.done) {
        finished = true;
        return;
      }
      const chunk = next.value;
      if (!(chunk instanceof Uint8Array)) {
        throw new RangeConfigError(`put() stream yielded ${typeof chunk}, expected Uint8Array chunks`, { code: "E_INVALID_DATA" });
      }
      onChunk?.(chunk.length);
      yield chunk;
    }
  } finally {
    if (!finished) void Promise.resolve(iterator.return?.()).catch(() => {});
  }
}

function assertLength(bytes: Uint8Array, expected: number, what: string): Uint8Array {
  if (bytes.length !== expected) {
    throw new IntegrityError(`${what}: backend returned ${bytes.length} bytes, expected ${expected}`, {
      code: "E_LENGTH_MISMATCH",
      retryable: true,
    });
  }
  return bytes;
}

function assertHead(head: Uint8Array, meta: ObjectMeta, key: string): void {
  if (head.length > meta.size) {
    throw new IntegrityError(`backend returned ${head.length} bytes for the start of ${JSON.stringify(key)}, which has ${meta.size}`, {
      code: "E_LENGTH_MISMATCH",
      retryable: true,
    });
  }
}

/** Adds the head request (made before the engine started, with its `headRetries`) to the engine's numbers. */
function withHead(rest: RangeStats | undefined, headBytes: number, startedAt: number, headAt: number, headRetries: number): RangeStats {
  const elapsedMs = performance.now() - startedAt;
  const bytes = headBytes + (rest?.bytes ?? 0);
  return {
    bytes,
    ranges: 1 + (rest?.ranges ?? 0),
    retries: (rest?.retries ?? 0) + headRetries,
    elapsedMs,
    firstByteMs: headAt - startedAt,
    throughputBytesPerSec: elapsedMs > 0 ? (bytes * 1000) / elapsedMs : 0,
    maxInFlight: Math.max(1, rest?.maxInFlight ?? 0),
    hedges: rest?.hedges ?? 0,
    hedgeWins: rest?.hedgeWins ?? 0,
  };
}

function plusRetries(stats: RangeStats, retries: number): RangeStats {
  return retries === 0 ? stats : { ...stats, retries: stats.retries + retries };
}

/**
 * Builds a complete {@link ObjectStore} from a backend's {@link StoreDriver}. Everything backends would otherwise
 * each write again lives here: input validation before I/O, engine use above the split threshold, pinning every
 * range of one read to one object version, ordered streaming, `exists`, `deletePrefix` and `close`.
 */
export function createObjectStore(driver: StoreDriver, options: CreateObjectStoreOptions = {}): ObjectStore {
  return new DriverObjectStore(driver, options);
}

class DriverObjectStore implements ObjectStore {
  readonly scheme: string;
  readonly #driver: StoreDriver;
  readonly #engine: RangeEngine;
  readonly #allocate: (size: number) => Uint8Array;
  readonly #prepareTarget: ((target: Uint8Array) => Promise<void> | undefined) | undefined;
  /** Kept for `withOperationObserver`, whose view is built from the same options. */
  readonly #options: CreateObjectStoreOptions;
  /** Shared with the views `withOperationObserver` makes: closing any of them closes the store. */
  #state = { closed: false };
  /** Set only on a view made by `withOperationObserver`; the store itself has none (one `undefined` check per operation). */
  #observer: OperationObserver | undefined;
  /** Server-side copy: only when the driver has one, so callers can tell and fall back to read + put. */
  declare readonly copy?: (srcKey: string, dstKey: string, opts?: CopyOptions) => Promise<ObjectMeta>;
  /** Per-request events: only when the driver reports its requests. */
  declare readonly onRequest?: (listener: RequestListener) => () => void;

  constructor(driver: StoreDriver, options: CreateObjectStoreOptions) {
    checkOptionsObject(options);
    this.#options = options;
    this.#driver = driver;
    this.scheme = driver.scheme;
    this.#engine = new RangeEngine(options.engine);
    if (options.allocate !== undefined && typeof options.allocate !== "function") {
      throw new RangeConfigError("allocate must be a function", { code: "E_INVALID_OPTION" });
    }
    this.#allocate = options.allocate ?? allocateBuffer;
    if (options.prepareTarget !== undefined && typeof options.prepareTarget !== "function") {
      throw new RangeConfigError("prepareTarget must be a function", { code: "E_INVALID_OPTION" });
    }
    this.#prepareTarget = options.prepareTarget;
    if (typeof driver.copy === "function") this.copy = (srcKey, dstKey, opts) => this.#copy(srcKey, dstKey, opts ?? {});
    const events = driver.requestEvents;
    if (events) this.onRequest = (listener) => events.on(listener);
  }

  /**
   * A view of this store whose `get`, `getRange`, `stat` and `put` report to `observer` (see {@link OperationObserver}),
   * synchronously from inside the operation: no wrapper promise, no extra microtask. The view shares this store's
   * driver and open/closed state (closing either closes both); operations on the store itself or on another view are
   * not reported to it. `RangeConfigError` (`E_INVALID_OPTION`) if `observer` lacks a method.
   */
  withOperationObserver(observer: OperationObserver): ObjectStore {
    assertOperationObserver(observer);
    const view = new DriverObjectStore(this.#driver, this.#options);
    view.#state = this.#state;
    view.#observer = observer;
    return view;
  }

  #checkOpen(): void {
    if (this.#state.closed) throw new RangeConfigError(`${this.scheme}:// store is closed`, { code: "E_CLOSED" });
  }

  #engineFor(opts: GetOptions): RangeEngine | false {
    if (opts.engine === false) return false;
    if (opts.engine === undefined) return this.#engine;
    return new RangeEngine(resolveEngineOptions(opts.engine, this.#engine.options));
  }

  /** Validates a read's inputs (all before I/O) and picks its engine. */
  #prepareRead(key: string, opts: GetOptions): RangeEngine | false {
    this.#checkOpen();
    assertValidKey(key);
    checkOptionsObject(opts);
    if (opts.into !== undefined && !(opts.into instanceof Uint8Array)) throw invalidOption("into must be a Uint8Array", opts.into);
    if (opts.onStats !== undefined && typeof opts.onStats !== "function") throw invalidOption("onStats must be a function", opts.onStats);
    if (opts.onProgress !== undefined && typeof opts.onProgress !== "function") {
      throw invalidOption("onProgress must be a function", opts.onProgress);
    }
    if (opts.knownMeta !== undefined) {
      assertValidSize(opts.knownMeta?.size, "knownMeta.size");
      if (opts.knownMeta.etag !== undefined && typeof opts.knownMeta.etag !== "string") {
        throw invalidOption("knownMeta.etag must be a string", opts.knownMeta.etag);
      }
    }
    const engine = this.#engineFor(opts);
    throwIfAborted(opts.signal);
    return engine;
  }

  /**
   * Opens one read of `key`: its size and version, and its first bytes when the driver gets them in the same request.
   * With `readHead`, an object below the split threshold is complete in ONE request and a large one costs no extra
   * metadata call (and when the driver resolves on the response headers, the other ranges start while the first
   * body still arrives); with `openReader`, all ranges share one opened object. Every later range is pinned to the
   * version seen here.
   */
  async #open(key: string, engine: RangeEngine | false, opts: GetOptions): Promise<ReadSession> {
    const driver = this.#driver;
    const session = new ReadSession(opts.signal);
    const probe = engine === false ? Number.MAX_SAFE_INTEGER : engine.options.minSplitSize;
    try {
      if (driver.openReader) {
        // Nothing else runs during the open, so the caller's signal is all it needs: no session signal is made.
        // Not `{ ...(signal ? { signal } : {}), headLength }`: measured, that spread was the other half of the full-GC
        // storm above (see `#watchParent`); with both gone, gets sharing a signal cost what gets without one do.
        const reader = await driver.openReader(key, opts.signal ? { signal: opts.signal, headLength: probe } : { headLength: probe });
        // Bound methods, not arrow functions over this async function's scope: such a closure kept the result of a
        // small read reachable long enough to be promoted, so every 1–4 MiB get ended in a full GC (2 MiB file get:
        // 742 → 369 µs CPU, 47 → 1 mark-compacts per 1,500 gets).
        session.closeReader = reader.close.bind(reader);
        session.meta = reader.meta;
        session.adoptChecksum(reader.checksum);
        if (reader.head !== undefined) {
          assertHead(reader.head, reader.meta, key);
          session.headLength = reader.head.length;
          session.head = Promise.resolve(reader.head);
        }
        session.read = reader.read.bind(reader);
        return session;
      }
      const pinned = (meta: ObjectMeta): ReadSession["read"] => (offset, length, readOpts) =>
        driver.read(key, offset, length, { ...readOpts, size: meta.size, ...(meta.etag !== undefined ? { etag: meta.etag } : {}) });
      if (opts.knownMeta) {
        session.meta = { ...opts.knownMeta, key };
        session.read = pinned(session.meta);
        return session;
      }
      const timing = engine === false ? this.#engine.options : engine.options;
      if (driver.readHead) {
        await this.#openHead(session, key, probe, timing, pinned);
        return session;
      }
      session.meta = await withRetries(timing, ({ signal }) => driver.stat(key, { signal }), {
        what: `stat of ${JSON.stringify(key)}`,
        signal: session.signal,
        onRetry: () => session.retries++,
      });
      session.read = pinned(session.meta);
      return session;
    } catch (error) {
      await session.close();
      return session.rethrow(error);
    }
  }

  /**
   * The head request (`readHead`) under the engine's stall timer and retry policy, like any range. The first try
   * resolves on the response headers, so the other ranges start while its body arrives; its timer runs until the body
   * is in. A try that fails before the headers is repeated whole; a body that fails after them is read again as a
   * range pinned to the version the headers named.
   */
  async #openHead(
    session: ReadSession,
    key: string,
    probe: number,
    timing: ResolvedRangeEngineOptions,
    pinned: (meta: ObjectMeta) => ReadSession["read"],
  ): Promise<void> {
    const readHead = this.#driver.readHead!.bind(this.#driver);
    const what = (length: number) => `first ${length} bytes of ${JSON.stringify(key)}`;
    const onRetry = () => session.retries++;
    const adopt = ({ meta, verifyWhole, checksum }: DriverHead) => {
      session.meta = meta;
      session.verifyWhole = verifyWhole;
      session.adoptChecksum(checksum);
      session.headLength = Math.min(probe, meta.size);
      session.read = pinned(meta);
    };
    const controller = new AbortController();
    const stopForwarding = session.whenFailed((error) => controller.abort(error));
    const timer = new StallTimer(timing.rangeTimeoutMs, () =>
      controller.abort(new TimeoutError(`${what(probe)} made no progress for ${timing.rangeTimeoutMs} ms`)),
    );
    const settled = () => {
      timer.stop();
      stopForwarding();
    };
    let head: DriverHead;
    try {
      head = await raceAbort(readHead(key, probe, { signal: controller.signal, progress: () => timer.touch() }), controller.signal);
    } catch (error) {
      settled();
      if (session.failed) throw error;
      const retried = await withRetries(
        timing,
        async ({ signal, progress }) => {
          const again = await readHead(key, probe, { signal, progress });
          const length = Math.min(probe, again.meta.size);
          return { ...again, data: assertLength(await again.data, length, what(length)) };
        },
        { what: what(probe), signal: session.signal, failed: error, onRetry },
      );
      adopt(retried);
      session.head = Promise.resolve(retried.data);
      return;
    }
    adopt(head);
    const length = session.headLength;
    const firstBody = raceAbort(Promise.resolve(head.data), controller.signal).then((bytes) => assertLength(bytes, length, what(length)));
    firstBody.then(settled, settled);
    session.head = firstBody.catch((error: unknown) => {
      if (session.failed || length === 0) throw error;
      return withRetries(
        timing,
        ({ signal, progress }) => session.read(0, length, { signal, progress }).then((bytes) => assertLength(bytes, length, what(length))),
        { what: what(length), signal: session.signal, failed: error, onRetry },
      );
    });
    session.head.catch((error: unknown) => session.fail(error));
  }

  /** A fetcher for the bytes from `base` on. */
  #fetcher(session: ReadSession, base: number): RangeFetcher {
    const prepare = this.#prepareTarget;
    return (offset, length, signal, context) => {
      const read = () =>
        session.read(base + offset, length, {
          signal,
          ...(context?.target ? { target: context.target } : {}),
          ...(context ? { progress: context.progress } : {}),
        });
      const ready = prepare && context?.target ? prepare(context.target) : undefined;
      if (ready === undefined) return read();
      return ready.then(() => (signal.aborted ? Promise.reject(abortErrorFrom(signal)) : read()));
    };
  }

  /**
   * Runs the rest of a read (`rest`, under the session's signal) while the head's bytes are handed to `takeHead` as
   * they arrive; the first failure of either aborts the other.
   */
  async #withHead<T>(session: ReadSession, takeHead: (head: Uint8Array) => void | Promise<void>, rest: () => Promise<T>): Promise<T> {
    const headDone = session.head ? session.head.then(takeHead) : Promise.resolve();
    headDone.catch((error: unknown) => session.fail(error));
    const restDone = rest();
    restDone.catch((error: unknown) => session.fail(error));
    const [head, result] = await Promise.allSettled([headDone, restDone]);
    if (head.status === "rejected") session.rethrow(head.reason);
    if (result.status === "rejected") session.rethrow(result.reason);
    return result.value;
  }

  /**
   * One request for what `#open` did not already return: with the engine off, a plain read; with `retryTiming` (a
   * small object of known size, see `get`), one pinned read under the engine's stall timer and retry policy, the same
   * one request a `readHead` probe makes, without the engine's planning and buffers.
   */
  async #readWhole(key: string, session: ReadSession, retryTiming?: ResolvedRangeEngineOptions): Promise<Uint8Array> {
    if (session.head) return session.head;
    const { size } = session.meta;
    if (size === 0) return new Uint8Array(0);
    const what = `object ${JSON.stringify(key)}`;
    const bytes = retryTiming
      ? await withRetries(
          retryTiming,
          ({ signal, progress }) => session.read(0, size, { signal, progress }).then((read) => assertLength(read, size, what)),
          { what, signal: session.signal, onRetry: () => session.retries++ },
        )
      : assertLength(await session.read(0, size, { signal: session.signal }), size, what);
    await session.verifyWhole?.(bytes);
    if (session.checksum) await verifyWholeObject(session.checksum, bytes);
    return bytes;
  }

  #progress(opts: GetOptions, total: number, base: number): ((p: DownloadProgress) => void) | undefined {
    const { onProgress } = opts;
    if (!onProgress) return undefined;
    if (base === 0) return onProgress;
    onProgress({ bytes: base, total, ranges: 1 });
    return (p) => onProgress({ bytes: p.bytes + base, total, ranges: p.ranges + 1 });
  }

  stat(key: string): Promise<ObjectMeta> {
    const observer = this.#observer;
    if (observer !== undefined) return this.#runObserved(observer, "stat", key, -1, 0, undefined, () => this.#stat(key));
    return this.#run(() => this.#stat(key));
  }

  #stat(key: string): Promise<ObjectMeta> {
    assertValidKey(key);
    return withRetries(this.#engine.options, ({ signal }) => this.#driver.stat(key, { signal }), { what: `stat of ${JSON.stringify(key)}` });
  }

  async exists(key: string): Promise<boolean> {
    try {
      // Not `this.stat`: a view's observer hears of the operations called, not of the stat inside an `exists`.
      await this.#run(() => this.#stat(key));
      return true;
    } catch (error) {
      if (NotFoundError.isInstance(error)) return false;
      throw error;
    }
  }

  async get(key: string, opts: GetOptions = {}): Promise<Uint8Array> {
    // Before the checks: an observer's duration (below) covers them too, as a wrapper's would, with no second clock read.
    const startedAt = performance.now();
    const observer = this.#observer;
    const token = observer === undefined ? undefined : observeStart(observer, "get", key);
    let result: Uint8Array | undefined;
    try {
      const engine = this.#prepareRead(key, opts);
      const session = await this.#open(key, engine, opts);
      try {
        const headAt = performance.now();
        const { meta, headLength: base } = session;
        const size = meta.size;
        const { into } = opts;
        if (into !== undefined && into.length < size) {
          throw new InvalidRangeError(`into holds ${into.length} bytes but ${JSON.stringify(key)} has ${size}`);
        }

        // A known size (knownMeta) below the split threshold: one pinned read, as a probe would have made, not the engine.
        const smallKnown = engine !== false && session.head === undefined && size <= engine.options.minSplitSize ? engine.options : undefined;
        if (engine === false || session.headIsWhole || smallKnown) {
          const bytes = await this.#readWhole(key, session, smallKnown);
          opts.onProgress?.({ bytes: size, total: size, ranges: 1 });
          opts.onStats?.(withHead(undefined, size, startedAt, headAt, session.retries));
          if (!into) return (result = bytes);
          into.set(bytes);
          return (result = into.subarray(0, size));
        }

        if (!into) assertFitsInBuffer(size);
        const data = into ? into.subarray(0, size) : this.#allocate(size);
        const onProgress = this.#progress(opts, size, base);
        const { stats } = await this.#withHead(
          session,
          (head) => data.set(head),
          () =>
            engine.download(size - base, this.#fetcher(session, base), {
              into: data.subarray(base),
              signal: session.signal,
              ...(onProgress ? { onProgress } : {}),
            }),
        );
        await session.verifyWhole?.(data);
        if (session.checksum) await verifyWholeObject(session.checksum, data);
        opts.onStats?.(session.head ? withHead(stats, base, startedAt, headAt, session.retries) : plusRetries(stats, session.retries));
        return (result = data);
      } catch (error) {
        return session.rethrow(error);
      } finally {
        await session.close();
      }
    } catch (error) {
      result = undefined;
      if (observer !== undefined) observeFailure(observer, token, "get", key, -1, 0, startedAt, error);
      throw error;
    } finally {
      // After the reader's close: the operation is over only then.
      if (result !== undefined && observer !== undefined) observeDone(observer, token, "get", key, -1, result.length, startedAt);
    }
  }

  async readTo(key: string, sink: ObjectSink, opts: Omit<GetOptions, "into"> = {}): Promise<ReadToResult> {
    const engine = this.#prepareRead(key, opts);
    if (typeof sink !== "function") throw new RangeConfigError("sink must be a function", { code: "E_INVALID_OPTION" });
    const startedAt = performance.now();
    const session = await this.#open(key, engine, opts);
    try {
      const headAt = performance.now();
      const { meta, headLength: base } = session;

      if (engine === false || session.headIsWhole) {
        const bytes = await this.#readWhole(key, session);
        if (bytes.length > 0) await sink(0, bytes);
        opts.onProgress?.({ bytes: meta.size, total: meta.size, ranges: 1 });
        const stats = withHead(undefined, meta.size, startedAt, headAt, session.retries);
        opts.onStats?.(stats);
        return { meta, stats };
      }

      const onProgress = this.#progress(opts, meta.size, base);
      // The ranges reach the sink out of order: the digest takes them in order, holding a few that ran ahead.
      const verifier = session.checksum
        ? new OrderedVerifier(session.checksum, { maxHeld: engine.options.maxConcurrentRanges, signal: session.signal })
        : undefined;
      const deliver: ObjectSink = verifier
        ? async (offset, bytes) => {
            await sink(offset, bytes);
            await verifier.add(offset, bytes);
          }
        : sink;
      const rest = await this.#withHead(
        session,
        (head) => (head.length > 0 ? deliver(0, head) : undefined),
        () =>
          engine.downloadTo(meta.size - base, this.#fetcher(session, base), (offset, bytes) => deliver(base + offset, bytes), {
            signal: session.signal,
            ...(onProgress ? { onProgress } : {}),
          }),
      );
      await verifier?.finish(meta.size);
      const stats = session.head ? withHead(rest, base, startedAt, headAt, session.retries) : plusRetries(rest, session.retries);
      opts.onStats?.(stats);
      return { meta, stats };
    } catch (error) {
      return session.rethrow(error);
    } finally {
      await session.close();
    }
  }

  getStream(key: string, opts: GetOptions = {}): AsyncIterable<Uint8Array> {
    const store = this;
    return {
      async *[Symbol.asyncIterator]() {
        if (opts?.into !== undefined) {
          throw new RangeConfigError("getStream() does not take `into`", { code: "E_INVALID_OPTION" });
        }
        const engine = store.#prepareRead(key, opts);
        const session = await store.#open(key, engine, opts);
        try {
          const { meta, headLength: base } = session;
          if (engine === false || session.headIsWhole) {
            const bytes = await store.#readWhole(key, session);
            if (bytes.length > 0) yield bytes;
            return;
          }
          // Hashed in order before each chunk is handed out; the last chunk is followed by the comparison.
          const verifier = session.checksum ? new IncrementalVerifier(session.checksum) : undefined;
          if (session.head && base > 0) {
            const head = await session.head;
            await verifier?.update(head);
            yield head;
          }
          const onProgress = store.#progress(opts, meta.size, base);
          const rest = engine.stream(meta.size - base, store.#fetcher(session, base), {
            signal: session.signal,
            ...(onProgress ? { onProgress } : {}),
          });
          if (!verifier) {
            yield* rest;
            return;
          }
          for await (const bytes of rest) {
            await verifier.update(bytes);
            yield bytes;
          }
          await verifier.finish();
        } catch (error) {
          session.rethrow(error);
        } finally {
          await session.close();
        }
      },
    };
  }

  getRange(key: string, offset: number, length: number, opts: GetRangeOptions = {}): Promise<Uint8Array> {
    const observer = this.#observer;
    if (observer !== undefined) return this.#runObserved(observer, "getRange", key, offset, 0, undefined, () => this.#getRange(key, offset, length, opts));
    return this.#run(() => this.#getRange(key, offset, length, opts));
  }

  async #getRange(key: string, offset: number, length: number, opts: GetRangeOptions): Promise<Uint8Array> {
    assertValidKey(key);
    assertValidRange(offset, length);
    checkOptionsObject(opts);
    throwIfAborted(opts.signal);
    const timing = this.#engine.options;
    const caller = opts.signal ? { signal: opts.signal } : {};
    if (length === 0) {
      // No backend can request zero bytes; the stat still reports a missing object or an offset past the end.
      const meta = await withRetries(timing, ({ signal }) => this.#driver.stat(key, { signal }), { what: `stat of ${JSON.stringify(key)}`, ...caller });
      if (offset > meta.size) {
        throw new InvalidRangeError(`offset ${offset} is past the end of ${JSON.stringify(key)} (${meta.size} bytes)`);
      }
      return new Uint8Array(0);
    }
    const what = `range [${offset}, ${offset + length}) of ${JSON.stringify(key)}`;
    return withRetries(
      timing,
      ({ signal, progress }) => this.#driver.read(key, offset, length, { signal, progress }).then((bytes) => assertLength(bytes, length, what)),
      { what, ...caller },
    );
  }

  put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts: PutOptions = {}): Promise<ObjectMeta> {
    const observer = this.#observer;
    if (observer === undefined) return this.#run(() => this.#put(key, data, opts, undefined));
    // A failed put reports the bytes it was given, or what its stream had yielded so far.
    if (data instanceof Uint8Array) return this.#runObserved(observer, "put", key, -1, data.length, undefined, () => this.#put(key, data, opts, undefined));
    const counted = { sent: 0 };
    return this.#runObserved(observer, "put", key, -1, 0, counted, () => this.#put(key, data, opts, counted));
  }

  #put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts: PutOptions, counted: { sent: number } | undefined): Promise<ObjectMeta> {
    assertValidKey(key);
    checkOptionsObject(opts);
    const isIterable = typeof (data as AsyncIterable<Uint8Array> | null)?.[Symbol.asyncIterator] === "function";
    if (!(data instanceof Uint8Array) && !isIterable) {
      throw new RangeConfigError(`put() data must be a Uint8Array or an AsyncIterable<Uint8Array>, got ${describeValue(data)}`, {
        code: "E_INVALID_DATA",
      });
    }
    if (opts.contentType !== undefined && typeof opts.contentType !== "string") throw invalidOption("contentType must be a string", opts.contentType);
    const { onProgress } = opts;
    if (onProgress !== undefined && typeof onProgress !== "function") throw invalidOption("onProgress must be a function", onProgress);
    throwIfAborted(opts.signal);
    const sent = counted ?? { sent: 0 };
    const onChunk =
      onProgress || counted
        ? (n: number) => {
            sent.sent += n;
            onProgress?.({ bytes: sent.sent });
          }
        : undefined;
    const body = data instanceof Uint8Array ? data : checkedChunks(data, opts.signal, onChunk);
    const written = this.#driver.write(key, body, {
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}),
    });
    if (!onProgress || !(data instanceof Uint8Array)) return written;
    // A buffer goes to the backend in one piece: nothing to report until it is stored.
    return written.then((meta) => {
      onProgress({ bytes: data.length });
      return meta;
    });
  }

  #copy(srcKey: string, dstKey: string, opts: CopyOptions): Promise<ObjectMeta> {
    return this.#run(() => {
      assertValidKey(srcKey);
      assertValidKey(dstKey);
      checkOptionsObject(opts);
      if (srcKey === dstKey) {
        throw new RangeConfigError(`copy: source and destination are the same key ${JSON.stringify(srcKey)}`, { code: "E_SAME_KEY" });
      }
      throwIfAborted(opts.signal);
      const driverOpts: DriverCopyOptions = opts.signal ? { signal: opts.signal } : {};
      return this.#driver.copy!(srcKey, dstKey, driverOpts);
    });
  }

  list(prefix = "", opts: ListOptions = {}): AsyncIterable<ObjectMeta> {
    const store = this;
    return {
      async *[Symbol.asyncIterator]() {
        store.#checkOpen();
        assertValidPrefix(prefix);
        checkOptionsObject(opts);
        if (opts.recursive !== undefined && typeof opts.recursive !== "boolean") {
          throw invalidOption("recursive must be a boolean", opts.recursive);
        }
        throwIfAborted(opts.signal);
        yield* store.#driver.list(prefix, {
          recursive: opts.recursive ?? true,
          ...(opts.signal ? { signal: opts.signal } : {}),
        });
      },
    };
  }

  delete(key: string): Promise<void> {
    return this.#run(async () => {
      assertValidKey(key);
      try {
        await this.#driver.delete(key);
      } catch (error) {
        if (!NotFoundError.isInstance(error)) throw error;
      }
    });
  }

  /**
   * Lists and deletes in batches of {@link DELETE_BATCH}. An abort is checked before each batch and handed to the
   * driver's listing and delete requests, so the call rejects soon after; what a batch in flight already deleted
   * stays deleted, every other object stays.
   */
  deletePrefix(prefix: string, opts: DeletePrefixOptions = {}): Promise<number> {
    return this.#run(async () => {
      assertValidPrefix(prefix);
      checkOptionsObject(opts);
      const { signal } = opts;
      throwIfAborted(signal);
      const driverOpts: DriverDeleteOptions = signal ? { signal } : {};
      let deleted = 0;
      let batch: string[] = [];
      const flush = async () => {
        if (signal?.aborted) throw abortErrorFrom(signal);
        const keys = batch;
        batch = [];
        await this.#deleteMany(keys, driverOpts);
        deleted += keys.length;
      };
      for await (const meta of this.#driver.list(prefix, { recursive: true, ...driverOpts })) {
        batch.push(meta.key);
        if (batch.length >= DELETE_BATCH) await flush();
      }
      if (batch.length > 0) await flush();
      return deleted;
    });
  }

  async #deleteMany(keys: string[], opts: DriverDeleteOptions): Promise<void> {
    const { signal } = opts;
    if (this.#driver.deleteMany) {
      await this.#driver.deleteMany(keys, opts);
    } else {
      let next = 0;
      const worker = async () => {
        // A signal of its own per worker: 16 requests listening on the caller's one signal would trip Node's
        // MaxListenersExceededWarning (AbortSignal.any adds no listener to the caller's signal).
        const own: DriverDeleteOptions = signal ? { signal: AbortSignal.any([signal]) } : {};
        // An abort stops the workers between keys: each key is deleted whole or left alone.
        while (next < keys.length && !signal?.aborted) {
          const key = keys[next++]!;
          try {
            await this.#driver.delete(key, own);
          } catch (error) {
            if (!NotFoundError.isInstance(error)) throw error;
          }
        }
      };
      await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
    }
    // A driver that finished its batch although the caller gave up: the caller still hears of the abort.
    if (signal?.aborted) throw abortErrorFrom(signal);
  }

  async close(): Promise<void> {
    if (this.#state.closed) return;
    this.#state.closed = true;
    await this.#driver.close?.();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Runs `work` after the closed check, turning synchronous validation throws into rejections. */
  async #run<T>(work: () => T | Promise<T>): Promise<T> {
    this.#checkOpen();
    return work();
  }

  /**
   * `#run` on a view with an observer: `work` reported as one operation, from before the checks until it settles
   * (`bytes`: the result's length or size; `failBytes`, or what `counted` says, when it fails).
   */
  async #runObserved<T extends Uint8Array | ObjectMeta>(
    observer: OperationObserver,
    operation: ObservedOperation,
    key: string,
    offset: number,
    failBytes: number,
    counted: { sent: number } | undefined,
    work: () => Promise<T>,
  ): Promise<T> {
    const startedAt = performance.now();
    const token = observeStart(observer, operation, key);
    try {
      this.#checkOpen();
      const value = await work();
      observeDone(observer, token, operation, key, offset, value instanceof Uint8Array ? value.length : (value as ObjectMeta).size, startedAt);
      return value;
    } catch (error) {
      observeFailure(observer, token, operation, key, offset, counted ? counted.sent : failBytes, startedAt, error);
      throw error;
    }
  }
}
