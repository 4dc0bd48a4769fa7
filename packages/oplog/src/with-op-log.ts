import { performance } from "node:perf_hooks";
import { RangeConfigError } from "@range/core";
import type {
  DeletePrefixOptions,
  GetOptions,
  GetRangeOptions,
  ListOptions,
  ObjectMeta,
  ObjectSink,
  ObjectStore,
  ObservedOperation,
  OperationObserver,
  PutOptions,
  ReadToResult,
  RequestEvent,
  RequestListener,
} from "@range/core";
import { createOpLog, type OpLog, type OpLogOptions, type OpLogStats } from "./op-log.js";
import { OpCode, REQUEST_OP, errorCode } from "./ops.js";

export type WithOpLogOptions = (OpLogOptions & { path: string; log?: undefined }) | { log: OpLog; path?: undefined };

export interface OpLogStoreOptions {
  /**
   * The `endpoint` column: a fixed string, or a function asked after each operation. Default: for a store that
   * reports its requests (`onRequest`, e.g. `@range/s3`, with one endpoint or several), the endpoints that served the
   * operation's requests, comma-separated when there were several; otherwise (and for an operation no request was
   * matched to) the store's own `endpoint` property when it has a string one, or the single endpoint its
   * `endpointStats()` lists, else empty.
   */
  endpoint?: string | (() => string);
  /**
   * Also write one line per request the store sends (`op` = the backend's request name, e.g. `GetObject`,
   * `UploadPart`; its endpoint, bytes, duration, error), for stores that report their requests (`onRequest`, e.g.
   * `@range/s3`). Default false. Replay skips these lines (counted in `skipped`).
   */
  requests?: boolean;
}

/** An ObjectStore that records every operation into an op-log. */
export interface OpLoggedStore extends ObjectStore {
  /** The log this store writes to. */
  readonly opLog: OpLog;
  /** The wrapped store. */
  readonly inner: ObjectStore;
  /** Resolves once every operation so far is in the file. */
  flush(): Promise<void>;
  /** Closes the wrapped store, then the log (unless the log was passed in as `log`, shared: its owner closes it). */
  close(): Promise<void>;
  stats(): OpLogStats;
}

// The module's binding, not the global: Node defines the global `performance` as a lazy getter, one more call per read.
const now = () => performance.now();

/** `ObjectStore.copy` (optional: only stores that copy server-side have it). */
type CopyMethod = (srcKey: string, dstKey: string, opts?: { signal?: AbortSignal }) => Promise<ObjectMeta>;

/**
 * The endpoint a store says it talks to: a string `endpoint` property, or the only endpoint of `endpointStats()`
 * (the S3 store's, whatever it is configured with). A store spread over several endpoints does not say which one
 * served a request, so the column stays empty unless the `endpoint` option can tell.
 */
function reportedEndpoint(store: ObjectStore): string {
  const { endpoint, endpointStats } = store as { endpoint?: unknown; endpointStats?: unknown };
  if (typeof endpoint === "string") return endpoint;
  if (typeof endpointStats === "function") {
    const stats: unknown = endpointStats.call(store);
    if (Array.isArray(stats) && stats.length === 1 && typeof (stats[0] as { endpoint?: unknown }).endpoint === "string") {
      return (stats[0] as { endpoint: string }).endpoint;
    }
  }
  return "";
}

/** The `endpoint` column now: a fixed string (the usual case: no call per operation), or what the function says. */
function endpointNow(endpoint: string | (() => string)): string {
  return typeof endpoint === "function" ? endpoint() : endpoint;
}

/**
 * One operation in flight. Reused: a store keeps a pool of them, so an operation allocates no closure and no entry
 * object, only the promise of its `then`; `ok*` / `fail` are bound once per call object.
 */
