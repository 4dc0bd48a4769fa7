#!/usr/bin/env node
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { collectEnvironment } from "./lib/env.js";
import { enableGc } from "./lib/gc.js";
import { renderMarkdown } from "./lib/report.js";
import { runScenarios } from "./lib/runner.js";
import { scenarios } from "./scenarios/index.js";

const USAGE = `usage: node dist/cli.js [--quick] [--scenarios a,b] [--iterations N] [--out DIR]

  --quick          2 measured iterations instead of 5
  --scenarios a,b  run only these (known: ${scenarios.map((s) => s.name).join(", ")})
  --iterations N   measured iterations per case (after 1 warm-up); overrides --quick
  --out DIR        where <YYYY-MM-DD>-<hostname>.json/.md go (default: benchmarks/results)
  --list           list the scenarios and exit
  -h, --help       this text`;

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

async function main(): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      // `pnpm bench -- --quick` passes a literal "--" through; drop it.
      args: process.argv.slice(2).filter((a) => a !== "--"),
      options: {
        quick: { type: "boolean", default: false },
        scenarios: { type: "string" },
        iterations: { type: "string" },
        out: { type: "string" },
        list: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    });
  } catch (error) {
    fail((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.list) {
    for (const s of scenarios) process.stdout.write(`${s.name}\t${s.title}\n`);
    return 0;
  }

  let iterations = values.quick ? 2 : 5;
  if (values.iterations !== undefined) {
    iterations = Number(values.iterations);
    if (!Number.isInteger(iterations) || iterations < 1) fail(`--iterations must be a positive integer, got ${values.iterations}`);
  }
  let selected = scenarios;
  if (values.scenarios !== undefined) {
    const names = values.scenarios.split(",").map((s) => s.trim()).filter(Boolean);
    const unknown = names.filter((name) => !scenarios.some((s) => s.name === name));
    if (unknown.length > 0 || names.length === 0) fail(`unknown scenario(s): ${unknown.join(", ") || "(none given)"}`);
    selected = scenarios.filter((s) => names.includes(s.name));
  }
  const outDir = path.resolve(values.out ?? path.join(packageDir, "results"));

  const gc = enableGc();
  const env = { ...collectEnvironment(packageDir), gc };
  const command = ["pnpm bench", ...(process.argv.slice(2).filter((a) => a !== "--").length ? ["--", ...process.argv.slice(2).filter((a) => a !== "--")] : [])].join(" ");
  const log = (message: string) => process.stderr.write(`${message}\n`);
  log(`@range benchmarks: ${selected.map((s) => s.name).join(", ")} — ${iterations} iteration(s) + 1 warm-up`);

  const startedAt = performance.now();
  const outcomes = await runScenarios(selected, { iterations, quick: values.quick ?? false, log });
  const totalMs = performance.now() - startedAt;

  const run = { command, iterations, quick: values.quick ?? false };
  const markdown = renderMarkdown(env, run, outcomes);
  process.stdout.write(`${markdown}\n`);

  mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, `${env.date.slice(0, 10)}-${env.hostname}`);
  const json = {
    schema: 1,
    environment: env,
    run: { ...run, argv: process.argv.slice(2), scenarios: selected.map((s) => s.name), totalMs },
    results: outcomes.map(({ name, title, status, durationMs, report, error }) => ({
      name,
      title,
      status,
      durationMs,
      ...(report ? { headline: report.headline, params: report.params, raw: report.raw, notes: report.notes } : {}),
      ...(error ? { error } : {}),
    })),
  };
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  writeFileSync(`${base}.md`, markdown);
  log(`wrote ${path.relative(process.cwd(), base)}.json and .md (${(totalMs / 1000).toFixed(1)} s)`);

  const failed = outcomes.filter((o) => o.status === "failed");
  if (failed.length > 0) {
    log(`FAILED: ${failed.map((o) => `${o.name} (${o.error?.message})`).join("; ")}`);
    return 1;
  }
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  },
);
