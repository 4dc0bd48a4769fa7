/**
 * What the cross-backend scenarios share in one run: the selection made by the flags, the backends (started once,
 * on first use, stopped at the end), the objects written to each, the external peer tools, and running cells.
 */
import os from "node:os";
import type { RangeEngineOptions } from "@range/core";
import type { BenchBackend, Op, PeerTools, RunningBackend } from "../backends/types.js";
import { peerLabel } from "../backends/types.js";
import { CellProcess, metricsOf, type CellJob, type CellResult } from "./cells.js";
import { writeRecipe, type Recipe } from "./datasets.js";
import { fmtBytes } from "./format.js";
import { missingTool } from "./peers.js";
import { BenchmarkFailure } from "./types.js";

export interface Selection {
  backends: BenchBackend[];
  /** Measured rounds of a cell whose object is {@link LARGE_OBJECT} or larger (at most the run's iterations). */
  largeObjectIterations?: number;
  /** --sizes: object sizes for get / stream / put (undefined: each scenario's defaults). */
  sizes?: number[];
  /** --concurrency: maxConcurrentRanges values (sweeps), in-flight reads (range). */
  concurrency?: number[];
  /** --chunk-sizes: chunkSize values (sweeps). */
  chunkSizes?: number[];
}

interface Started {
  running?: RunningBackend;
  unavailable?: string;
  written: Set<string>;
}

/** Starts each backend once, on first use; writes each dataset once per backend. */
export class BackendPool {
  readonly #started = new Map<string, Started>();
  readonly #log: (m: string) => void;

  constructor(log: (m: string) => void) {
    this.#log = log;
  }