class OpCall {
  op = 0;
  key = "";
  start = 0;
  thread = 0;
  /** Ranged reads: the offset; -1 otherwise. */
  offset = -1;
  /** The endpoints that served its requests, comma-separated in first-use order (stores that report requests). */
  endpoints = "";
  /** The entry's bytes if it fails (a put records the bytes it was given). */
  failBytes = 0;
  /** Whether it is in the store's table of operations in flight by key (stores that report requests). */
  tracked = false;
  readonly #store: OpLoggingStore;
  /** For `get` / `getRange`: the entry's bytes are the result's length. */
  readonly okBytes = (data: Uint8Array): Uint8Array | Promise<Uint8Array> => {
    const wait = this.#store.finish(this, data.length, 1, "");
    return wait ? wait.then(() => data) : data;
  };
  /** For `put` / `stat`: the entry's bytes are the object's size. */
  readonly okMeta = (meta: ObjectMeta): ObjectMeta | Promise<ObjectMeta> => {
    const wait = this.#store.finish(this, meta.size, 1, "");
    return wait ? wait.then(() => meta) : meta;
  };
  readonly fail = (error: unknown): Promise<never> => {
    const wait = this.#store.finish(this, this.failBytes, 1, errorCode(error));
    return wait ? wait.then(() => Promise.reject(error)) : Promise.reject(error);
  };
  /** Side branches (see {@link OpLoggingStore.observe}): record, and leave the result to the caller's promise. */
  readonly sawBytes = (data: Uint8Array): void => {
    this.#store.finish(this, data.length, 1, "");
  };
  readonly sawMeta = (meta: ObjectMeta): void => {
    this.#store.finish(this, meta.size, 1, "");
  };
  readonly sawError = (error: unknown): void => {
    this.#store.finish(this, this.failBytes, 1, errorCode(error));
  };

  constructor(store: OpLoggingStore) {
    this.#store = store;
  }
}

/** The `offset` column of an observed operation, as the wrapper path records it. */
function offsetColumn(operation: ObservedOperation, offset: unknown): number {
  // Core reports the caller's offset as given, also when it rejected it (a bigint, a symbol): only a number ≥ 0 fits.
  return operation === "getRange" ? (typeof offset === "number" && offset >= 0 ? offset : 0) : -1;
}

/**
 * The op-log as a store's {@link OperationObserver} (stores made with core's `createObjectStore`): the store calls
 * it synchronously from inside `get` / `getRange` / `stat` / `put`, with the start it read anyway, so an operation
 * costs the log one clock read, a thread number and `OpLog.add`: no side promise, no microtask, no call object.
 * The token is the operation's `thread` number.
 */
class OpLogObserver implements OperationObserver<number> {
  readonly #log: OpLog;
  /** The `endpoint` column: a fixed string (the usual case: no call per operation) or a function asked each time. */
  readonly #endpoint: string | (() => string);

  constructor(log: OpLog, endpoint: string | (() => string)) {
    this.#log = log;
    this.#endpoint = endpoint;
  }

  start(): number {
    return this.#log.acquireThread();
  }

  done(thread: number, operation: ObservedOperation, key: string, offset: number, bytes: number, start: number, duration: number): void {
    const endpoint = endpointNow(this.#endpoint);
    // `get` first, without the table lookup and the offset check: it is most of a training workload's operations.
    if (operation === "get") this.#log.add(OpCode.get, key, bytes, 1, -1, start, duration, -1, thread, "", endpoint);
    else this.#log.add(OpCode[operation], key, bytes, 1, offsetColumn(operation, offset), start, duration, -1, thread, "", endpoint);
  }

  failed(
    thread: number,
    operation: ObservedOperation,
    key: string,
    offset: number,
    bytes: number,
    start: number,
    duration: number,
    error: unknown,
  ): void {
    void this.#log.add(OpCode[operation], key, bytes, 1, offsetColumn(operation, offset), start, duration, -1, thread, errorCode(error), endpointNow(this.#endpoint));
  }
}

/**
 * The observer for a store that also reports its requests (`onRequest`): the token is the operation's call object,
 * in the table of operations in flight by key from `start` on, so that its requests name its endpoints.
 */
class TrackingObserver implements OperationObserver<OpCall> {
  readonly #store: OpLoggingStore;

  constructor(store: OpLoggingStore) {
    this.#store = store;
  }

  start(operation: ObservedOperation, key: string): OpCall {
    return this.#store.beginObserved(OpCode[operation], key);
  }

  done(call: OpCall, operation: ObservedOperation, _key: string, offset: number, bytes: number, start: number, duration: number): void {
    call.offset = offsetColumn(operation, offset);
    call.start = start;
    void this.#store.record(call, duration, bytes, 1, "");
  }

