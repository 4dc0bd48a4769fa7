import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Readable } from "node:stream";
import type {
  CompletedPart,
  GetObjectCommandOutput,
  ListObjectsV2CommandOutput,
  S3Client,
  S3ClientConfig,
} from "@aws-sdk/client-s3";
import {
  IntegrityError,
  InvalidRangeError,
  RangeConfigError,
  BackendError,
  abortErrorFrom,
  createObjectStore,
  resolveEngineOptions,
  type DriverHead,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverWriteOptions,
  type ObjectMeta,
  type ObjectStore,
  type RangeEngineOptions,
  type StoreDriver,
} from "@range/core";
import { mapS3Error } from "./errors.js";
import { MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE, PartReader, partSizeForLength, streamPartSize } from "./multipart.js";

const MiB = 1024 * 1024;
type Sdk = typeof import("@aws-sdk/client-s3");

/** Static credentials, or a provider function as the SDK accepts (e.g. from `@aws-sdk/credential-providers`). */
export type S3Credentials =
  | { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
  | NonNullable<S3ClientConfig["credentials"]>;

export interface S3StoreOptions {
  /** The bucket. From the URI host with `openStore("s3://bucket/prefix")`. */
  bucket: string;
  /** Key prefix the store is rooted at ("" = the whole bucket); a trailing "/" is added. */
  prefix?: string;
  /** S3-compatible endpoint, e.g. `http://127.0.0.1:8333`. Default: `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then AWS. */
  endpoint?: string;
  /** Default: `AWS_REGION`, `AWS_DEFAULT_REGION`, the SDK's config chain, or "us-east-1" for a custom endpoint. */
  region?: string;
  /** Default: the SDK's default credential chain (env, profile, SSO, container/instance role). */
  credentials?: S3Credentials;
  /** Path-style URLs (`endpoint/bucket/key`). Default true when an endpoint is configured, else false. */
  forcePathStyle?: boolean;
  /** Engine defaults for this store's reads. */
  engine?: RangeEngineOptions;
  /** `put` of this many bytes or more uses a multipart upload; smaller ones one PutObject. Default 16 MiB. */
  multipartThreshold?: number;
  /** Multipart part size, 5 MiB – 5 GiB (raised automatically to stay within 10,000 parts). Default 8 MiB. */
  partSize?: number;
  /** Parts uploaded at once per `put`. Default 4. */
  uploadConcurrency?: number;
  /** Sockets per host of the keep-alive agent. Default 2 × max(engine.maxConcurrentRanges, uploadConcurrency). */
  maxSockets?: number;
  /** TCP connect timeout. Default 5000 ms. */
  connectionTimeoutMs?: number;
  /** SDK attempts per request (the engine retries ranges on top). Default 3. */
  maxAttempts?: number;
  /** More S3Client settings, applied last (e.g. a logger, `useArnRegion`). */
  clientConfig?: S3ClientConfig;
  /**
   * Allocates the result of a `get` that goes through the engine (default `Buffer.allocUnsafeSlow`), e.g.
   * `allocateAligned` from `@range/aligned-memory` for huge-page-backed memory that is cheaper to fill.
   */
  allocate?: (size: number) => Uint8Array;
}

const OPTION_KEYS = new Set([
  "bucket",
  "prefix",
  "endpoint",
  "region",
  "credentials",
  "forcePathStyle",
  "engine",
  "multipartThreshold",
  "partSize",
  "uploadConcurrency",
  "maxSockets",
  "connectionTimeoutMs",
  "maxAttempts",
  "clientConfig",
  "allocate",
]);

function configError(message: string): RangeConfigError {
  return new RangeConfigError(message, { code: "E_INVALID_OPTION" });
}

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw configError(`s3: ${name} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

function envValue(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** The validated configuration of one store. */
export interface ResolvedS3Options {
  bucket: string;
  /** "" or ends with "/". */
  prefix: string;
  endpoint: string | undefined;
  region: string | undefined;
  forcePathStyle: boolean;
  multipartThreshold: number;
  partSize: number;
  uploadConcurrency: number;
  maxSockets: number;
  connectionTimeoutMs: number;
  maxAttempts: number;
}

/** Validates options and resolves settings from the environment; throws {@link RangeConfigError} before any I/O. */
export function resolveS3Options(options: S3StoreOptions): ResolvedS3Options {
  if (typeof options !== "object" || options === null) throw configError("s3: options must be an object");
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.has(key)) throw configError(`s3: unknown option ${key} (known: ${[...OPTION_KEYS].join(", ")})`);
  }
  const { bucket } = options;
  if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw configError(`s3: bucket must be a valid bucket name (3-63 characters of a-z, 0-9, ".", "-"), got ${JSON.stringify(bucket)}`);
  }
  let prefix = options.prefix ?? "";
  if (typeof prefix !== "string") throw configError("s3: prefix must be a string");
  prefix = prefix.replace(/^\/+/, "");
  if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";

  const endpoint = options.endpoint ?? envValue("AWS_ENDPOINT_URL_S3") ?? envValue("AWS_ENDPOINT_URL");
  if (endpoint !== undefined) {
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw configError(`s3: endpoint ${JSON.stringify(endpoint)} is not a URL (expected e.g. http://127.0.0.1:8333)`);
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") throw configError(`s3: endpoint must be http(s), got ${url.protocol}`);
  }
  // A custom endpoint (MinIO, SeaweedFS, ...) does not care about the region, but SigV4 needs one.
  const region = options.region ?? envValue("AWS_REGION") ?? envValue("AWS_DEFAULT_REGION") ?? (endpoint !== undefined ? "us-east-1" : undefined);
  if (options.forcePathStyle !== undefined && typeof options.forcePathStyle !== "boolean") throw configError("s3: forcePathStyle must be a boolean");

  const engine = resolveEngineOptions(options.engine);
  const partSize = checkInteger("partSize", options.partSize ?? 8 * MiB, MIN_PART_SIZE, MAX_PART_SIZE);
  const multipartThreshold = checkInteger("multipartThreshold", options.multipartThreshold ?? 16 * MiB, 1, 5 * 1024 * 1024 * MiB);
  const uploadConcurrency = checkInteger("uploadConcurrency", options.uploadConcurrency ?? 4, 1, 64);
  // Every range of a get holds a socket: with fewer sockets than ranges, ranges queue inside the agent while their
  // stall timers run. Twice the concurrency leaves room for a second read or a put at the same time.
  const maxSockets = checkInteger("maxSockets", options.maxSockets ?? 2 * Math.max(engine.maxConcurrentRanges, uploadConcurrency), 1, 65_536);
  return {
    bucket,
    prefix,
    endpoint,
    region,
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    multipartThreshold,
    partSize,
    uploadConcurrency,
    maxSockets,
    connectionTimeoutMs: checkInteger("connectionTimeoutMs", options.connectionTimeoutMs ?? 5_000, 1, 600_000),
    maxAttempts: checkInteger("maxAttempts", options.maxAttempts ?? 3, 1, 20),
  };
}

/** `bytes a-b/total` → total; undefined when absent or `*`. */
export function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const match = contentRange === undefined ? null : /\/(\d+)\s*$/.exec(contentRange);
  return match ? Number(match[1]) : undefined;
}

