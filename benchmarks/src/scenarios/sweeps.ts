/**
 * The open questions of the s3dlio notes, measured per backend: where splitting starts to pay (the threshold, and
 * whether splitting helps below 4 MiB), the best chunk size and concurrency (8/16/32/64), and the cost of an extra
 * metadata request (HEAD) before a read.
 */
import { KiB, MiB, type RangeEngineOptions } from "@range/core";
import type { BenchBackend } from "../backends/types.js";
import type { CellResult } from "../lib/cells.js";
import { iterationsFor, loadNow, opsPerRound, prepare, sharedObject, suiteOf } from "../lib/cross.js";
import { fmtBytes, fmtNum } from "../lib/format.js";
import { pairedRatio, reportOp, valueOf } from "../lib/matrix.js";
import { engineLabel, loadLine, runComparison, wrongBytes, type Contender } from "../lib/suite.js";
import { renderBarChart, type ChartPanel } from "../lib/svg.js";
import type { Scenario, ScenarioContext, ScenarioReport, Table } from "../lib/types.js";

const ours = (key: string, label: string, role: Contender["role"] = "peer"): Contender => ({ id: "ours", key, label, role });

interface Section {
  results: CellResult[];
}

/** A: one request against splitting into 1 MiB or 256 KiB ranges, for objects around the 4 MiB threshold. */
async function thresholdSweep(ctx: ScenarioContext, backend: BenchBackend, sizes: number[], out: Section): Promise<void> {
  const variants: { key: string; engine: RangeEngineOptions | false; label: string; role?: Contender["role"] }[] = [
    { key: "single", engine: false, label: "one request (`engine: false`)", role: "baseline" },
    { key: "split-1MiB", engine: { minSplitSize: 256 * KiB }, label: "split, planner ranges (≥ 1 MiB): `{ minSplitSize: 256 KiB }`" },
    { key: "split-256KiB", engine: { minSplitSize: 256 * KiB, chunkSize: 256 * KiB }, label: "split into 256 KiB ranges: `{ minSplitSize: 256 KiB, chunkSize: 256 KiB }`" },
    { key: "default", engine: {}, label: "defaults (`minSplitSize` 4 MiB)" },
  ];
  for (const size of sizes) {
    const object = sharedObject(size);
    const seed = await prepare(suiteOf(ctx), backend, [object]);
    ctx.log(`  sweeps/threshold ${backend.name} ${fmtBytes(size)}`);
    const job = { iterations: ctx.iterations, warmup: 1, object, opsPerRound: opsPerRound(size, ctx.quick), ...(seed?.length ? { seed } : {}) };
    out.results.push(
      ...(await runComparison(
        suiteOf(ctx),
        variants.map((v) => ({ backend, op: "get" as const, contender: ours(v.key, v.label, v.role), params: { section: "threshold", size: fmtBytes(size) }, job: { ...job, engine: v.engine } })),
        ctx.log,
      )),
    );
  }
}

/** B: chunkSize × maxConcurrentRanges on one large object. */
async function gridSweep(ctx: ScenarioContext, backend: BenchBackend, size: number, chunks: number[], concurrencies: number[], out: Section): Promise<void> {
  const object = sharedObject(size);
  const seed = await prepare(suiteOf(ctx), backend, [object]);
  ctx.log(`  sweeps/grid ${backend.name} ${fmtBytes(size)}: ${chunks.length} chunk sizes × ${concurrencies.length} concurrencies, paired`);
  const plans = chunks.flatMap((chunkSize) =>
    concurrencies.map((maxConcurrentRanges) => {
      const engine = { chunkSize, maxConcurrentRanges };
      return {
        backend,
        op: "get" as const,
        contender: ours(`grid-${chunkSize}-${maxConcurrentRanges}`, `get { ${engineLabel(engine)} }`),
        params: { section: "grid", size: fmtBytes(size), chunk: fmtBytes(chunkSize), concurrency: maxConcurrentRanges },
        job: { iterations: iterationsFor(ctx, size), warmup: 1, object, engine, opsPerRound: 1, ...(seed?.length ? { seed } : {}) },
      };
    }),
  );
  out.results.push(...(await runComparison(suiteOf(ctx), plans, ctx.log)));
}

/** C: how the size is learned: a probe GET (default), a HEAD first, or known from a listing. */
async function headSweep(ctx: ScenarioContext, backend: BenchBackend, sizes: number[], out: Section): Promise<void> {
  const variants: { key: string; meta: "probe" | "stat" | "known"; label: string; role?: Contender["role"] }[] = [
    { key: "known", meta: "known", label: "size known (`knownMeta`, no metadata request)", role: "baseline" },
    { key: "probe", meta: "probe", label: "default `get`: the first range tells the size" },
    { key: "stat", meta: "stat", label: "`stat()` (HEAD) first, then `get` with `knownMeta`" },
  ];
  for (const size of sizes) {
    const object = sharedObject(size);
    const seed = await prepare(suiteOf(ctx), backend, [object]);
    ctx.log(`  sweeps/head ${backend.name} ${fmtBytes(size)}`);
    const job = { iterations: ctx.iterations, warmup: 1, object, opsPerRound: opsPerRound(size, ctx.quick), ...(seed?.length ? { seed } : {}) };
    out.results.push(
      ...(await runComparison(
        suiteOf(ctx),
        variants.map((v) => ({ backend, op: "get" as const, contender: ours(v.key, v.label, v.role), params: { section: "head", size: fmtBytes(size) }, job: { ...job, meta: v.meta } })),
        ctx.log,
      )),
    );
  }
}