  /** The running backend, or why it cannot run. */
  async start(backend: BenchBackend): Promise<Started> {
    let started = this.#started.get(backend.name);
    if (started) return started;
    started = { written: new Set() };
    this.#started.set(backend.name, started);
    const why = await backend.unavailable?.();
    if (why) {
      started.unavailable = why;
      this.#log(`${backend.name}: not available — ${why}`);
      return started;
    }
    try {
      started.running = await backend.start({ log: this.#log });
      this.#log(`${backend.name}: ${started.running.description}`);
    } catch (error) {
      started.unavailable = `failed to start: ${(error as Error).message}`;
      this.#log(`${backend.name}: ${started.unavailable}`);
    }
    return started;
  }

  /**
   * Makes the datasets exist on `backend`: written from the parent once per run, or (backends without `write`,
   * whose objects live in the worker) returned as recipes for each worker to seed.
   */
  async ensure(backend: BenchBackend, recipes: Recipe[]): Promise<Recipe[]> {
    const started = await this.start(backend);
    const running = started.running;
    if (!running) throw new Error(`${backend.name} is not running`);
    if (!running.write) return recipes;
    let wrote = false;
    for (const recipe of recipes) {
      const id = recipe.kind === "object" ? `o:${recipe.key}:${recipe.size}:${recipe.seed}` : `m:${recipe.prefix}:${recipe.count}:${recipe.size}:${recipe.seed}`;
      if (started.written.has(id)) continue;
      const t0 = performance.now();
      await writeRecipe(recipe, running.write.bind(running), backend.embedded ? 8 : 32);
      started.written.add(id);
      wrote = true;
      const what = recipe.kind === "object" ? `${recipe.key} (${fmtBytes(recipe.size)})` : `${recipe.count} × ${fmtBytes(recipe.size)} under ${recipe.prefix}`;
      this.#log(`  ${backend.name}: wrote ${what} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    }
    if (wrote) await running.settle?.();
    return [];
  }

  descriptions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, s] of this.#started) out[name] = s.running?.description ?? `not run: ${s.unavailable}`;
    return out;
  }

  async stopAll(): Promise<void> {
    for (const [name, s] of this.#started) {
      try {
        await s.running?.stop();
      } catch (error) {
        this.#log(`${name}: stop failed: ${(error as Error).message}`);
      }
    }
    this.#started.clear();
  }
}

/** Everything a cross-backend scenario needs from the run. */
export interface Suite {
  selection: Selection;
  pool: BackendPool;
  tools: PeerTools;
}

export interface Contender {
  /** "ours", "groups", or a peer id: what the worker runs. */
  id: string;
  /** Tells variants of one contender apart in the report (e.g. engine settings of "ours"); default: id. */
  key?: string;
  label: string;
  role: CellResult["role"];
  /** Why it is not run, or undefined. */
  missing?: string;
  maxOpsPerRound?: number;
  /** Position in the backend's list, for a stable column order in the report. */
  rank?: number;
  /** Why a "reference" contender is not a peer. */
  note?: string;
}

/** Our store and the backend's peers that can do `op` on an object of `size` bytes. */
export function contendersFor(backend: BenchBackend, op: Op, tools: PeerTools, size = 0, oursLabel = oursLabels[op]): Contender[] {
  const list: Contender[] = [{ id: "ours", label: oursLabel, role: "ours" }];
  for (const spec of backend.peers) {
    if (!spec.ops.includes(op) || (spec.minSize !== undefined && size < spec.minSize)) continue;
    const missing = missingTool(tools, spec.needs);
    list.push({
      rank: backend.peers.indexOf(spec) + 1,
      id: spec.id,
      label: peerLabel(spec, op),
      role: spec.baselineFor?.includes(op) ? "baseline" : spec.reference ? "reference" : "peer",
      ...(missing ? { missing } : {}),
      ...(spec.maxOpsPerRound !== undefined ? { maxOpsPerRound: spec.maxOpsPerRound } : {}),
      ...(spec.reference ? { note: spec.reference } : {}),
    });
  }
  return list;
}

export const oursLabels: Record<Op, string> = {
  get: "@range `store.get(key)`",
  range: "@range `store.getRange(key, offset, length)`",
  stream: "@range `store.getStream(key)`",
  put: "@range `store.put(key, data)`",
  list: "@range `store.list(prefix)`",
  loader: "@range `createLoader(store, prefix)`",
};

export interface CellPlan {
  backend: BenchBackend;
  op: Op;
  contender: Contender;
  params: Record<string, number | string>;
  job: Omit<CellJob, "backend" | "connection" | "tools" | "op" | "contender">;
}

/**
 * Runs the cells of one comparison (the contenders of one backend, op and parameter set) as live worker processes,
 * their rounds in rotation: warm-up rounds first (they verify the bytes), then measured round r of every contender,
 * in an order rotated by r, so each round's ratios are paired (a slow phase of the machine hits all contenders).
 * A missing peer or a crashing peer is recorded (the report says so) and the others go on; wrong bytes are recorded
 * as failed with "WRONG BYTES" in the reason, and the scenario fails at its end.
 */
export async function runComparison(suite: Suite, plans: CellPlan[], log: (m: string) => void): Promise<CellResult[]> {
  const results: CellResult[] = plans.map((plan) => ({
    backend: plan.backend.name,
    op: plan.op,
    contender: plan.contender.key ?? plan.contender.id,
    label: plan.contender.label,
    role: plan.contender.role,
    ...(plan.contender.rank !== undefined ? { rank: plan.contender.rank } : {}),
    ...(plan.contender.note ? { note: plan.contender.note } : {}),
    params: plan.params,
    status: "unavailable",
  }));
  const fail = (i: number, error: unknown) => {
    const message = (error as Error).message;
    const wrong = error instanceof BenchmarkFailure || message.includes("WRONG BYTES");
    results[i] = { ...results[i]!, status: "failed", reason: wrong && !message.includes("WRONG BYTES") ? `WRONG BYTES: ${message}` : message };
    log(`    ${results[i]!.backend} ${results[i]!.op} ${Object.values(results[i]!.params).join(" ")} ${results[i]!.contender}: FAILED ${message}`);
  };
  const live = new Map<number, CellProcess>();
  const t0 = performance.now();
  try {
    const starts: (() => Promise<void>)[] = [];
    for (const [i, plan] of plans.entries()) {
      if (plan.contender.missing) {
        results[i]!.reason = plan.contender.missing;
        continue;
      }
      const started = await suite.pool.start(plan.backend);
      if (!started.running) {
        results[i]!.reason = started.unavailable ?? "not started";
        continue;
      }
      const job: CellJob = {
        backend: plan.backend.name,
        connection: started.running.connection,
        tools: suite.tools,
        op: plan.op,
        contender: plan.contender.id,
        ...plan.job,
      };
      if (plan.contender.maxOpsPerRound !== undefined && job.opsPerRound !== undefined) job.opsPerRound = Math.min(job.opsPerRound, plan.contender.maxOpsPerRound);
      starts.push(async () => {
        try {
          live.set(i, await CellProcess.start(job, log));
        } catch (error) {
          fail(i, error);
        }
      });
    }
    // Workers start (load their SDK, seed their objects) one per core at a time: nothing is measured yet, and with
    // ~700 workers in `--backends all` starting them one by one costs minutes.
    let nextStart = 0;
    await Promise.all(
      Array.from({ length: Math.min(os.availableParallelism(), starts.length) }, async () => {
        while (nextStart < starts.length) await starts[nextStart++]!();
      }),
    );
    const step = async (warm: boolean, order: number[]) => {
      for (const i of order) {
        const cell = live.get(i);
        if (!cell) continue;
        try {
          await cell.round(warm);
        } catch (error) {
          fail(i, error);
          cell.kill();
          live.delete(i);
        }
      }
    };
    const indices = [...live.keys()].sort((a, b) => a - b);
    const warmup = Math.max(0, ...plans.map((p) => p.job.warmup));
    const iterations = Math.max(0, ...plans.map((p) => p.job.iterations));
    for (let w = 0; w < warmup; w++) await step(true, indices);
    for (let r = 0; r < iterations; r++) await step(false, indices.map((_, k) => indices[(k + r) % indices.length]!));
    for (const [i, cell] of live) {
      try {
        const output = await cell.end();
        const metrics = metricsOf(output.samples);
        results[i] = { ...results[i]!, status: "ok", output, metrics };
        delete results[i]!.reason;
      } catch (error) {
        fail(i, error);
      }
    }
  } finally {
    for (const cell of live.values()) cell.kill();
  }
  const ok = results.filter((r) => r.metrics);
  if (ok.length) {
    // The parameters all plans share (a grid's plans differ in theirs).
    const shared = Object.entries(plans[0]!.params).filter(([k, v]) => plans.every((p) => p.params[k] === v));
    const what = `${plans[0]!.backend.name} ${plans[0]!.op} ${shared.map(([, v]) => v).join(" ")}`;
    log(`    ${what}: ${ok.map((r) => `${r.contender} ${r.metrics!.mbPerSec.median > 0 ? `${r.metrics!.mbPerSec.median.toFixed(0)} MB/s` : `${r.metrics!.opsPerSec.median.toFixed(0)} ops/s`}`).join(", ")} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return results;
}

/** Engine options as a short label: "c=16, chunk=8 MiB". */
export function engineLabel(engine: RangeEngineOptions | false | undefined): string {
  if (engine === false) return "one request (engine: false)";
  if (!engine) return "defaults";
  const parts: string[] = [];
  if (engine.maxConcurrentRanges !== undefined) parts.push(`c=${engine.maxConcurrentRanges}`);
  if (engine.chunkSize !== undefined) parts.push(`chunk=${fmtBytes(engine.chunkSize)}`);
  if (engine.minSplitSize !== undefined) parts.push(`minSplit=${fmtBytes(engine.minSplitSize)}`);
  return parts.join(", ") || "defaults";
}

/** Wrong-bytes failures among results: the scenario must fail with them. */
export function wrongBytes(results: CellResult[]): string[] {
  return results.filter((r) => r.status === "failed" && r.reason?.includes("WRONG BYTES")).map((r) => `${r.backend} ${r.op} ${r.contender}: ${r.reason}`);
}

/** The 1-minute load average with the core count, for notes. */
export function loadLine(start: number): string {
  return `1-minute load average ${start.toFixed(2)} at the start and ${os.loadavg()[0]!.toFixed(2)} at the end, on ${os.availableParallelism()} cores`;
}