/** UTF-8 byte order (= code point order), which S3 lists in; JS `<` compares UTF-16 units. */
function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

interface Loaded {
  sdk: Sdk;
  client: S3Client;
}

/**
 * Reads a GetObject body into `out` (exactly `out.length` bytes), calling `progress` per chunk. With `allowMore`,
 * stops after `out.length` bytes and drops the rest (a server that ignored the Range header).
 */
function readBody(body: Readable, out: Uint8Array, opts: { signal?: AbortSignal; progress?: () => void; allowMore?: boolean }): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let filled = 0;
    let settled = false;
    const finish = (error: unknown, value?: number) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener("abort", onAbort);
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.off("close", onClose);
      if (error !== undefined) {
        body.destroy();
        reject(error);
      } else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      const room = out.length - filled;
      if (chunk.length > room) {
        if (opts.allowMore) {
          out.set(chunk.subarray(0, room), filled);
          filled += room;
          opts.progress?.();
          body.destroy();
          finish(undefined, filled);
          return;
        }
        finish(new IntegrityError(`the server sent more than the ${out.length} bytes requested`, { code: "E_LENGTH_MISMATCH", retryable: true }));
        return;
      }
      out.set(chunk, filled);
      filled += chunk.length;
      opts.progress?.();
    };
    const onEnd = () => finish(undefined, filled);
    const onError = (error: unknown) => finish(error);
    // A socket closed without "end": the body was cut short.
    const onClose = () => finish(Object.assign(new Error("premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    const onAbort = () => finish(abortErrorFrom(opts.signal!));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
    body.once("close", onClose);
  });
}

