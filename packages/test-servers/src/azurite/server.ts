import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOOPBACK, freePort } from "../ports.js";
import { DEFAULT_GRACE_MS, ServerProcess, removeOnExit } from "../process.js";
import type { TestServer } from "../types.js";
import { FatalProbeError, waitUntil } from "../wait.js";
import { installAzurite, type AzuriteInstall, type InstallAzuriteOptions } from "./install.js";
import { azureBlobRequest, createAzureContainer, type AzureSharedKey } from "./request.js";

export interface AzuriteOptions {
  /** Containers to create before the server is handed out. */
  containers?: string[];
  /** The one storage account (3-24 lowercase letters and digits). Default "rangetest". */
  account?: string;
  /** Its key (base64). Default: 64 random bytes per start, so requests must really be signed with it. */
  accountKey?: string;
  /**
   * Keep blobs in memory (`--inMemoryPersistence`) instead of extent files in the temp dir. Default false: memory is
   * not faster here (side by side on one busy 2-core machine: a 256 MiB read took 1.38 s from disk vs 1.84 s from
   * memory, 1-byte puts ran at 324/s vs 237/s), and the test process's memory stays flat for big blobs.
   */
  inMemory?: boolean;
  /** Azurite's access log (one line per request) in the log file. Default false: it costs CPU per request. */
  accessLog?: boolean;
  /** Parent of the temp data dir. Default: the system temp dir. */
  dataParent?: string;
  /** Keep the data dir (and log) after `stop()`. Default false. */
  keepData?: boolean;
  /** More `azurite-blob` flags, appended last. */
  extraArgs?: string[];
  /** Readiness deadline. Default 60 s. */
  startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace on stop. Default 2 s. */
  graceMs?: number;
  install?: InstallAzuriteOptions;
}

export interface AzuriteServer extends TestServer, AzureSharedKey {
  /** The install used (script path, how it got there, and how long that took). */
  readonly install: AzuriteInstall;
  readonly process: ServerProcess;
  /** `http://127.0.0.1:<port>/<account>`, the same as `endpoint`. */
  readonly blobEndpoint: string;
  readonly account: string;
  readonly accountKey: string;
  /** `DefaultEndpointsProtocol=http;AccountName=...;AccountKey=...;BlobEndpoint=...;` */
  readonly connectionString: string;
  /** Creates a container (succeeds if it exists already). */
  createContainer(name: string): Promise<void>;
  /** `AZURE_STORAGE_CONNECTION_STRING`. */
  env(): Record<string, string>;
}

/** What an Azure Blob test needs to connect; plain data, so it can cross vitest's `provide()` / `inject()`. */
export interface AzureConnection {
  blobEndpoint: string;
  account: string;
  accountKey: string;
  connectionString: string;
  /** Containers created before the tests started. */
  containers: string[];
}

const ADDRESS_IN_USE = /EADDRINUSE|address already in use/i;
const START_ATTEMPTS = 3;

/** The connection string the Azure SDKs read from `AZURE_STORAGE_CONNECTION_STRING`. */
export function azuriteConnectionString(key: AzureSharedKey): string {
  return `DefaultEndpointsProtocol=http;AccountName=${key.account};AccountKey=${key.accountKey};BlobEndpoint=${key.blobEndpoint};`;
}

/** The connection data of a started Azurite, for `provide()` or a benchmark's config. */
export function azureConnectionOf(server: AzuriteServer, containers: string[]): AzureConnection {
  return {
    blobEndpoint: server.blobEndpoint,
    account: server.account,
    accountKey: server.accountKey,
    connectionString: server.connectionString,
    containers,
  };
}

