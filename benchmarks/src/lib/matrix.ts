/**
 * Turns the cells of one operation into the report: a compact table per backend (throughput, and the ratio to the
 * baseline peer: the headline), one detailed table with every metric, the headline numbers, and an SVG chart.
 */
import type { CellResult, CellSample } from "./cells.js";
import { fmtNum, fmtRatio } from "./format.js";
import { summarize, type Summary } from "./measure.js";
import { renderBarChart, type ChartPanel } from "./svg.js";
import type { Table } from "./types.js";

export interface OpReportOptions {
  /** The row label of a cell, e.g. its object size. */
  category: (r: CellResult) => string;
  /** What the category is ("size"). */
  categoryName?: string;
  /** Throughput in MB/s (default) or operations per second (list: objects/s). */
  metric?: "mbps" | "ops";
  opsUnit?: string;
  /** Count requests per operation (default) or per round ("round": a listing's requests per full listing). */
  requestsPer?: "op" | "round";
  chartTitle: string;
}

export interface OpReport {
  tables: Table[];
  headline: Record<string, number | string>;
  notes: string[];
  charts: { name: string; title: string; svg: string }[];
}

const spread = (s: Summary) => `${fmtNum(s.median)} (${fmtNum(s.min)}–${fmtNum(s.max)})`;
const opt = (v: number | undefined, digits = 3) => (v === undefined || !Number.isFinite(v) ? "" : fmtNum(v, digits));

export function valueOf(r: CellResult, metric: "mbps" | "ops"): number | undefined {
  if (r.status !== "ok" || !r.metrics) return undefined;
  return metric === "mbps" ? r.metrics.mbPerSec.median : r.metrics.opsPerSec.median;
}

/**
 * Throughput of `a` over `b`, round by round — round r of both ran back to back (lib/suite.ts runComparison) — as
 * median and min–max over the rounds. Undefined when either did not run.
 */
export function pairedRatio(a: CellResult | undefined, b: CellResult | undefined, metric: "mbps" | "ops"): Summary | undefined {
  const sa = a?.status === "ok" ? a.output?.samples : undefined;
  const sb = b?.status === "ok" ? b.output?.samples : undefined;
  if (!sa?.length || !sb?.length) return undefined;
  const rate = (s: CellSample) => (metric === "mbps" ? s.bytes / s.ms : s.ops / s.ms);
  const n = Math.min(sa.length, sb.length);
  return summarize(Array.from({ length: n }, (_, i) => rate(sa[i]!) / rate(sb[i]!)));
}

function groupBy<T>(items: T[], key: (t: T) => string): Map<string, T[]> {
  const map = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    let list = map.get(k);
    if (!list) map.set(k, (list = []));
    list.push(item);
  }
  return map;
}

/** Contenders in report order: ours first, then the baseline, then the peers as they came. */
function contenderOrder(results: CellResult[]): { id: string; label: string; role: CellResult["role"] }[] {
  const seen = new Map<string, { id: string; label: string; role: CellResult["role"]; rank: number }>();
  for (const r of results) if (!seen.has(r.contender)) seen.set(r.contender, { id: r.contender, label: r.label, role: r.role, rank: r.rank ?? seen.size });
  const roleRank = (role: CellResult["role"]) => ({ ours: 0, baseline: 1, peer: 2, reference: 3 })[role];
  return [...seen.values()].sort((a, b) => roleRank(a.role) - roleRank(b.role) || a.rank - b.rank);
}

