/** A Markdown table: header row, then rows of already formatted cells. */
export interface Table {
  title?: string;
  columns: string[];
  /** Per column: "l" (default for the first column) or "r" (default for the others). */
  align?: ("l" | "r")[];
  rows: string[][];
}

export interface ScenarioContext {
  /** Measured iterations per case (after one warm-up). */
  iterations: number;
  quick: boolean;
  /** Progress, to stderr: stdout carries only the Markdown report. */
  log(message: string): void;
}

/** What a scenario hands back to the runner: formatted tables for the report, every raw number for the JSON. */
export interface ScenarioReport {
  /** One paragraph: what is measured and against what. */
  summary: string;
  tables: Table[];
  /** Markdown bullet points shown under the tables. */
  notes: string[];
  /** The few numbers a reader wants first (MB/s, ratios). */
  headline: Record<string, number | string>;
  /** The simulation / workload parameters, stated so a result can be reproduced. */
  params: Record<string, unknown>;
  /** Every sample, for the JSON file. */
  raw: unknown;
}

export interface Scenario {
  name: string;
  title: string;
  run(ctx: ScenarioContext): Promise<ScenarioReport>;
}

/** A benchmark produced a wrong result (not merely a slow one): the run must fail. */
export class BenchmarkFailure extends Error {
  override name = "BenchmarkFailure";
}
