import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { Bucket, File, Storage, StorageOptions } from "@google-cloud/storage";
import { allocateReadResult } from "@range/aligned-memory";
import {
  BackendError,
  IntegrityError,
  InvalidRangeError,
  RangeConfigError,
  abortErrorFrom,
  assertKnownOptions,
  assertOptionsObject,
  compareKeysUtf8,
  crc32c,
  crcToBase64,
  StallTimer,
  TimeoutError,
  checkContentRange,
  createObjectStore,
  integerOption,
  invalidOptionError,
  isRangeStoreError,
  normalizePrefix,
  resolveEngineOptions,
  verifyChecksum,
  type ExpectedChecksum,
  type DriverHead,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverWriteOptions,
  type ObjectMeta,
  type ObjectStore,
  type RangeEngineOptions,
  type StoreDriver,
  readBodyInto,
} from "@range/core";
import { crc32cFromHashHeader } from "./crc32c.js";
import { credentialsError, mapGcsError, type GcsErrorContext } from "./errors.js";
import { MediaClient, type MediaResponse } from "./media.js";

const MiB = 1024 * 1024;
type Sdk = typeof import("@google-cloud/storage");

/** A service account key (the JSON key file's fields), as `@google-cloud/storage` accepts it. */
export type GcsCredentials = NonNullable<StorageOptions["credentials"]>;

/** Connection settings, shared by stores and bucket management. */
export interface GcsConnectionOptions {
  /** Project for bucket listing and creation. Default: `GOOGLE_CLOUD_PROJECT`, `GCLOUD_PROJECT`, the credentials'. */
  projectId?: string;
  /**
   * API endpoint, e.g. `http://127.0.0.1:4443` for fake-gcs-server. Default: `STORAGE_EMULATOR_HOST` (a bare
   * `host:port` there means http), else Google Cloud Storage.
   */
  apiEndpoint?: string;
  /** A service account key. Default: Application Default Credentials (GOOGLE_APPLICATION_CREDENTIALS, gcloud, metadata server). */
  credentials?: GcsCredentials;
  /** Path of a service account key file. */
  keyFilename?: string;
  /** Authenticate requests to a custom `apiEndpoint` too. Default false: emulators take anonymous requests. */
  useAuthWithCustomEndpoint?: boolean;
  /** More `Storage` settings, applied last (e.g. `retryOptions`, `universeDomain`, `userAgent`). */
  storageOptions?: StorageOptions;
}

export interface GcsStoreOptions extends GcsConnectionOptions {
  /** The bucket. From the URI host with `openStore("gs://bucket/prefix")`. */
  bucket: string;
  /** Object name prefix the store is rooted at ("" = the whole bucket); a trailing "/" is added. */
  prefix?: string;
  /** Engine defaults for this store's reads. */
  engine?: RangeEngineOptions;
  /** `put` of this many bytes or more uses a resumable upload; smaller ones one multipart request. Default 8 MiB. */
  resumableThreshold?: number;
  /**
   * Resumable uploads send chunks of this size (a multiple of 256 KiB), each its own request that can be retried.
   * Default: none, the whole object in one streaming request (fewer round trips; the SDK resumes from the offset the
   * server reports after a failure).
   */
  resumableChunkSize?: number;
  /**
   * Check CRC32C: a read that covers the whole object against the checksum the server reports, and every upload
   * against the checksum the server computed (a small upload also sends it, so GCS itself refuses corrupted bytes).
   * Default true.
   */
  verifyChecksums?: boolean;
  /** Objects per listing page (`maxResults`), 1–1000. Default 1000. */
  listPageSize?: number;
  /** Sockets of the keep-alive agent reads use. Default 2 × engine.maxConcurrentRanges (at least 16). */
  maxSockets?: number;
  /**
   * Allocates the result of a `get` that goes through the engine. Default `allocateReadResult` of
   * `@range/aligned-memory`: from 2 MiB on, the memory of an earlier result the GC released (no first-touch page
   * faults), else fresh pages kept for the next result; below, `Buffer.allocUnsafeSlow`. Pass
   * `(size) => Buffer.allocUnsafeSlow(size)` for plain fresh memory.
   */
  allocate?: (size: number) => Uint8Array;
}

