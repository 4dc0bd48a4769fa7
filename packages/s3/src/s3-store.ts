import { Agent as HttpAgent } from "node:http";
import { Agent as HttpsAgent } from "node:https";
import type { Readable } from "node:stream";
import { allocateReadResult } from "@range/aligned-memory";
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
  TimeoutError,
  EndpointPool,
  HttpGetClient,
  PartReader,
  RequestEvents,
  abortErrorFrom,
  backoffDelay,
  checkContentRange,
  checksumBase64,
  compareKeysUtf8,
  createChecksum,
  createObjectStore,
  createReadAgent,
  assertKnownOptions,
  assertOptionsObject,
  integerOption,
  invalidOptionError,
  normalizePrefix,
  readBodyInto,
  resolveEngineOptions,
  sleep,
  verifyChecksum,
  type DriverCopyOptions,
  type DriverDeleteOptions,
  type DriverHead,
  type ExpectedChecksum,
  type DriverListOptions,
  type DriverReadOptions,
  type DriverWriteOptions,
  type EndpointLease,
  type EndpointStats,
  type EndpointStrategy,
  type HttpGetResponse,
  type ObjectMeta,
  type ObjectStore,
  type RangeEngineOptions,
  type StoreDriver,
} from "@range/core";
import { endpointOutcomeOf, resolveEndpointStrategy, resolveEndpoints, type EndpointSource } from "./endpoints.js";
import { S3_CHECKSUMS, resolveChecksumOption, wholeObjectChecksum, type S3ChecksumAlgorithm, type StoredChecksum } from "./checksums.js";
import { copyS3Object } from "./copy.js";
import { CLOCK_SKEW_CODES, DirectSigner, directEndpoint, objectTarget, s3ErrorFromResponse, type DirectEndpoint } from "./direct-get.js";
import { mapS3Error } from "./errors.js";
import { MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE, partSizeForLength, streamPartSize } from "./multipart.js";

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
  /**
   * S3-compatible endpoint, e.g. `http://127.0.0.1:8333`. Default: the endpoints of `RANGE_S3_ENDPOINTS` (or s3dlio's
   * `S3_ENDPOINT_URIS`, `S3_ENDPOINT_TEMPLATE`), then `AWS_ENDPOINT_URL_S3`, then `AWS_ENDPOINT_URL`, then AWS.
   */
  endpoint?: string;
  /**
   * Several endpoints of ONE cluster (e.g. an S3 gateway per node), used together: an array of URLs, or a string of
   * comma-separated URLs and `{1...N}` templates (`"http://10.0.0.{1...3}:9000"`). Requests are spread by
   * `endpointStrategy`; an endpoint that fails (refused, reset, 5xx) is taken out, the request retried on another,
   * and the endpoint tried again later. Not with `endpoint`.
   */
  endpoints?: string | string[];
  /** How requests are spread over `endpoints`. Default `RANGE_S3_ENDPOINT_STRATEGY`, `S3_LOAD_BALANCE_STRATEGY`, "round-robin". */
  endpointStrategy?: EndpointStrategy;
  /** How long a failed endpoint stays out: `baseDelayMs` (1000), doubling per failed retry up to `maxDelayMs` (30000). */
  endpointRecovery?: { baseDelayMs?: number; maxDelayMs?: number };
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
  /**
   * Direct reads (default true): on a plain-`http:` endpoint, GetObject is sent by core's `HttpGetClient` instead of
   * the SDK: signed the same way (SigV4 with the client's credentials, region and clock offset; same URL and key
   * encoding), but its body goes from the socket straight into the result, with no HTTP parser copies, no stream per
   * chunk and no middleware stack per request (on loopback less than half the client CPU for a large `get`).
   * Everything else (HeadObject, puts, lists, `https:` endpoints) stays on the SDK. `false` sends GetObject through
   * the SDK too, e.g. for SDK middleware that must see it. Off as well when `clientConfig` sets `endpoint`,
   * `forcePathStyle` or `requestHandler` (the SDK's request then may differ from ours).
   */
  directReads?: boolean;
  /**
   * End-to-end checksum (default `RANGE_S3_CHECKSUM`, else off). With an algorithm, every `put` sends the checksum we
   * computed over the caller's bytes, so the server refuses bytes damaged on the way (each part of a multipart
   * upload, and for CRCs the whole object too); and every `get` that reads a whole object checks the bytes against
   * the checksum the server stored (one HeadObject per read, in parallel with the first range). A mismatch is an
   * `IntegrityError` (`E_CHECKSUM`). See docs/guarantees.md.
   */
  checksum?: S3ChecksumAlgorithm | false;
  /** More S3Client settings, applied last (e.g. a logger, `useArnRegion`). */
  clientConfig?: S3ClientConfig;
  /**
   * Allocates the result of a `get` that goes through the engine. Default `allocateReadResult` of
   * `@range/aligned-memory`: from 2 MiB on, the memory of an earlier result the GC released (no first-touch page
   * faults), else fresh pages kept for the next result; below, `Buffer.allocUnsafeSlow`. Pass
   * `(size) => Buffer.allocUnsafeSlow(size)` for plain fresh memory.
   */
  allocate?: (size: number) => Uint8Array;
}

const OPTION_KEYS = new Set([
  "bucket",
  "prefix",
  "endpoint",
  "endpoints",
  "endpointStrategy",
  "endpointRecovery",
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
  "directReads",
  "checksum",
  "clientConfig",
  "allocate",
]);

