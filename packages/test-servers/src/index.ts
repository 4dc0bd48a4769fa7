export type { S3Connection, S3TestServer, TestServer } from "./types.js";
export { cacheRoot, findWorkspaceRoot } from "./cache.js";
export { withFileLock, type FileLockOptions } from "./lock.js";
export { LOOPBACK, freePort, freePorts } from "./ports.js";
export { DEFAULT_GRACE_MS, ServerProcess, liveServerProcesses, removeOnExit, type ExitInfo, type SpawnServerOptions } from "./process.js";
export { FatalProbeError, httpResponds, waitUntil, type WaitOptions } from "./wait.js";
export { createS3Bucket, s3Request, type S3Credentials, type S3RequestOptions, type S3Response } from "./s3-request.js";
export {
  SEAWEEDFS_GO_VERSION,
  SEAWEEDFS_PYPI_VERSION,
  installSeaweedFs,
  type InstallMethod,
  type InstallSeaweedFsOptions,
  type SeaweedFsInstall,
} from "./seaweedfs/install.js";
export {
  startSeaweedFs,
  startSeaweedFsCluster,
  type SeaweedFsClusterOptions,
  type SeaweedFsOptions,
  type SeaweedFsServer,
} from "./seaweedfs/server.js";
export { s3ConnectionOf, seaweedFsGlobalSetup, type ProvideTarget, type SeaweedFsGlobalSetupOptions } from "./vitest.js";
