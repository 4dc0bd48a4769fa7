import { createHash, type Hash } from "node:crypto";
import type { Agent as HttpAgent } from "node:http";
import type { Agent as HttpsAgent } from "node:https";
import type { BlobDownloadResponseParsed, BlobServiceClient, BlockBlobClient, ContainerClient, StoragePipelineOptions } from "@azure/storage-blob";
import { allocateReadResult } from "@range/aligned-memory";
import {
  BackendError,
  IntegrityError,
  InvalidRangeError,
  NotFoundError,
  PartReader,
  RangeConfigError,
  abortErrorFrom,
  assertKnownOptions,
  assertOptionsObject,
  checkContentRange,
  compareKeysUtf8,
  createObjectStore,
  integerOption,
  invalidOptionError,
  normalizePrefix,
  resolveEngineOptions,
  type DriverHead,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverWriteOptions,
  type ObjectMeta,
  type ObjectStore,
  type RangeEngineOptions,
  type StoreDriver,
  readBodyInto,
  verifyChecksum,
  type BodyStream,
  type ExpectedChecksum,
} from "@range/core";
import { AzureAccount } from "./account.js";
import { MAX_BLOCKS, MAX_BLOCK_SIZE, blockIdFactory, blockSizeForLength, streamBlockSize } from "./blocks.js";
import type { AzureConnectionOptions, AzureConnectionSettings } from "./credentials.js";
import { azureErrorCode } from "./errors.js";

const MiB = 1024 * 1024;
/** Blob Batch's limit of sub-requests per batch. */
const BATCH_SIZE = 256;

export interface AzureStoreOptions extends AzureConnectionOptions {
  /** The container. From the URI host with `openStore("az://container/prefix")`. */
  container: string;
  /** Blob name prefix the store is rooted at ("" = the whole container); a trailing "/" is added. */
  prefix?: string;
  /** Engine defaults for this store's reads. */
  engine?: RangeEngineOptions;
  /** `put` of this many bytes or more stages blocks (`stageBlock` + `commitBlockList`); smaller ones are one `upload`. Default 16 MiB. */
  blockUploadThreshold?: number;
  /** Block size, 1 MiB – 4000 MiB (raised automatically to stay within 50,000 blocks). Default 8 MiB. */
  blockSize?: number;
  /** Blocks staged at once per `put`. Default 4. */
  uploadConcurrency?: number;
  /** Sockets per host of the keep-alive agent. Default 2 × max(engine.maxConcurrentRanges, uploadConcurrency). */
  maxSockets?: number;
  /** SDK attempts per request (the engine retries ranges on top). Default 3. */
  maxTries?: number;
  /** More SDK pipeline settings (e.g. `userAgentOptions`, `proxyOptions`, `retryOptions`), applied last. */
  pipelineOptions?: StoragePipelineOptions;
  /**
   * Allocates the result of a `get` that goes through the engine. Default `allocateReadResult` of
   * `@range/aligned-memory`: from 2 MiB on, the memory of an earlier result the GC released (no first-touch page
   * faults), else fresh pages kept for the next result; below, `Buffer.allocUnsafeSlow`. Pass
   * `(size) => Buffer.allocUnsafeSlow(size)` for plain fresh memory.
   */
  allocate?: (size: number) => Uint8Array;
  /**
   * End-to-end MD5 (default: `RANGE_AZURE_CHECKSUM`, else off). `put` sends `Content-MD5` with every request (the
   * service refuses bytes that do not match) and stores the MD5 of the whole content as the blob's `Content-MD5`;
   * whole-object reads (`get`, `getStream`, `readTo`) are checked against the blob's stored MD5.
   */
  checksum?: boolean;
}

/** `RANGE_AZURE_CHECKSUM`: `md5` / `on` / `true` / `1` turn on the `checksum` option, `off` / `false` / `0` / `none` (the default) off. */
export const AZURE_CHECKSUM_ENV = "RANGE_AZURE_CHECKSUM";