function gridTables(results: CellResult[], chunks: number[], concurrencies: number[]): { tables: Table[]; panels: ChartPanel[]; headline: Record<string, number | string> } {
  const tables: Table[] = [];
  const panels: ChartPanel[] = [];
  const headline: Record<string, number | string> = {};
  const backends = [...new Set(results.map((r) => r.backend))];
  for (const backend of backends) {
    const rows = results.filter((r) => r.backend === backend);
    const at = (chunk: number, c: number) => rows.find((r) => r.params.chunk === fmtBytes(chunk) && r.params.concurrency === c);
    let best: { v: number; chunk: number; c: number } | undefined;
    for (const chunk of chunks) for (const c of concurrencies) {
      const v = valueOf(at(chunk, c) ?? ({} as CellResult), "mbps");
      if (v !== undefined && (!best || v > best.v)) best = { v, chunk, c };
    }
    const size = rows[0]?.params.size ?? "";
    tables.push({
      title: `${backend}, ${size} object — MB/s median (min–max) · requests per get; best in bold`,
      columns: ["chunkSize \\ maxConcurrentRanges", ...concurrencies.map(String)],
      rows: chunks.map((chunk) => [
        fmtBytes(chunk),
        ...concurrencies.map((c) => {
          const r = at(chunk, c);
          if (!r || r.status !== "ok" || !r.metrics) return r?.status ?? "";
          const m = r.metrics.mbPerSec;
          const text = `${fmtNum(m.median)} (${fmtNum(m.min)}–${fmtNum(m.max)}) · ${r.metrics.requestsPerOp !== undefined ? fmtNum(r.metrics.requestsPerOp) : "?"}`;
          return best && best.chunk === chunk && best.c === c ? `**${text}**` : text;
        }),
      ]),
    });
    panels.push({
      title: `${backend}, ${size}`,
      categories: chunks.map((c) => `chunk ${fmtBytes(c)}`),
      series: concurrencies.map((c) => ({ name: `maxConcurrentRanges ${c}`, values: chunks.map((chunk) => valueOf(at(chunk, c) ?? ({} as CellResult), "mbps")) })),
    });
    if (best) {
      headline[`${backend} grid: best chunkSize`] = fmtBytes(best.chunk);
      headline[`${backend} grid: best maxConcurrentRanges`] = best.c;
      headline[`${backend} grid: best MB/s`] = Math.round(best.v);
    }
    for (const c of concurrencies) {
      const v = Math.max(...chunks.map((chunk) => valueOf(at(chunk, c) ?? ({} as CellResult), "mbps") ?? 0));
      if (v > 0) headline[`${backend} grid: best MB/s at concurrency ${c}`] = Math.round(v);
    }
  }
  return { tables, panels, headline };
}

/**
 * Per backend: the best split variant over one request at each size (paired), and the smallest size from which
 * splitting wins by ≥ 10% at that size and every larger one measured (one noisy size does not make a threshold).
 */
function thresholdHeadline(results: CellResult[]): Record<string, string | number> {
  const out: Record<string, string | number> = {};
  for (const backend of [...new Set(results.map((r) => r.backend))]) {
    const rows = results.filter((r) => r.backend === backend);
    const sizes = [...new Set(rows.map((r) => String(r.params.size)))];
    const wins: { size: string; win: boolean }[] = [];
    for (const size of sizes) {
      const single = rows.find((r) => r.params.size === size && r.contender === "single");
      const ratios = ["split-1MiB", "split-256KiB"]
        .map((k) => pairedRatio(rows.find((r) => r.params.size === size && r.contender === k), single, "mbps")?.median)
        .filter((v): v is number => v !== undefined);
      if (!ratios.length) continue;
      const best = Math.max(...ratios);
      out[`${backend} ${size}: best split / one request (paired)`] = Number(best.toFixed(3));
      wins.push({ size, win: best >= 1.1 });
    }
    const from = wins.findIndex((_, i) => wins.slice(i).every((w) => w.win));
    out[`${backend}: splitting wins by ≥ 10% from`] = from >= 0 ? wins[from]!.size : "no size measured";
  }
  return out;
}

/** Extra time of a HEAD before the read (stat − known), and of the probe (probe − known), p50 per get. */
function headHeadline(results: CellResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results.filter((x) => x.contender === "stat" || x.contender === "probe")) {
    const known = results.find((k) => k.backend === r.backend && k.params.size === r.params.size && k.contender === "known");
    if (r.metrics && known?.metrics) out[`${r.backend} ${r.params.size}: ${r.contender} − known, ms p50`] = Number((r.metrics.latency.p50 - known.metrics.latency.p50).toFixed(3));
  }
  return out;
}

