export {
  AZURE_CHECKSUM_ENV,
  AzureDriver,
  createAzureStore,
  resolveAzureChecksum,
  isValidContainerName,
  resolveAzureOptions,
  type AzureStoreOptions,
  type ResolvedAzureOptions,
} from "./azure-store.js";
export { AzureAccount, type AzureAccountOptions, type AzureSdk } from "./account.js";
export {
  parseConnectionString,
  resolveAzureConnection,
  type AzureAuth,
  type AzureConnectionOptions,
  type AzureConnectionSettings,
  type AzureTokenCredential,
} from "./credentials.js";
export { azureErrorCode, mapAzureError, sanitizedCause, type AzureErrorContext } from "./errors.js";
export { BLOCKS_PER_STEP, MAX_BLOCKS, MAX_BLOCK_SIZE, blockSizeForLength, maxStreamSize, streamBlockSize } from "./blocks.js";
export { backend, containerManager, type AzureBackendOptions } from "./plugin.js";
