export {
  GcsDriver,
  createGcsStore,
  createStorageClient,
  resolveGcsConnection,
  resolveGcsOptions,
  totalFromContentRange,
  type GcsConnectionOptions,
  type GcsCredentials,
  type GcsStoreOptions,
  type ResolvedGcsConnection,
  type ResolvedGcsOptions,
} from "./gcs-store.js";
export { credentialsError, mapGcsError, redactGcsSecrets, sanitizedCause, type GcsErrorContext } from "./errors.js";
export { crc32cFromHashHeader } from "./crc32c.js";
export { gcsBuckets, type GcsBucketOptions } from "./buckets.js";
export { backend } from "./plugin.js";