/** The backends the s3dlio notes asked these questions about; the others are swept when selected without them. */
const QUESTION_BACKENDS = ["file", "directio", "s3"];
const SWEPT_NOTE =
  "By default the sweeps run on the selected backends among file, directio and s3, the ones the s3dlio notes ask " +
  "about (on loopback, azure and gcs are CPU-bound like s3; select them alone, e.g. `--backends azure --scenarios " +
  "sweeps`, to sweep them); memory is left out when another backend is selected (no I/O: its sweeps are noise).";

/** Which selected backends the sweeps run on (see SWEPT_NOTE). */
export function sweptBackends(selected: BenchBackend[]): BenchBackend[] {
  const asked = selected.filter((b) => QUESTION_BACKENDS.includes(b.name));
  if (asked.length) return asked;
  const withIo = selected.filter((b) => b.name !== "memory");
  return withIo.length ? withIo : selected;
}

export const sweepsScenario: Scenario = {
  name: "sweeps",
  title: "Engine settings per backend: split threshold, chunk size × concurrency, cost of a HEAD",
  async run(ctx): Promise<ScenarioReport> {
    const suite = suiteOf(ctx);
    const loadStart = loadNow();
    const thresholdSizes = ctx.quick ? [MiB] : [256 * KiB, MiB, 2 * MiB, 4 * MiB, 16 * MiB];
    const gridSize = ctx.quick ? 32 * MiB : 256 * MiB;
    const chunks = suite.selection.chunkSizes ?? (ctx.quick ? [4 * MiB, 64 * MiB] : [MiB, 4 * MiB, 16 * MiB, 64 * MiB]);
    const concurrencies = suite.selection.concurrency ?? (ctx.quick ? [8, 32] : [8, 16, 32, 64]);
    const headSizes = ctx.quick ? [MiB] : [64 * KiB, MiB, 8 * MiB];
    const backends = sweptBackends(suite.selection.backends);
    const threshold: Section = { results: [] };
    const grid: Section = { results: [] };
    const head: Section = { results: [] };
    for (const backend of backends) {
      await thresholdSweep(ctx, backend, thresholdSizes, threshold);
      await gridSweep(ctx, backend, gridSize, chunks, concurrencies, grid);
      await headSweep(ctx, backend, headSizes, head);
    }
    const a = reportOp(threshold.results, { category: (r) => String(r.params.size), chartTitle: "sweeps — one request vs split ranges, MB/s by object size" });
    const b = gridTables(grid.results, chunks, concurrencies);
    const c = reportOp(head.results, { category: (r) => String(r.params.size), chartTitle: "sweeps — how the size is learned (probe / HEAD / known), MB/s" });
    const all = [...threshold.results, ...grid.results, ...head.results];
    return {
      summary:
        "Our `get` only, with engine settings varied per backend (each cell its own child process, like the other " +
        "scenarios). (A) one request against splitting into planner ranges (≥ 1 MiB) or 256 KiB ranges, for objects " +
        `around the 4 MiB default threshold; (B) chunkSize × maxConcurrentRanges on a ${fmtBytes(gridSize)} object; (C) the ` +
        "cost of learning the size: the default probe (the first range's response carries the size), a HEAD (`stat`) " +
        "before the read, or the size known from a listing (`knownMeta`).",
      tables: [
        ...a.tables.map((t) => ({ ...t, title: `(A) threshold — ${t.title}` })),
        ...b.tables.map((t) => ({ ...t, title: `(B) grid — ${t.title}` })),
        ...c.tables.map((t) => ({ ...t, title: `(C) metadata — ${t.title}` })),
      ],
      notes: [
        ...a.notes,
        ...c.notes,
        "(A): below 4 MiB the `defaults` column runs exactly what `one request` runs (the object is below `minSplitSize`): its ratio there is an A/A check, the noise floor of this run.",
        "(C): the latency columns of the detail table are per `get`; the headline gives stat − known and probe − known at p50. Backends whose driver opens a reader (file, directio) ignore `knownMeta`: their three variants differ only by the `stat` call.",
        `Swept: ${backends.map((b) => b.name).join(", ")}. ${SWEPT_NOTE}`,
        `${loadLine(loadStart)}.`,
      ],
      headline: { ...thresholdHeadline(threshold.results), ...b.headline, ...headHeadline(head.results) },
      params: { thresholdSizes, gridSize, chunks, concurrencies, headSizes, swept: backends.map((b) => b.name), backends: suite.pool.descriptions(), iterations: ctx.iterations, gridIterations: iterationsFor(ctx, gridSize) },
      raw: all,
      charts: [
        { name: "threshold", title: "sweeps (A): one request vs split", svg: a.charts[0]!.svg },
        { name: "grid", title: "sweeps (B): chunkSize × maxConcurrentRanges", svg: renderBarChart({ title: `sweeps (B) — get of a ${fmtBytes(gridSize)} object, MB/s`, yLabel: "MB/s", panels: b.panels, log: false }) },
        { name: "head", title: "sweeps (C): probe / HEAD / known size", svg: c.charts[0]!.svg },
      ],
      failures: wrongBytes(all),
    };
  },
};
