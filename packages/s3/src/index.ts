export {
  S3Driver,
  createS3Store,
  isS3Store,
  resolveS3Options,
  totalFromContentRange,
  type DirectGetRequest,
  type ResolvedS3Options,
  type S3Credentials,
  type S3Store,
  type S3StoreOptions,
} from "./s3-store.js";
export {
  ENDPOINTS_ENV,
  STRATEGY_ENV,
  endpointOutcomeOf,
  resolveEndpointStrategy,
  resolveEndpoints,
  type EndpointSource,
  type ResolvedEndpoints,
} from "./endpoints.js";
export { CHECKSUM_ENV, resolveChecksumOption, wholeObjectChecksum, type S3ChecksumAlgorithm, type StoredChecksum } from "./checksums.js";
export { directEndpoint, objectTarget, s3ErrorFromResponse, type DirectEndpoint } from "./direct-get.js";
export { mapS3Error, sanitizedCause, type S3ErrorContext } from "./errors.js";
export { MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE, maxStreamSize, partSizeForLength, streamPartSize } from "./multipart.js";
export { backend } from "./plugin.js";
