/**
 * A cell is one contender doing one operation on one backend at one size. Each cell runs in its own child process
 * (workers/cell-worker.ts): warm-up rounds, then measured rounds, each round reporting wall time, bytes, per-operation
 * latencies, time to first byte, requests, CPU time and peak RSS of that process alone.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { RangeEngineOptions } from "@range/core";
import type { Connection, Op, PeerTools } from "../backends/types.js";
import type { ObjectRecipe, Recipe } from "./datasets.js";
import { latencyOf, mbPerSec, summarize, type Latency, type Summary } from "./measure.js";
import { BenchmarkFailure } from "./types.js";

export interface CellJob {
  backend: string;
  connection: Connection;
  tools: PeerTools;
  op: Op;
  /** "ours" (our store), "groups" (the loader's baseline), or a peer id of the backend. */
  contender: string;
  /** ours: engine options per call; false = one request. */
  engine?: RangeEngineOptions | false;
  /** ours, get: how the size is learned. probe (default): `get` reads a head; known: `knownMeta`; stat: `stat()` then `get` with it. */
  meta?: "probe" | "known" | "stat";
  iterations: number;
  warmup: number;
  /** Datasets to create in the worker before the first round (backends whose objects live there). */
  seed?: Recipe[];
  /** get, range, stream: the object read. */
  object?: ObjectRecipe;
  /** Operations per round (get, put, list); range and loader size their rounds themselves. */
  opsPerRound?: number;
  range?: { length: number; count: number; concurrency: number; rngSeed: number };
  put?: { size: number; seed: number; keyPrefix: string };
  list?: { prefix: string; expected: number };
  loader?: { prefix: string; count: number; size: number; seed: number; concurrency: number; batchSize: number; prefetch: number };
}

export interface CellSample {
  /** Wall time of the round (or the tool's own time, for dd). */
  ms: number;
  bytes: number;
  ops: number;
  /** Per-operation latency, ms. */
  latencies: number[];
  /** Time to first byte, median over the round's operations, when observable. */
  ttfbMs?: number;
  /** Requests the round issued, when the backend can count them for this contender. */
  requests?: number;
  userMs?: number;
  sysMs?: number;
  /** CPU time of the server process(es) during the round (user + system), when the backend runs a local server. */
  serverCpuMs?: number;
  /** Peak RSS of the process during the round (VmHWM, reset before the round). */
  peakRssBytes?: number;
  /** RSS at the start of the round. */
  startRssBytes?: number;
  extra?: Record<string, number>;
}

export interface CellOutput {
  samples: CellSample[];
  /** What the warm-up checked ("sha256 of the object", "count 10000"). */
  verified: string;
  requestScope?: string;
}

/** What the parent keeps of one cell. */
export interface CellResult {
  backend: string;
  op: Op;
  contender: string;
  label: string;
  role: "ours" | "baseline" | "peer" | "reference";
  /** Column order in the report (the backend's peer order). */
  rank?: number;
  /** Why a "reference" contender is not a peer. */
  note?: string;
  /** Dimension values: size, concurrency, chunk... */
  params: Record<string, number | string>;
  status: "ok" | "unavailable" | "failed";
  reason?: string;
  output?: CellOutput;
  metrics?: CellMetrics;
}

export interface CellMetrics {
  mbPerSec: Summary;
  opsPerSec: Summary;
  latency: Latency;
  ttfbMs?: number;
  requestsPerOp?: number;
  /** Requests per measured round (a listing: requests per full listing). */
  requestsPerRound?: number;
  peakRssMiB?: number;
  cpuMsPerOp?: number;
  serverCpuMsPerOp?: number;
}

// From src/lib (tests) and dist/lib alike: the worker always runs compiled.
const WORKER = fileURLToPath(new URL("../../dist/workers/cell-worker.js", import.meta.url));

/** Parent → worker, one JSON line each (after the CellJob line). */
export type WorkerCommand = { cmd: "round"; warm: boolean } | { cmd: "end" };

/** Worker → parent, one JSON line each. */
export type WorkerMessage =
  | { type: "ready" }
  | { type: "warm"; verified: string }
  | { type: "sample"; sample: CellSample }
  | { type: "end"; requestScope?: string };

/** A round (or the start) that takes longer is killed and reported as failed: a hung server must not hang the run. */
const STEP_TIMEOUT_MS = Number(process.env.RANGE_BENCH_CELL_TIMEOUT_MS ?? 10 * 60_000);

/** Every worker still running, so that a signal can end them with the servers (an SDK retrying a dead server would not). */
const liveCells = new Set<CellProcess>();

/** Kills every cell worker still running (on SIGINT / SIGTERM). */
export function killAllCells(): void {
  for (const cell of liveCells) cell.kill();
}

/**
 * One cell's worker process, driven round by round, so that the parent can run the rounds of several contenders in
 * rotation (paired rounds: a slow minute on a shared machine hits every contender of the comparison).
 */
export class CellProcess {
  readonly #child: ChildProcess;
  readonly #waiting: { resolve: (m: WorkerMessage) => void; reject: (e: Error) => void }[] = [];
  #buffered = "";
  #stderr = "";
  #exit: Error | undefined;
  verified = "";
  readonly samples: CellSample[] = [];