function asReadable(body: GetObjectCommandOutput["Body"]): Readable {
  if (body === undefined || typeof (body as Readable).on !== "function") {
    throw new BackendError("GetObject returned no readable body (expected a Node.js stream)", { code: "E_S3", retryable: true });
  }
  return body as Readable;
}

/**
 * The `s3://` driver: storage primitives over `@aws-sdk/client-s3`, which is imported on first use. Exported so tests
 * and tools can reach the client (`await driver.client()`), e.g. to add SDK middleware.
 */
export class S3Driver implements StoreDriver {
  readonly scheme = "s3";
  readonly options: ResolvedS3Options;
  readonly #credentials: S3Credentials | undefined;
  readonly #clientConfig: S3ClientConfig;
  #loaded: Promise<Loaded> | undefined;
  #httpAgent: HttpAgent | undefined;
  #httpsAgent: HttpsAgent | undefined;

  constructor(options: S3StoreOptions) {
    this.options = resolveS3Options(options);
    this.#credentials = options.credentials;
    this.#clientConfig = options.clientConfig ?? {};
  }

  /** The keep-alive agents' socket limit per host. */
  get maxSockets(): number {
    return this.options.maxSockets;
  }

  /** The keep-alive agents the client sends through (created with the client). */
  get agents(): { http: HttpAgent; https: HttpsAgent } | undefined {
    return this.#httpAgent && this.#httpsAgent ? { http: this.#httpAgent, https: this.#httpsAgent } : undefined;
  }