/** The `checksum` option, else `RANGE_AZURE_CHECKSUM`, else off; {@link RangeConfigError} naming a bad value. */
export function resolveAzureChecksum(value: unknown): boolean {
  if (value === undefined) {
    const env = process.env[AZURE_CHECKSUM_ENV]?.trim().toLowerCase();
    if (env === undefined || ["", "off", "false", "0", "no", "none"].includes(env)) return false;
    if (["md5", "on", "true", "1", "yes"].includes(env)) return true;
    throw invalidOptionError(`az: ${AZURE_CHECKSUM_ENV} must be md5, on or off, got ${JSON.stringify(process.env[AZURE_CHECKSUM_ENV])}`);
  }
  if (typeof value !== "boolean") throw invalidOptionError(`az: checksum must be a boolean, got ${typeof value === "string" ? JSON.stringify(value) : String(value)}`);
  return value;
}

const OPTION_KEYS = new Set([
  "container",
  "prefix",
  "connectionString",
  "account",
  "accountKey",
  "sasToken",
  "credential",
  "endpoint",
  "serviceUrl",
  "engine",
  "blockUploadThreshold",
  "blockSize",
  "uploadConcurrency",
  "maxSockets",
  "maxTries",
  "pipelineOptions",
  "allocate",
  "checksum",
]);

/** Container names: 3-63 of a-z, 0-9 and single hyphens, starting and ending with a letter or digit; or `$root` / `$web`. */
export function isValidContainerName(name: unknown): name is string {
  return typeof name === "string" && (/^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$/.test(name) || name === "$root" || name === "$web");
}

/** The validated configuration of one store (connection settings are in `AzureDriver.settings`). */
export interface ResolvedAzureOptions {
  container: string;
  /** "" or ends with "/". */
  prefix: string;
  blockUploadThreshold: number;
  blockSize: number;
  uploadConcurrency: number;
  maxSockets: number;
  maxTries: number;
  /** End-to-end MD5 on put and on whole-object reads. */
  checksum: boolean;
  /**
   * Socket inactivity limit: `engine.rangeTimeoutMs` plus a second (the engine's stall timer stays the first to judge
   * a read), Infinity = none. Keeps a stalled upload, listing or delete from hanging.
   */
  socketTimeoutMs: number;
}

/** Validates options (not the connection, see `resolveAzureConnection`); throws {@link RangeConfigError} before any I/O. */
export function resolveAzureOptions(options: AzureStoreOptions): ResolvedAzureOptions {
  assertOptionsObject(options, "az");
  assertKnownOptions(options, OPTION_KEYS, "az");
  const { container } = options;
  if (!isValidContainerName(container)) {
    throw invalidOptionError(`az: container must be a valid container name (3-63 characters of a-z, 0-9 and single "-"), got ${JSON.stringify(container)}`);
  }
  const prefix = normalizePrefix(options.prefix, "az");
  const engine = resolveEngineOptions(options.engine);
  const uploadConcurrency = integerOption("az", "uploadConcurrency", options.uploadConcurrency ?? 4, 1, 64);
  return {
    container,
    prefix,
    blockUploadThreshold: integerOption("az", "blockUploadThreshold", options.blockUploadThreshold ?? 16 * MiB, 1, 5000 * MiB),
    blockSize: integerOption("az", "blockSize", options.blockSize ?? 8 * MiB, 1 * MiB, MAX_BLOCK_SIZE),
    uploadConcurrency,
    // Twice the concurrency leaves room for a second read or a put at the same time (and hedged ranges).
    maxSockets: integerOption("az", "maxSockets", options.maxSockets ?? 2 * Math.max(engine.maxConcurrentRanges, uploadConcurrency), 1, 65_536),
    maxTries: integerOption("az", "maxTries", options.maxTries ?? 3, 1, 20),
    checksum: resolveAzureChecksum(options.checksum),
    socketTimeoutMs: engine.rangeTimeoutMs + 1_000,
  };
}

const ignore = () => {};

function destroy(body: NodeJS.ReadableStream): void {
  (body as NodeJS.ReadableStream & { destroy(): void }).destroy();
}

function bodyOf(response: BlobDownloadResponseParsed, what: string): NodeJS.ReadableStream {
  const body = response.readableStreamBody;
  if (body === undefined) throw new BackendError(`${what}: the response has no body stream`, { code: "E_AZURE", retryable: true });
  // The SDK's stream turns an abort of its request into an "error" event on the next tick, possibly after our reader
  // has settled and removed its listener (the request's abort listener runs before ours): never let that go uncaught.
  body.on("error", ignore);
  return body;
}

