export {
  AbortError,
  BackendError,
  IntegrityError,
  InvalidKeyError,
  InvalidRangeError,
  NotFoundError,
  ObjectTooLargeError,
  RangeConfigError,
  RangeStoreError,
  TimeoutError,
  abortErrorFrom,
  isAbortError,
  isRangeStoreError,
  redactSecrets,
  type RangeStoreErrorOptions,
} from "./errors.js";
export { onAbort, raceAbort } from "./abort.js";
export {
  CHECKSUM_ALGORITHMS,
  checksumBase64,
  crc32,
  crc32c,
  crcFromBase64,
  crcImplementation,
  crcToBase64,
  createChecksum,
  isChecksumAlgorithm,
  verifyChecksum,
  IncrementalVerifier,
  OrderedVerifier,
  verifyWholeObject,
  type ExpectedChecksum,
  type WholeObjectChecksum,
  type Checksum,
  type ChecksumAlgorithm,
  type CrcFunction,
  type CrcImplementation,
} from "./checksum/index.js";
export { backoffDelay, sleep } from "./engine/backoff.js";
export {
  DEFAULT_ENGINE_OPTIONS,
  DEFAULT_HEDGE_OPTIONS,
  GiB,
  KiB,
  MiB,
  resolveEngineOptions,
  type HedgeOptions,
  type RangeEngineOptions,
  type ResolvedHedgeOptions,
  type ResolvedRangeEngineOptions,
  type ResolvedRetryOptions,
  type RetryOptions,
} from "./engine/options.js";
export {
  assertKnownOptions,
  assertOptionsObject,
  compareKeysUtf8,
  integerOption,
  invalidOptionError,
  normalizePrefix,
} from "./options-check.js";
export { mulberry32, seededRandom } from "./random.js";
export { MIN_PLANNED_RANGE, assertValidSize, chooseRangeSize, planRanges, type PlannedRange } from "./engine/plan.js";
export {
  RangeEngine,
  allocateBuffer,
  assertFitsInBuffer,
  type DownloadOptions,
  type DownloadResult,
  type RangeFetchContext,
  type RangeFetcher,
  type RangeSink,
} from "./engine/range-engine.js";
export { StallTimer } from "./engine/stall-timer.js";
export {
  ENDPOINT_STRATEGIES,
  EndpointPool,
  type EndpointLease,
  type EndpointOutcome,
  type EndpointPoolOptions,
  type EndpointState,
  type EndpointStats,
  type EndpointStrategy,
} from "./endpoints/endpoint-pool.js";
export { MAX_ENDPOINTS, expandEndpointTemplate, parseEndpointList } from "./endpoints/template.js";
export type { DownloadProgress, RangeStats } from "./engine/stats.js";
export { createObjectStore, type CreateObjectStoreOptions } from "./store/create-store.js";
export { downloadFile, type DownloadFileOptions } from "./store/download-file.js";
export { createReadAgent, readBodyInto, type BodyStream, type ReadAgentOptions, type ReadBodyOptions } from "./store/read-body.js";
export {
  HttpGetClient,
  type HttpGetClientOptions,
  type HttpGetConnectionStats,
  type HttpGetReadOptions,
  type HttpGetRequest,
  type HttpGetResponse,
} from "./store/http-get-client.js";
export { PartReader, maxStreamSize, partSizeForLength, streamPartSize, type PartLimits } from "./store/parts.js";
export {
  NETWORK_ERROR_CODES,
  authError,
  isNetworkFailure,
  parseRetryAfter,
  sanitizedErrorCause,
  transientHttpError,
  type ErrorCauseFields,
  type TransientFailure,
} from "./http-errors.js";
export { checkContentRange, parseContentRange, type ContentRange, type RangeRequest } from "./store/content-range.js";
export { isRetryableError, withRetries, type AttemptContext, type WithRetriesOptions } from "./engine/retrying.js";
export type {
  DriverCopyOptions,
  DriverDeleteOptions,
  DriverHead,
  DriverOpenOptions,
  DriverReader,
  DriverListOptions,
  DriverReadOptions,
  DriverWriteOptions,
  StoreDriver,
} from "./store/driver.js";
export { MAX_KEY_BYTES, assertValidKey, assertValidPrefix, assertValidRange, oneLevelEntry } from "./store/keys.js";
export { RequestEvents, type RequestEvent, type RequestListener, type RequestOutcome } from "./store/request-events.js";
export type { ObservedOperation, OperationObserver } from "./store/operation-observer.js";
export type {
  CopyOptions,
  DeletePrefixOptions,
  GetOptions,
  GetRangeOptions,
  ListOptions,
  ObjectMeta,
  ObjectSink,
  ObjectStore,
  PutOptions,
  PutProgress,
  ReadToResult,
} from "./store/types.js";
export {
  MemoryBucket,
  createMemoryStore,
  memoryBucket,
  type MemoryStore,
  type MemoryStoreOptions,
  type MemoryStoreProbe,
} from "./memory/memory-store.js";
export {
  BACKEND_PACKAGES,
  memoryBackend,
  openStore,
  registerBackend,
  registeredSchemes,
  unregisterBackend,
  listBuckets,
  createBucket,
  deleteBucket,
  type BucketCallOptions,
  type BucketInfo,
  type BucketManager,
  type BackendPlugin,
  type RegisterBackendOptions,
} from "./registry.js";