  failed(
    call: OpCall,
    operation: ObservedOperation,
    _key: string,
    offset: number,
    bytes: number,
    start: number,
    duration: number,
    error: unknown,
  ): void {
    call.offset = offsetColumn(operation, offset);
    call.start = start;
    void this.#store.record(call, duration, bytes, 1, errorCode(error));
  }
}

class OpLoggingStore implements OpLoggedStore {
  readonly inner: ObjectStore;
  readonly opLog: OpLog;
  readonly #ownsLog: boolean;
  /** The `endpoint` option, or the store's own endpoint: used when no request of the operation named one. */
  readonly #endpoint: string | (() => string);
  readonly #endpointOption: boolean;
  readonly #calls: OpCall[] = [];
  /** Operations in flight by key, when the store reports its requests: how a request finds its operation. */
  readonly #byKey: Map<string, OpCall[]> | undefined;
  readonly #requestLines: boolean;
  readonly #block: boolean;
  readonly #unsubscribe: (() => void) | undefined;
  /**
   * The wrapped store's view that reports `get` / `getRange` / `stat` / `put` to this log from inside the operation
   * (its `withOperationObserver`), used for those four instead of recording from a `then` on their promise. Undefined
   * for stores without one, and with `onOverflow: "block"` (an observer cannot make the operation wait for room).
   */
  readonly #observed: ObjectStore | undefined;
  readTo?: (key: string, sink: ObjectSink, opts?: Omit<GetOptions, "into">) => Promise<ReadToResult>;
  copy?: CopyMethod;

  constructor(inner: ObjectStore, options: WithOpLogOptions & OpLogStoreOptions) {
    this.inner = inner;
    this.#ownsLog = options.log === undefined;
    if (options.requests !== undefined && typeof options.requests !== "boolean") {
      throw new RangeConfigError(`requests must be a boolean, got ${String(options.requests)}`, { code: "E_INVALID_OPTION" });
    }
    this.opLog = options.log ?? createOpLog(options.path!, options);
    this.#block = this.opLog.blocking;
    this.#endpointOption = options.endpoint !== undefined;
    const endpoint = options.endpoint ?? reportedEndpoint(inner);
    this.#endpoint = endpoint;
    this.#requestLines = options.requests === true;
    if (typeof inner.onRequest === "function") {
      this.#byKey = new Map();
      this.#unsubscribe = inner.onRequest((event) => this.#onRequest(event));
    }
    if (typeof inner.withOperationObserver === "function" && !this.#block) {
      const view = inner.withOperationObserver(this.#byKey === undefined ? new OpLogObserver(this.opLog, endpoint) : new TrackingObserver(this));
      // Only when the view's hot methods are the store's own: a store whose methods were replaced (a Proxy, an
      // override) would otherwise be bypassed; it keeps the wrapper path.
      const same = view.get === inner.get && view.getRange === inner.getRange && view.stat === inner.stat && view.put === inner.put;
      if (same) this.#observed = view;
    }
    const copy = (inner as { copy?: CopyMethod }).copy;
    if (typeof copy === "function") this.copy = this.#wrapCopy(copy.bind(inner));
    if (typeof inner.readTo === "function") {
      const readTo = inner.readTo.bind(inner);
      this.readTo = async (key, sink, opts) => {
        const call = this.#begin(OpCode.readTo, key);
        try {
          const result = await readTo(key, sink, opts);
          await this.finish(call, result.meta.size, 1, "");
          return result;
        } catch (error) {
          await this.finish(call, 0, 1, errorCode(error));
          throw error;
        }
      };
    }
  }

  /** Takes a call object for an operation that starts now. */
  #begin(op: number, key: string, offset = -1): OpCall {
    const call = this.beginObserved(op, key, offset);
    call.start = now();
    return call;
  }

  /**
   * `#begin` without the clock read, for an observed operation: its start time comes with its end (see
   * {@link TrackingObserver}).
   */
  beginObserved(op: number, key: string, offset = -1): OpCall {
    const call = this.#calls.pop() ?? new OpCall(this);
    call.op = op;
    call.key = key;
    call.offset = offset;
    call.failBytes = 0;
    call.thread = this.opLog.acquireThread();
    if (this.#byKey !== undefined) this.#track(call);
    return call;
  }

  /**
   * Records the finished operation `call` and gives the call object back. Returns a promise only when the log makes
   * the operation wait for room (`onOverflow: "block"`).
   */
  finish(call: OpCall, bytes: number, objects: number, error: string, firstByte = -1, destination = ""): Promise<void> | undefined {
    return this.record(call, now() - call.start, bytes, objects, error, firstByte, destination);
  }

  /** {@link finish} with the duration known. */
  record(call: OpCall, duration: number, bytes: number, objects: number, error: string, firstByte = -1, destination = ""): Promise<void> | undefined {
    let endpoint: string;
    if (call.tracked) {
      this.#untrack(call);
      endpoint = this.#endpointOption || call.endpoints === "" ? endpointNow(this.#endpoint) : call.endpoints;
    } else {
      endpoint = endpointNow(this.#endpoint);
    }
    const wait = this.opLog.add(call.op, call.key, bytes, objects, call.offset, call.start, duration, firstByte, call.thread, error, endpoint, destination);
    call.key = "";
    this.#calls.push(call);
    return wait;
  }

  #track(call: OpCall): void {
    call.endpoints = "";
    call.tracked = true;
    const calls = this.#byKey!.get(call.key);
    if (calls === undefined) this.#byKey!.set(call.key, [call]);
    else calls.push(call);
  }

  #untrack(call: OpCall): void {
    call.tracked = false;
    const calls = this.#byKey!.get(call.key);
    if (calls === undefined) return;
    const at = calls.indexOf(call);
    if (at >= 0) calls.splice(at, 1);
    if (calls.length === 0) this.#byKey!.delete(call.key);
  }

