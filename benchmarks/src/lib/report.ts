import type { Environment } from "./env.js";
import { fmtBytes } from "./format.js";
import { renderTable } from "./markdown.js";
import type { ScenarioOutcome } from "./runner.js";

export interface RunInfo {
  command: string;
  iterations: number;
  quick: boolean;
  /** More bullet lines for the header (backends, peers, load). */
  details?: string[];
}

/**
 * The Markdown report. `chartFile(scenario, chart)` names the SVG file a chart was written to, relative to the
 * report, so the report can show it.
 */
export function renderMarkdown(
  env: Environment,
  run: RunInfo,
  outcomes: ScenarioOutcome[],
  chartFile: (scenario: string, chart: string) => string = (s, c) => `${s}-${c}.svg`,
): string {
  const gib = (n: number) => fmtBytes(Math.round(n / 2 ** 30) * 2 ** 30);
  const out: string[] = [];
  out.push(`# @range benchmarks — ${env.date.slice(0, 10)}, ${env.hostname}`, "");
  out.push(
    `- ${env.cpuModel}, ${env.cores} cores, ${gib(env.totalMemoryBytes)} RAM, ${env.platform} ${env.arch} (kernel ${env.kernel})`,
    `- Node ${env.node} (V8 ${env.v8}); explicit gc between measurements: ${env.gc ?? "none"}`,
    `- commit ${env.git ? `${env.git.commit.slice(0, 12)}${env.git.dirty ? " (uncommitted changes)" : ""}` : "unknown"}`,
    `- \`${run.command}\` — ${run.iterations} measured iteration(s) per case after 1 warm-up${run.quick ? " (--quick)" : ""}`,
    ...(run.details ?? []).map((line) => `- ${line}`),
    "",
  );
  for (const o of outcomes) {
    out.push(`## ${o.name} — ${o.title}`, "");
    if (o.status === "failed") {
      out.push(`**FAILED** after ${(o.durationMs / 1000).toFixed(1)} s: ${o.error?.message ?? "unknown error"}`, "");
    }
    if (!o.report) continue;
    out.push(o.report.summary, "");
    for (const chart of o.report.charts ?? []) out.push(`![${chart.title}](${chartFile(o.name, chart.name)})`, "");
    for (const table of o.report.tables) out.push(renderTable(table), "");
    for (const note of o.report.notes) out.push(`- ${note}`);
    out.push("", `_${o.name} took ${(o.durationMs / 1000).toFixed(1)} s._`, "");
  }
  return out.join("\n");
}