const CONNECTION_KEYS = ["projectId", "apiEndpoint", "credentials", "keyFilename", "useAuthWithCustomEndpoint", "storageOptions"];
const OPTION_KEYS = new Set([
  ...CONNECTION_KEYS,
  "bucket",
  "prefix",
  "engine",
  "resumableThreshold",
  "resumableChunkSize",
  "verifyChecksums",
  "listPageSize",
  "maxSockets",
  "allocate",
]);
/** Project id sent to an unauthenticated custom endpoint (an emulator) when none is configured: it ignores it. */
const EMULATOR_PROJECT = "range-emulator";
const UPLOAD_CHUNK_ALIGNMENT = 256 * 1024;

function envValue(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** `host:port` → `http://host:port`; drops a trailing `/` and a `/storage/v1` some setups put on the variable. */
function normalizeEndpoint(value: string, from: string, bareIsHttp: boolean): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? value : `${bareIsHttp ? "http" : "https"}://${value}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw invalidOptionError(`gs: ${from} ${JSON.stringify(value)} is not a URL (expected e.g. http://127.0.0.1:4443)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw invalidOptionError(`gs: ${from} must be http(s), got ${url.protocol}`);
  if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw invalidOptionError(`gs: ${from} takes no query, fragment or user info`);
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, "").replace(/\/storage\/v1$/, "")}`;
}

/** The validated connection settings. */
export interface ResolvedGcsConnection {
  /** A custom endpoint (emulator, private endpoint), or undefined for Google Cloud Storage. */
  apiEndpoint: string | undefined;
  projectId: string | undefined;
  /** False for an unauthenticated custom endpoint: no credentials are loaded at all. */
  authenticate: boolean;
}

export function resolveGcsConnection(options: GcsConnectionOptions): ResolvedGcsConnection {
  const apiEndpoint =
    options.apiEndpoint !== undefined
      ? normalizeEndpoint(checkString("apiEndpoint", options.apiEndpoint), "apiEndpoint", false)
      : envValue("STORAGE_EMULATOR_HOST") !== undefined
        ? normalizeEndpoint(envValue("STORAGE_EMULATOR_HOST")!, "STORAGE_EMULATOR_HOST", true)
        : undefined;
  if (options.useAuthWithCustomEndpoint !== undefined && typeof options.useAuthWithCustomEndpoint !== "boolean") {
    throw invalidOptionError("gs: useAuthWithCustomEndpoint must be a boolean");
  }
  if (options.credentials !== undefined && (typeof options.credentials !== "object" || options.credentials === null)) {
    throw invalidOptionError("gs: credentials must be a service account key object ({ client_email, private_key, ... })");
  }
  if (options.keyFilename !== undefined) checkString("keyFilename", options.keyFilename);
  if (options.storageOptions !== undefined && (typeof options.storageOptions !== "object" || options.storageOptions === null)) {
    throw invalidOptionError("gs: storageOptions must be an object");
  }
  const authenticate = apiEndpoint === undefined || options.useAuthWithCustomEndpoint === true;
  const projectId =
    (options.projectId !== undefined ? checkString("projectId", options.projectId) : undefined) ??
    envValue("GOOGLE_CLOUD_PROJECT") ??
    envValue("GCLOUD_PROJECT") ??
    (authenticate ? undefined : EMULATOR_PROJECT);
  return { apiEndpoint, projectId, authenticate };
}

function checkString(name: string, value: unknown): string {
  if (typeof value !== "string" || value.trim() === "") throw invalidOptionError(`gs: ${name} must be a non-empty string`);
  return value;
}

/** The validated configuration of one store. */
export interface ResolvedGcsOptions extends ResolvedGcsConnection {
  bucket: string;
  /** "" or ends with "/". */
  prefix: string;
  resumableThreshold: number;
  resumableChunkSize: number | undefined;
  verifyChecksums: boolean;
  listPageSize: number;
  maxSockets: number;
  /**
   * `engine.rangeTimeoutMs`: a metadata call, listing page or delete that has not answered by then, or an upload that
   * sent nothing for that long, fails with `TimeoutError` instead of hanging (Infinity = never).
   */
  requestTimeoutMs: number;
}

/** Validates options and resolves settings from the environment; throws {@link RangeConfigError} before any I/O. */
export function resolveGcsOptions(options: GcsStoreOptions): ResolvedGcsOptions {
  assertOptionsObject(options, "gs");
  assertKnownOptions(options, OPTION_KEYS, "gs");
  const { bucket } = options;
  // GCS bucket names: 3-63 characters (up to 222 with dots), lowercase letters, digits, "-", "_", ".".
  if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9._-]{1,220}[a-z0-9]$/.test(bucket)) {
    throw invalidOptionError(`gs: bucket must be a valid bucket name (lowercase letters, digits, "-", "_", "."), got ${JSON.stringify(bucket)}`);
  }
  const prefix = normalizePrefix(options.prefix, "gs");
  const connection = resolveGcsConnection(options);
  const engine = resolveEngineOptions(options.engine);
  const resumableChunkSize =
    options.resumableChunkSize === undefined ? undefined : integerOption("gs", "resumableChunkSize", options.resumableChunkSize, UPLOAD_CHUNK_ALIGNMENT, 5 * 1024 * MiB);
  if (resumableChunkSize !== undefined && resumableChunkSize % UPLOAD_CHUNK_ALIGNMENT !== 0) {
    throw invalidOptionError(`gs: resumableChunkSize must be a multiple of 256 KiB (GCS's rule), got ${resumableChunkSize}`);
  }
  if (options.verifyChecksums !== undefined && typeof options.verifyChecksums !== "boolean") throw invalidOptionError("gs: verifyChecksums must be a boolean");
  return {
    ...connection,
    bucket,
    prefix,
    resumableThreshold: integerOption("gs", "resumableThreshold", options.resumableThreshold ?? 8 * MiB, 1, Number.MAX_SAFE_INTEGER),
    resumableChunkSize,
    verifyChecksums: options.verifyChecksums ?? true,
    listPageSize: integerOption("gs", "listPageSize", options.listPageSize ?? 1000, 1, 1000),
    // Every range of a get holds a socket; with fewer sockets than ranges, ranges queue inside the agent while their
    // stall timers run. Twice the concurrency leaves room for a second read at the same time.
    maxSockets: integerOption("gs", "maxSockets", options.maxSockets ?? Math.max(16, 2 * engine.maxConcurrentRanges), 1, 65_536),
    requestTimeoutMs: engine.rangeTimeoutMs,
  };
}

