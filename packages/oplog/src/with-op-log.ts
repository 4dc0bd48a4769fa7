import type {
  GetOptions,
  GetRangeOptions,
  ListOptions,
  ObjectMeta,
  ObjectSink,
  ObjectStore,
  PutOptions,
  ReadToResult,
} from "@range/core";
import { createOpLog, type OpLog, type OpLogOptions, type OpLogStats } from "./op-log.js";
import { OpCode, errorCode } from "./ops.js";

export type WithOpLogOptions = (OpLogOptions & { path: string; log?: undefined }) | { log: OpLog; path?: undefined };

export interface OpLogStoreOptions {
  /**
   * The `endpoint` column: a fixed string, or a function asked after each operation (a store spread over several
   * endpoints can say which one served it). Default: the store's own `endpoint` property when it has a string one,
   * or the single endpoint its `endpointStats()` lists (an S3 store's), else empty.
   */
  endpoint?: string | (() => string);
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

class OpLoggingStore implements OpLoggedStore {
  readonly inner: ObjectStore;
  readonly opLog: OpLog;
  readonly #ownsLog: boolean;
  readonly #endpoint: () => string;
  readTo?: (key: string, sink: ObjectSink, opts?: Omit<GetOptions, "into">) => Promise<ReadToResult>;
  copy?: CopyMethod;

