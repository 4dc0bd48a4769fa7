import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LOOPBACK, freePorts } from "../ports.js";
import { DEFAULT_GRACE_MS, ServerProcess, removeOnExit } from "../process.js";
import { createS3Bucket, s3Request, type S3Credentials } from "../s3-request.js";
import type { S3TestServer } from "../types.js";
import { httpResponds, waitUntil } from "../wait.js";
import { installSeaweedFs, type InstallSeaweedFsOptions, type SeaweedFsInstall } from "./install.js";

export interface SeaweedFsOptions {
  /** Buckets to create before the server is handed out. */
  buckets?: string[];
  /** The one S3 identity (full rights). Default access key "range-test", a random secret per start. */
  accessKeyId?: string;
  secretAccessKey?: string;
  /** Region clients sign with; SeaweedFS accepts any. Default "us-east-1". */
  region?: string;
  /** Parent of the temp data dir. Default: the system temp dir. */
  dataParent?: string;
  /** Keep the data dir (and logs) after `stop()`. Default false. */
  keepData?: boolean;
  /** Master's volume size limit; small volumes keep disk use low. Default 128 (MB). */
  volumeSizeLimitMB?: number;
  /** The filer splits files into chunks of this size (MB), stored as separate needles. Default 4 (SeaweedFS's). */
  chunkSizeMB?: number;
  /** More `weed` flags, appended last. */
  extraArgs?: string[];
  /** Readiness deadline per attempt. Default 90 s. */
  startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace on stop. Default 2 s. */
  graceMs?: number;
  install?: InstallSeaweedFsOptions;
}

export interface SeaweedFsClusterOptions extends SeaweedFsOptions {
  /** Volume servers, each a process with its own data dir. Default 3. */
  volumes?: number;
  /**
   * S3 gateways: `weed s3` processes on the one filer, each on its own port (as with one gateway per node). They
   * serve the same buckets and objects; `endpoints` lists them. Default 1.
   */
  s3Gateways?: number;
}

/** One S3 gateway of a cluster, which a test can stop and start again while the rest keeps running. */
export interface SeaweedFsGateway {
  readonly index: number;
  /** `http://127.0.0.1:port`, the same across restarts. */
  readonly endpoint: string;
  /** The running `weed s3` process; undefined while stopped. */
  readonly process: ServerProcess | undefined;
  readonly running: boolean;
  /**
   * Stops this gateway only: SIGTERM, then SIGKILL after `graceMs` (default the server's grace); `graceMs: 0` sends
   * SIGKILL at once, like a crashed node (responses in flight are cut). Clients then see refused connections on its
   * port. Idempotent.
   */
  stop(options?: { graceMs?: number }): Promise<void>;
  /** Starts it again on the same ports and waits until it answers a signed request. */
  start(): Promise<void>;
}

export interface SeaweedFsServer extends S3TestServer {
  /** The install used (binary path, how it got there, and how long that took). */
  readonly install: SeaweedFsInstall;
  /** Master's HTTP address (`http://127.0.0.1:port`). */
  readonly masterUrl: string;
  /** Filer's HTTP address. */
  readonly filerUrl: string;
  /** One per process: "master", "volume-0", ..., "filer", "s3" (then "s3-1", ...) for a cluster; "server" for the all-in-one. */
  readonly processes: readonly ServerProcess[];
  /** Every S3 endpoint: one per gateway of a cluster started with `s3Gateways`; else `[endpoint]`. */
  readonly endpoints: readonly string[];
  /** The cluster's S3 gateways, to stop and restart one mid-test; empty for the all-in-one `weed server`. */
  readonly gateways: readonly SeaweedFsGateway[];
}

/** How to start one gateway: its name (log file, process name), endpoint and `weed` arguments. */
interface GatewaySpec {
  name: string;
  endpoint: string;
  args: string[];
}

interface Layout {
  dataDir: string;
  /** gRPC ports: SeaweedFS also serves each on /tmp/seaweedfs-<role>-grpc-<port>.sock, whatever TMPDIR says. */
  grpcPorts: number[];
  /** Cancels the removal of the data dir at process exit. */
  forget: () => unknown;
  credentials: S3Credentials;
  s3ConfigPath: string;
  env: NodeJS.ProcessEnv;
}

const ADDRESS_IN_USE = /address already in use|bind: /i;
const START_ATTEMPTS = 3;

