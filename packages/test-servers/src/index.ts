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
  type SeaweedFsGateway,
  type SeaweedFsOptions,
  type SeaweedFsServer,
} from "./seaweedfs/server.js";
export { s3ConnectionOf, seaweedFsGlobalSetup, type ProvideTarget, type SeaweedFsGlobalSetupOptions } from "./vitest.js";
export {
  FAULT_KINDS,
  startFaultProxy,
  type Fault,
  type FaultKind,
  type FaultProxy,
  type FaultProxyOptions,
  type FaultProxyStats,
  type FaultRule,
  type ProxiedRequest,
  type RequestFilter,
} from "./fault-proxy/index.js";
export {
  runReadFaultSuite,
  type FaultObjectSize,
  type FaultReadOutcome,
  type FaultReadStats,
  type FaultReadStore,
  type FaultSuiteEngine,
  type FaultSuiteMatchers,
  type FaultSuiteVitest,
  type FaultTargetRequest,
  type PersistentFaultRow,
  type ReadFaultKit,
  type ReadFaultSuiteOptions,
  type TransientFaultRow,
} from "./fault-proxy/read-fault-suite.js";
export { AZURITE_VERSION, installAzurite, type AzuriteInstall, type InstallAzuriteOptions } from "./azurite/install.js";
export {
  azureBlobRequest,
  createAzureContainer,
  type AzureBlobRequestOptions,
  type AzureBlobResponse,
  type AzureSharedKey,
} from "./azurite/request.js";
export {
  azureConnectionOf,
  azuriteConnectionString,
  startAzurite,
  type AzureConnection,
  type AzuriteOptions,
  type AzuriteServer,
} from "./azurite/server.js";
export { azuriteGlobalSetup, type AzuriteGlobalSetupOptions } from "./vitest.js";
export {
  FAKE_GCS_SERVER_PYPI_VERSION,
  FAKE_GCS_SERVER_VERSION,
  installFakeGcsServer,
  type FakeGcsInstallMethod,
  type FakeGcsServerInstall,
  type InstallFakeGcsServerOptions,
} from "./gcs/install.js";
export {
  createGcsBucket,
  gcsConnectionOf,
  startFakeGcsServer,
  type CreateGcsBucketOptions,
  type FakeGcsServer,
  type FakeGcsServerOptions,
  type GcsConnection,
} from "./gcs/server.js";
export { fakeGcsGlobalSetup, type FakeGcsGlobalSetupOptions } from "./vitest.js";
export { cpuSecondsOf, measureOtherLoad, median, mibPerSecond, opsPerSecond, ownCpuSeconds, seedGetBenchmark, spread, waitForQuiet } from "./bench.js";