function md5(bytes: Uint8Array): Buffer {
  return createHash("md5").update(bytes).digest();
}

/** The service refused a request body whose `Content-MD5` did not match it: damaged on the way up, worth a retry. */
function md5Refused(error: unknown, what: string): unknown {
  if (azureErrorCode(error) !== "Md5Mismatch") return error;
  return new IntegrityError(`${what}: the service received other bytes than were sent (Content-MD5 mismatch)`, { code: "E_CHECKSUM", retryable: true, cause: error });
}

/**
 * Blob responses quote their ETag (`"0x8D…"`), listings do not (`0x8D…`): one spelling, so an ETag learned from a
 * listing (a loader's `knownMeta`) pins a read instead of failing it as "changed".
 */
function quotedEtag(etag: string): string {
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}

/**
 * The `az://` driver: storage primitives over `@azure/storage-blob`, which is imported on first use. Exported so tests
 * and tools can reach the SDK clients (`await driver.containerClient()`).
 */
export class AzureDriver implements StoreDriver {
  readonly scheme = "az";
  readonly options: ResolvedAzureOptions;
  readonly account: AzureAccount;
  #container: Promise<ContainerClient> | undefined;
  /** Set when the service refused a Blob Batch request: later deletes go one by one. */
  #batchUnsupported = false;

  constructor(options: AzureStoreOptions) {
    this.options = resolveAzureOptions(options);
    this.account = new AzureAccount({
      ...options,
      maxSockets: this.options.maxSockets,
      maxTries: this.options.maxTries,
      pipelineOptions: options.pipelineOptions,
      socketTimeoutMs: this.options.socketTimeoutMs,
    });
  }

  /** Where the store connects and how it authorizes (never printed with its secrets). */
  get settings(): AzureConnectionSettings {
    return this.account.settings;
  }

  /** The keep-alive agent the client sends through, with `maxSockets` sockets per host. */
  get agent(): HttpAgent | HttpsAgent {
    return this.account.agent;
  }

  async serviceClient(): Promise<BlobServiceClient> {
    return this.account.service();
  }

  async containerClient(): Promise<ContainerClient> {
    this.#container ??= this.account.service().then((service) => service.getContainerClient(this.options.container));
    return this.#container;
  }

  /** The SDK client of one blob of this store (`key` relative to the store's root). */
  async blobClient(key: string): Promise<BlockBlobClient> {
    return (await this.containerClient()).getBlockBlobClient(this.options.prefix + key);
  }

