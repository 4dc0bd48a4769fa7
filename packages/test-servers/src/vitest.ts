import { startSeaweedFs, startSeaweedFsCluster, type SeaweedFsClusterOptions, type SeaweedFsServer } from "./seaweedfs/server.js";
import type { S3Connection } from "./types.js";
import { gcsConnectionOf, startFakeGcsServer, type FakeGcsServerOptions } from "./gcs/server.js";
import { azureConnectionOf, startAzurite, type AzuriteOptions } from "./azurite/server.js";

/** The part of vitest's `TestProject` a global setup uses; structural, so the kit does not depend on vitest. */
export interface ProvideTarget {
  provide(key: string, value: unknown): void;
}

/** What every started test server offers a global setup. */
interface StartedServer {
  env(): Record<string, string>;
  stop(): Promise<void>;
}

type GlobalSetup = (project: ProvideTarget) => Promise<() => Promise<void>>;

/**
 * The shape of every global setup below: start the server, `provide()` its connection, optionally export its
 * environment variables to this process, and return the teardown that restores them and stops the server.
 */
function serverGlobalSetup<S extends StartedServer>(start: () => Promise<S>, connectionOf: (server: S) => unknown, provideKey: string, setEnv: boolean): GlobalSetup {
  return async (project) => {
    const server = await start();
    project.provide(provideKey, connectionOf(server));
    const previous: Record<string, string | undefined> = {};
    if (setEnv) {
      for (const [name, value] of Object.entries(server.env())) {
        previous[name] = process.env[name];
        process.env[name] = value;
      }
    }
    return async () => {
      for (const [name, value] of Object.entries(previous)) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await server.stop();
    };
  };
}

export interface SeaweedFsGlobalSetupOptions extends SeaweedFsClusterOptions {
  /** Start the multi-process cluster instead of one `weed server`. Default false. */
  cluster?: boolean;
  /** `provide()` key for the {@link S3Connection}. Default "s3". */
  provideKey?: string;
  /** Also set AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY in this process. Default true. */
  setEnv?: boolean;
}

/** The connection data of a started S3 server, for `provide()` or a benchmark's config. */
export function s3ConnectionOf(server: SeaweedFsServer, buckets: string[]): S3Connection {
  return {
    endpoint: server.endpoint,
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    buckets,
  };
}

/**
 * A vitest `globalSetup` function: starts SeaweedFS (installing it on first use), creates `buckets`, provides an
 * {@link S3Connection} under `provideKey` (read it in tests with `inject("s3")`), sets the AWS_* variables, and returns
 * the teardown that stops the server.
 *
 * ```ts
 * // test/global-setup.ts
 * export default seaweedFsGlobalSetup({ buckets: ["range-test"] });
 * ```
 */
export function seaweedFsGlobalSetup(options: SeaweedFsGlobalSetupOptions = {}): GlobalSetup {
  const { cluster = false, provideKey = "s3", setEnv = true, ...serverOptions } = options;
  return serverGlobalSetup(
    () => (cluster ? startSeaweedFsCluster(serverOptions) : startSeaweedFs(serverOptions)),
    (server) => s3ConnectionOf(server, serverOptions.buckets ?? []),
    provideKey,
    setEnv,
  );
}

export interface AzuriteGlobalSetupOptions extends AzuriteOptions {
  /** `provide()` key for the {@link AzureConnection}. Default "azure". */
  provideKey?: string;
  /** Also set AZURE_STORAGE_CONNECTION_STRING in this process. Default true. */
  setEnv?: boolean;
}

/**
 * A vitest `globalSetup` function: starts Azurite's blob service (installing it on first use), creates `containers`,
 * provides an {@link AzureConnection} under `provideKey` (read it in tests with `inject("azure")`), sets
 * AZURE_STORAGE_CONNECTION_STRING, and returns the teardown that stops the server.
 *
 * ```ts
 * // test/global-setup.ts
 * export default azuriteGlobalSetup({ containers: ["range-test"] });
 * ```
 */
export function azuriteGlobalSetup(options: AzuriteGlobalSetupOptions = {}): GlobalSetup {
  const { provideKey = "azure", setEnv = true, ...serverOptions } = options;
  return serverGlobalSetup(() => startAzurite(serverOptions), (server) => azureConnectionOf(server, serverOptions.containers ?? []), provideKey, setEnv);
}

export interface FakeGcsGlobalSetupOptions extends FakeGcsServerOptions {
  /** `provide()` key for the {@link GcsConnection}. Default "gcs". */
  provideKey?: string;
  /** Also set STORAGE_EMULATOR_HOST in this process. Default true. */
  setEnv?: boolean;
}

/**
 * A vitest `globalSetup` function: starts fake-gcs-server (installing it on first use), creates `buckets`, provides a
 * {@link GcsConnection} under `provideKey` (read it in tests with `inject("gcs")`), sets STORAGE_EMULATOR_HOST, and
 * returns the teardown that stops the server.
 *
 * ```ts
 * // test/global-setup.ts
 * export default fakeGcsGlobalSetup({ buckets: ["range-test"] });
 * ```
 */
export function fakeGcsGlobalSetup(options: FakeGcsGlobalSetupOptions = {}): GlobalSetup {
  const { provideKey = "gcs", setEnv = true, ...serverOptions } = options;
  return serverGlobalSetup(() => startFakeGcsServer(serverOptions), (server) => gcsConnectionOf(server, serverOptions.buckets ?? []), provideKey, setEnv);
}
