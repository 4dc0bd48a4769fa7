import type { Suite } from "./suite.js";

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
  /** The cross-backend selection (--backends, --sizes, ...), the started backends and the external peers. */
  suite?: Suite;
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
  /** SVG charts, written next to the report as `<date>-<host>-<scenario>-<name>.svg` and linked from it. */
  charts?: { name: string; title: string; svg: string }[];
  /** Wrong results found while still producing a report: the scenario is then reported AND marked failed. */
  failures?: string[];
}

export interface Scenario {
  name: string;
  title: string;
  /**
   * The backends this scenario measures. Omitted: it runs whatever is selected (the cross-backend scenarios) or
   * needs none. Given: it runs only when one of them is selected with --backends.
   */
  backends?: string[];
  /**
   * Left out of the default selection because another scenario measures the same thing (the text says which); still
   * run when named with --scenarios.
   */
  supersededBy?: string;
  run(ctx: ScenarioContext): Promise<ScenarioReport>;
}

/** A benchmark produced a wrong result (not merely a slow one): the run must fail. */
export class BenchmarkFailure extends Error {
  override name = "BenchmarkFailure";
}
