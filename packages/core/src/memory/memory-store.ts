import { sleep } from "../engine/backoff.js";
import type { RangeEngineOptions } from "../engine/options.js";
import { BackendError, IntegrityError, InvalidRangeError, NotFoundError, RangeConfigError, abortErrorFrom } from "../errors.js";
import type { BucketManager } from "../registry.js";
import { createObjectStore } from "../store/create-store.js";
import type { DriverCopyOptions, DriverHead, DriverListOptions, DriverReadOptions, StoreDriver } from "../store/driver.js";
import { assertValidPrefix, oneLevelEntry } from "../store/keys.js";
import type { ObjectMeta, ObjectStore } from "../store/types.js";

interface StoredObject {
  data: Uint8Array;
  etag: string;
  lastModified: Date;
  contentType: string | undefined;
}

/** The objects of one named memory bucket. `memory://name` URIs with the same name share one. */
export class MemoryBucket {
  readonly objects = new Map<string, StoredObject>();
  readonly created = new Date();
  #version = 0;

  nextEtag(size: number): string {
    return `"${(++this.#version).toString(16)}-${size.toString(16)}"`;
  }
}

const buckets = new Map<string, MemoryBucket>();

/**
 * Bucket management for `memory://`: a bucket exists once created here or once a store is opened on it (opening
 * makes it, as before this API existed).
 */
export const memoryBucketManager: BucketManager = {
  async *list(_options, call) {
    for (const [name, bucket] of [...buckets].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      call.signal?.throwIfAborted();
      yield { name, created: bucket.created };
    }
  },
  async create(name) {
    if (buckets.has(name)) throw new BackendError(`memory bucket ${JSON.stringify(name)} already exists`, { code: "E_BUCKET_EXISTS" });
    memoryBucket(name);
  },
  async delete(name) {
    const bucket = buckets.get(name);
    if (!bucket) throw new NotFoundError(`no memory bucket ${JSON.stringify(name)}`, { code: "E_NO_SUCH_BUCKET" });
    if (bucket.objects.size > 0) {
      throw new BackendError(`memory bucket ${JSON.stringify(name)} is not empty (${bucket.objects.size} objects)`, { code: "E_BUCKET_NOT_EMPTY" });
    }
    buckets.delete(name);
  },
};

/** The shared bucket behind `memory://<name>` in this process. */
export function memoryBucket(name: string): MemoryBucket {
  let bucket = buckets.get(name);
  if (!bucket) {
    bucket = new MemoryBucket();
    buckets.set(name, bucket);
  }
  return bucket;
}

export interface MemoryStoreOptions {
  /** Objects live here; default: a fresh private bucket. */
  bucket?: MemoryBucket;
  /** Keys are stored under this prefix (e.g. "datasets/"). */
  prefix?: string;
  /**
   * Added to every read and stat, as if over a network (abortable). For tests and benchmarks that need requests
   * that take time: 0 by default.
   */
  latencyMs?: number;
  engine?: RangeEngineOptions;
}

/** Counts reads in flight, so tests can prove an abort left nothing running. */
export interface MemoryStoreProbe {
  /** Reads started and not yet finished. */
  readonly activeReads: number;
  /** Every read request served (stat excluded). */
  readonly readRequests: number;
  /** Every stat request served. */
  readonly statRequests: number;
}

class MemoryDriver implements StoreDriver, MemoryStoreProbe {
  readonly scheme = "memory";
  activeReads = 0;
  readRequests = 0;
  statRequests = 0;

  constructor(
    private readonly bucket: MemoryBucket,
    private readonly prefix: string,
    private readonly latencyMs: number,
  ) {}