  /**
   * A request of the wrapped store: its endpoint goes to the operations in flight on its key (a request is matched
   * to its operation by key: the store API carries no operation id, and an async context would slow every promise
   * of the process); with `requests: true` it also gets a line of its own.
   */
  #onRequest(event: RequestEvent): void {
    const calls = this.#byKey!.get(event.key);
    if (calls !== undefined) {
      for (const call of calls) {
        const known = call.endpoints;
        if (known === "") call.endpoints = event.endpoint;
        else if (known !== event.endpoint && !`,${known},`.includes(`,${event.endpoint},`)) call.endpoints = `${known},${event.endpoint}`;
      }
    }
    if (!this.#requestLines) return;
    const error = event.outcome === "ok" && event.error === undefined ? "" : event.error === undefined ? `E_${event.outcome.toUpperCase()}` : errorCode(event.error);
    void this.opLog.add(REQUEST_OP, event.key, event.bytes, 1, -1, event.start, event.durationMs, -1, calls?.[0]?.thread ?? -1, error, event.endpoint, "", event.operation);
  }

  #wrapCopy(copy: CopyMethod): CopyMethod {
    return async (srcKey, dstKey, opts) => {
      const call = this.#begin(OpCode.copy, srcKey);
      try {
        const meta = await copy(srcKey, dstKey, opts);
        await this.finish(call, meta.size, 1, "", -1, dstKey);
        return meta;
      } catch (error) {
        await this.finish(call, 0, 1, errorCode(error), -1, dstKey);
        throw error;
      }
    };
  }

  get scheme(): string {
    return this.inner.scheme;
  }