async function prepare(options: SeaweedFsOptions, kind: string): Promise<Layout> {
  const dataDir = await mkdtemp(join(options.dataParent ?? tmpdir(), `range-${kind}-`));
  const credentials: S3Credentials = {
    endpoint: "",
    region: options.region ?? "us-east-1",
    accessKeyId: options.accessKeyId ?? "range-test",
    secretAccessKey: options.secretAccessKey ?? `range-secret-${randomBytes(12).toString("hex")}`,
  };
  // An identity with every action: requests must be signed with this key pair, so signing is really checked.
  const s3Config = {
    identities: [
      {
        name: "range-test",
        credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }],
        actions: ["Admin", "Read", "List", "Tagging", "Write"],
      },
    ],
  };
  const s3ConfigPath = join(dataDir, "s3.json");
  await writeFile(s3ConfigPath, JSON.stringify(s3Config, null, 2), { mode: 0o600 });
  const tmp = join(dataDir, "tmp");
  await mkdir(tmp);
  // TMPDIR: SeaweedFS puts its gRPC unix sockets in the temp dir; keep them inside ours.
  const env: NodeJS.ProcessEnv = { ...process.env, TMPDIR: tmp };
  // `weed s3` adds an admin identity from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when they are set: inside a test
  // worker they point at another server (same access key, other secret), and requests signed for this one then fail.
  for (const name of ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"]) delete env[name];
  return { dataDir, grpcPorts: [], credentials, s3ConfigPath, env, forget: options.keepData ? () => false : removeOnExit(dataDir) };
}

async function removeSockets(layout: Layout): Promise<void> {
  const roles = ["master", "volume", "filer", "s3"];
  await Promise.all(
    layout.grpcPorts.flatMap((port) => roles.map((role) => rm(join(tmpdir(), `seaweedfs-${role}-grpc-${port}.sock`), { force: true }))),
  );
}

async function removeDataDir(layout: Layout): Promise<void> {
  layout.forget();
  await removeSockets(layout);
  await rm(layout.dataDir, { recursive: true, force: true });
}

/** Ready = the S3 gateway answers a signed ListBuckets, which needs the filer and the signing identity. */
async function waitForS3(credentials: S3Credentials, processes: readonly ServerProcess[], timeoutMs: number): Promise<void> {
  await waitUntil(() => httpResponds(`${credentials.endpoint}/`), { what: `SeaweedFS S3 port ${credentials.endpoint}`, processes, timeoutMs });
  await waitUntil(async () => (await s3Request(credentials, { method: "GET", path: "/" })).status === 200, {
    what: `SeaweedFS S3 gateway ${credentials.endpoint} (signed ListBuckets)`,
    processes,
    timeoutMs,
  });
}

/** Creates the buckets, then proves writes work (volumes assigned) with a put + delete in the first one. */
async function createBuckets(credentials: S3Credentials, buckets: string[], processes: ServerProcess[], timeoutMs: number): Promise<void> {
  for (const bucket of buckets) {
    await waitUntil(
      async () => {
        await createS3Bucket(credentials, bucket);
        return true;
      },
      { what: `bucket ${bucket}`, processes, timeoutMs },
    );
  }
  const first = buckets[0];
  if (first === undefined) return;
  const probe = `/${first}/.range-ready-${randomBytes(4).toString("hex")}`;
  await waitUntil(async () => (await s3Request(credentials, { method: "PUT", path: probe, body: new Uint8Array(1) })).status === 200, {
    what: `a first write to ${first}`,
    processes,
    timeoutMs,
  });
  await s3Request(credentials, { method: "DELETE", path: probe });
}

function spawnWeed(install: SeaweedFsInstall, layout: Layout, name: string, args: string[]): Promise<ServerProcess> {
  return ServerProcess.spawn({
    name: `seaweedfs ${name}`,
    command: install.binary,
    args,
    cwd: layout.dataDir,
    env: layout.env,
    logFile: join(layout.dataDir, `${name}.log`),
  });
}