  #lookup(key: string): StoredObject {
    const object = this.bucket.objects.get(this.prefix + key);
    if (!object) throw new NotFoundError(`memory object ${JSON.stringify(key)} not found`, { key });
    return object;
  }

  #meta(key: string, object: StoredObject): ObjectMeta {
    return { key, size: object.data.length, etag: object.etag, lastModified: object.lastModified };
  }

  async #delay(signal: AbortSignal | undefined): Promise<void> {
    if (this.latencyMs > 0) await sleep(this.latencyMs, signal);
    else if (signal?.aborted) throw abortErrorFrom(signal);
  }

  async stat(key: string, opts: { signal?: AbortSignal }): Promise<ObjectMeta> {
    this.statRequests++;
    await this.#delay(opts.signal);
    return this.#meta(key, this.#lookup(key));
  }

  async read(key: string, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    this.readRequests++;
    this.activeReads++;
    try {
      await this.#delay(opts.signal);
      const object = this.#lookup(key);
      if (opts.etag !== undefined && opts.etag !== object.etag) {
        throw new IntegrityError(`memory object ${JSON.stringify(key)} changed during the read`, { code: "E_OBJECT_CHANGED" });
      }
      const size = object.data.length;
      if (offset + length > size) {
        throw new InvalidRangeError(`range [${offset}, ${offset + length}) is past the end of ${JSON.stringify(key)} (${size} bytes)`);
      }
      const source = object.data.subarray(offset, offset + length);
      // Always a copy: the caller owns what it gets, and must not be able to change the stored object.
      const out = opts.target ?? new Uint8Array(length);
      out.set(source);
      return out;
    } finally {
      this.activeReads--;
    }
  }

  async readHead(key: string, length: number, opts: { signal?: AbortSignal }): Promise<DriverHead> {
    this.readRequests++;
    this.activeReads++;
    try {
      await this.#delay(opts.signal);
      const object = this.#lookup(key);
      // new Uint8Array(view) copies; `slice` would not when the stored bytes are a Buffer.
      return { data: new Uint8Array(object.data.subarray(0, Math.min(length, object.data.length))), meta: this.#meta(key, object) };
    } finally {
      this.activeReads--;
    }
  }

  async write(
    key: string,
    data: Uint8Array | AsyncIterable<Uint8Array>,
    opts: { signal?: AbortSignal; contentType?: string },
  ): Promise<ObjectMeta> {
    let bytes: Uint8Array;
    if (data instanceof Uint8Array) {
      bytes = new Uint8Array(data); // a copy even when `data` is a Buffer (whose slice() is a view)
    } else {
      const chunks: Uint8Array[] = [];
      for await (const chunk of data) {
        if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
        chunks.push(chunk);
      }
      bytes = Buffer.concat(chunks); // concat copies into fresh memory
    }
    // Nothing is visible until the whole object is in hand: an aborted put leaves the old object, or none.
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    const object: StoredObject = {
      data: bytes,
      etag: this.bucket.nextEtag(bytes.length),
      lastModified: new Date(),
      contentType: opts.contentType,
    };
    this.bucket.objects.set(this.prefix + key, object);
    return this.#meta(key, object);
  }

  async *list(prefix: string, opts: DriverListOptions): AsyncIterable<ObjectMeta> {
    const full = this.prefix + prefix;
    const keys = [...this.bucket.objects.keys()].filter((k) => k.startsWith(full)).sort();
    let lastPrefix: string | undefined;
    for (const fullKey of keys) {
      if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
      const object = this.bucket.objects.get(fullKey);
      if (!object) continue; // deleted while we were listing
      const key = fullKey.slice(this.prefix.length);
      if (opts.recursive) {
        yield this.#meta(key, object);
        continue;
      }
      const entry = oneLevelEntry(prefix, key);
      if (!entry.isPrefix) {
        yield this.#meta(key, object);
      } else if (entry.key !== lastPrefix) {
        lastPrefix = entry.key;
        yield { key: entry.key, size: 0, isPrefix: true };
      }
    }
  }

  async delete(key: string): Promise<void> {
    this.bucket.objects.delete(this.prefix + key);
  }

  /** The stored bytes are never changed in place, so the copy shares them: a new version with its own etag. */
  async copy(srcKey: string, dstKey: string, opts: DriverCopyOptions): Promise<ObjectMeta> {
    await this.#delay(opts.signal);
    const source = this.#lookup(srcKey);
    const object: StoredObject = { ...source, etag: this.bucket.nextEtag(source.data.length), lastModified: new Date() };
    this.bucket.objects.set(this.prefix + dstKey, object);
    return this.#meta(dstKey, object);
  }
}

export type MemoryStore = ObjectStore & { readonly probe: MemoryStoreProbe };

/** An in-process object store: the reference backend, used by tests and benchmarks. */
export function createMemoryStore(options: MemoryStoreOptions = {}): MemoryStore {
  const prefix = options.prefix ?? "";
  assertValidPrefix(prefix);
  if (prefix !== "" && !prefix.endsWith("/")) {
    throw new RangeConfigError(`memory store prefix must end with "/", got ${JSON.stringify(prefix)}`, { code: "E_INVALID_OPTION" });
  }
  const latencyMs = options.latencyMs ?? 0;
  if (!Number.isFinite(latencyMs) || latencyMs < 0) {
    throw new RangeConfigError(`latencyMs must be a finite number >= 0, got ${String(latencyMs)}`, { code: "E_INVALID_OPTION" });
  }
  const driver = new MemoryDriver(options.bucket ?? new MemoryBucket(), prefix, latencyMs);
  const store = createObjectStore(driver, options.engine ? { engine: options.engine } : {});
  return Object.assign(store, { probe: driver as MemoryStoreProbe });
}