  constructor(inner: ObjectStore, options: WithOpLogOptions & OpLogStoreOptions) {
    this.inner = inner;
    this.#ownsLog = options.log === undefined;
    this.opLog = options.log ?? createOpLog(options.path!, options);
    const endpoint = options.endpoint ?? reportedEndpoint(inner);
    this.#endpoint = typeof endpoint === "function" ? endpoint : () => endpoint;
    const copy = (inner as { copy?: CopyMethod }).copy;
    if (typeof copy === "function") this.copy = this.#wrapCopy(copy.bind(inner));
    if (typeof inner.readTo === "function") {
      const readTo = inner.readTo.bind(inner);
      this.readTo = async (key, sink, opts) => {
        const log = this.opLog;
        const thread = log.acquireThread();
        const start = now();
        try {
          const result = await readTo(key, sink, opts);
          await log.add(OpCode.readTo, key, result.meta.size, 1, -1, start, now() - start, -1, thread, "", this.#endpoint());
          return result;
        } catch (error) {
          await log.add(OpCode.readTo, key, 0, 1, -1, start, now() - start, -1, thread, errorCode(error), this.#endpoint());
          throw error;
        }
      };
    }
  }

  #wrapCopy(copy: CopyMethod): CopyMethod {
    return async (srcKey, dstKey, opts) => {
      const log = this.opLog;
      const thread = log.acquireThread();
      const start = now();
      try {
        const meta = await copy(srcKey, dstKey, opts);
        await log.add(OpCode.copy, srcKey, meta.size, 1, -1, start, now() - start, -1, thread, "", this.#endpoint(), dstKey);
        return meta;
      } catch (error) {
        await log.add(OpCode.copy, srcKey, 0, 1, -1, start, now() - start, -1, thread, errorCode(error), this.#endpoint(), dstKey);
        throw error;
      }
    };
  }

  get scheme(): string {
    return this.inner.scheme;
  }

  async get(key: string, opts?: GetOptions): Promise<Uint8Array> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
    try {
      const data = await this.inner.get(key, opts);
      // `await undefined` costs a microtask; only wait when the log asks to (onOverflow "block" and full).
      const wait = log.add(OpCode.get, key, data.length, 1, -1, start, now() - start, -1, thread, "", this.#endpoint());
      if (wait) await wait;
      return data;
    } catch (error) {
      const wait = log.add(OpCode.get, key, 0, 1, -1, start, now() - start, -1, thread, errorCode(error), this.#endpoint());
      if (wait) await wait;
      throw error;
    }
  }

  async getRange(key: string, offset: number, length: number, opts?: GetRangeOptions): Promise<Uint8Array> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
    // A negative or non-numeric offset is still recorded as a ranged read (the column needs a number ≥ 0).
    const at = typeof offset === "number" && offset >= 0 ? offset : 0;
    try {
      const data = await this.inner.getRange(key, offset, length, opts);
      const wait = log.add(OpCode.getRange, key, data.length, 1, at, start, now() - start, -1, thread, "", this.#endpoint());
      if (wait) await wait;
      return data;
    } catch (error) {
      const wait = log.add(OpCode.getRange, key, 0, 1, at, start, now() - start, -1, thread, errorCode(error), this.#endpoint());
      if (wait) await wait;
      throw error;
    }
  }

  async *getStream(key: string, opts?: GetOptions): AsyncIterable<Uint8Array> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
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
      await log.add(OpCode.getStream, key, bytes, 1, -1, start, now() - start, firstByte, thread, error, this.#endpoint());
    }
  }

  async put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<ObjectMeta> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
    let sent = 0;
    const body =
      data instanceof Uint8Array
        ? data
        : (async function* counted() {
            for await (const chunk of data) {
              sent += chunk.length;
              yield chunk;
            }
          })();
    try {
      const meta = await this.inner.put(key, body, opts);
      const wait = log.add(OpCode.put, key, meta.size, 1, -1, start, now() - start, -1, thread, "", this.#endpoint());
      if (wait) await wait;
      return meta;
    } catch (error) {
      const bytes = data instanceof Uint8Array ? data.length : sent;
      const wait = log.add(OpCode.put, key, bytes, 1, -1, start, now() - start, -1, thread, errorCode(error), this.#endpoint());
      if (wait) await wait;
      throw error;
    }
  }

  async stat(key: string): Promise<ObjectMeta> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
    try {
      const meta = await this.inner.stat(key);
      // bytes = the size the stat reported (as warp's STAT does): replay --prepare can create the object from it.
      const wait = log.add(OpCode.stat, key, meta.size, 1, -1, start, now() - start, -1, thread, "", this.#endpoint());
      if (wait) await wait;
      return meta;
    } catch (error) {
      const wait = log.add(OpCode.stat, key, 0, 1, -1, start, now() - start, -1, thread, errorCode(error), this.#endpoint());
      if (wait) await wait;
      throw error;
    }
  }

  async exists(key: string): Promise<boolean> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
    try {
      const found = await this.inner.exists(key);
      // n_objects: 1 when it exists, 0 when not.
      const wait = log.add(OpCode.exists, key, 0, found ? 1 : 0, -1, start, now() - start, -1, thread, "", this.#endpoint());
      if (wait) await wait;
      return found;
    } catch (error) {
      const wait = log.add(OpCode.exists, key, 0, 0, -1, start, now() - start, -1, thread, errorCode(error), this.#endpoint());
      if (wait) await wait;
      throw error;
    }
  }

  async *list(prefix?: string, opts?: ListOptions): AsyncIterable<ObjectMeta> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
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
      await log.add(OpCode.list, prefix ?? "", 0, objects, -1, start, now() - start, -1, thread, error, this.#endpoint());
    }
  }

  async delete(key: string): Promise<void> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
    try {
      await this.inner.delete(key);
      await log.add(OpCode.delete, key, 0, 1, -1, start, now() - start, -1, thread, "", this.#endpoint());
    } catch (error) {
      await log.add(OpCode.delete, key, 0, 1, -1, start, now() - start, -1, thread, errorCode(error), this.#endpoint());
      throw error;
    }
  }

  async deletePrefix(prefix: string): Promise<number> {
    const log = this.opLog;
    const thread = log.acquireThread();
    const start = now();
    try {
      const deleted = await this.inner.deletePrefix(prefix);
      await log.add(OpCode.deletePrefix, prefix, 0, deleted, -1, start, now() - start, -1, thread, "", this.#endpoint());
      return deleted;
    } catch (error) {
      await log.add(OpCode.deletePrefix, prefix, 0, 0, -1, start, now() - start, -1, thread, errorCode(error), this.#endpoint());
      throw error;
    }
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
 * the operation settles; formatting, compression and file I/O happen on a writer thread.
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
