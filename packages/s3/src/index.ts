export {
  S3Driver,
  createS3Store,
  resolveS3Options,
  totalFromContentRange,
  type ResolvedS3Options,
  type S3Credentials,
  type S3StoreOptions,
} from "./s3-store.js";
export { mapS3Error, parseRetryAfter, sanitizedCause, type S3ErrorContext } from "./errors.js";
export { MAX_PARTS, MAX_PART_SIZE, MIN_PART_SIZE, maxStreamSize, partSizeForLength, streamPartSize } from "./multipart.js";
export { backend } from "./plugin.js";