function makeGateways(
  specs: readonly GatewaySpec[],
  layout: Layout,
  install: SeaweedFsInstall,
  processes: ServerProcess[],
  options: SeaweedFsOptions,
  isStopping: () => boolean,
): SeaweedFsGateway[] {
  return specs.map((spec, index) => {
    const processName = `seaweedfs ${spec.name}`;
    const current = () => processes.find((p) => p.name === processName);
    let busy: Promise<void> = Promise.resolve();
    // One stop or start at a time per gateway, in call order.
    const serialize = (work: () => Promise<void>) => (busy = busy.then(work, work));
    return {
      index,
      endpoint: spec.endpoint,
      get process() {
        return current();
      },
      get running() {
        const p = current();
        return p !== undefined && p.exitInfo === undefined;
      },
      stop: ({ graceMs }: { graceMs?: number } = {}) =>
        serialize(async () => {
          const p = current();
          if (p === undefined) return;
          if (graceMs === 0) {
            // A crash, not a shutdown: SIGTERM would let the gateway finish the responses it is sending.
            try {
              process.kill(-p.pid, "SIGKILL");
            } catch {
              // Already gone.
            }
          }
          await p.stop(graceMs ?? options.graceMs ?? DEFAULT_GRACE_MS);
          processes.splice(processes.indexOf(p), 1);
        }),
      start: () =>
        serialize(async () => {
          if (isStopping()) throw new Error(`seaweedfs ${spec.name}: the server is stopped`);
          if (current() !== undefined) return;
          const child = await spawnWeed(install, layout, spec.name, spec.args);
          processes.push(child);
          try {
            await waitForS3({ ...layout.credentials, endpoint: spec.endpoint }, [child], options.startTimeoutMs ?? 90_000);
          } catch (error) {
            await child.stop(0);
            processes.splice(processes.indexOf(child), 1);
            throw error;
          }
          child.unref();
        }),
    };
  });
}

function makeServer(
  kind: string,
  layout: Layout,
  install: SeaweedFsInstall,
  processes: ServerProcess[],
  urls: { masterUrl: string; filerUrl: string },
  options: SeaweedFsOptions,
  gatewaySpecs: readonly GatewaySpec[] = [],
): SeaweedFsServer {
  const { credentials, dataDir } = layout;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Gateways first so clients see connection errors rather than half a cluster; then all at once.
      await Promise.all(gateways.map((g) => g.stop()));
      await Promise.all(processes.map((p) => p.stop(options.graceMs ?? DEFAULT_GRACE_MS)));
      if (options.keepData) {
        layout.forget();
        await removeSockets(layout);
      }
      else await removeDataDir(layout);
    })());
  const gateways = makeGateways(gatewaySpecs, layout, install, processes, options, () => stopping !== undefined);
  const logFiles = processes.map((p) => p.logFile);
  return {
    kind,
    endpoint: credentials.endpoint,
    endpoints: gateways.length > 0 ? gateways.map((g) => g.endpoint) : [credentials.endpoint],
    gateways,
    region: credentials.region,
    accessKeyId: credentials.accessKeyId,
    secretAccessKey: credentials.secretAccessKey,
    dataDir,
    logFiles,
    // A restarted gateway has a new pid.
    get pids() {
      return processes.map((p) => p.pid);
    },
    processes,
    install,
    ...urls,
    env: () => ({
      AWS_ENDPOINT_URL: credentials.endpoint,
      AWS_REGION: credentials.region,
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
    }),
    createBucket: (name: string) => createS3Bucket(credentials, name),
    stop,
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * Runs `spawn` (which starts the server's processes, pushing each into `processes`), waits until S3 answers and the
 * buckets exist, and returns the running server. On any failure it stops what started and removes the data dir.
 */
async function launch(
  kind: string,
  layout: Layout,
  install: SeaweedFsInstall,
  urls: { masterUrl: string; filerUrl: string },
  options: SeaweedFsOptions,
  spawn: (processes: ServerProcess[], timeoutMs: number) => Promise<void>,
  gatewaySpecs: readonly GatewaySpec[] = [],
): Promise<SeaweedFsServer> {
  const timeoutMs = options.startTimeoutMs ?? 90_000;
  const processes: ServerProcess[] = [];
  try {
    await spawn(processes, timeoutMs);
    for (const spec of gatewaySpecs.length > 0 ? gatewaySpecs : [{ endpoint: layout.credentials.endpoint }]) {
      await waitForS3({ ...layout.credentials, endpoint: spec.endpoint }, processes, timeoutMs);
    }
    await createBuckets(layout.credentials, options.buckets ?? [], processes, timeoutMs);
  } catch (error) {
    await Promise.all(processes.map((p) => p.stop(0)));
    await removeDataDir(layout);
    throw error;
  }
  for (const p of processes) p.unref();
  return makeServer(kind, layout, install, processes, urls, options, gatewaySpecs);
}

async function withStartRetries<T>(what: string, start: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await start();
    } catch (error) {
      // A free port we picked was taken before the server bound it: pick new ones.
      if (attempt >= START_ATTEMPTS || !ADDRESS_IN_USE.test((error as Error).message)) throw error;
      process.stderr.write(`[test-servers] ${what}: a port was taken, retrying (${attempt}/${START_ATTEMPTS})\n`);
    }
  }
}