export function reportOp(results: CellResult[], options: OpReportOptions): OpReport {
  const metric = options.metric ?? "mbps";
  const unit = metric === "mbps" ? "MB/s" : (options.opsUnit ?? "ops/s");
  const tables: Table[] = [];
  const headline: Record<string, number | string> = {};
  const notes: string[] = [];
  const panels: ChartPanel[] = [];
  const missing = new Map<string, string>();

  for (const [backend, rows] of groupBy(results, (r) => r.backend)) {
    const contenders = contenderOrder(rows);
    const categories = [...groupBy(rows, options.category).keys()];
    const cell = (category: string, id: string) => rows.find((r) => options.category(r) === category && r.contender === id);
    const body: string[][] = [];
    for (const category of categories) {
      const baseline = contenders.find((c) => c.role === "baseline");
      const baseCell = baseline ? cell(category, baseline.id) : undefined;
      const row = [category];
      for (const c of contenders) {
        const r = cell(category, c.id);
        if (!r) {
          row.push("");
          continue;
        }
        if (r.status === "unavailable") {
          row.push("n/a");
          missing.set(`${c.label}`, r.reason ?? "");
          continue;
        }
        if (r.status === "failed") {
          row.push(r.reason?.includes("WRONG BYTES") ? "**WRONG BYTES**" : "failed");
          notes.push(`${backend} ${category}, ${c.label}: failed — ${r.reason}`);
          continue;
        }
        const v = valueOf(r, metric)!;
        const ratio = c.role !== "baseline" ? pairedRatio(r, baseCell, metric) : undefined;
        row.push(ratio ? `${fmtNum(v)} (${fmtRatio(ratio.median)})` : fmtNum(v));
      }
      body.push(row);
      const oursCell = cell(category, "ours");
      const vsBase = pairedRatio(oursCell, baseCell, metric);
      if (vsBase) headline[`${backend} ${category}: ours / ${baseline!.id}`] = Number(vsBase.median.toFixed(3));
      let best: { id: string; v: number } | undefined;
      for (const c of contenders.filter((x) => x.role === "baseline" || x.role === "peer")) {
        const v = valueOf(cell(category, c.id) ?? ({} as CellResult), metric);
        if (v !== undefined && (!best || v > best.v)) best = { id: c.id, v };
      }
      const vsBest = best ? pairedRatio(oursCell, cell(category, best.id), metric) : undefined;
      if (vsBest) headline[`${backend} ${category}: ours / best peer (${best!.id})`] = Number(vsBest.median.toFixed(3));
    }
    const baselineLabel = contenders.find((c) => c.role === "baseline")?.label;
    tables.push({
      title: `${backend} — ${unit}, median of the measured rounds${baselineLabel ? `; (×) = vs the baseline, ${baselineLabel} (median of per-round ratios)` : ""}`,
      columns: [options.categoryName ?? "size", ...contenders.map((c) => (c.role === "baseline" || c.role === "reference" ? `${c.label} (${c.role})` : c.label))],
      rows: body,
    });
    panels.push({
      title: backend,
      categories,
      series: contenders.map((c) => ({
        name: c.role === "peer" ? c.label : `${c.label} (${c.role})`,
        values: categories.map((category) => valueOf(cell(category, c.id) ?? ({} as CellResult), metric)),
      })),
    });
  }

  const detail: string[][] = [];
  for (const r of results) {
    if (r.status !== "ok" || !r.metrics) continue;
    const m = r.metrics;
    const baselineCell = results.find(
      (b) => b.backend === r.backend && b.role === "baseline" && options.category(b) === options.category(r) && b.status === "ok",
    );
    const ratio = r.role !== "baseline" ? pairedRatio(r, baselineCell, metric) : undefined;
    detail.push([
      r.backend,
      options.category(r),
      r.label + (r.role === "baseline" || r.role === "reference" ? ` (${r.role})` : ""),
      r.output?.samples.some((x) => x.bytes > 0) ? spread(m.mbPerSec) : "",
      spread(m.opsPerSec),
      `${opt(m.latency.p50)} / ${opt(m.latency.p90)} / ${opt(m.latency.p99)} / ${opt(m.latency.max)}`,
      opt(m.ttfbMs),
      opt(options.requestsPer === "round" ? m.requestsPerRound : m.requestsPerOp),
      opt(m.peakRssMiB),
      opt(m.cpuMsPerOp),
      opt(m.serverCpuMsPerOp),
      ratio ? `${fmtRatio(ratio.median)} (${ratio.min.toFixed(2)}–${ratio.max.toFixed(2)})` : r.role === "baseline" ? "1.00×" : "",
    ]);
  }
  tables.push({
    title: "Every metric (median over rounds; MB/s and ops/s as median (min–max))",
    columns: ["backend", options.categoryName ?? "size", "contender", "MB/s", options.opsUnit ?? "ops/s", "latency ms p50 / p90 / p99 / max", "TTFB ms", options.requestsPer === "round" ? "requests/round" : "requests/op", "peak RSS MiB", "CPU ms/op", "server CPU ms/op", "vs baseline (paired, min–max)"],
    rows: detail,
  });
  for (const [label, reason] of missing) notes.push(`Not run: ${label} — ${reason}.`);
  const references = new Map(results.filter((r) => r.role === "reference" && r.note).map((r) => [r.label, r.note!]));
  for (const [label, why] of references) notes.push(`For reference, not counted as a peer: ${label} — ${why}.`);
  return {
    tables,
    headline,
    notes,
    charts: [{ name: "chart", title: options.chartTitle, svg: renderBarChart({ title: options.chartTitle, yLabel: unit, panels }) }],
  };
}
