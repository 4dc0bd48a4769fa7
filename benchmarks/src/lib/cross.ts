/** Helpers the cross-backend scenarios (get, range, stream, put, list, loader, sweeps) share. */
import os from "node:os";
import { GiB, KiB, MiB } from "@range/core";
import type { BenchBackend, Op } from "../backends/types.js";
import type { CellJob, CellResult } from "./cells.js";
import { objectRecipe, seedOf, type ObjectRecipe, type Recipe } from "./datasets.js";
import { fmtBytes } from "./format.js";
import { reportOp, type OpReportOptions } from "./matrix.js";
import { contendersFor, loadLine, runComparison, wrongBytes, type Contender, type Suite } from "./suite.js";
import type { ScenarioContext, ScenarioReport } from "./types.js";

export const FULL_SIZES = [64 * KiB, MiB, 8 * MiB, 32 * MiB, 256 * MiB, GiB];
export const QUICK_SIZES = [64 * KiB, MiB, 32 * MiB];
/**
 * Rounds that move this much (an object, or a loader's whole dataset) get `Selection.largeObjectIterations` measured
 * rounds: one such round takes seconds on the HTTP backends.
 */
export const LARGE_OBJECT = 256 * MiB;

/** Measured rounds for a cell whose round moves `size` bytes. */
export function iterationsFor(ctx: ScenarioContext, size: number): number {
  const large = suiteOf(ctx).selection.largeObjectIterations;
  return size >= LARGE_OBJECT && large !== undefined ? Math.min(ctx.iterations, large) : ctx.iterations;
}

export function suiteOf(ctx: ScenarioContext): Suite {
  if (!ctx.suite) throw new Error("this scenario needs the cross-backend suite (run it through the CLI)");
  return ctx.suite;
}

/** The object of `size` bytes every read scenario shares on a backend (written once per run). */
export function sharedObject(size: number): ObjectRecipe {
  return objectRecipe(`bench/objects/${fmtBytes(size).replace(/\s+/g, "")}.bin`, size, seedOf("object") + size);
}

/**
 * Operations per measured round for a whole-object read of `size` bytes: ~32 MiB per round (16 with --quick), at most
 * 200 (100). A 64 KiB round of 200 reads lasts 0.2–1 s here: long enough to time, short enough for six backends.
 */
export function opsPerRound(size: number, quick: boolean): number {
  return Math.max(1, Math.min(quick ? 100 : 200, Math.round(((quick ? 16 : 32) * MiB) / size)));
}

/**
 * The datasets a cell needs on `backend`: written now (once per run) when the parent can write there, or handed to
 * the worker to seed (memory). Undefined when the backend is not running (its cells then report why).
 */
export async function prepare(suite: Suite, backend: BenchBackend, recipes: Recipe[]): Promise<Recipe[] | undefined> {
  const started = await suite.pool.start(backend);
  if (!started.running) return undefined;
  return suite.pool.ensure(backend, recipes);
}

/** Runs every contender of `op` on one backend for one set of parameters (paired rounds); returns their results. */
export async function runContenders(
  ctx: ScenarioContext,
  backend: BenchBackend,
  op: Op,
  params: Record<string, number | string>,
  job: Omit<CellJob, "backend" | "connection" | "tools" | "op" | "contender">,
  options: { size?: number; contenders?: Contender[] } = {},
): Promise<CellResult[]> {
  const suite = suiteOf(ctx);
  const contenders = options.contenders ?? contendersFor(backend, op, suite.tools, options.size ?? 0);
  return runComparison(suite, contenders.map((contender) => ({ backend, op, contender, params, job })), ctx.log);
}

/** The report of a cross-backend op scenario from its cells. */
export function opScenarioReport(
  ctx: ScenarioContext,
  results: CellResult[],
  loadStart: number,
  summary: string,
  options: OpReportOptions,
  params: Record<string, unknown>,
  extraNotes: string[] = [],
): ScenarioReport {
  const suite = suiteOf(ctx);
  const report = reportOp(results, options);
  const scopes = new Map<string, string>();
  for (const r of results) if (r.output?.requestScope) scopes.set(r.backend, r.output.requestScope);
  return {
    summary,
    tables: report.tables,
    notes: [
      ...extraNotes,
      ...report.notes,
      ...[...scopes].map(([backend, scope]) => `Requests on ${backend}: counted by ${scope}; blank where that counter cannot see a contender.`),
      `Each cell ran in its own child process: 1 warm-up round (which verifies the bytes) and ${ctx.iterations} measured rounds${
        suite.selection.largeObjectIterations !== undefined && suite.selection.largeObjectIterations < ctx.iterations
          ? ` (${suite.selection.largeObjectIterations} for rounds of ${fmtBytes(LARGE_OBJECT)} and more, and listings of 10,000 keys)`
          : ""
      }; CPU time and peak RSS are that process's (dd and s3dlio: their own process's).`,
      `${loadLine(loadStart)}.`,
    ],
    headline: report.headline,
    params: { ...params, backends: suite.pool.descriptions(), iterations: ctx.iterations, warmup: 1 },
    raw: results,
    charts: report.charts,
    failures: wrongBytes(results),
  };
}

export const loadNow = (): number => os.loadavg()[0]!;