/**
 * Starts SeaweedFS as ONE `weed server` process (master, volume server, filer and S3 gateway) on free loopback ports,
 * with data in a temp dir and one signing identity, and waits until a signed S3 request succeeds. Installs SeaweedFS
 * on first use (see {@link installSeaweedFs}).
 */
export async function startSeaweedFs(options: SeaweedFsOptions = {}): Promise<SeaweedFsServer> {
  const install = await installSeaweedFs(options.install);
  return withStartRetries("seaweedfs", async () => {
    const layout = await prepare(options, "seaweedfs");
    const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3, s3Grpc] = await freePorts(8);
    layout.credentials.endpoint = `http://${LOOPBACK}:${s3}`;
    layout.grpcPorts = [masterGrpc!, volumeGrpc!, filerGrpc!, s3Grpc!];
    const args = [
      "server",
      `-dir=${join(layout.dataDir, "data")}`,
      `-ip=${LOOPBACK}`,
      `-ip.bind=${LOOPBACK}`,
      `-master.port=${master}`,
      `-master.port.grpc=${masterGrpc}`,
      "-master.peers=none",
      `-master.volumeSizeLimitMB=${options.volumeSizeLimitMB ?? 128}`,
      "-master.telemetry=false",
      `-volume.port=${volume}`,
      `-volume.port.grpc=${volumeGrpc}`,
      "-volume.max=0",
      "-volume.preStopSeconds=0",
      "-filer",
      `-filer.port=${filer}`,
      `-filer.port.grpc=${filerGrpc}`,
      `-filer.maxMB=${options.chunkSizeMB ?? 4}`,
      `-filer.localSocket=${join(layout.dataDir, "tmp", "filer.sock")}`,
      "-s3",
      `-s3.port=${s3}`,
      `-s3.port.grpc=${s3Grpc}`,
      `-s3.config=${layout.s3ConfigPath}`,
      `-s3.localSocket=${join(layout.dataDir, "tmp", "s3.sock")}`,
      "-s3.port.iceberg=0",
      "-s3.port.lance=0",
      ...(options.extraArgs ?? []),
    ];
    await mkdir(join(layout.dataDir, "data"));
    const urls = { masterUrl: `http://${LOOPBACK}:${master}`, filerUrl: `http://${LOOPBACK}:${filer}` };
    return launch("seaweedfs", layout, install, urls, options, async (processes) => {
      processes.push(
        await ServerProcess.spawn({
          name: "seaweedfs server",
          command: install.binary,
          args,
          cwd: layout.dataDir,
          env: layout.env,
          logFile: join(layout.dataDir, "server.log"),
        }),
      );
    });
  });
}

interface TopologyStatus {
  Topology?: { DataCenters?: { Racks?: { DataNodes?: unknown[] }[] }[] };
}

function dataNodeCount(status: TopologyStatus): number {
  let count = 0;
  for (const dc of status.Topology?.DataCenters ?? []) for (const rack of dc.Racks ?? []) count += rack.DataNodes?.length ?? 0;
  return count;
}

/**
 * Starts a SeaweedFS cluster as separate processes: 1 master, `volumes` (≥ 1, default 3) volume servers, a filer and
 * `s3Gateways` (default 1) S3 gateways, each in its own process group, for stress tests and benchmarks. Same S3
 * surface as {@link startSeaweedFs}; `endpoints` and `gateways` give every gateway.
 */