  /** The S3Client this store uses (created on first call). */
  async client(): Promise<S3Client> {
    return (await this.#load()).client;
  }

  #load(): Promise<Loaded> {
    this.#loaded ??= (async () => {
      let sdk: Sdk;
      let handler: typeof import("@smithy/node-http-handler");
      try {
        [sdk, handler] = await Promise.all([import("@aws-sdk/client-s3"), import("@smithy/node-http-handler")]);
      } catch (error) {
        this.#loaded = undefined;
        throw new RangeConfigError(`@range/s3 needs @aws-sdk/client-s3: install it with \`pnpm add @aws-sdk/client-s3\` (${(error as Error).message})`, {
          code: "E_BACKEND_LOAD",
          cause: error,
        });
      }
      const o = this.options;
      const agentOptions = { keepAlive: true, maxSockets: o.maxSockets, maxFreeSockets: o.maxSockets };
      this.#httpAgent = new HttpAgent(agentOptions);
      this.#httpsAgent = new HttpsAgent(agentOptions);
      const client = new sdk.S3Client({
        ...(o.region !== undefined ? { region: o.region } : {}),
        ...(o.endpoint !== undefined ? { endpoint: o.endpoint } : {}),
        ...(this.#credentials !== undefined ? { credentials: this.#credentials } : {}),
        forcePathStyle: o.forcePathStyle,
        maxAttempts: o.maxAttempts,
        // Checksums only where S3 requires them (DeleteObjects): the default CRC32 of every upload costs CPU, and a
        // ranged GET cannot be validated against a whole-object checksum anyway. Several S3-compatible servers also
        // reject the SDK's default trailing checksums.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        requestHandler: new handler.NodeHttpHandler({
          httpAgent: this.#httpAgent,
          httpsAgent: this.#httpsAgent,
          connectionTimeout: o.connectionTimeoutMs,
        }),
        ...this.#clientConfig,
      });
      return { sdk, client };
    })();
    return this.#loaded;
  }

  #fullKey(key: string): string {
    return this.options.prefix + key;
  }

  async #send<T>(
    operation: string,
    build: (sdk: Sdk) => object,
    ctx: { key?: string; signal?: AbortSignal | undefined },
  ): Promise<T> {
    const { sdk, client } = await this.#load();
    if (ctx.signal?.aborted) throw abortErrorFrom(ctx.signal);
    try {
      return (await client.send(build(sdk) as never, ctx.signal ? { abortSignal: ctx.signal } : {})) as T;
    } catch (error) {
      throw mapS3Error(error, this.#context(operation, ctx.key, ctx.signal));
    }
  }

  #context(operation: string, key: string | undefined, signal: AbortSignal | undefined) {
    return {
      operation,
      bucket: this.options.bucket,
      ...(key !== undefined ? { key: this.#fullKey(key), relativeKey: key } : {}),
      ...(signal ? { signal } : {}),
    };
  }

  #meta(key: string, size: number, etag: string | undefined, lastModified: Date | undefined): ObjectMeta {
    return { key, size, ...(etag ? { etag } : {}), ...(lastModified ? { lastModified } : {}) };
  }

  async stat(key: string, opts: { signal?: AbortSignal }): Promise<ObjectMeta> {
    const out = await this.#send<{ ContentLength?: number; ETag?: string; LastModified?: Date }>(
      "HeadObject",
      (sdk) => new sdk.HeadObjectCommand({ Bucket: this.options.bucket, Key: this.#fullKey(key) }),
      { key, signal: opts.signal },
    );
    return this.#meta(key, out.ContentLength ?? 0, out.ETag, out.LastModified);
  }

  /**
   * ONE ranged GET for the first `length` bytes: `Content-Range` gives the total size and the response the ETag, so
   * an object below the split threshold costs one request and a large one no HeadObject. Resolves as soon as the
   * response headers arrive, with the body still streaming into `data`.
   */
  async readHead(key: string, length: number, opts: { signal?: AbortSignal }): Promise<DriverHead> {
    // engine: false asks for "everything": a plain GET then.
    const range = length >= Number.MAX_SAFE_INTEGER ? undefined : `bytes=0-${length - 1}`;
    let out: GetObjectCommandOutput;
    try {
      out = await this.#send<GetObjectCommandOutput>(
        "GetObject",
        (sdk) => new sdk.GetObjectCommand({ Bucket: this.options.bucket, Key: this.#fullKey(key), ...(range ? { Range: range } : {}) }),
        { key, signal: opts.signal },
      );
    } catch (error) {
      // S3 answers a Range on a 0-byte object with 416: the object exists and is empty.
      if (!InvalidRangeError.isInstance(error)) throw error;
      const meta = await this.stat(key, opts);
      if (meta.size !== 0) throw error;
      return { data: new Uint8Array(0), meta };
    }
    const body = asReadable(out.Body);
    let meta: ObjectMeta;
    let want: number;
    try {
      const total = totalFromContentRange(out.ContentRange) ?? out.ContentLength;
      if (total === undefined) {
        throw new BackendError(`GetObject s3://${this.options.bucket}/${this.#fullKey(key)}: response has neither Content-Range nor Content-Length`, {
          code: "E_S3",
          retryable: true,
        });
      }
      meta = this.#meta(key, total, out.ETag, out.LastModified);
      want = Math.min(length, total);
    } catch (error) {
      body.destroy();
      throw error;
    }
    // Resolve on the headers: the size is known, so core starts the other ranges while this body still arrives.
    const data = (async () => {
      const buffer = Buffer.allocUnsafeSlow(want);
      const got = await this.#readBody(body, buffer, key, { ...opts, allowMore: true });
      if (got !== want) {
        throw new IntegrityError(`GetObject returned ${got} bytes for the first ${want} of ${JSON.stringify(key)}`, {
          code: "E_LENGTH_MISMATCH",
          retryable: true,
        });
      }
      return buffer;
    })();
    return { data, meta };
  }

  async #readBody(body: Readable, out: Uint8Array, key: string, opts: { signal?: AbortSignal | undefined; progress?: () => void; allowMore?: boolean }): Promise<number> {
    try {
      return await readBody(body, out, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.progress ? { progress: opts.progress } : {}),
        ...(opts.allowMore ? { allowMore: true } : {}),
      });
    } catch (error) {
      throw mapS3Error(error, this.#context("GetObject (body)", key, opts.signal));
    }
  }

  /**
   * A ranged GET pinned to `etag` with `If-Match` (412 → IntegrityError `E_OBJECT_CHANGED`), read straight into
   * `target` when given.
   */
  async read(key: string, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    const out = await this.#send<GetObjectCommandOutput>(
      "GetObject",
      (sdk) =>
        new sdk.GetObjectCommand({
          Bucket: this.options.bucket,
          Key: this.#fullKey(key),
          Range: `bytes=${offset}-${offset + length - 1}`,
          ...(opts.etag !== undefined ? { IfMatch: opts.etag } : {}),
        }),
      { key, signal: opts.signal },
    );
    const body = asReadable(out.Body);
    try {
      // Belt and braces for servers that ignore If-Match: the version we got must be the version we pinned.
      if (opts.etag !== undefined && out.ETag !== undefined && out.ETag !== opts.etag) {
        throw new IntegrityError(`s3://${this.options.bucket}/${this.#fullKey(key)} changed during the read (ETag ${out.ETag}, expected ${opts.etag})`, {
          code: "E_OBJECT_CHANGED",
        });
      }
      const total = totalFromContentRange(out.ContentRange);
      if (total !== undefined && offset + length > total) {
        throw new InvalidRangeError(`range [${offset}, ${offset + length}) passes the end of ${JSON.stringify(key)} (${total} bytes)`);
      }
      if (out.ContentLength !== undefined && out.ContentLength !== length && total !== undefined) {
        throw new IntegrityError(`GetObject returned ${out.ContentLength} bytes for a range of ${length}`, { code: "E_LENGTH_MISMATCH", retryable: true });
      }
      const target = opts.target ?? Buffer.allocUnsafeSlow(length);
      // No Content-Range: a server that ignored the Range header and sent the whole object from byte 0.
      const ignoredRange = total === undefined;
      if (ignoredRange && offset !== 0) {
        throw new BackendError(`the server ignored the Range header of GetObject ${JSON.stringify(key)}`, { code: "E_S3", retryable: false });
      }
      const got = await this.#readBody(body, target, key, { signal: opts.signal, ...(opts.progress ? { progress: opts.progress } : {}), allowMore: ignoredRange });
      if (got !== length) {
        throw (ignoredRange && got < length)
          ? new InvalidRangeError(`range [${offset}, ${offset + length}) passes the end of ${JSON.stringify(key)} (${got} bytes)`)
          : new IntegrityError(`GetObject returned ${got} bytes for a range of ${length}`, { code: "E_LENGTH_MISMATCH", retryable: true });
      }
      return target;
    } catch (error) {
      body.destroy();
      throw error;
    }
  }

  async write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts: DriverWriteOptions): Promise<ObjectMeta> {
    const { multipartThreshold, partSize } = this.options;
    if (data instanceof Uint8Array) {
      if (data.length < multipartThreshold) return this.#putObject(key, data, opts);
      const size = partSizeForLength(data.length, partSize);
      let offset = 0;
      return this.#multipart(key, opts, async () => {
        const part = data.subarray(offset, offset + size);
        offset += part.length;
        return part;
      });
    }
    const reader = new PartReader(data);
    try {
      // Buffer up to the threshold: a stream that ends before it is one PutObject.
      const head: Uint8Array[] = [];
      let buffered = 0;
      while (buffered < multipartThreshold && !reader.done) {
        const part = await reader.read(streamPartSize(head.length + 1, partSize));
        if (part.length === 0) break;
        head.push(part);
        buffered += part.length;
      }
      if (buffered < multipartThreshold) {
        const body = head.length === 1 ? head[0]! : Buffer.concat(head, buffered);
        return await this.#putObject(key, body, opts);
      }
      let partNumber = 0;
      return await this.#multipart(key, opts, async () => {
        const next = head.shift();
        partNumber++;
        if (next !== undefined) return next;
        return reader.read(streamPartSize(partNumber, partSize));
      });
    } finally {
      await reader.close();
    }
  }

  async #putObject(key: string, body: Uint8Array, opts: DriverWriteOptions): Promise<ObjectMeta> {
    const out = await this.#send<{ ETag?: string }>(
      "PutObject",
      (sdk) =>
        new sdk.PutObjectCommand({
          Bucket: this.options.bucket,
          Key: this.#fullKey(key),
          Body: body,
          ContentLength: body.length,
          ...(opts.contentType !== undefined ? { ContentType: opts.contentType } : {}),
        }),
      { key, signal: opts.signal },
    );
    return this.#meta(key, body.length, out.ETag, undefined);
  }

  /**
   * A multipart upload of the parts `nextPart` returns (an empty part ends it), `uploadConcurrency` at a time. Any
   * failure or abort aborts the in-flight parts and then the upload itself (AbortMultipartUpload), so no parts are
   * left behind and no object appears.
   */
  async #multipart(key: string, opts: DriverWriteOptions, nextPart: () => Promise<Uint8Array>): Promise<ObjectMeta> {
    const { bucket } = this.options;
    const Key = this.#fullKey(key);
    const created = await this.#send<{ UploadId?: string }>(
      "CreateMultipartUpload",
      (sdk) => new sdk.CreateMultipartUploadCommand({ Bucket: bucket, Key, ...(opts.contentType !== undefined ? { ContentType: opts.contentType } : {}) }),
      { key, signal: opts.signal },
    );
    const uploadId = created.UploadId;
    if (!uploadId) throw new BackendError(`CreateMultipartUpload s3://${bucket}/${Key} returned no UploadId`, { code: "E_S3" });

    // One controller for the parts: the caller's abort or the first failure stops them all.
    const controller = new AbortController();
    const onAbort = () => controller.abort(opts.signal!.reason);
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    const parts: CompletedPart[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: unknown;
    let size = 0;
    try {
      for (let partNumber = 1; ; partNumber++) {
        if (failure !== undefined) throw failure;
        if (controller.signal.aborted) throw abortErrorFrom(opts.signal ?? controller.signal);
        const body = await nextPart();
        if (body.length === 0) break;
        if (partNumber > MAX_PARTS) {
          throw new RangeConfigError(`s3: upload of ${JSON.stringify(key)} needs more than ${MAX_PARTS} parts; raise partSize`, { code: "E_TOO_LARGE" });
        }
        size += body.length;
        const upload = this.#send<{ ETag?: string }>(
          "UploadPart",
          (sdk) => new sdk.UploadPartCommand({ Bucket: bucket, Key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
          { key, signal: controller.signal },
        ).then(
          (out) => {
            parts.push({ PartNumber: partNumber, ETag: out.ETag });
          },
          (error: unknown) => {
            if (failure === undefined) failure = error;
            controller.abort(error);
          },
        );
        const tracked = upload.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        if (inFlight.size >= this.options.uploadConcurrency) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
      parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
      const done = await this.#send<{ ETag?: string }>(
        "CompleteMultipartUpload",
        (sdk) => new sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
        { key, signal: opts.signal },
      );
      return this.#meta(key, size, done.ETag, undefined);
    } catch (error) {
      controller.abort(error);
      await Promise.allSettled(inFlight);
      await this.#abortUpload(key, uploadId);
      throw opts.signal?.aborted ? abortErrorFrom(opts.signal) : error;
    } finally {
      opts.signal?.removeEventListener("abort", onAbort);
    }
  }

  /** AbortMultipartUpload, with its own deadline (the caller's signal may be the reason we are here). */
  async #abortUpload(key: string, uploadId: string): Promise<void> {
    try {
      await this.#send(
        "AbortMultipartUpload",
        (sdk) => new sdk.AbortMultipartUploadCommand({ Bucket: this.options.bucket, Key: this.#fullKey(key), UploadId: uploadId }),
        { key, signal: AbortSignal.timeout(30_000) },
      );
    } catch {
      // Best effort: the original error matters more; a bucket lifecycle rule cleans up what is left.
    }
  }

  /** ListObjectsV2, one page at a time as the caller iterates; one level with `Delimiter: "/"`. */
  async *list(prefix: string, opts: DriverListOptions): AsyncIterable<ObjectMeta> {
    const root = this.options.prefix;
    let token: string | undefined;
    do {
      const page: ListObjectsV2CommandOutput = await this.#send<ListObjectsV2CommandOutput>(
        "ListObjectsV2",
        (sdk) =>
          new sdk.ListObjectsV2Command({
            Bucket: this.options.bucket,
            Prefix: root + prefix,
            ...(opts.recursive ? {} : { Delimiter: "/" }),
            ...(token !== undefined ? { ContinuationToken: token } : {}),
          }),
        { signal: opts.signal },
      );
      const entries: ObjectMeta[] = [];
      for (const object of page.Contents ?? []) {
        const key = object.Key?.slice(root.length);
        // Skip "directory marker" objects (keys ending in "/"): they are not valid object keys.
        if (!key || !object.Key!.startsWith(root) || key.endsWith("/")) continue;
        entries.push(this.#meta(key, object.Size ?? 0, object.ETag, object.LastModified));
      }
      for (const common of page.CommonPrefixes ?? []) {
        const key = common.Prefix?.slice(root.length);
        if (!key || !common.Prefix!.startsWith(root)) continue;
        entries.push({ key, size: 0, isPrefix: true });
      }
      if (page.CommonPrefixes?.length) entries.sort((a, b) => compareKeys(a.key, b.key));
      yield* entries;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  async delete(key: string): Promise<void> {
    await this.#send("DeleteObject", (sdk) => new sdk.DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.#fullKey(key) }), { key });
  }

  /** DeleteObjects, 1000 keys per request (S3's limit). */
  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      const out = await this.#send<{ Errors?: { Key?: string; Code?: string; Message?: string }[] }>(
        "DeleteObjects",
        (sdk) =>
          new sdk.DeleteObjectsCommand({
            Bucket: this.options.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.#fullKey(key) })), Quiet: true },
          }),
        {},
      );
      const errors = (out.Errors ?? []).filter((e) => e.Code !== "NoSuchKey");
      if (errors.length > 0) {
        const first = errors[0]!;
        const auth = first.Code === "AccessDenied";
        throw new BackendError(
          `DeleteObjects s3://${this.options.bucket}: ${errors.length} of ${batch.length} keys failed, first ${JSON.stringify(first.Key)}: ${first.Code} ${first.Message ?? ""}`.trim(),
          { code: auth ? "E_AUTH" : "E_S3", retryable: !auth },
        );
      }
    }
  }

  async close(): Promise<void> {
    if (this.#loaded) {
      const loaded = await this.#loaded.catch(() => undefined);
      loaded?.client.destroy();
    }
    this.#httpAgent?.destroy();
    this.#httpsAgent?.destroy();
  }
}

/** An {@link ObjectStore} on S3 or an S3-compatible service. */
export function createS3Store(options: S3StoreOptions): ObjectStore {
  const driver = new S3Driver(options);
  if (options.allocate !== undefined && typeof options.allocate !== "function") throw configError("s3: allocate must be a function");
  return createObjectStore(driver, {
    ...(options.engine ? { engine: options.engine } : {}),
    ...(options.allocate ? { allocate: options.allocate } : {}),
  });
}