  // The hot methods (get, getRange, stat, put) go through the store's observed view when it has one (see
  // `#observed`): the store records them itself. Otherwise they are not async functions either: they hand the caller
  // the wrapped store's own promise and record from a side branch (`then` with the call object's pre-bound handlers,
  // registered first, so the entry is taken before the caller resumes): no wrapper promise, no extra hop before the
  // caller continues. With `onOverflow: "block"` they chain instead, so the operation can wait for room before it returns.
  get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    if (this.#observed !== undefined) return this.#observed.get(key, opts);
    const call = this.#begin(OpCode.get, key);
    let pending: Promise<Uint8Array>;
    try {
      pending = this.inner.get(key, opts);
    } catch (error) {
      return call.fail(error);
    }
    if (this.#block) return pending.then(call.okBytes, call.fail);
    pending.then(call.sawBytes, call.sawError);
    return pending;
  }

  getRange(key: string, offset: number, length: number, opts?: GetRangeOptions): Promise<Uint8Array> {
    if (this.#observed !== undefined) return this.#observed.getRange(key, offset, length, opts);
    // A negative or non-numeric offset is still recorded as a ranged read (the column needs a number ≥ 0).
    const call = this.#begin(OpCode.getRange, key, typeof offset === "number" && offset >= 0 ? offset : 0);
    let pending: Promise<Uint8Array>;
    try {
      pending = this.inner.getRange(key, offset, length, opts);
    } catch (error) {
      return call.fail(error);
    }
    if (this.#block) return pending.then(call.okBytes, call.fail);
    pending.then(call.sawBytes, call.sawError);
    return pending;
  }

  async *getStream(key: string, opts?: GetOptions): AsyncIterable<Uint8Array> {
    const call = this.#begin(OpCode.getStream, key);
    let firstByte = -1;
    let bytes = 0;
    let error = "";
    try {
      for await (const chunk of this.inner.getStream(key, opts)) {
        if (firstByte < 0) firstByte = now();
        bytes += chunk.length;
        yield chunk;
      }
    } catch (e) {
      error = errorCode(e);
      throw e;
    } finally {
      // Also when the consumer stops early (break): the entry then holds the bytes read until then.
      await this.finish(call, bytes, 1, error, firstByte);
    }
  }

  put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<ObjectMeta> {
    if (this.#observed !== undefined) return this.#observed.put(key, data, opts);
    if (data instanceof Uint8Array) {
      const call = this.#begin(OpCode.put, key);
      call.failBytes = data.length;
      let pending: Promise<ObjectMeta>;
      try {
        pending = this.inner.put(key, data, opts);
      } catch (error) {
        return call.fail(error);
      }
      if (this.#block) return pending.then(call.okMeta, call.fail);
      pending.then(call.sawMeta, call.sawError);
      return pending;
    }
    return this.#putStream(key, data, opts);
  }

  async #putStream(key: string, data: AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<ObjectMeta> {
    const call = this.#begin(OpCode.put, key);
    let sent = 0;
    const body = (async function* counted() {
      for await (const chunk of data) {
        sent += chunk.length;
        yield chunk;
      }
    })();
    try {
      const meta = await this.inner.put(key, body, opts);
      await this.finish(call, meta.size, 1, "");
      return meta;
    } catch (error) {
      await this.finish(call, sent, 1, errorCode(error));
      throw error;
    }
  }

  stat(key: string): Promise<ObjectMeta> {
    // bytes = the size the stat reported (as warp's STAT does): replay --prepare can create the object from it.
    if (this.#observed !== undefined) return this.#observed.stat(key);
    const call = this.#begin(OpCode.stat, key);
    let pending: Promise<ObjectMeta>;
    try {
      pending = this.inner.stat(key);
    } catch (error) {
      return call.fail(error);
    }
    if (this.#block) return pending.then(call.okMeta, call.fail);
    pending.then(call.sawMeta, call.sawError);
    return pending;
  }

  async exists(key: string): Promise<boolean> {
    const call = this.#begin(OpCode.exists, key);
    try {
      const found = await this.inner.exists(key);
      // n_objects: 1 when it exists, 0 when not.
      await this.finish(call, 0, found ? 1 : 0, "");
      return found;
    } catch (error) {
      await this.finish(call, 0, 0, errorCode(error));
      throw error;
    }
  }

  async *list(prefix?: string, opts?: ListOptions): AsyncIterable<ObjectMeta> {
    const call = this.#begin(OpCode.list, prefix ?? "");
    let objects = 0;
    let error = "";
    try {
      for await (const meta of this.inner.list(prefix, opts)) {
        objects++;
        yield meta;
      }
    } catch (e) {
      error = errorCode(e);
      throw e;
    } finally {
      await this.finish(call, 0, objects, error);
    }
  }

  async delete(key: string): Promise<void> {
    const call = this.#begin(OpCode.delete, key);
    try {
      await this.inner.delete(key);
      await this.finish(call, 0, 1, "");
    } catch (error) {
      await this.finish(call, 0, 1, errorCode(error));
      throw error;
    }
  }

  async deletePrefix(prefix: string, opts?: DeletePrefixOptions): Promise<number> {
    const call = this.#begin(OpCode.deletePrefix, prefix);
    try {
      const deleted = await (opts === undefined ? this.inner.deletePrefix(prefix) : this.inner.deletePrefix(prefix, opts));
      await this.finish(call, 0, deleted, "");
      return deleted;
    } catch (error) {
      await this.finish(call, 0, 0, errorCode(error));
      throw error;
    }
  }

  /** Present when the wrapped store reports its requests: listeners see them as they would on the store itself. */
  get onRequest(): ((listener: RequestListener) => () => void) | undefined {
    const inner = this.inner;
    return typeof inner.onRequest === "function" ? (listener) => inner.onRequest!(listener) : undefined;
  }

  flush(): Promise<void> {
    return this.opLog.flush();
  }

  stats(): OpLogStats {
    return this.opLog.stats();
  }

  async close(): Promise<void> {
    try {
      await this.inner.close();
    } finally {
      this.#unsubscribe?.();
      if (this.#ownsLog) await this.opLog.close();
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/**
 * Wraps any ObjectStore so that every operation (get, getRange, getStream, readTo, put, stat, exists, list, delete,
 * deletePrefix, and copy where the store has it) is recorded: time, operation, key, bytes, duration, error code, endpoint. The entry is taken when
 * the operation settles; formatting, compression and file I/O happen on a writer thread. For a store made by
 * `createObjectStore` (`withOperationObserver`), get, getRange, stat and put are recorded from inside the store's own
 * call, with no promise of the log's own; the file is the same.
 *
 * ```ts
 * const store = withOpLog(await openStore("s3://bucket/data/"), { path: "ops.tsv.gz" });
 * await store.get("train/shard-0001.tar");
 * await store.close(); // closes the S3 store, then finishes the log file
 * ```
 */
export function withOpLog(store: ObjectStore, options: WithOpLogOptions & OpLogStoreOptions): OpLoggedStore {
  return new OpLoggingStore(store, options);
}
