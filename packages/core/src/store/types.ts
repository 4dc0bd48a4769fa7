import type { RangeEngineOptions } from "../engine/options.js";
import type { DownloadOptions } from "../engine/range-engine.js";
import type { RangeStats } from "../engine/stats.js";
import type { OperationObserver } from "./operation-observer.js";
import type { RequestListener } from "./request-events.js";

export interface ObjectMeta {
  /** Key relative to the store's root. */
  key: string;
  size: number;
  etag?: string;
  lastModified?: Date;
  /**
   * Only in a non-recursive listing: this entry is a common prefix ("directory"), not an object. Its key ends
   * with "/" and its size is 0.
   */
  isPrefix?: boolean;
}

export interface GetOptions extends DownloadOptions {
  /** Engine settings for this call; `false` reads the object with a single request. */
  engine?: RangeEngineOptions | false;
  /** Receives the engine's numbers once the read has finished. */
  onStats?: (stats: RangeStats) => void;
  /**
   * The object's size (and etag) when the caller already knows them, e.g. from a listing: the read then plans its
   * ranges at once, with no metadata request and no probing first range. Reads are pinned to `etag` when given; a
   * stale size fails (`InvalidRangeError` / `IntegrityError`) rather than returning wrong bytes.
   */
  knownMeta?: Pick<ObjectMeta, "size" | "etag">;
}

export interface GetRangeOptions {
  signal?: AbortSignal;
}

export interface PutOptions {
  signal?: AbortSignal;
  contentType?: string;
  /**
   * Called as the backend takes the data: `bytes` handed to it so far. A stream counts each chunk when the backend
   * reads it (a backend that buffers, e.g. S3 multipart parts, runs ahead of the network by up to its buffer); a
   * `Uint8Array` is counted once, when the put has finished.
   */
  onProgress?: (progress: PutProgress) => void;
}

export interface PutProgress {
  /** Bytes the backend has taken so far. */
  bytes: number;
}

export interface CopyOptions {
  signal?: AbortSignal;
}

export interface DeletePrefixOptions {
  /**
   * Stops the deletion: it rejects with the abort error soon after (between batches, and the requests in flight
   * are aborted). Objects already deleted stay deleted; the rest stay.
   */
  signal?: AbortSignal;
}

export interface ListOptions {
  /** Default true: every object under the prefix. `false`: one level, with sub-prefixes as `isPrefix` entries. */
  recursive?: boolean;
  signal?: AbortSignal;
}

/** Receives each range of an object once, in any order, at its offset. */
export type ObjectSink = (offset: number, bytes: Uint8Array) => void | Promise<void>;

export interface ReadToResult {
  meta: ObjectMeta;
  stats: RangeStats;
}

/** The one contract every backend implements. Keys are `/`-separated and relative to the store's root. */
export interface ObjectStore extends AsyncDisposable {
  readonly scheme: string;
  /** Metadata of one object; {@link NotFoundError} if it does not exist. */
  stat(key: string): Promise<ObjectMeta>;
  /** The whole object. Objects at or above the engine's `minSplitSize` are fetched as concurrent ranges. */
  get(key: string, opts?: GetOptions): Promise<Uint8Array>;
  /** Exactly `length` bytes at `offset`, in one request; {@link InvalidRangeError} if the range passes the end. */
  getRange(key: string, offset: number, length: number, opts?: GetRangeOptions): Promise<Uint8Array>;
  /** The object's bytes in order with bounded memory. Leaving the loop early aborts what is in flight. */
  getStream(key: string, opts?: GetOptions): AsyncIterable<Uint8Array>;
  put(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: PutOptions): Promise<ObjectMeta>;
  list(prefix?: string, opts?: ListOptions): AsyncIterable<ObjectMeta>;
  /** Idempotent: deleting a missing key succeeds. */
  delete(key: string): Promise<void>;
  /** Deletes every object under `prefix`; returns how many. */
  deletePrefix(prefix: string, opts?: DeletePrefixOptions): Promise<number>;
  exists(key: string): Promise<boolean>;
  close(): Promise<void>;
  /**
   * Optional: copies `srcKey` to `dstKey` inside this store without moving the bytes through this process (S3
   * CopyObject, a local file copy). Present only when the backend can; otherwise read and `put`. {@link NotFoundError}
   * if `srcKey` is missing. Like `put`, the destination appears whole or not at all.
   */
  copy?(srcKey: string, dstKey: string, opts?: CopyOptions): Promise<ObjectMeta>;
  /**
   * Optional: hands every range of the object to `sink` once, unordered, pinned to one version of the object.
   * Stores made with `createObjectStore` have it; `downloadFile` uses it when present.
   */
  readTo?(key: string, sink: ObjectSink, opts?: Omit<GetOptions, "into">): Promise<ReadToResult>;
  /**
   * Optional: subscribes `listener` to every request the backend sends from now on (one event per request, once it
   * and its body are done: operation, key, endpoint, bytes, duration, outcome); returns the unsubscribe function.
   * Present when the backend reports its requests (`StoreDriver.requestEvents`), e.g. `@range/s3`, where it tells
   * which endpoint served each request of a store spread over several.
   */
  onRequest?(listener: RequestListener): () => void;
  /**
   * Optional: a view of this store that reports each of its `get`, `getRange`, `stat` and `put` to `observer`
   * synchronously, from inside the operation (see {@link OperationObserver}): a per-operation record (e.g.
   * `@range/oplog`) costs no extra promise or microtask. The view shares the store's driver and open/closed state;
   * operations on the store itself are not reported. Stores made with `createObjectStore` have it.
   */
  withOperationObserver?(observer: OperationObserver): ObjectStore;
}