export async function startSeaweedFsCluster(options: SeaweedFsClusterOptions = {}): Promise<SeaweedFsServer> {
  const volumes = options.volumes ?? 3;
  if (!Number.isInteger(volumes) || volumes < 1 || volumes > 32) throw new RangeError(`volumes must be an integer in [1, 32], got ${volumes}`);
  const gatewayCount = options.s3Gateways ?? 1;
  if (!Number.isInteger(gatewayCount) || gatewayCount < 1 || gatewayCount > 16) {
    throw new RangeError(`s3Gateways must be an integer in [1, 16], got ${gatewayCount}`);
  }
  const install = await installSeaweedFs(options.install);
  return withStartRetries("seaweedfs cluster", async () => {
    const layout = await prepare(options, "seaweedfs-cluster");
    const fixed = 4 + 2 * gatewayCount;
    const ports = await freePorts(fixed + 2 * volumes);
    const [master, masterGrpc, filer, filerGrpc] = ports;
    const gatewayPorts = Array.from({ length: gatewayCount }, (_, i) => ({ http: ports[4 + 2 * i]!, grpc: ports[5 + 2 * i]! }));
    layout.credentials.endpoint = `http://${LOOPBACK}:${gatewayPorts[0]!.http}`;
    layout.grpcPorts = [masterGrpc!, filerGrpc!, ...gatewayPorts.map((g) => g.grpc), ...ports.slice(fixed).filter((_, i) => i % 2 === 1)];
    // host:port.grpcPort is how SeaweedFS addresses a server whose gRPC port is not port + 10000.
    const masterAddress = `${LOOPBACK}:${master}.${masterGrpc}`;
    const urls = { masterUrl: `http://${LOOPBACK}:${master}`, filerUrl: `http://${LOOPBACK}:${filer}` };
    const gatewaySpecs: GatewaySpec[] = gatewayPorts.map((port, i) => ({
      // The first keeps the name it had when a cluster had one gateway.
      name: i === 0 ? "s3" : `s3-${i}`,
      endpoint: `http://${LOOPBACK}:${port.http}`,
      args: [
        "s3",
        `-ip.bind=${LOOPBACK}`,
        `-port=${port.http}`,
        `-port.grpc=${port.grpc}`,
        `-filer=${LOOPBACK}:${filer}.${filerGrpc}`,
        `-config=${layout.s3ConfigPath}`,
        `-localSocket=${join(layout.dataDir, "tmp", i === 0 ? "s3.sock" : `s3-${i}.sock`)}`,
        "-port.iceberg=0",
        "-port.lance=0",
        ...(options.extraArgs ?? []),
      ],
    }));
    return launch("seaweedfs-cluster", layout, install, urls, options, async (processes, timeoutMs) => {
    const start = async (name: string, args: string[]) => {
      const child = await spawnWeed(install, layout, name, args);
      processes.push(child);
      return child;
    };
    const dir = async (name: string) => {
      const path = join(layout.dataDir, name);
      await mkdir(path);
      return path;
    };
      await start("master", [
        "master",
        `-ip=${LOOPBACK}`,
        `-ip.bind=${LOOPBACK}`,
        `-port=${master}`,
        `-port.grpc=${masterGrpc}`,
        `-mdir=${await dir("master")}`,
        "-peers=none",
        `-volumeSizeLimitMB=${options.volumeSizeLimitMB ?? 128}`,
        // Never report to the internet: tests only talk to loopback.
        "-telemetry=false",
      ]);
      await waitUntil(() => httpResponds(`http://${LOOPBACK}:${master}/cluster/status`, (s) => s === 200), {
        what: "SeaweedFS master",
        processes,
        timeoutMs,
      });
      for (let i = 0; i < volumes; i++) {
        const port = ports[fixed + 2 * i]!;
        await start(`volume-${i}`, [
          "volume",
          `-ip=${LOOPBACK}`,
          `-ip.bind=${LOOPBACK}`,
          `-port=${port}`,
          `-port.grpc=${ports[fixed + 1 + 2 * i]}`,
          `-dir=${await dir(`volume-${i}`)}`,
          "-max=0",
          `-master=${masterAddress}`,
          "-preStopSeconds=0",
        ]);
      }
      await waitUntil(
        async () => {
          const response = await fetch(`http://${LOOPBACK}:${master}/dir/status`, { signal: AbortSignal.timeout(2_000) });
          return response.ok && dataNodeCount((await response.json()) as TopologyStatus) >= volumes;
        },
        { what: `${volumes} SeaweedFS volume servers registered with the master`, processes, timeoutMs },
      );
      await start("filer", [
        "filer",
        `-ip=${LOOPBACK}`,
        `-ip.bind=${LOOPBACK}`,
        `-port=${filer}`,
        `-port.grpc=${filerGrpc}`,
        `-master=${masterAddress}`,
        `-defaultStoreDir=${await dir("filer")}`,
        `-maxMB=${options.chunkSizeMB ?? 4}`,
        `-localSocket=${join(layout.dataDir, "tmp", "filer.sock")}`,
      ]);
      await waitUntil(() => httpResponds(`http://${LOOPBACK}:${filer}/`), { what: "SeaweedFS filer", processes, timeoutMs });
      for (const spec of gatewaySpecs) await start(spec.name, spec.args);
    }, gatewaySpecs);
  });
}