  #ctx(operation: string, key: string | undefined, signal: AbortSignal | undefined) {
    return {
      operation,
      container: this.options.container,
      ...(key !== undefined ? { blob: this.options.prefix + key, relativeKey: key } : {}),
      signal,
    };
  }

  #meta(key: string, size: number, etag: string | undefined, lastModified: Date | undefined): ObjectMeta {
    return { key, size, ...(etag ? { etag: quotedEtag(etag) } : {}), ...(lastModified ? { lastModified } : {}) };
  }

  async stat(key: string, opts: { signal?: AbortSignal }): Promise<ObjectMeta> {
    const blob = await this.blobClient(key);
    const props = await this.account.call(this.#ctx("GetProperties", key, opts.signal), () =>
      blob.getProperties(opts.signal ? { abortSignal: opts.signal } : {}),
    );
    return this.#meta(key, props.contentLength ?? 0, props.etag, props.lastModified);
  }

  async #download(key: string, offset: number, count: number | undefined, signal: AbortSignal | undefined, etag?: string): Promise<BlobDownloadResponseParsed> {
    const blob = await this.blobClient(key);
    return this.account.call(this.#ctx("Download", key, signal), () =>
      blob.download(offset, count, {
        ...(signal ? { abortSignal: signal } : {}),
        ...(etag !== undefined ? { conditions: { ifMatch: quotedEtag(etag) } } : {}),
        // The engine retries a failed range (with its stall timer and backoff); the SDK's own re-request of a cut
        // body would only hide the failure from it.
        maxRetryRequests: 0,
      }),
    );
  }

  async #readBody(body: NodeJS.ReadableStream, out: Uint8Array, key: string, signal: AbortSignal | undefined, progress?: () => void): Promise<number> {
    try {
      return await readBodyInto(body as unknown as BodyStream, out, { signal, progress });
    } catch (error) {
      throw this.account.mapError(error, this.#ctx("Download (body)", key, signal));
    }
  }

  /**
   * ONE ranged download for the first `length` bytes: `Content-Range` gives the blob's size and the response its
   * ETag, so a blob below the engine's split threshold costs one request (no `getProperties`), and a larger one none
   * before its ranges. Resolves once the headers arrive, with the body still streaming into `data`.
   */
  async readHead(key: string, length: number, opts: { signal?: AbortSignal; progress?: () => void }): Promise<DriverHead> {
    // engine: false asks for "everything": a download without a range then.
    const whole = length >= Number.MAX_SAFE_INTEGER;
    let response: BlobDownloadResponseParsed;
    try {
      response = await this.#download(key, 0, whole ? undefined : length, opts.signal);
    } catch (error) {
      // A range on a 0-byte blob is answered with 416 InvalidRange: the blob exists and is empty.
      if (!InvalidRangeError.isInstance(error)) throw error;
      const meta = await this.stat(key, opts);
      if (meta.size !== 0) throw error;
      return { data: new Uint8Array(0), meta };
    }
    const body = bodyOf(response, `Download ${JSON.stringify(key)}`);
    let meta: ObjectMeta;
    let want: number;
    try {
      const what = `Download ${JSON.stringify(key)}`;
      const total =
        response.contentRange === undefined
          ? response.contentLength
          : checkContentRange(response.contentRange, response.contentLength, { offset: 0, length, exact: false, what });
      if (total === undefined) {
        throw new BackendError(`${what}: the response has neither Content-Range nor Content-Length`, { code: "E_AZURE", retryable: true });
      }
      meta = this.#meta(key, total, response.etag, response.lastModified);
      want = Math.min(length, total);
    } catch (error) {
      destroy(body);
      throw error;
    }
    const expected = this.#storedMd5(response, key);
    const data = (async () => {
      const buffer = Buffer.allocUnsafeSlow(want);
      const got = await this.#readBody(body, buffer, key, opts.signal, opts.progress);
      if (got !== want) {
        throw new IntegrityError(`Download returned ${got} bytes for the first ${want} of ${JSON.stringify(key)}`, { code: "E_LENGTH_MISMATCH", retryable: true });
      }
      // This request read the whole blob: check it here, whichever way core hands it on. A mismatch is retried by
      // core as a pinned read of the whole blob, which `read` checks again.
      if (expected && want === meta.size) verifyChecksum("md5", buffer, expected.value, expected.what);
      return buffer;
    })();
    // A larger blob is checked by core as its bytes arrive (get, getStream, readTo).
    return { data, meta, ...(expected && want < meta.size ? { checksum: expected } : {}) };
  }

  /**
   * The blob's stored MD5 (`x-ms-blob-content-md5`, sent with ranged reads too; `Content-MD5` when the response is
   * the whole blob), when `checksum` is on and the blob has one (blobs committed from blocks without it have none).
   */
  #storedMd5(response: BlobDownloadResponseParsed, key: string): ExpectedChecksum | undefined {
    if (!this.options.checksum) return undefined;
    const stored = response.blobContentMD5 ?? (response.contentRange === undefined ? response.contentMD5 : undefined);
    if (stored === undefined || stored.length !== 16) return undefined;
    return { algorithm: "md5", value: Buffer.from(stored).toString("base64"), what: `az://${this.options.container}/${this.options.prefix}${key}` };
  }

  /**
   * A ranged download pinned to `etag` with `If-Match` (412 → IntegrityError `E_OBJECT_CHANGED`), checked against the
   * range asked for and the size the read began with, its body copied straight into `target` when given.
   */
  async read(key: string, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    const response = await this.#download(key, offset, length, opts.signal, opts.etag);
    const body = bodyOf(response, `Download ${JSON.stringify(key)}`);
    try {
      // Belt and braces for a server that ignores If-Match: the version we got must be the version we pinned.
      if (opts.etag !== undefined && response.etag !== undefined && quotedEtag(response.etag) !== quotedEtag(opts.etag)) {
        throw new IntegrityError(`az://${this.options.container}/${this.options.prefix}${key} changed during the read (ETag ${response.etag}, expected ${opts.etag})`, {
          code: "E_OBJECT_CHANGED",
        });
      }
      const what = `Download ${JSON.stringify(key)}`;
      const total = /\/(\d+)\s*$/.exec(response.contentRange ?? "")?.[1];
      if (total !== undefined && offset >= Number(total)) {
        // Azurite answers a range that starts at the blob's end with 206 "bytes <size>-<size-1>/<size>" (Azure: 416).
        throw new InvalidRangeError(`range [${offset}, ${offset + length}) starts at or past the end of ${JSON.stringify(key)} (${total} bytes)`);
      }
      if (response.contentRange !== undefined) {
        // Azure clamps a range that passes the end to the blob's size: this turns that into InvalidRangeError.
        checkContentRange(response.contentRange, response.contentLength, { offset, length, exact: true, ...(opts.size !== undefined ? { size: opts.size } : {}), what });
      } else if (offset !== 0 || response.contentLength !== length || (opts.size !== undefined && opts.size !== length)) {
        throw new IntegrityError(`${what}: asked for bytes ${offset}-${offset + length - 1}, the response has no Content-Range`, {
          code: "E_BAD_CONTENT_RANGE",
          retryable: true,
        });
      }
    } catch (error) {
      destroy(body);
      throw error;
    }
    const target = opts.target ?? Buffer.allocUnsafeSlow(length);
    const got = await this.#readBody(body, target, key, opts.signal, opts.progress);
    if (got !== length) {
      throw new IntegrityError(`Download returned ${got} bytes for a range of ${length}`, { code: "E_LENGTH_MISMATCH", retryable: true });
    }
    // A read of the whole blob (core's retry of a small blob's head, a one-range plan) is checked like a head.
    if (offset === 0 && length === opts.size) {
      const expected = this.#storedMd5(response, key);
      if (expected) verifyChecksum("md5", target, expected.value, expected.what);
    }
    return target;
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts: DriverWriteOptions): Promise<ObjectMeta> {
    const { blockUploadThreshold, blockSize } = this.options;
    if (data instanceof Uint8Array) {
      if (data.length < blockUploadThreshold) return this.#upload(key, data, opts);
      const size = blockSizeForLength(data.length, blockSize);
      let offset = 0;
      return this.#stagedUpload(key, opts, async () => {
        const block = data.subarray(offset, offset + size);
        offset += block.length;
        return block;
      });
    }
    const reader = new PartReader(data);
    try {
      // Buffer up to the threshold: a stream that ends before it is one upload.
      const head: Uint8Array[] = [];
      let buffered = 0;
      while (buffered < blockUploadThreshold && !reader.done) {
        const block = await reader.read(streamBlockSize(head.length, blockSize));
        if (block.length === 0) break;
        head.push(block);
        buffered += block.length;
      }
      if (buffered < blockUploadThreshold) {
        const body = head.length === 1 ? head[0]! : Buffer.concat(head, buffered);
        return await this.#upload(key, body, opts);
      }
      return await this.#stagedUpload(key, opts, async (index) => head.shift() ?? reader.read(streamBlockSize(index, blockSize)));
    } finally {
      await reader.close();
    }
  }

  /** The blob's properties set by an upload or a commit: its content type, and its MD5 when `checksum` is on. */
  #headers(opts: DriverWriteOptions, contentMd5?: Uint8Array) {
    if (opts.contentType === undefined && contentMd5 === undefined) return {};
    return {
      blobHTTPHeaders: {
        ...(opts.contentType !== undefined ? { blobContentType: opts.contentType } : {}),
        ...(contentMd5 !== undefined ? { blobContentMD5: contentMd5 } : {}),
      },
    };
  }

  /** One Put Blob request. */
  async #upload(key: string, body: Uint8Array, opts: DriverWriteOptions): Promise<ObjectMeta> {
    const blob = await this.blobClient(key);
    // The service checks the body against Content-MD5 and stores the same digest as the blob's MD5.
    const digest = this.options.checksum ? md5(body) : undefined;
    const out = await this.account.call(this.#ctx("Upload", key, opts.signal), () =>
      blob
        .upload(body, body.length, {
          ...(opts.signal ? { abortSignal: opts.signal } : {}),
          ...(digest ? { transactionalContentMD5: digest } : {}),
          ...this.#headers(opts, digest),
        })
        .catch((error: unknown) => Promise.reject(md5Refused(error, `Upload ${JSON.stringify(key)}`))),
    );
    return this.#meta(key, body.length, out.etag, out.lastModified);
  }

  /**
   * Stages the blocks `nextBlock` returns (an empty one ends the stream), `uploadConcurrency` at a time, then commits
   * the list. Nothing is visible before the commit: a failure or an abort stops the blocks in flight and never
   * commits, so no blob appears (and an existing one keeps its content). Azure has no call to drop uncommitted
   * blocks; it discards them with the blob's next commit, or after a week.
   */
  async #stagedUpload(key: string, opts: DriverWriteOptions, nextBlock: (index: number) => Promise<Uint8Array>): Promise<ObjectMeta> {
    const blob = await this.blobClient(key);
    const idOf = blockIdFactory();
    // One controller for the blocks: the caller's abort or the first failure stops them all.
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal!.reason);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const ids: string[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let size = 0;
    // The blocks come in order: the whole content's MD5 runs alongside, for the blob's stored Content-MD5.
    const whole: Hash | undefined = this.options.checksum ? createHash("md5") : undefined;
    try {
      for (let index = 0; ; index++) {
        if (failure !== undefined) throw failure;
        if (controller.signal.aborted) throw abortErrorFrom(opts.signal ?? controller.signal);
        const body = await nextBlock(index);
        if (body.length === 0) break;
        if (index >= MAX_BLOCKS) {
          throw new RangeConfigError(`az: upload of ${JSON.stringify(key)} needs more than ${MAX_BLOCKS} blocks; raise blockSize`, { code: "E_TOO_LARGE" });
        }
        const id = idOf(index);
        ids.push(id);
        size += body.length;
        whole?.update(body);
        const blockMd5 = whole ? md5(body) : undefined;
        const staged = this.account
          .call(this.#ctx("StageBlock", key, controller.signal), () =>
            blob
              .stageBlock(id, body, body.length, { abortSignal: controller.signal, ...(blockMd5 ? { transactionalContentMD5: blockMd5 } : {}) })
              .catch((error: unknown) => Promise.reject(md5Refused(error, `StageBlock ${JSON.stringify(key)}`))),
          )
          .then(
            () => undefined,
            (error: unknown) => {
              if (failure === undefined) failure = error;
              controller.abort(error);
            },
          );
        const tracked = staged.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        if (inFlight.size >= this.options.uploadConcurrency) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
      const done = await this.account.call(this.#ctx("CommitBlockList", key, opts.signal), () =>
        blob.commitBlockList(ids, { ...(opts.signal ? { abortSignal: opts.signal } : {}), ...this.#headers(opts, whole?.digest()) }),
      );
      return this.#meta(key, size, done.etag, done.lastModified);
    } catch (error) {
      controller.abort(error);
      await Promise.allSettled(inFlight);
      throw opts.signal?.aborted ? abortErrorFrom(opts.signal) : error;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * List Blobs, one page (≤ 5000 blobs) at a time as the caller iterates: flat when recursive, else by hierarchy with
   * "/" as the delimiter (sub-prefixes become `isPrefix` entries).
   */
  async *list(prefix: string, opts: DriverListOptions): AsyncIterable<ObjectMeta> {
    const container = await this.containerClient();
    const root = this.options.prefix;
    const listOptions = { prefix: root + prefix, ...(opts.signal ? { abortSignal: opts.signal } : {}) };
    const pages = (opts.recursive ? container.listBlobsFlat(listOptions) : container.listBlobsByHierarchy("/", listOptions)).byPage();
    const ctx = this.#ctx(opts.recursive ? "ListBlobs" : "ListBlobs (hierarchy)", undefined, opts.signal);
    try {
      for (;;) {
        const next = await this.account.call(ctx, () => pages.next());
        if (next.done) return;
        const segment = next.value.segment as {
          blobItems?: { name: string; properties: { contentLength?: number; etag?: string; lastModified?: Date } }[];
          blobPrefixes?: { name: string }[];
        };
        const entries: ObjectMeta[] = [];
        for (const item of segment.blobItems ?? []) {
          const key = item.name.slice(root.length);
          // Skip "directory marker" blobs (names ending in "/", e.g. from hierarchical-namespace accounts): not valid keys.
          if (!key || !item.name.startsWith(root) || key.endsWith("/")) continue;
          entries.push(this.#meta(key, item.properties.contentLength ?? 0, item.properties.etag, item.properties.lastModified));
        }
        for (const common of segment.blobPrefixes ?? []) {
          const key = common.name.slice(root.length);
          if (!key || !common.name.startsWith(root)) continue;
          entries.push({ key, size: 0, isPrefix: true });
        }
        if (segment.blobPrefixes?.length) entries.sort((a, b) => compareKeysUtf8(a.key, b.key));
        yield* entries;
      }
    } finally {
      await pages.return?.(undefined);
    }
  }

  async delete(key: string, opts: { signal?: AbortSignal } = {}): Promise<void> {
    const blob = await this.blobClient(key);
    await this.account.call(this.#ctx("Delete", key, opts.signal), () =>
      blob.delete({ deleteSnapshots: "include", ...(opts.signal ? { abortSignal: opts.signal } : {}) }),
    );
  }

  /**
   * Blob Batch deletes, 256 blobs per request. A service that refuses batches (an emulator without them, a SAS
   * without the permission) gets single deletes from then on.
   */
  async deleteMany(keys: string[], opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = opts;
    const container = await this.containerClient();
    for (let i = 0; i < keys.length; i += BATCH_SIZE) {
      // An abort is checked between batches and aborts the one in flight.
      if (signal?.aborted) throw abortErrorFrom(signal);
      const batch = keys.slice(i, i + BATCH_SIZE);
      if (!this.#batchUnsupported) {
        try {
          const batchClient = (await this.account.batchService()).getContainerClient(this.options.container).getBlobBatchClient();
          const response = await batchClient.deleteBlobs(
            batch.map((key) => container.getBlockBlobClient(this.options.prefix + key)),
            { deleteSnapshots: "include", ...(signal ? { abortSignal: signal } : {}) },
          );
          const failed = response.subResponses.filter((r) => r.status >= 300 && r.errorCode !== "BlobNotFound");
          if (failed.length > 0) {
            const first = failed[0]!;
            const key = batch[response.subResponses.indexOf(first)] ?? "?";
            const auth = first.status === 401 || first.status === 403;
            throw new BackendError(
              `Blob Batch delete in az://${this.options.container}: ${failed.length} of ${batch.length} blobs failed, first ${JSON.stringify(key)}: HTTP ${first.status} ${first.errorCode ?? ""}`.trim(),
              { code: auth ? "E_AUTH" : "E_AZURE", retryable: !auth && first.status >= 500 },
            );
          }
          continue;
        } catch (error) {
          const status = (error as { statusCode?: number }).statusCode;
          if (error instanceof BackendError || status === undefined || ![400, 403, 404, 405, 501].includes(status) || azureErrorCode(error) === "ContainerNotFound") {
            throw this.account.mapError(error, this.#ctx("BlobBatch", undefined, signal));
          }
          this.#batchUnsupported = true;
        }
      }
      await this.#deleteEach(batch, signal);
    }
  }

  async #deleteEach(keys: string[], signal: AbortSignal | undefined): Promise<void> {
    let next = 0;
    const worker = async () => {
      // A signal per worker: 16 requests listening on one signal would trip Node's MaxListenersExceededWarning.
      const own = signal ? { signal: AbortSignal.any([signal]) } : {};
      while (next < keys.length && !signal?.aborted) {
        const key = keys[next++]!;
        try {
          await this.delete(key, own);
        } catch (error) {
          if (!NotFoundError.isInstance(error)) throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(16, keys.length) }, worker));
    if (signal?.aborted) throw abortErrorFrom(signal);
  }

  async close(): Promise<void> {
    this.account.close();
  }
}

/** An {@link ObjectStore} on an Azure Blob Storage container (or Azurite). */
export function createAzureStore(options: AzureStoreOptions): ObjectStore {
  const driver = new AzureDriver(options);
  if (options.allocate !== undefined && typeof options.allocate !== "function") throw invalidOptionError("az: allocate must be a function");
  return createObjectStore(driver, {
    ...(options.engine ? { engine: options.engine } : {}),
    allocate: options.allocate ?? allocateReadResult,
  });
}
