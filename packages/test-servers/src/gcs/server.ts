import { mkdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOOPBACK, freePort } from "../ports.js";
import { DEFAULT_GRACE_MS, ServerProcess, removeOnExit } from "../process.js";
import type { TestServer } from "../types.js";
import { FatalProbeError, waitUntil } from "../wait.js";
import { installFakeGcsServer, type FakeGcsServerInstall, type InstallFakeGcsServerOptions } from "./install.js";

export interface FakeGcsServerOptions {
  /** Buckets to create before the server is handed out. */
  buckets?: string[];
  /** "memory" (default: fastest, nothing on disk) or "filesystem" (objects under the data dir). */
  backend?: "memory" | "filesystem";
  /** Sent as `project` when creating buckets; the emulator accepts any. Default "range-test". */
  projectId?: string;
  /** fake-gcs-server's `-log-level`. Default "warn": it logs every request at "info", which costs CPU in benchmarks. */
  logLevel?: "debug" | "info" | "warn" | "error";
  /** Parent of the temp data dir. Default: the system temp dir. */
  dataParent?: string;
  /** Keep the data dir (and log) after `stop()`. Default false. */
  keepData?: boolean;
  /** More fake-gcs-server flags, appended last. */
  extraArgs?: string[];
  /** Readiness deadline per attempt. Default 60 s. */
  startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace on stop. Default 2 s. */
  graceMs?: number;
  install?: InstallFakeGcsServerOptions;
}

export interface CreateGcsBucketOptions {
  /** Keep every generation of overwritten objects (GCS object versioning). Default false. */
  versioning?: boolean;
}

/** A running fake-gcs-server: the GCS JSON API (and uploads) over plain HTTP on loopback, no authentication. */
export interface FakeGcsServer extends TestServer {
  /** The install used (binary path, how it got there, and how long that took). */
  readonly install: FakeGcsServerInstall;
  readonly projectId: string;
  readonly process: ServerProcess;
  /** Creates a bucket (succeeds if it exists already). */
  createBucket(name: string, options?: CreateGcsBucketOptions): Promise<void>;
  /** `STORAGE_EMULATOR_HOST` (the endpoint, `http://127.0.0.1:<port>`). */
  env(): Record<string, string>;
}

/** What a GCS test needs to connect; plain data, so it can cross vitest's `provide()` / `inject()`. */
export interface GcsConnection {
  /** `http://127.0.0.1:<port>`: use as `apiEndpoint` or `STORAGE_EMULATOR_HOST`. */
  endpoint: string;
  projectId: string;
  /** Buckets created before the tests started. */
  buckets: string[];
}

const ADDRESS_IN_USE = /address already in use|bind: /i;
const START_ATTEMPTS = 3;

/** POST /storage/v1/b: 200 created, 409 already there; anything else fails. */
export async function createGcsBucket(endpoint: string, projectId: string, name: string, options: CreateGcsBucketOptions = {}): Promise<void> {
  const response = await fetch(`${endpoint}/storage/v1/b?project=${encodeURIComponent(projectId)}`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name, ...(options.versioning ? { versioning: { enabled: true } } : {}) }),
    signal: AbortSignal.timeout(10_000),
  });
  const text = await response.text();
  if (response.status !== 200 && response.status !== 409) {
    throw new Error(`creating bucket ${name} on ${endpoint} failed: HTTP ${response.status} ${text.slice(0, 300)}`);
  }
}

/** The connection data of a started fake-gcs-server, for `provide()` or a benchmark's config. */
export function gcsConnectionOf(server: FakeGcsServer, buckets: string[]): GcsConnection {
  return { endpoint: server.endpoint, projectId: server.projectId, buckets };
}

async function startOnce(options: FakeGcsServerOptions, install: FakeGcsServerInstall): Promise<FakeGcsServer> {
  const dataDir = await mkdtemp(join(options.dataParent ?? tmpdir(), "range-fake-gcs-"));
  const forget = options.keepData ? () => false : removeOnExit(dataDir);
  const port = await freePort();
  const endpoint = `http://${LOOPBACK}:${port}`;
  const projectId = options.projectId ?? "range-test";
  const backend = options.backend ?? "memory";
  const args = [
    "-scheme",
    "http",
    "-host",
    LOOPBACK,
    "-port",
    String(port),
    "-backend",
    backend,
    // Resumable upload session URLs (Location) are built from this: clients must come back to the same port.
    "-external-url",
    endpoint,
    "-log-level",
    options.logLevel ?? "warn",
    ...(backend === "filesystem" ? ["-filesystem-root", join(dataDir, "storage")] : []),
    ...(options.extraArgs ?? []),
  ];
  let child: ServerProcess | undefined;
  const removeData = async () => {
    forget();
    await rm(dataDir, { recursive: true, force: true });
  };
  try {
    if (backend === "filesystem") await mkdir(join(dataDir, "storage"));
    child = await ServerProcess.spawn({
      name: "fake-gcs-server",
      command: install.binary,
      args,
      cwd: dataDir,
      logFile: join(dataDir, "server.log"),
    });
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    // Ready = the JSON API answers a bucket listing.
    await waitUntil(
      async () => {
        const response = await fetch(`${endpoint}/storage/v1/b?project=${encodeURIComponent(projectId)}`, { signal: AbortSignal.timeout(2_000) });
        await response.arrayBuffer();
        if (response.status >= 400 && response.status < 500) throw new FatalProbeError(`GET /storage/v1/b answered HTTP ${response.status}`);
        return response.status === 200;
      },
      { what: "fake-gcs-server JSON API", processes: [child], timeoutMs },
    );
    for (const bucket of options.buckets ?? []) await createGcsBucket(endpoint, projectId, bucket);
  } catch (error) {
    await child?.stop(0);
    await removeData();
    throw error;
  }
  child.unref();
  const running = child;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      await running.stop(options.graceMs ?? DEFAULT_GRACE_MS);
      if (options.keepData) forget();
      else await removeData();
    })());
  return {
    kind: "fake-gcs-server",
    endpoint,
    projectId,
    dataDir,
    logFiles: [running.logFile],
    pids: [running.pid],
    process: running,
    install,
    env: () => ({ STORAGE_EMULATOR_HOST: endpoint }),
    createBucket: (name, bucketOptions) => createGcsBucket(endpoint, projectId, name, bucketOptions),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Starts fake-gcs-server (installing it on first use, see {@link installFakeGcsServer}) on a free loopback port over
 * plain HTTP, with its data in memory (or a temp dir), waits until its JSON API answers and creates `buckets`.
 */
export async function startFakeGcsServer(options: FakeGcsServerOptions = {}): Promise<FakeGcsServer> {
  const install = await installFakeGcsServer(options.install);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options, install);
    } catch (error) {
      // The free port we picked was taken before the server bound it: pick another.
      if (attempt >= START_ATTEMPTS || !ADDRESS_IN_USE.test((error as Error).message)) throw error;
      process.stderr.write(`[test-servers] fake-gcs-server: the port was taken, retrying (${attempt}/${START_ATTEMPTS})\n`);
    }
  }
}