async function startOnce(install: AzuriteInstall, options: AzuriteOptions, key: Omit<AzureSharedKey, "blobEndpoint">): Promise<AzuriteServer> {
  const dataDir = await mkdtemp(join(options.dataParent ?? tmpdir(), "range-azurite-"));
  const forget = options.keepData ? () => false : removeOnExit(dataDir);
  const removeData = async () => {
    forget();
    if (!options.keepData) await rm(dataDir, { recursive: true, force: true });
  };
  const port = await freePort();
  const blobEndpoint = `http://${LOOPBACK}:${port}/${key.account}`;
  const shared: AzureSharedKey = { ...key, blobEndpoint };
  const location = join(dataDir, "data");
  await mkdir(location);
  const args = [
    install.script,
    "--blobHost",
    LOOPBACK,
    "--blobPort",
    String(port),
    // Ignore headers and parameters Azurite does not implement instead of failing the request.
    "--loose",
    // Accept the service version the SDK sends even when it is newer than this Azurite release.
    "--skipApiVersionCheck",
    // Azurite otherwise reports usage to Application Insights; tests only talk to loopback.
    "--disableTelemetry",
    // Path-style URLs only (`host/<account>/...`), whatever the Host header says.
    "--disableProductStyleUrl",
    ...(options.inMemory ? ["--inMemoryPersistence"] : ["--location", location]),
    ...(options.accessLog ? [] : ["--silent"]),
    ...(options.extraArgs ?? []),
  ];
  const child = await ServerProcess.spawn({
    name: "azurite-blob",
    command: process.execPath,
    args,
    cwd: dataDir,
    // One account with our key; Azurite then disables its well-known devstoreaccount1.
    env: { ...process.env, AZURITE_ACCOUNTS: `${key.account}:${key.accountKey}` },
    logFile: join(dataDir, "azurite.log"),
  });
  const timeoutMs = options.startTimeoutMs ?? 60_000;
  try {
    // Ready = a signed List Containers succeeds: the port is served and our account and key are in effect.
    await waitUntil(
      async () => {
        const response = await azureBlobRequest(shared, { method: "GET", path: "", query: { comp: "list" }, timeoutMs: 2_000 });
        if (response.status === 403) throw new FatalProbeError(`Azurite refused the account key: ${response.body.toString("utf8").slice(0, 300)}`);
        return response.status === 200;
      },
      { what: "Azurite blob service (signed List Containers)", processes: [child], timeoutMs },
    );
    for (const name of options.containers ?? []) await createAzureContainer(shared, name);
  } catch (error) {
    await child.stop(0);
    await removeData();
    throw error;
  }
  child.unref();
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await child.stop(options.graceMs ?? DEFAULT_GRACE_MS);
      await removeData();
    })());
  const connectionString = azuriteConnectionString(shared);
  return {
    kind: "azurite",
    endpoint: blobEndpoint,
    blobEndpoint,
    account: key.account,
    accountKey: key.accountKey,
    connectionString,
    dataDir,
    logFiles: [child.logFile],
    pids: [child.pid],
    process: child,
    install,
    env: () => ({ AZURE_STORAGE_CONNECTION_STRING: connectionString }),
    createContainer: (name: string) => createAzureContainer(shared, name),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Starts Azurite's blob service (installing it from npm on first use, see {@link installAzurite}) on a free loopback
 * port, with one account whose key is random per start, data in a temp dir, and waits until a SharedKey-signed
 * request succeeds.
 */
export async function startAzurite(options: AzuriteOptions = {}): Promise<AzuriteServer> {
  const account = options.account ?? "rangetest";
  if (!/^[a-z0-9]{3,24}$/.test(account)) throw new RangeError(`account must be 3-24 lowercase letters and digits, got ${JSON.stringify(account)}`);
  const accountKey = options.accountKey ?? randomBytes(64).toString("base64");
  const install = await installAzurite(options.install);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(install, options, { account, accountKey });
    } catch (error) {
      // The free port we picked was taken before Azurite bound it: pick another.
      if (attempt >= START_ATTEMPTS || !ADDRESS_IN_USE.test((error as Error).message)) throw error;
      process.stderr.write(`[test-servers] azurite: the port was taken, retrying (${attempt}/${START_ATTEMPTS})\n`);
    }
  }
}
