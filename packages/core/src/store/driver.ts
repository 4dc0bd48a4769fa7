import type { WholeObjectChecksum } from "../checksum/whole-object.js";
import type { RequestEvents } from "./request-events.js";
import type { ObjectMeta } from "./types.js";

export interface DriverReadOptions {
  signal?: AbortSignal;
  /**
   * The version being read, from `stat` or `readHead`. When set, a driver that can condition its request
   * (`If-Match`, a generation) must fail with `IntegrityError` (code `E_OBJECT_CHANGED`) if the object changed,
   * so one download never mixes bytes of two versions.
   */
  etag?: string;
  /**
   * The object's size when the read began (with `etag`). A driver that learns the total from the response (e.g.
   * `Content-Range`) should fail with `IntegrityError` when it differs, rather than let a read plan on a wrong size.
   */
  size?: number;
  /** A view of exactly `length` bytes where the result belongs; read into it and return it to avoid a copy. */
  target?: Uint8Array;
  /** Call as bytes arrive; keeps the engine's stall timer from firing on a slow but moving read. */
  progress?: () => void;
}

export interface DriverHead {
  /**
   * The first `min(length, size)` bytes of the object. A promise lets the driver resolve `readHead` as soon as the
   * response headers (and so the size) are known: the other ranges then start while this body still arrives.
   */
  data: Uint8Array | Promise<Uint8Array>;
  meta: ObjectMeta;
  /**
   * Optional: the whole object's stored digest (or a promise of it, from a request made alongside this one), when
   * `data` is only its start. Core checks every whole-object read against it: `get` hashes the assembled buffer,
   * `getStream` and `readTo` hash the bytes in order as they are produced; a mismatch fails the read with
   * {@link IntegrityError} `E_CHECKSUM` (and `readTo` through `downloadFile` leaves no file). A driver whose `data`
   * already is the whole object checks that itself.
   */
  checksum?: WholeObjectChecksum;
  /**
   * Optional whole-object check for what a digest cannot express. `get` calls it with the assembled object after the
   * engine fetched the rest; it throws {@link IntegrityError} on a mismatch. `getStream` and `readTo` cannot call it
   * (they never hold the whole object): prefer {@link DriverHead.checksum}.
   */
  verifyWhole?: (bytes: Uint8Array) => void | Promise<void>;
}

/**
 * One read of one object, opened once and shared by all the ranges of a `get` / `getStream` / `readTo`, then closed
 * (also on error and abort). For backends where opening costs something: a file handle, a session.
 */
export interface DriverReader {
  meta: ObjectMeta;
  /** A prefix of the object the open already read (e.g. the whole object when it was small), or undefined. */
  head?: Uint8Array;
  /** The whole object's stored digest, checked like {@link DriverHead.checksum}. */
  checksum?: WholeObjectChecksum;
  /** Same contract as {@link StoreDriver.read}, against the opened object. */
  read(offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array>;
  close(): Promise<void>;
}

export interface DriverOpenOptions {
  signal?: AbortSignal;
  /**
   * Objects smaller than this are read with a single request: a driver that can read them during the open should
   * return them as `head`.
   */
  headLength: number;
}

export interface DriverWriteOptions {
  signal?: AbortSignal;
  contentType?: string;
}

export interface DriverCopyOptions {
  signal?: AbortSignal;
}

export interface DriverDeleteOptions {
  signal?: AbortSignal;
}

export interface DriverListOptions {
  recursive: boolean;
  signal?: AbortSignal;
}

/**
 * What a backend implements: the storage primitives, mapped to its SDK and nothing more. `createObjectStore` turns
 * a driver into a full {@link ObjectStore}: key validation, the range engine, version pinning, streaming, exists,
 * deletePrefix and close are written once, in core.
 *
 * Keys and prefixes reaching a driver are already validated and relative to the store's root.
 */
export interface StoreDriver {
  readonly scheme: string;
  /** {@link NotFoundError} if missing. */
  stat(key: string, opts: { signal?: AbortSignal }): Promise<ObjectMeta>;
  /**
   * Exactly `length` (> 0) bytes at `offset`. {@link NotFoundError} if the object is missing,
   * {@link InvalidRangeError} if the range passes its end.
   */
  read(key: string, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array>;
  /**
   * Optional: the first `length` bytes and the object's metadata in ONE request (e.g. a ranged GET whose
   * `Content-Range` reveals the size). With it, a small object costs one request and a large one no `stat`.
   */
  readHead?(key: string, length: number, opts: { signal?: AbortSignal; progress?: () => void }): Promise<DriverHead>;
  /** Optional, preferred over `readHead`/`stat` for whole-object reads: see {@link DriverReader}. */
  openReader?(key: string, opts: DriverOpenOptions): Promise<DriverReader>;
  write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts: DriverWriteOptions): Promise<ObjectMeta>;
  /** Objects under `prefix`, lazily; one level with `isPrefix` entries when `recursive` is false. */
  list(prefix: string, opts: DriverListOptions): AsyncIterable<ObjectMeta>;
  /** Idempotent. `opts` is given by `deletePrefix` (a driver may ignore it). */
  delete(key: string, opts?: DriverDeleteOptions): Promise<void>;
  /**
   * Optional server-side copy within the store (S3 CopyObject, a local file copy): the store gets `copy` only when the
   * driver has it. Keys are validated and distinct. {@link NotFoundError} if `srcKey` is missing; the destination
   * must appear whole or not at all.
   */
  copy?(srcKey: string, dstKey: string, opts: DriverCopyOptions): Promise<ObjectMeta>;
  /**
   * Optional batch delete (e.g. S3 DeleteObjects); default: `delete` per key, a few at a time. `deletePrefix` calls
   * it with at most 1000 keys and checks the caller's signal between calls; a driver that sends several requests
   * for one call checks it between them too, and passes it to each.
   */
  deleteMany?(keys: string[], opts?: DriverDeleteOptions): Promise<void>;
  /**
   * Optional: where the driver reports each request it sends (operation, key, endpoint, bytes, duration, outcome);
   * the store then has `onRequest`. A driver that sends through an `EndpointPool` passes it to the pool, which
   * reports every lease. Check `requestEvents.listening` before building an event: it must cost nothing unheard.
   */
  readonly requestEvents?: RequestEvents;
  close?(): Promise<void>;
}