function envValue(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** The validated configuration of one store. */
export interface ResolvedS3Options {
  bucket: string;
  /** "" or ends with "/". */
  prefix: string;
  /** The first of `endpoints`; undefined for AWS's default endpoint. */
  endpoint: string | undefined;
  /** Every endpoint, in order; empty for AWS's default endpoint. */
  endpoints: string[];
  /** Which setting named them. */
  endpointSource: EndpointSource;
  endpointStrategy: EndpointStrategy;
  region: string | undefined;
  forcePathStyle: boolean;
  multipartThreshold: number;
  partSize: number;
  uploadConcurrency: number;
  maxSockets: number;
  connectionTimeoutMs: number;
  maxAttempts: number;
  /** GetObject on `http:` endpoints through core's `HttpGetClient` (see {@link S3StoreOptions.directReads}). */
  directReads: boolean;
  /** The end-to-end checksum of puts and whole-object gets, or false. */
  checksum: S3ChecksumAlgorithm | false;
  /**
   * A request whose socket carries no byte either way for this long fails (retryably): the engine's `rangeTimeoutMs`
   * (30 s by default) plus a second, so a stalled upload, listing or delete cannot hang forever either, while a
   * stalled range is still judged by the engine's stall timer first (equal limits raced). Infinity = none.
   */
  socketTimeoutMs: number;
}

/** Validates options and resolves settings from the environment; throws {@link RangeConfigError} before any I/O. */
export function resolveS3Options(options: S3StoreOptions): ResolvedS3Options {
  assertOptionsObject(options, "s3");
  assertKnownOptions(options, OPTION_KEYS, "s3");
  const { bucket } = options;
  if (typeof bucket !== "string" || !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw invalidOptionError(`s3: bucket must be a valid bucket name (3-63 characters of a-z, 0-9, ".", "-"), got ${JSON.stringify(bucket)}`);
  }
  const prefix = normalizePrefix(options.prefix, "s3");

  const { endpoints, source: endpointSource } = resolveEndpoints(options);
  const endpoint = endpoints[0];
  const endpointStrategy = resolveEndpointStrategy(options.endpointStrategy);
  if (options.endpointRecovery !== undefined && (typeof options.endpointRecovery !== "object" || options.endpointRecovery === null)) {
    throw invalidOptionError("s3: endpointRecovery must be an object like { baseDelayMs: 1000, maxDelayMs: 30000 }");
  }
  // A custom endpoint (MinIO, SeaweedFS, ...) does not care about the region, but SigV4 needs one.
  const region = options.region ?? envValue("AWS_REGION") ?? envValue("AWS_DEFAULT_REGION") ?? (endpoint !== undefined ? "us-east-1" : undefined);
  if (options.forcePathStyle !== undefined && typeof options.forcePathStyle !== "boolean") throw invalidOptionError("s3: forcePathStyle must be a boolean");
  if (options.directReads !== undefined && typeof options.directReads !== "boolean") throw invalidOptionError("s3: directReads must be a boolean");

  const engine = resolveEngineOptions(options.engine);
  const partSize = integerOption("s3", "partSize", options.partSize ?? 8 * MiB, MIN_PART_SIZE, MAX_PART_SIZE);
  const multipartThreshold = integerOption("s3", "multipartThreshold", options.multipartThreshold ?? 16 * MiB, 1, 5 * 1024 * 1024 * MiB);
  const uploadConcurrency = integerOption("s3", "uploadConcurrency", options.uploadConcurrency ?? 4, 1, 64);
  // Every range of a get holds a socket: with fewer sockets than ranges, ranges queue inside the agent while their
  // stall timers run. Twice the concurrency leaves room for a second read or a put at the same time.
  const maxSockets = integerOption("s3", "maxSockets", options.maxSockets ?? 2 * Math.max(engine.maxConcurrentRanges, uploadConcurrency), 1, 65_536);
  return {
    bucket,
    prefix,
    endpoint,
    endpoints,
    endpointSource,
    endpointStrategy,
    region,
    forcePathStyle: options.forcePathStyle ?? endpoint !== undefined,
    multipartThreshold,
    partSize,
    uploadConcurrency,
    maxSockets,
    connectionTimeoutMs: integerOption("s3", "connectionTimeoutMs", options.connectionTimeoutMs ?? 5_000, 1, 600_000),
    maxAttempts: integerOption("s3", "maxAttempts", options.maxAttempts ?? 3, 1, 20),
    directReads: options.directReads ?? true,
    checksum: resolveChecksumOption(options.checksum),
    socketTimeoutMs: engine.rangeTimeoutMs + 1_000,
  };
}

/** `bytes a-b/total` → total; undefined when absent or `*`. */
export function totalFromContentRange(contentRange: string | undefined): number | undefined {
  const match = contentRange === undefined ? null : /\/(\d+)\s*$/.exec(contentRange);
  return match ? Number(match[1]) : undefined;
}

interface Loaded {
  sdk: Sdk;
  /** One client per endpoint, in the pool's order. */
  clients: S3Client[];
  /** Direct reads, when on: per endpoint (pool order) its target and signer, undefined for an `https:` one. */
  direct: { client: HttpGetClient; endpoints: ({ endpoint: DirectEndpoint; signer: DirectSigner } | undefined)[] } | undefined;
}

/** A GetObject as a direct read sends it, for {@link S3Driver.directRequestHook}. */
export interface DirectGetRequest {
  operation: "GetObject";
  /** The request in the SDK's terms (`Bucket`, `Key`, `Range`, `IfMatch`). */
  input: { Bucket: string; Key: string; Range?: string; IfMatch?: string };
  /** The signed headers (lower-case names), as sent. */
  headers: Record<string, string>;
}

/** What `readHead` and `read` use of a GetObject response, whether the SDK or a direct read fetched it. */
interface ObjectResponse {
  etag: string | undefined;
  contentRange: string | undefined;
  contentLength: number | undefined;
  lastModified: Date | undefined;
  /** Reads the body into `target`: the bytes written (fewer when the body was shorter); errors mapped. */
  readInto(target: Uint8Array, opts: { progress?: (() => void) | undefined; allowMore?: boolean }): Promise<number>;
  /** Drops the body unread (closes the connection). */
  discard(): void;
}

/**
 * A connection failure or stall of a direct read, said the way the SDK path says it (operation and object first), so
 * messages, `lastError` and op-log lines name the request; same class, code and retryability.
 */
function inS3Terms(error: unknown, operation: string, where: string): unknown {
  const message = (e: Error) => `${operation} ${where} failed: ${e.message}`;
  if (TimeoutError.isInstance(error)) return new TimeoutError(message(error), { cause: error });
  if (BackendError.isInstance(error) && error.code === "E_NETWORK") return new BackendError(message(error), { code: error.code, retryable: error.retryable, cause: error });
  return error;
}

/** Waits between tries of one request once every endpoint has failed it (or the cluster throttles). */
const FAILOVER_BACKOFF = { attempts: 20, baseDelayMs: 100, maxDelayMs: 2_000 } as const;


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
  /** Picks the endpoint of each request and keeps its numbers; one entry for a single endpoint. */
  readonly #pool: EndpointPool;
  /** Several endpoints: a request that fails on one is retried on another, here rather than inside the SDK. */
  readonly #failover: boolean;
  /** Every request, as the endpoint pool's leases report them: which endpoint served it, bytes, duration, outcome. */
  readonly requestEvents = new RequestEvents();
  #loaded: Promise<Loaded> | undefined;
  #directClient: HttpGetClient | undefined;
  /**
   * For tests and tools: called (and awaited) with every direct GetObject just before it is sent, as SDK middleware
   * at the finalize step would see it (direct reads bypass the SDK's middleware stack).
   */
  directRequestHook: ((request: DirectGetRequest) => void | Promise<void>) | undefined;
  #httpAgent: HttpAgent | undefined;
  #httpsAgent: HttpsAgent | undefined;

  constructor(options: S3StoreOptions) {
    this.options = resolveS3Options(options);
    this.#credentials = options.credentials;
    this.#clientConfig = options.clientConfig ?? {};
    const { endpoints, endpointStrategy } = this.options;
    this.#pool = new EndpointPool(endpoints.length > 0 ? endpoints : ["(aws default)"], {
      strategy: endpointStrategy,
      requestEvents: this.requestEvents,
      ...(options.endpointRecovery ? { recovery: options.endpointRecovery } : {}),
    });
    this.#failover = endpoints.length > 1;
  }

  /**
   * Requests, bytes, errors, requests in flight and state (`up` / `down`, with `retryAt`) of each endpoint, in the
   * order of `endpoints`. A single-endpoint store reports its one endpoint.
   */
  endpointStats(): EndpointStats[] {
    return this.#pool.stats();
  }

  /** The keep-alive agents' socket limit per host. */
  get maxSockets(): number {
    return this.options.maxSockets;
  }

  /** The keep-alive agents the client sends through (created with the client). */
  get agents(): { http: HttpAgent; https: HttpsAgent } | undefined {
    return this.#httpAgent && this.#httpsAgent ? { http: this.#httpAgent, https: this.#httpsAgent } : undefined;
  }

  /** The client of direct reads (undefined until the first request, or when direct reads are off); its connection stats. */
  get directClient(): HttpGetClient | undefined {
    return this.#directClient;
  }

  /** The S3Client this store uses (created on first call); with several endpoints, the first endpoint's. */
  async client(): Promise<S3Client> {
    return (await this.#load()).clients[0]!;
  }

  /** One S3Client per endpoint, in the order of `options.endpoints`. */
  async clients(): Promise<S3Client[]> {
    return [...(await this.#load()).clients];
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
      // One agent pair for all endpoints: maxSockets is per host, so each endpoint gets its own sockets anyway.
      const agentOptions = { keepAlive: true, maxSockets: o.maxSockets, maxFreeSockets: o.maxSockets };
      // Plain-HTTP bodies are read through one reused buffer instead of a new Buffer per socket read (core's
      // createReadAgent): a third of the client CPU of a large get on loopback.
      this.#httpAgent = createReadAgent(agentOptions);
      this.#httpsAgent = new HttpsAgent(agentOptions);
      const endpoints: (string | undefined)[] = o.endpoints.length > 0 ? o.endpoints : [undefined];
      const clients = endpoints.map((endpoint) => new sdk.S3Client({
        ...(o.region !== undefined ? { region: o.region } : {}),
        ...(endpoint !== undefined ? { endpoint } : {}),
        ...(this.#credentials !== undefined ? { credentials: this.#credentials } : {}),
        forcePathStyle: o.forcePathStyle,
        // With several endpoints, retrying on the endpoint that just refused the connection wastes the attempt:
        // #request retries on another one instead.
        maxAttempts: this.#failover ? 1 : o.maxAttempts,
        // Checksums only where S3 requires them (DeleteObjects): the default CRC32 of every upload costs CPU, and a
        // ranged GET cannot be validated against a whole-object checksum anyway. Several S3-compatible servers also
        // reject the SDK's default trailing checksums.
        requestChecksumCalculation: "WHEN_REQUIRED",
        responseChecksumValidation: "WHEN_REQUIRED",
        requestHandler: new handler.NodeHttpHandler({
          httpAgent: this.#httpAgent,
          httpsAgent: this.#httpsAgent,
          connectionTimeout: o.connectionTimeoutMs,
          ...(Number.isFinite(o.socketTimeoutMs) ? { socketTimeout: o.socketTimeoutMs } : {}),
        }),
        ...this.#clientConfig,
      }));
      return { sdk, clients, direct: this.#directReads(clients) };
    })();
    return this.#loaded;
  }

  /** Direct reads for the `http:` endpoints, when on and the client config does not change what the SDK would send. */
  #directReads(clients: S3Client[]): Loaded["direct"] {
    const o = this.options;
    const overridden = ["endpoint", "forcePathStyle", "requestHandler"].some((name) => name in this.#clientConfig);
    if (!o.directReads || overridden || o.endpoints.length === 0) return undefined;
    const endpoints = o.endpoints.map((url, index) => {
      const endpoint = directEndpoint(url);
      return endpoint ? { endpoint, signer: new DirectSigner(clients[index]!) } : undefined;
    });
    if (endpoints.every((e) => e === undefined)) return undefined;
    this.#directClient = new HttpGetClient({ maxSockets: o.maxSockets, connectTimeoutMs: o.connectionTimeoutMs, idleTimeoutMs: o.socketTimeoutMs });
    return { client: this.#directClient, endpoints };
  }

  #fullKey(key: string): string {
    return this.options.prefix + key;
  }

  /** One request whose response has no body to read (or whose body the SDK has read). */
  async #send<T>(
    operation: string,
    build: (sdk: Sdk) => object,
    ctx: RequestContext,
  ): Promise<T> {
    const { out, lease } = await this.#request<T>(operation, build, ctx);
    lease.release("ok");
    return out;
  }

  /**
   * Sends one request through the endpoint pool and returns the response with the endpoint's lease still held: the
   * caller releases it once the body is read, so in-flight counts (and least-outstanding) include body transfer.
   * With several endpoints, a request whose endpoint failed (refused, reset, 5xx) is sent again to another one, up
   * to `maxAttempts` times, waiting (jittered backoff) only when it has failed on every endpoint or was throttled.
   */
  async #request<T>(
    operation: string,
    build: (sdk: Sdk) => object,
    ctx: RequestContext,
  ): Promise<{ out: T; lease: EndpointLease }> {
    const { sdk, clients } = await this.#load();
    return this.#attempts(
      operation,
      ctx,
      async (index) => (await clients[index]!.send(build(sdk) as never, ctx.signal ? { abortSignal: ctx.signal } : {})) as T,
      () => false,
    );
  }

  /**
   * The tries of one request: `send` on the endpoint leased for each. Failover (several endpoints) retries a failed
   * request on another. A request the SDK does not retry itself (`retriedHere(index)`: a direct read) is retried here
   * on a single endpoint too, as the SDK would: `maxAttempts` tries, transient failures only, jittered backoff.
   */
  async #attempts<T>(
    operation: string,
    ctx: RequestContext,
    send: (index: number) => Promise<T>,
    retriedHere: (index: number) => boolean,
  ): Promise<{ out: T; lease: EndpointLease }> {
    const tried = new Set<number>();
    for (let attempt = 1; ; attempt++) {
      if (ctx.signal?.aborted) throw abortErrorFrom(ctx.signal);
      const lease = this.#pool.acquire(tried, operation, ctx.key ?? ctx.prefix ?? "");
      tried.add(lease.index);
      try {
        const out = await send(lease.index);
        if (ctx.bytesOut) lease.addBytes(ctx.bytesOut);
        return { out, lease };
      } catch (raw) {
        const error = mapS3Error(raw, this.#context(operation, ctx.key, ctx.signal));
        const outcome = endpointOutcomeOf(error, ctx.signal);
        lease.release(outcome, error);
        if (!(this.#failover || retriedHere(lease.index)) || outcome === "ok" || outcome === "aborted" || attempt >= this.options.maxAttempts) throw error;
        if (outcome === "error" || tried.size >= this.#pool.size) {
          const hint = BackendError.isInstance(error) ? error.retryAfterMs : undefined;
          await sleep(backoffDelay(attempt, FAILOVER_BACKOFF, hint), ctx.signal);
          if (tried.size >= this.#pool.size) tried.clear();
        }
      }
    }
  }

  /** Ends a request whose body was read (or abandoned): its bytes and outcome go to the endpoint's numbers. */
  #finish(lease: EndpointLease, bytes: number, error: unknown | undefined, signal: AbortSignal | undefined): void {
    lease.addBytes(bytes);
    lease.release(error === undefined ? "ok" : endpointOutcomeOf(error, signal), error);
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
   * response headers arrive, with the body still streaming into `data`. With `checksum` on, a HeadObject for the
   * stored checksum runs alongside (a ranged GET carries none): a head that is the whole object is checked here,
   * a larger object by core through `DriverHead.checksum` (get, getStream and readTo alike).
   */
  async readHead(key: string, length: number, opts: { signal?: AbortSignal; progress?: () => void }): Promise<DriverHead> {
    // engine: false asks for "everything": a plain GET then.
    const range = length >= Number.MAX_SAFE_INTEGER ? undefined : `bytes=0-${length - 1}`;
    const check = this.#wholeObjectCheck(key, undefined, opts.signal);
    let out: ObjectResponse;
    let lease: EndpointLease;
    try {
      ({ out, lease } = await this.#getObject(key, range, undefined, opts.signal));
    } catch (error) {
      // S3 answers a Range on a 0-byte object with 416: the object exists and is empty.
      if (!InvalidRangeError.isInstance(error)) throw error;
      const meta = await this.stat(key, opts);
      if (meta.size !== 0) throw error;
      return { data: new Uint8Array(0), meta };
    }
    let meta: ObjectMeta;
    let want: number;
    try {
      // A Content-Range that does not fit the request (another range, a total it contradicts) fails here, retryably.
      const total =
        out.contentRange === undefined
          ? out.contentLength
          : checkContentRange(out.contentRange, out.contentLength, { offset: 0, length, exact: false, what: `GetObject ${JSON.stringify(key)}` });
      if (total === undefined) {
        throw new BackendError(`GetObject s3://${this.options.bucket}/${this.#fullKey(key)}: response has neither Content-Range nor Content-Length`, {
          code: "E_S3",
          retryable: true,
        });
      }
      meta = this.#meta(key, total, out.etag, out.lastModified);
      want = Math.min(length, total);
    } catch (error) {
      out.discard();
      this.#finish(lease, 0, error, opts.signal);
      throw error;
    }
    const response = out;
    // Resolve on the headers: the size is known, so core starts the other ranges while this body still arrives.
    const data = (async () => {
      let buffer: Buffer;
      let got = 0;
      try {
        buffer = Buffer.allocUnsafeSlow(want);
        got = await response.readInto(buffer, { progress: opts.progress, allowMore: true });
      } catch (error) {
        // Core reads a head whose body failed again as a pinned range: the pool sends that to another endpoint.
        response.discard();
        this.#finish(lease, 0, error, opts.signal);
        throw error;
      }
      this.#finish(lease, got, undefined, opts.signal);
      if (got !== want) {
        throw new IntegrityError(`GetObject returned ${got} bytes for the first ${want} of ${JSON.stringify(key)}`, {
          code: "E_LENGTH_MISMATCH",
          retryable: true,
        });
      }
      // This request read the whole object: check it here, whichever way core hands it on (get, stream, readTo). A
      // mismatch is retried by core as a pinned read of the whole object, which `read` checks again.
      if (want === meta.size && check) await check(buffer, meta.etag);
      return buffer;
    })();
    // A larger object is checked by core, as its bytes arrive, against the digest of the version this GET read.
    return { data, meta, ...(check && want < meta.size ? { checksum: check.expected(meta.etag) } : {}) };
  }

  /** HeadObject with `ChecksumMode: ENABLED`: the version it saw and the whole-object checksum stored with it. */
  async #storedChecksum(key: string, etag: string | undefined, signal: AbortSignal | undefined): Promise<{ etag: string | undefined; checksum: StoredChecksum | undefined }> {
    const out = await this.#send<{ ETag?: string } & Parameters<typeof wholeObjectChecksum>[0]>(
      "HeadObject",
      (sdk) =>
        new sdk.HeadObjectCommand({
          Bucket: this.options.bucket,
          Key: this.#fullKey(key),
          ChecksumMode: "ENABLED",
          ...(etag !== undefined ? { IfMatch: etag } : {}),
        }),
      { key, signal },
    );
    return { etag: out.ETag, checksum: wholeObjectChecksum(out, this.options.checksum) };
  }

  /**
   * With `checksum` on: starts the HeadObject that fetches the stored checksum (now, in parallel with the GET) and
   * returns the check of the bytes once they are in; undefined when off. Unpinned, the HeadObject may see another
   * version than the GET did: then (or when it failed) it is asked again pinned to the version read, `If-Match` its
   * ETag (412 → IntegrityError `E_OBJECT_CHANGED`). Objects with no checksum we can recompute (none stored, or a
   * multipart composite "…-N") pass unchecked.
   */
  #wholeObjectCheck(
    key: string,
    pinned: string | undefined,
    signal: AbortSignal | undefined,
  ): ((bytes: Uint8Array, etag: string | undefined) => Promise<void>) & { expected: (etag: string | undefined) => Promise<ExpectedChecksum | undefined> } | undefined {
    if (!this.options.checksum) return undefined;
    const early = this.#storedChecksum(key, pinned, signal);
    // Awaited by the check, which asks again when it failed; a read that fails first never looks at it.
    early.catch(() => {});
    const what = `s3://${this.options.bucket}/${this.#fullKey(key)}`;
    const expected = async (etag: string | undefined): Promise<ExpectedChecksum | undefined> => {
      let stored = await early.catch(() => undefined);
      if (stored === undefined || (etag !== undefined && stored.etag !== etag)) stored = await this.#storedChecksum(key, etag, undefined);
      return stored.checksum ? { ...stored.checksum, what } : undefined;
    };
    const check = async (bytes: Uint8Array, etag: string | undefined) => {
      const sum = await expected(etag);
      if (sum) verifyChecksum(sum.algorithm, bytes, sum.value, sum.what);
    };
    return Object.assign(check, { expected });
  }

  async #readBodyInto(body: Readable, out: Uint8Array, key: string, opts: { signal?: AbortSignal | undefined; progress?: () => void; allowMore?: boolean }): Promise<number> {
    try {
      return await readBodyInto(body, out, {
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.progress ? { progress: opts.progress } : {}),
        ...(opts.allowMore ? { allowMore: true } : {}),
      });
    } catch (error) {
      throw mapS3Error(error, this.#context("GetObject (body)", key, opts.signal));
    }
  }

  /**
   * One GetObject (`Range`, `If-Match` when given) through the endpoint pool, resolved on the response headers with
   * the body unread: a direct read on an `http:` endpoint when direct reads are on, else the SDK.
   */
  async #getObject(
    key: string,
    range: string | undefined,
    ifMatch: string | undefined,
    signal: AbortSignal | undefined,
  ): Promise<{ out: ObjectResponse; lease: EndpointLease }> {
    const { sdk, clients, direct } = await this.#load();
    const input = {
      Bucket: this.options.bucket,
      Key: this.#fullKey(key),
      ...(range ? { Range: range } : {}),
      ...(ifMatch !== undefined ? { IfMatch: ifMatch } : {}),
    };
    return this.#attempts<ObjectResponse>(
      "GetObject",
      { key, signal },
      async (index) => {
        const target = direct?.endpoints[index];
        if (target) return this.#directGet(direct.client, target, key, input, signal);
        const out = (await clients[index]!.send(new sdk.GetObjectCommand(input), signal ? { abortSignal: signal } : {})) as GetObjectCommandOutput;
        return {
          etag: out.ETag,
          contentRange: out.ContentRange,
          contentLength: out.ContentLength,
          lastModified: out.LastModified,
          readInto: (buffer, opts) => this.#readBodyInto(asReadable(out.Body), buffer, key, { signal, ...opts }),
          discard: () => (out.Body as Readable | undefined)?.destroy?.(),
        };
      },
      (index) => direct?.endpoints[index] !== undefined,
    );
  }

  /** GetObject sent by core's HttpGetClient: signed like the SDK's, a non-2xx answer thrown as the SDK would throw it. */
  async #directGet(
    client: HttpGetClient,
    direct: { endpoint: DirectEndpoint; signer: DirectSigner },
    key: string,
    input: DirectGetRequest["input"],
    signal: AbortSignal | undefined,
  ): Promise<ObjectResponse> {
    const target = objectTarget(direct.endpoint, input.Bucket, input.Key, this.options.forcePathStyle);
    const where = `s3://${input.Bucket}/${input.Key}`;
    let response: HttpGetResponse;
    for (let clockCorrected = false; ; clockCorrected = true) {
      const headers = await direct.signer.sign(target, {
        ...(input.Range !== undefined ? { range: input.Range } : {}),
        ...(input.IfMatch !== undefined ? { "if-match": input.IfMatch } : {}),
      });
      if (this.directRequestHook) await this.directRequestHook({ operation: "GetObject", input, headers: { ...headers } });
      response = await client.get({ host: target.host, port: target.port, path: target.path, headers, signal }).catch((error: unknown) => {
        throw inS3Terms(error, "GetObject", where);
      });
      if (response.status >= 200 && response.status < 300) break;
      const error = s3ErrorFromResponse(response);
      // A signature refused for its date: sign again with the server's clock, once (the SDK does the same).
      if (!clockCorrected && CLOCK_SKEW_CODES.has(error.name) && direct.signer.correctClock(response.headers.date)) continue;
      throw error;
    }
    const lastModified = response.headers["last-modified"];
    return {
      etag: response.headers.etag,
      contentRange: response.headers["content-range"],
      contentLength: response.contentLength,
      lastModified: lastModified !== undefined ? new Date(lastModified) : undefined,
      readInto: async (buffer, opts) => {
        try {
          return await response.readInto(buffer, opts);
        } catch (error) {
          throw mapS3Error(inS3Terms(error, "GetObject (body)", where), this.#context("GetObject (body)", key, signal));
        }
      },
      discard: () => response.discard(),
    };
  }

  /**
   * A ranged GET pinned to `etag` with `If-Match` (412 → IntegrityError `E_OBJECT_CHANGED`), read straight into
   * `target` when given.
   */
  async read(key: string, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    // A read of the whole object (core's retry of a small object, a one-range plan) is checked like a head.
    const check = offset === 0 && length === opts.size ? this.#wholeObjectCheck(key, opts.etag, opts.signal) : undefined;
    const { out, lease } = await this.#getObject(key, `bytes=${offset}-${offset + length - 1}`, opts.etag, opts.signal);
    let target: Uint8Array;
    try {
      // Belt and braces for servers that ignore If-Match: the version we got must be the version we pinned.
      if (opts.etag !== undefined && out.etag !== undefined && out.etag !== opts.etag) {
        throw new IntegrityError(`s3://${this.options.bucket}/${this.#fullKey(key)} changed during the read (ETag ${out.etag}, expected ${opts.etag})`, {
          code: "E_OBJECT_CHANGED",
        });
      }
      // No Content-Range: a server that ignored the Range header and sent the whole object from byte 0.
      const ignoredRange = out.contentRange === undefined;
      if (!ignoredRange) {
        // The answer must be exactly the bytes asked for, of an object of the size the read began with.
        checkContentRange(out.contentRange!, out.contentLength, {
          offset,
          length,
          exact: true,
          ...(opts.size !== undefined ? { size: opts.size } : {}),
          what: `GetObject ${JSON.stringify(key)}`,
        });
      }
      target = opts.target ?? Buffer.allocUnsafeSlow(length);
      if (ignoredRange && offset !== 0) {
        throw new BackendError(`the server ignored the Range header of GetObject ${JSON.stringify(key)}`, { code: "E_S3", retryable: false });
      }
      const got = await out.readInto(target, { progress: opts.progress, allowMore: ignoredRange });
      if (got !== length) {
        throw (ignoredRange && got < length)
          ? new InvalidRangeError(`range [${offset}, ${offset + length}) passes the end of ${JSON.stringify(key)} (${got} bytes)`)
          : new IntegrityError(`GetObject returned ${got} bytes for a range of ${length}`, { code: "E_LENGTH_MISMATCH", retryable: true });
      }
      this.#finish(lease, got, undefined, opts.signal);
    } catch (error) {
      out.discard();
      this.#finish(lease, 0, error, opts.signal);
      throw error;
    }
    if (check) await check(target, out.etag ?? opts.etag);
    return target;
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

  /**
   * One PutObject. With `checksum` on it carries the checksum of `body` (computed here, before the bytes leave), so
   * the server refuses bytes that differ from what the caller handed us (`BadDigest` → IntegrityError `E_CHECKSUM`).
   */
  async #putObject(key: string, body: Uint8Array, opts: DriverWriteOptions): Promise<ObjectMeta> {
    const sum = this.#checksumFields(body);
    const out = await this.#send<{ ETag?: string } & Record<string, unknown>>(
      "PutObject",
      (sdk) =>
        new sdk.PutObjectCommand({
          Bucket: this.options.bucket,
          Key: this.#fullKey(key),
          Body: body,
          ContentLength: body.length,
          ...(opts.contentType !== undefined ? { ContentType: opts.contentType } : {}),
          ...sum?.fields,
        }),
      { key, signal: opts.signal, bytesOut: body.length },
    );
    if (sum) await this.#checkStoredChecksum(key, out, sum.value, body.length, "PutObject");
    return this.#meta(key, body.length, out.ETag, undefined);
  }

  /** The request fields that send `bytes`'s checksum (`ChecksumAlgorithm` + `ChecksumCRC32C`, ...), when on. */
  #checksumFields(bytes: Uint8Array): { value: string; fields: Record<string, string> } | undefined {
    const algorithm = this.options.checksum;
    if (!algorithm) return undefined;
    const { sdk, field } = S3_CHECKSUMS[algorithm];
    const value = checksumBase64(algorithm, bytes);
    return { value, fields: { ChecksumAlgorithm: sdk, [field]: value } };
  }

  /**
   * A server echoes the checksum it stored. One that differs from what we sent means it kept other bytes without
   * refusing them (it did not check): the new version is deleted again (`If-Match` its ETag, best effort) and the
   * put fails. A server that echoes nothing does not support checksums, and is trusted as without the option.
   */
  async #checkStoredChecksum(key: string, out: { ETag?: string } & Record<string, unknown>, sent: string, size: number, operation: string): Promise<void> {
    const algorithm = this.options.checksum;
    if (!algorithm) return;
    const stored = out[S3_CHECKSUMS[algorithm].field];
    if (typeof stored !== "string" || stored === sent) return;
    const where = `s3://${this.options.bucket}/${this.#fullKey(key)}`;
    await this.#send(
      "DeleteObject",
      (sdk) => new sdk.DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.#fullKey(key), ...(out.ETag ? { IfMatch: out.ETag } : {}) }),
      { key, signal: AbortSignal.timeout(30_000) },
    ).catch(() => {});
    throw new IntegrityError(`${operation} ${where}: the server stored ${algorithm.toUpperCase()} ${stored}, the ${size} bytes sent have ${sent}`, {
      code: "E_CHECKSUM",
      retryable: true,
    });
  }

  /**
   * A multipart upload of the parts `nextPart` returns (an empty part ends it), `uploadConcurrency` at a time. Any
   * failure or abort aborts the in-flight parts and then the upload itself (AbortMultipartUpload), so no parts are
   * left behind and no object appears.
   *
   * With `checksum` on, every part carries its checksum (the server refuses a damaged part) and the completion lists
   * them. For a CRC the upload is `FULL_OBJECT`: we send the CRC of all the bytes, which the server checks against
   * the parts and stores as the object's checksum, so a later `get` can check the whole object. A hash (SHA256) can
   * only be `COMPOSITE` (the hash of the parts' hashes, "…-N"), which no read can recompute from the bytes.
   */
  async #multipart(key: string, opts: DriverWriteOptions, nextPart: () => Promise<Uint8Array>): Promise<ObjectMeta> {
    const { bucket, checksum: algorithm } = this.options;
    const Key = this.#fullKey(key);
    const spelling = algorithm ? S3_CHECKSUMS[algorithm] : undefined;
    // The parts arrive in order, so the whole object's CRC is kept running as they are produced.
    const whole = algorithm && spelling?.fullObject ? createChecksum(algorithm) : undefined;
    const created = await this.#send<{ UploadId?: string }>(
      "CreateMultipartUpload",
      (sdk) =>
        new sdk.CreateMultipartUploadCommand({
          Bucket: bucket,
          Key,
          ...(opts.contentType !== undefined ? { ContentType: opts.contentType } : {}),
          ...(spelling ? { ChecksumAlgorithm: spelling.sdk, ChecksumType: whole ? "FULL_OBJECT" : "COMPOSITE" } : {}),
        }),
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
        whole?.update(body);
        const sum = this.#checksumFields(body);
        const upload = this.#send<{ ETag?: string } & Record<string, unknown>>(
          "UploadPart",
          (sdk) =>
            new sdk.UploadPartCommand({ Bucket: bucket, Key, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length, ...sum?.fields }),
          { key, signal: controller.signal, bytesOut: body.length },
        )
          .then((out) => {
            const echoed = spelling ? out[spelling.field] : undefined;
            if (sum && typeof echoed === "string" && echoed !== sum.value) {
              throw new IntegrityError(`UploadPart ${partNumber} of s3://${bucket}/${Key}: the server stored ${spelling!.sdk} ${echoed}, the ${body.length} bytes sent have ${sum.value}`, {
                code: "E_CHECKSUM",
                retryable: true,
              });
            }
            parts.push({ PartNumber: partNumber, ETag: out.ETag, ...(sum && spelling ? { [spelling.field]: sum.value } : {}) });
          })
          .catch((error: unknown) => {
            if (failure === undefined) failure = error;
            controller.abort(error);
          });
        const tracked = upload.finally(() => inFlight.delete(tracked));
        inFlight.add(tracked);
        if (inFlight.size >= this.options.uploadConcurrency) await Promise.race(inFlight);
      }
      await Promise.all(inFlight);
      if (failure !== undefined) throw failure;
      if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
      parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
      const wholeValue = whole?.digestBase64();
      const done = await this.#send<{ ETag?: string } & Record<string, unknown>>(
        "CompleteMultipartUpload",
        (sdk) =>
          new sdk.CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key,
            UploadId: uploadId,
            MultipartUpload: { Parts: parts },
            ...(wholeValue !== undefined && spelling ? { ChecksumType: "FULL_OBJECT", [spelling.field]: wholeValue } : {}),
          }),
        { key, signal: opts.signal },
      );
      if (wholeValue !== undefined) await this.#checkStoredChecksum(key, done, wholeValue, size, "CompleteMultipartUpload");
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
        { signal: opts.signal, prefix },
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
      if (page.CommonPrefixes?.length) entries.sort((a, b) => compareKeysUtf8(a.key, b.key)); // S3 lists in UTF-8 byte order
      yield* entries;
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token !== undefined);
  }

  /** Server-side copy (CopyObject, or a multipart copy above 5 GiB), pinned to the source's ETag. */
  copy(srcKey: string, dstKey: string, opts: DriverCopyOptions): Promise<ObjectMeta> {
    const { bucket, prefix, uploadConcurrency } = this.options;
    return copyS3Object(
      { bucket, prefix, concurrency: uploadConcurrency, send: (operation, build, ctx) => this.#send(operation, build, ctx) },
      srcKey,
      dstKey,
      opts,
    );
  }

  async delete(key: string, opts: DriverDeleteOptions = {}): Promise<void> {
    await this.#send("DeleteObject", (sdk) => new sdk.DeleteObjectCommand({ Bucket: this.options.bucket, Key: this.#fullKey(key) }), {
      key,
      signal: opts.signal,
    });
  }

  /** DeleteObjects, 1000 keys per request (S3's limit); an abort is checked before each and aborts the one in flight. */
  async deleteMany(keys: string[], opts: DriverDeleteOptions = {}): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      if (opts.signal?.aborted) throw abortErrorFrom(opts.signal);
      const batch = keys.slice(i, i + 1000);
      const out = await this.#send<{ Errors?: { Key?: string; Code?: string; Message?: string }[] }>(
        "DeleteObjects",
        (sdk) =>
          new sdk.DeleteObjectsCommand({
            Bucket: this.options.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.#fullKey(key) })), Quiet: true },
          }),
        { signal: opts.signal },
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
      for (const client of loaded?.clients ?? []) client.destroy();
    }
    this.#directClient?.close();
    this.#httpAgent?.destroy();
    this.#httpsAgent?.destroy();
  }
}