/** `bytes a-b/total` → total; undefined when absent or `*`. */
export function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const match = contentRange === undefined ? null : /\/(\d+)\s*$/.exec(contentRange);
  return match ? Number(match[1]) : undefined;
}

function header(headers: MediaResponse["headers"], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The response's Content-Length, undefined when absent or not a number (chunked). */
function contentLengthOf(headers: MediaResponse["headers"]): number | undefined {
  const value = Number(header(headers, "content-length") ?? Number.NaN);
  return Number.isSafeInteger(value) ? value : undefined;
}

interface Loaded {
  sdk: Sdk;
  storage: Storage;
  bucket: Bucket;
  media: MediaClient;
}

/** Creates the SDK client for `connection`, working around the SDK's handling of STORAGE_EMULATOR_HOST. */
export function createStorageClient(sdk: Sdk, connection: ResolvedGcsConnection, options: GcsConnectionOptions): Storage {
  const storage = new sdk.Storage({
    ...(connection.projectId !== undefined ? { projectId: connection.projectId } : {}),
    ...(connection.apiEndpoint !== undefined ? { apiEndpoint: connection.apiEndpoint } : {}),
    ...(options.credentials !== undefined ? { credentials: options.credentials } : {}),
    ...(options.keyFilename !== undefined ? { keyFilename: options.keyFilename } : {}),
    ...(connection.apiEndpoint !== undefined && connection.authenticate ? { useAuthWithCustomEndpoint: true } : {}),
    ...(options.storageOptions ?? {}),
  });
  // With STORAGE_EMULATOR_HOST set, the Node SDK uses the variable verbatim as the JSON API base URL (no
  // /storage/v1), while uploads and downloads add the path themselves: no value works for both
  // (googleapis/nodejs-storage#1314). Pin the base URL to the endpoint we resolved.
  if (connection.apiEndpoint !== undefined) (storage as unknown as { baseUrl: string }).baseUrl = `${storage.apiEndpoint}/storage/v1`;
  return storage;
}

/** Request headers from the SDK's auth client (`Authorization: Bearer ...`), as a plain object. */
async function authHeaders(storage: Storage, url: string): Promise<Record<string, string>> {
  const headers = (await storage.authClient.getRequestHeaders(url)) as unknown;
  const out: Record<string, string> = {};
  if (headers && typeof (headers as Headers).forEach === "function") (headers as Headers).forEach((value, name) => (out[name] = value));
  else Object.assign(out, headers as Record<string, string>);
  return out;
}

/**
 * The `gs://` driver: storage primitives over `@google-cloud/storage` (imported on first use) for metadata, listing,
 * uploads and deletes, and Node's HTTP client for the media GETs of reads (see {@link MediaClient}). Object versions
 * are GCS generations: `ObjectMeta.etag` is the generation, and every range of one read is pinned to it.
 */
export class GcsDriver implements StoreDriver {
  readonly scheme = "gs";
  readonly options: ResolvedGcsOptions;
  readonly #connection: GcsConnectionOptions;
  #loaded: Promise<Loaded> | undefined;
  #closed = false;

  constructor(options: GcsStoreOptions) {
    this.options = resolveGcsOptions(options);
    this.#connection = options;
  }

  /** The SDK client this store uses (created on first call). */
  async storage(): Promise<Storage> {
    return (await this.#load()).storage;
  }

  /** Media (read) requests whose body is still open; 0 once every read has settled. */
  get inFlight(): number {
    return this.#loadedMedia?.inFlight ?? 0;
  }

  #loadedMedia: MediaClient | undefined;

  #load(): Promise<Loaded> {
    this.#loaded ??= (async () => {
      let sdk: Sdk;
      try {
        sdk = await import("@google-cloud/storage");
      } catch (error) {
        this.#loaded = undefined;
        throw new RangeConfigError(`@range/gcs needs @google-cloud/storage: install it with \`pnpm add @google-cloud/storage\` (${(error as Error).message})`, {
          code: "E_BACKEND_LOAD",
          cause: error,
        });
      }
      const o = this.options;
      const storage = createStorageClient(sdk, o, this.#connection);
      // Load (and use) the credentials once up front: a missing or broken key then fails every operation with the
      // same RangeConfigError, rather than as whatever error the SDK's request path makes of it.
      if (o.authenticate) {
        try {
          await this.#authHeaders(storage, storage.apiEndpoint);
        } catch (error) {
          this.#loaded = undefined;
          throw error;
        }
      }
      const media = new MediaClient(storage.apiEndpoint, o.maxSockets, o.authenticate ? (url) => this.#authHeaders(storage, url) : async () => ({}));
      this.#loadedMedia = media;
      return { sdk, storage, bucket: storage.bucket(o.bucket), media };
    })();
    return this.#loaded;
  }

  /** Auth headers; a token endpoint that is down or throttling is retryable, anything else is the credentials. */
  async #authHeaders(storage: Storage, url: string): Promise<Record<string, string>> {
    try {
      return await authHeaders(storage, url);
    } catch (error) {
      const mapped = mapGcsError(error, { operation: "authenticate", bucket: this.options.bucket });
      if (BackendError.isInstance(mapped) && mapped.retryable) throw mapped;
      throw isRangeStoreError(error) ? error : credentialsError(error, { bucket: this.options.bucket });
    }
  }

  #fullKey(key: string): string {
    return this.options.prefix + key;
  }

  #context(operation: string, key: string | undefined, signal?: AbortSignal, generation?: string): GcsErrorContext {
    return {
      operation,
      bucket: this.options.bucket,
      ...(key !== undefined ? { key: this.#fullKey(key), relativeKey: key } : {}),
      ...(signal ? { signal } : {}),
      ...(generation !== undefined ? { generation } : {}),
    };
  }

  /** Runs an SDK call, mapping its errors; rejects at once when `signal` aborts (the SDK call is left to finish). */
  async #call<T>(operation: string, key: string | undefined, signal: AbortSignal | undefined, run: (loaded: Loaded) => Promise<T>): Promise<T> {
    const loaded = await this.#load();
    if (signal?.aborted) throw abortErrorFrom(signal);
    const { requestTimeoutMs } = this.options;
    try {
      if (!signal && !Number.isFinite(requestTimeoutMs)) return await run(loaded);
      let onAbort: (() => void) | undefined;
      let timer: NodeJS.Timeout | undefined;
      // The SDK's calls take no signal and have no inactivity timeout: a server that stops answering would hang them.
      // The request may go on in the background; the caller gets its answer (an abort, a TimeoutError) now.
      const stopped = new Promise<never>((_, reject) => {
        if (signal) {
          onAbort = () => reject(abortErrorFrom(signal));
          signal.addEventListener("abort", onAbort, { once: true });
        }
        if (Number.isFinite(requestTimeoutMs)) {
          timer = setTimeout(() => reject(new TimeoutError(`${operation} ${this.#where(key)}: no answer within ${requestTimeoutMs} ms`)), requestTimeoutMs);
        }
      });
      try {
        return await Promise.race([run(loaded), stopped]);
      } finally {
        if (onAbort) signal!.removeEventListener("abort", onAbort);
        clearTimeout(timer);
      }
    } catch (error) {
      throw mapGcsError(error, this.#context(operation, key, signal));
    }
  }

  #where(key: string | undefined): string {
    return key === undefined ? `gs://${this.options.bucket}` : `gs://${this.options.bucket}/${this.#fullKey(key)}`;
  }

  #metaOf(key: string, metadata: { size?: string | number; generation?: string | number; updated?: string }): ObjectMeta {
    const size = Number(metadata.size ?? 0);
    return {
      key,
      size,
      ...(metadata.generation !== undefined ? { etag: String(metadata.generation) } : {}),
      ...(metadata.updated ? { lastModified: new Date(metadata.updated) } : {}),
    };
  }

  async stat(key: string, opts: { signal?: AbortSignal }): Promise<ObjectMeta> {
    const [metadata] = await this.#call("objects.get", key, opts.signal, ({ bucket }) => bucket.file(this.#fullKey(key)).getMetadata());
    return this.#metaOf(key, metadata);
  }

  async #media(key: string, range: { offset: number; length: number } | undefined, generation: string | undefined, signal: AbortSignal | undefined): Promise<MediaResponse> {
    const { media } = await this.#load();
    try {
      return await media.get(this.options.bucket, this.#fullKey(key), { ...(range ?? {}), ...(generation !== undefined ? { generation } : {}), signal });
    } catch (error) {
      throw mapGcsError(error, this.#context("GET media", key, signal, generation));
    }
  }

  async #readInto(response: MediaResponse, out: Uint8Array, key: string, opts: { signal?: AbortSignal | undefined; progress?: (() => void) | undefined; allowMore?: boolean }): Promise<number> {
    try {
      return await readBodyInto(response.body, out, opts);
    } catch (error) {
      throw mapGcsError(error, this.#context("GET media (body)", key, opts.signal));
    }
  }

  /** The whole-object check for a response's `x-goog-hash`, or undefined when off or the server sent no CRC32C. */
  #checker(response: MediaResponse, key: string): ((bytes: Uint8Array) => Promise<void>) | undefined {
    const expected = this.#expected(response, key);
    if (expected === undefined) return undefined;
    return async (bytes) => verifyChecksum("crc32c", bytes, expected.value, expected.what);
  }

  /** The whole object's CRC32C from a response's `x-goog-hash`, for core's check of get / getStream / readTo. */
  #expected(response: MediaResponse, key: string): ExpectedChecksum | undefined {
    if (!this.options.verifyChecksums) return undefined;
    const value = crc32cFromHashHeader(response.headers["x-goog-hash"]);
    if (value === undefined) return undefined;
    return { algorithm: "crc32c", value, what: `gs://${this.options.bucket}/${this.#fullKey(key)}` };
  }

  /**
   * ONE media GET for the first `length` bytes: `Content-Range` gives the total size, `x-goog-generation` the version
   * and `x-goog-hash` the whole object's CRC32C, so an object below the split threshold costs one request and a large
   * one no metadata call. Resolves on the response headers, with the body still streaming into `data`.
   */
  async readHead(key: string, length: number, opts: { signal?: AbortSignal; progress?: () => void }): Promise<DriverHead> {
    // engine: false asks for "everything": a plain GET then.
    const everything = length >= Number.MAX_SAFE_INTEGER;
    let response: MediaResponse;
    try {
      response = await this.#media(key, everything ? undefined : { offset: 0, length }, undefined, opts.signal);
    } catch (error) {
      // A Range on a 0-byte object is unsatisfiable (416): the object exists and is empty.
      if (!InvalidRangeError.isInstance(error)) throw error;
      const meta = await this.stat(key, opts);
      if (meta.size !== 0) throw error;
      return { data: new Uint8Array(0), meta };
    }
    const { headers, status } = response;
    const contentRange = header(headers, "content-range");
    let total: number | undefined;
    try {
      // A Content-Range that does not fit the request (another range, a total it contradicts) fails here, retryably.
      total =
        contentRange !== undefined
          ? checkContentRange(contentRange, contentLengthOf(headers), { offset: 0, length, exact: false, what: `GET ${JSON.stringify(key)}` })
          : status === 200
            ? Number(header(headers, "content-length") ?? Number.NaN)
            : undefined;
    } catch (error) {
      response.body.destroy();
      throw error;
    }
    if (total === undefined || !Number.isSafeInteger(total)) {
      response.body.destroy();
      throw new BackendError(`GET gs://${this.options.bucket}/${this.#fullKey(key)}: response has neither Content-Range nor Content-Length`, {
        code: "E_GCS",
        retryable: true,
      });
    }
    const generation = header(headers, "x-goog-generation");
    const lastModified = header(headers, "last-modified");
    const meta: ObjectMeta = {
      key,
      size: total,
      ...(generation ? { etag: generation } : {}),
      ...(lastModified ? { lastModified: new Date(lastModified) } : {}),
    };
    const want = Math.min(length, total);
    const check = this.#checker(response, key);
    // Resolve on the headers: the size is known, so core starts the other ranges while this body still arrives.
    const data = (async () => {
      const buffer = Buffer.allocUnsafeSlow(want);
      const got = await this.#readInto(response, buffer, key, { signal: opts.signal, progress: opts.progress, allowMore: true });
      if (got !== want) {
        throw new IntegrityError(`GET returned ${got} bytes for the first ${want} of ${JSON.stringify(key)}`, { code: "E_LENGTH_MISMATCH", retryable: true });
      }
      // This request read the whole object: check it here, whichever way core hands it on (get, stream, readTo).
      if (want === total) await check?.(buffer);
      return buffer;
    })();
    // A larger object is checked by core as its bytes arrive, whichever way it is read (get, getStream, readTo).
    const expected = want < total ? this.#expected(response, key) : undefined;
    return { data, meta, ...(expected ? { checksum: expected } : {}) };
  }

  /**
   * A ranged media GET pinned to generation `etag` (its bytes or an `E_OBJECT_CHANGED` IntegrityError: never another
   * version's), read straight into `target` when given.
   */
  async read(key: string, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    const response = await this.#media(key, { offset, length }, opts.etag, opts.signal);
    const { headers, status } = response;
    try {
      const generation = header(headers, "x-goog-generation");
      // Belt and braces for servers that ignore the generation parameter.
      if (opts.etag !== undefined && generation !== undefined && generation !== opts.etag) {
        throw new IntegrityError(`gs://${this.options.bucket}/${this.#fullKey(key)} changed during the read (generation ${generation}, expected ${opts.etag})`, {
          code: "E_OBJECT_CHANGED",
        });
      }
      const contentRange = header(headers, "content-range");
      const total = totalFromContentRange(contentRange);
      if (total !== undefined && offset + length > total) {
        throw new InvalidRangeError(`range [${offset}, ${offset + length}) passes the end of ${JSON.stringify(key)} (${total} bytes)`);
      }
      // The answer must be exactly the bytes asked for, of an object of the size the read began with: a shifted or
      // cut range would otherwise land in the result as wrong bytes.
      if (contentRange !== undefined) {
        checkContentRange(contentRange, contentLengthOf(headers), {
          offset,
          length,
          exact: true,
          ...(opts.size !== undefined ? { size: opts.size } : {}),
          what: `GET ${JSON.stringify(key)}`,
        });
      }
      // 200 to a ranged GET: the server sent the whole object from byte 0.
      const ignoredRange = status === 200;
      if (ignoredRange && offset !== 0) {
        throw new BackendError(`the server ignored the Range header of GET ${JSON.stringify(key)}`, { code: "E_GCS", retryable: false });
      }
      const target = opts.target ?? Buffer.allocUnsafeSlow(length);
      const got = await this.#readInto(response, target, key, { signal: opts.signal, progress: opts.progress, allowMore: ignoredRange });
      if (got !== length) {
        throw ignoredRange && got < length
          ? new InvalidRangeError(`range [${offset}, ${offset + length}) passes the end of ${JSON.stringify(key)} (${got} bytes)`)
          : new IntegrityError(`GET returned ${got} bytes for a range of ${length}`, { code: "E_LENGTH_MISMATCH", retryable: true });
      }
      const wholeObject = offset === 0 && (total ?? Number(header(headers, "content-length"))) === length;
      if (wholeObject) await this.#checker(response, key)?.(target);
      return target;
    } catch (error) {
      response.body.destroy();
      throw error;
    }
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts: DriverWriteOptions): Promise<ObjectMeta> {
    const { resumableThreshold } = this.options;
    if (data instanceof Uint8Array) {
      return data.length < resumableThreshold ? this.#simpleUpload(key, data, opts) : this.#resumableUpload(key, oneChunk(data), data.length, opts);
    }
    // Buffer up to the threshold: a stream that ends before it is one simple upload.
    const iterator = data[Symbol.asyncIterator]();
    const head: Uint8Array[] = [];
    let buffered = 0;
    let ended = false;
    try {
      while (buffered < resumableThreshold) {
        const next = await iterator.next();
        if (next.done) {
          ended = true;
          break;
        }
        head.push(next.value);
        buffered += next.value.length;
      }
    } catch (error) {
      await iterator.return?.();
      throw error;
    }
    if (ended) return this.#simpleUpload(key, head.length === 1 ? head[0]! : Buffer.concat(head, buffered), opts);
    async function* rest(): AsyncIterable<Uint8Array> {
      let done = false;
      try {
        yield* head;
        for (;;) {
          const next = await iterator.next();
          if (next.done) {
            done = true;
            return;
          }
          yield next.value;
        }
      } finally {
        // The upload stopped early (failure, abort): tell the caller's source to stop too.
        if (!done) await iterator.return?.();
      }
    }
    return this.#resumableUpload(key, rest(), undefined, opts);
  }

  /** One multipart request; with checksums on it carries the CRC32C, so GCS itself refuses corrupted bytes. */
  async #simpleUpload(key: string, body: Uint8Array, opts: DriverWriteOptions): Promise<ObjectMeta> {
    const crc = this.options.verifyChecksums ? crcToBase64(crc32c(body)) : undefined;
    return this.#upload(key, oneChunk(body), opts, { resumable: false, ...(crc !== undefined ? { crc32c: crc } : {}) });
  }

  /** A resumable upload session: nothing becomes visible until its last byte is stored. */
  #resumableUpload(key: string, chunks: AsyncIterable<Uint8Array>, size: number | undefined, opts: DriverWriteOptions): Promise<ObjectMeta> {
    return this.#upload(key, chunks, opts, { resumable: true, ...(size !== undefined ? { size } : {}) });
  }

  /**
   * Pipes `chunks` into `file.createWriteStream`. A failure or abort destroys the pipeline, which aborts the upload
   * request before its last byte: a simple upload is one request (all or nothing), and a resumable session is only
   * finalized by its last byte, so no object appears; the abandoned session is cancelled with a DELETE.
   */
  async #upload(
    key: string,
    chunks: AsyncIterable<Uint8Array>,
    opts: DriverWriteOptions,
    mode: { resumable: boolean; crc32c?: string; size?: number },
  ): Promise<ObjectMeta> {
    const loaded = await this.#load();
    if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
    const file = loaded.bucket.file(this.#fullKey(key));
    const update = this.options.verifyChecksums ? crc32c : undefined;
    let crc = 0;
    let size = 0;
    // Set below; the upload's stall timer, touched whenever the stream takes more bytes (it only does as they leave).
    let touch = () => {};
    async function* counted(): AsyncIterable<Uint8Array> {
      for await (const chunk of chunks) {
        touch();
        if (update) crc = update(chunk, crc);
        size += chunk.length;
        // Node streams treat a Uint8Array chunk as binary; a Buffer view avoids a copy.
        yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
    }
    const stream = file.createWriteStream({
      resumable: mode.resumable,
      // We check CRC32C ourselves, natively; the SDK's JavaScript CRC32C runs at ~50-200 MB/s.
      validation: false,
      ...(mode.resumable && this.options.resumableChunkSize !== undefined ? { chunkSize: this.options.resumableChunkSize } : {}),
      metadata: {
        ...(opts.contentType !== undefined ? { contentType: opts.contentType } : {}),
        ...(mode.crc32c !== undefined ? { crc32c: mode.crc32c } : {}),
        ...(mode.size !== undefined ? { contentLength: mode.size } : {}),
      },
    });
    let sessionUri: string | undefined;
    stream.on("uri", (uri: string) => (sessionUri = uri));
    // An upload that sends nothing for requestTimeoutMs (a server that stopped reading) is stopped like an abort.
    const operation = mode.resumable ? "resumable upload" : "upload";
    const stall = new StallTimer(this.options.requestTimeoutMs, () =>
      stream.destroy(new TimeoutError(`${operation} ${this.#where(key)}: no progress for ${this.options.requestTimeoutMs} ms`)),
    );
    touch = () => stall.touch();
    stream.on("progress", touch);
    try {
      await pipeline(Readable.from(counted(), { objectMode: false }), stream, ...(opts.signal ? [{ signal: opts.signal }] : []));
    } catch (error) {
      if (sessionUri !== undefined) await this.#cancelSession(loaded, sessionUri);
      if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
      if (TimeoutError.isInstance(error)) throw error;
      throw mapGcsError(error, this.#context(operation, key, opts.signal));
    } finally {
      stall.stop();
    }
    const metadata = file.metadata as { size?: string; generation?: string; updated?: string; crc32c?: string };
    if (update && metadata.crc32c !== undefined && metadata.crc32c !== crcToBase64(crc)) {
      // The server stored other bytes than we sent: take that version away again, then fail.
      await file.delete({ ifGenerationMatch: Number(metadata.generation) }).catch(() => {});
      throw new IntegrityError(
        `upload of gs://${this.options.bucket}/${this.#fullKey(key)}: the server computed CRC32C ${metadata.crc32c}, the ${size} bytes sent have ${crcToBase64(crc)}`,
        { code: "E_CHECKSUM", retryable: true },
      );
    }
    return this.#metaOf(key, { size: metadata.size ?? size, ...(metadata.generation !== undefined ? { generation: metadata.generation } : {}), ...(metadata.updated ? { updated: metadata.updated } : {}) });
  }

  /** DELETE on a resumable session URI cancels it (GCS answers 499). Best effort, with its own deadline. */
  async #cancelSession(loaded: Loaded, uri: string): Promise<void> {
    try {
      const headers = this.options.authenticate ? await authHeaders(loaded.storage, uri) : {};
      const response = await fetch(uri, { method: "DELETE", headers, signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
    } catch {
      // The session expires on its own (GCS keeps unfinished sessions a week); the upload's error matters more.
    }
  }

  /**
   * objects.list, one page (`maxResults` = listPageSize) at a time as the caller iterates; one level with
   * `delimiter: "/"`. Sub-prefixes are merged into the objects in name order, each once (fake-gcs-server repeats
   * every prefix on every page).
   */
  async *list(prefix: string, opts: DriverListOptions): AsyncIterable<ObjectMeta> {
    const root = this.options.prefix;
    const seenPrefixes = new Set<string>();
    let pending: string[] = [];
    let pageToken: string | undefined;
    do {
      const query = {
        prefix: root + prefix,
        autoPaginate: false,
        maxResults: this.options.listPageSize,
        ...(opts.recursive ? {} : { delimiter: "/" }),
        ...(pageToken !== undefined ? { pageToken } : {}),
      };
      const [files, next, response] = (await this.#call("objects.list", undefined, opts.signal, ({ bucket }) => bucket.getFiles(query))) as [
        File[],
        { pageToken?: string } | null,
        { prefixes?: string[] } | undefined,
      ];
      pageToken = next?.pageToken || undefined;
      const entries: ObjectMeta[] = [];
      for (const file of files) {
        const key = file.name.slice(root.length);
        // Skip "directory marker" objects (names ending in "/"): they are not valid object keys.
        if (!file.name.startsWith(root) || key === "" || key.endsWith("/")) continue;
        entries.push(this.#metaOf(key, file.metadata as { size?: string; generation?: string; updated?: string }));
      }
      for (const name of response?.prefixes ?? []) {
        if (!name.startsWith(root) || seenPrefixes.has(name)) continue;
        seenPrefixes.add(name);
        pending.push(name.slice(root.length));
      }
      // A prefix sorting after this page's last object may belong to a later page: keep it until then.
      const last = entries.at(-1)?.key;
      const now = pageToken === undefined ? pending : last === undefined ? [] : pending.filter((p) => compareKeysUtf8(p, last) < 0);
      if (now.length > 0) {
        const taken = new Set(now);
        pending = pending.filter((p) => !taken.has(p));
        for (const key of now) entries.push({ key, size: 0, isPrefix: true });
        entries.sort((a, b) => compareKeysUtf8(a.key, b.key));
      }
      yield* entries;
    } while (pageToken !== undefined);
  }

  /** `deletePrefix` passes its signal: an abort rejects at once (a delete already sent is left to finish). */
  async delete(key: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    await this.#call("objects.delete", key, opts.signal, ({ bucket }) => bucket.file(this.#fullKey(key)).delete({ ignoreNotFound: true }));
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#loadedMedia?.close();
  }
}

async function* oneChunk(bytes: Uint8Array): AsyncIterable<Uint8Array> {
  yield bytes;
}

/** An {@link ObjectStore} on a Google Cloud Storage bucket (or fake-gcs-server). */
export function createGcsStore(options: GcsStoreOptions): ObjectStore {
  const driver = new GcsDriver(options);
  if (options.allocate !== undefined && typeof options.allocate !== "function") throw invalidOptionError("gs: allocate must be a function");
  return createObjectStore(driver, {
    ...(options.engine ? { engine: options.engine } : {}),
    allocate: options.allocate ?? allocateReadResult,
  });
}
