import { BenchmarkFailure, type Scenario, type ScenarioContext, type ScenarioReport } from "./types.js";

export interface ScenarioOutcome {
  name: string;
  title: string;
  status: "ok" | "failed";
  durationMs: number;
  report?: ScenarioReport;
  error?: { name: string; message: string; stack?: string; wrongResult: boolean };
}

/** Runs the scenarios one after another; a failing scenario is recorded and the others still run. */
export async function runScenarios(selected: Scenario[], ctx: ScenarioContext): Promise<ScenarioOutcome[]> {
  const outcomes: ScenarioOutcome[] = [];
  for (const scenario of selected) {
    ctx.log(`▶ ${scenario.name}: ${scenario.title}`);
    const t0 = performance.now();
    try {
      const report = await scenario.run(ctx);
      const durationMs = performance.now() - t0;
      if (report.failures?.length) {
        const message = report.failures.join("; ");
        outcomes.push({
          name: scenario.name,
          title: scenario.title,
          status: "failed",
          durationMs,
          report,
          error: { name: "BenchmarkFailure", message, wrongResult: true },
        });
        ctx.log(`✘ ${scenario.name} FAILED: ${message}`);
        continue;
      }
      outcomes.push({ name: scenario.name, title: scenario.title, status: "ok", durationMs, report });
      ctx.log(`✔ ${scenario.name} (${(durationMs / 1000).toFixed(1)} s)`);
    } catch (error) {
      const durationMs = performance.now() - t0;
      const e = error instanceof Error ? error : new Error(String(error));
      outcomes.push({
        name: scenario.name,
        title: scenario.title,
        status: "failed",
        durationMs,
        error: { name: e.name, message: e.message, ...(e.stack ? { stack: e.stack } : {}), wrongResult: error instanceof BenchmarkFailure },
      });
      ctx.log(`✘ ${scenario.name} FAILED: ${e.message}`);
    }
  }
  return outcomes;
}