  private constructor(job: CellJob, log?: (m: string) => void) {
    this.#child = spawn(process.execPath, [WORKER], { stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true" } });
    liveCells.add(this);
    this.#child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      this.#buffered += d;
      for (let nl = this.#buffered.indexOf("\n"); nl >= 0; nl = this.#buffered.indexOf("\n")) {
        const line = this.#buffered.slice(0, nl);
        this.#buffered = this.#buffered.slice(nl + 1);
        this.#waiting.shift()?.resolve(JSON.parse(line) as WorkerMessage);
      }
    });
    this.#child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      this.#stderr += d;
      if (log) for (const line of d.split("\n")) if (line.trim()) log(`      [cell] ${line}`);
    });
    this.#child.on("close", (code) => {
      liveCells.delete(this);
      const tail = this.#stderr.trim().split("\n").slice(-4).join(" | ");
      this.#exit =
        code === 3 || tail.includes("WRONG BYTES") ? new BenchmarkFailure(tail) : new Error(`cell worker exited with ${code}${tail ? `: ${tail}` : ""}`);
      for (const w of this.#waiting.splice(0)) w.reject(this.#exit);
    });
    this.#child.stdin!.on("error", () => {}); // a worker that died is reported through "close"
    this.#child.stdin!.write(`${JSON.stringify(job)}\n`);
  }

  /** Starts the worker and waits until it has connected, seeded and prepared the cell. */
  static async start(job: CellJob, log?: (m: string) => void): Promise<CellProcess> {
    const cell = new CellProcess(job, log);
    try {
      const ready = await cell.#next();
      if (ready.type !== "ready") throw new Error(`cell worker said ${ready.type} before ready`);
    } catch (error) {
      cell.kill();
      throw error;
    }
    return cell;
  }

  #next(): Promise<WorkerMessage> {
    return new Promise((resolve, reject) => {
      if (this.#exit) {
        reject(this.#exit);
        return;
      }
      const timer = setTimeout(() => {
        reject(new Error(`cell step timed out after ${STEP_TIMEOUT_MS / 1000} s (RANGE_BENCH_CELL_TIMEOUT_MS)`));
        this.kill();
      }, STEP_TIMEOUT_MS);
      this.#waiting.push({
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /** Runs one round in the worker; a measured round's sample is kept in `samples`. */
  async round(warm: boolean): Promise<void> {
    const reply = this.#next();
    this.#child.stdin!.write(`${JSON.stringify({ cmd: "round", warm } satisfies WorkerCommand)}\n`);
    const message = await reply;
    if (message.type === "warm") this.verified = message.verified;
    else if (message.type === "sample") this.samples.push(message.sample);
    else throw new Error(`cell worker answered a round with ${message.type}`);
  }

  /** Ends the worker and returns what it measured. */
  async end(): Promise<CellOutput> {
    const reply = this.#next();
    this.#child.stdin!.write(`${JSON.stringify({ cmd: "end" } satisfies WorkerCommand)}\n`);
    const message = await reply;
    return { samples: this.samples, verified: this.verified, ...(message.type === "end" && message.requestScope ? { requestScope: message.requestScope } : {}) };
  }

  kill(): void {
    if (this.#child.exitCode === null) this.#child.kill("SIGKILL");
  }
}

/** Runs one cell on its own: warm-up rounds, then the measured rounds. Wrong bytes → BenchmarkFailure. */
export async function runCell(job: CellJob, log?: (m: string) => void): Promise<CellOutput> {
  const cell = await CellProcess.start(job, log);
  try {
    for (let r = 0; r < job.warmup; r++) await cell.round(true);
    for (let r = 0; r < job.iterations; r++) await cell.round(false);
    return await cell.end();
  } finally {
    cell.kill();
  }
}

const median = (xs: number[]): number | undefined => (xs.length ? summarize(xs).median : undefined);

/** Medians and spreads of a cell's rounds. */
export function metricsOf(samples: CellSample[]): CellMetrics {
  const perOp = (pick: (s: CellSample) => number | undefined) =>
    median(samples.map((s) => pick(s)).filter((v): v is number => v !== undefined && Number.isFinite(v)));
  const ttfb = perOp((s) => s.ttfbMs);
  const requests = perOp((s) => (s.requests === undefined ? undefined : s.requests / s.ops));
  const requestsPerRound = perOp((s) => s.requests);
  const peak = perOp((s) => (s.peakRssBytes === undefined ? undefined : s.peakRssBytes / 2 ** 20));
  const cpu = perOp((s) => (s.userMs === undefined || s.sysMs === undefined ? undefined : (s.userMs + s.sysMs) / s.ops));
  const serverCpu = perOp((s) => (s.serverCpuMs === undefined ? undefined : s.serverCpuMs / s.ops));
  return {
    mbPerSec: summarize(samples.map((s) => mbPerSec(s.bytes, s.ms))),
    opsPerSec: summarize(samples.map((s) => (s.ops * 1000) / s.ms)),
    latency: latencyOf(samples.flatMap((s) => s.latencies)),
    ...(ttfb !== undefined ? { ttfbMs: ttfb } : {}),
    ...(requests !== undefined ? { requestsPerOp: requests, requestsPerRound: requestsPerRound! } : {}),
    ...(peak !== undefined ? { peakRssMiB: peak } : {}),
    ...(cpu !== undefined ? { cpuMsPerOp: cpu } : {}),
    ...(serverCpu !== undefined ? { serverCpuMsPerOp: serverCpu } : {}),
  };
}