/** What one request is about: the key (in messages and events), a listing's prefix (events only), its signal, bytes sent. */
interface RequestContext {
  key?: string;
  prefix?: string;
  signal?: AbortSignal | undefined;
  bytesOut?: number;
}

/** An {@link ObjectStore} on S3 (one or several endpoints), with the numbers of each endpoint. */
export interface S3Store extends ObjectStore {
  /** Per endpoint: requests, bytes, errors, in flight, state; see {@link S3Driver.endpointStats}. */
  endpointStats(): EndpointStats[];
}

/** An {@link ObjectStore} on S3 or an S3-compatible service. */
export function createS3Store(options: S3StoreOptions): S3Store {
  const driver = new S3Driver(options);
  if (options.allocate !== undefined && typeof options.allocate !== "function") throw invalidOptionError("s3: allocate must be a function");
  const store = createObjectStore(driver, {
    ...(options.engine ? { engine: options.engine } : {}),
    allocate: options.allocate ?? allocateReadResult,
  });
  return Object.assign(store, { endpointStats: () => driver.endpointStats() });
}

/** True for a store made by {@link createS3Store} (also through `openStore("s3://…")`), which has `endpointStats()`. */
export function isS3Store(store: ObjectStore): store is S3Store {
  return store.scheme === "s3" && typeof (store as Partial<S3Store>).endpointStats === "function";
}
