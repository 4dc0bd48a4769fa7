#!/usr/bin/env node
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { backends, selectBackends } from "./backends/index.js";
import { collectEnvironment } from "./lib/env.js";
import { killAllCells } from "./lib/cells.js";
import { enableGc } from "./lib/gc.js";
import { latencyOf } from "./lib/measure.js";
import { preparePeerTools, type PeerMode } from "./lib/peers.js";
import { renderMarkdown } from "./lib/report.js";
import { runScenarios } from "./lib/runner.js";
import { defaultScenarios, parseList, parsePositiveInt, parseSize } from "./lib/selection.js";
import { BackendPool, type Selection, type Suite } from "./lib/suite.js";
import type { Scenario } from "./lib/types.js";
import { scenarios } from "./scenarios/index.js";

const USAGE = `usage: pnpm bench -- [options]      (or node benchmarks/dist/cli.js [options])

  --backends a,b     backends for the cross-backend scenarios (default: embedded = ${backends.filter((b) => b.embedded).map((b) => b.name).join(", ")};
                     all = also ${backends.filter((b) => !b.embedded).map((b) => b.name).join(", ")}, started on loopback through @range/test-servers)
  --scenarios a,b    run only these (known: ${scenarios.map((s) => s.name).join(", ")};
                     ${scenarios.filter((s) => s.supersededBy).map((s) => s.name).join(", ")} run only when named here)
  --sizes 64KiB,8MiB object sizes for get / stream / put (default: get 64KiB,1MiB,8MiB,32MiB,256MiB,1GiB, stream
                     the sizes from 8MiB to 256MiB, put 1MiB,64MiB; --quick: up to 32MiB)
  --concurrency 8,16 maxConcurrentRanges values of the sweeps, and reads in flight of the range scenario
  --chunk-sizes 8MiB chunkSize values of the sweeps
  --iterations N     measured iterations per case (after 1 warm-up; default 5, and 3 for rounds of 256 MiB and
                     more and for listings of 10,000 keys);
                     overrides --quick
  --quick            2 iterations, smaller objects and grids (a few minutes; needs no server)
  --peers MODE       install (default) | installed (default with --quick: use OpenDAL / s3dlio only if already in
                     .cache/bench-peers) | none
  --out DIR          where <YYYY-MM-DD>-<hostname>.json/.md/*.svg go (default: benchmarks/results)
  --label NAME       append -NAME to those file names (e.g. separate runs on one day: s3, sweeps)
  --list             list the scenarios and backends, and exit
  -h, --help         this text`;

/** Measured rounds of cells on objects of LARGE_OBJECT or more, unless --iterations says otherwise. */
const LARGE_OBJECT_ITERATIONS = 3;

// The cells load the AWS SDK, which warns on every start under Node 20; the warning is noise in a report.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

const packageDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

/**
 * JSON replacer: a round's per-operation latencies (up to thousands of numbers per round) are kept as their
 * percentiles; the cell's metrics, computed from every latency before writing, are unchanged.
 */
function compactLatencies(key: string, value: unknown): unknown {
  if (key !== "latencies" || !Array.isArray(value) || value.length <= 16) return value;
  const l = latencyOf(value as number[]);
  return { count: l.count, p50: l.p50, p90: l.p90, p99: l.p99, max: l.max };
}

function fail(message: string): never {
  process.stderr.write(`${message}\n\n${USAGE}\n`);
  process.exit(2);
}

function attempt<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    return fail((error as Error).message);
  }
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2).filter((a) => a !== "--"); // `pnpm bench -- --quick` passes a literal "--"
  const { values } = attempt(() =>
    parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean", default: false },
        scenarios: { type: "string" },
        backends: { type: "string" },
        sizes: { type: "string" },
        concurrency: { type: "string" },
        "chunk-sizes": { type: "string" },
        iterations: { type: "string" },
        peers: { type: "string" },
        out: { type: "string" },
        label: { type: "string" },
        list: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
      strict: true,
      allowPositionals: false,
    }),
  );
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.list) {
    for (const s of scenarios) process.stdout.write(`scenario\t${s.name}\t${s.title}${s.supersededBy ? ` (only when named: superseded by ${s.supersededBy})` : ""}\n`);
    for (const b of backends) process.stdout.write(`backend\t${b.name}\t${b.title}${b.embedded ? "" : " (with --backends all)"}\n`);
    return 0;
  }

  const quick = values.quick ?? false;
  let iterations = quick ? 2 : 5;
  if (values.iterations !== undefined) {
    iterations = parsePositiveInt(values.iterations) ?? fail(`--iterations must be a positive integer, got ${values.iterations}`);
  }
  // A round of 256 MiB or more (or a 10,000-key listing) takes seconds on the HTTP backends: without --iterations, those cells get
  // at most LARGE_OBJECT_ITERATIONS measured rounds, which keeps `--backends all` within about 25 minutes on 2 cores.
  const largeObjectIterations = values.iterations !== undefined ? iterations : Math.min(iterations, LARGE_OBJECT_ITERATIONS);
  const { selected: selectedBackends, unknown } = selectBackends(values.backends);
  if (unknown.length > 0) fail(`unknown backend(s): ${unknown.join(", ")} (known: ${backends.map((b) => b.name).join(", ")}, all, embedded)`);
  const selection: Selection = {
    backends: selectedBackends,
    largeObjectIterations,
    ...(values.sizes !== undefined ? { sizes: attempt(() => parseList("--sizes", values.sizes!, parseSize)) } : {}),
    ...(values.concurrency !== undefined ? { concurrency: attempt(() => parseList("--concurrency", values.concurrency!, parsePositiveInt)) } : {}),
    ...(values["chunk-sizes"] !== undefined ? { chunkSizes: attempt(() => parseList("--chunk-sizes", values["chunk-sizes"]!, parseSize)) } : {}),
  };
  const peerMode = (values.peers ?? (quick ? "installed" : "install")) as PeerMode;
  if (!["install", "installed", "none"].includes(peerMode)) fail(`--peers must be install, installed or none, got ${values.peers}`);

  let selected: Scenario[];
  if (values.scenarios !== undefined) {
    const names = values.scenarios.split(",").map((s) => s.trim()).filter(Boolean);
    const missing = names.filter((name) => !scenarios.some((s) => s.name === name));
    if (missing.length > 0 || names.length === 0) fail(`unknown scenario(s): ${missing.join(", ") || "(none given)"}`);
    selected = scenarios.filter((s) => names.includes(s.name));
  } else {
    selected = defaultScenarios(scenarios, selectedBackends.map((b) => b.name));
  }
  const outDir = path.resolve(values.out ?? path.join(packageDir, "results"));
  if (values.label !== undefined && !/^[\w.-]+$/.test(values.label)) fail(`--label must be letters, digits, ".", "_" or "-", got ${values.label}`);


  const gc = enableGc();
  const env = { ...collectEnvironment(packageDir), gc };
  const command = ["pnpm bench", ...(argv.length ? ["--", ...argv] : [])].join(" ");
  const log = (message: string) => process.stderr.write(`${message}\n`);
  const loadAtStart = os.loadavg();
  log(`@range benchmarks: ${selected.map((s) => s.name).join(", ")} — ${iterations} iteration(s) + 1 warm-up; backends ${selectedBackends.map((b) => b.name).join(", ")}`);

  const tools = await preparePeerTools(peerMode, log);
  const pool = new BackendPool(log);
  const suite: Suite = { selection, pool, tools };
  const stopOnSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: stopping the cell workers and the servers`);
    killAllCells();
    void pool.stopAll().finally(() => process.exit(130));
  };
  process.once("SIGINT", stopOnSignal);
  process.once("SIGTERM", stopOnSignal);

  const startedAt = performance.now();
  let outcomes;
  try {
    outcomes = await runScenarios(selected, { iterations, quick, log, suite });
  } finally {
    await pool.stopAll();
  }
  const totalMs = performance.now() - startedAt;
  const loadAtEnd = os.loadavg();

  const peerLine = (name: string, t: { missing: string } | { version: string }) => ("missing" in t ? `${name}: not available (${t.missing})` : `${name} ${t.version}`);
  const details = [
    `backends: ${selectedBackends.map((b) => b.name).join(", ")}; external peers: ${peerLine("OpenDAL", tools.opendal)}; ${peerLine("s3dlio", tools.s3dlio)}`,
    `load average (1/5/15 min) ${loadAtStart.map((l) => l.toFixed(2)).join(" / ")} at the start, ${loadAtEnd.map((l) => l.toFixed(2)).join(" / ")} at the end (${os.availableParallelism()} cores; other work on the machine competes with the measurement)`,
  ];
  const run = { command, iterations, quick, details };
  const base = `${env.date.slice(0, 10)}-${env.hostname}${values.label ? `-${values.label}` : ""}`;
  const chartFile = (scenario: string, chart: string) => `${base}-${scenario}-${chart}.svg`;
  const markdown = renderMarkdown(env, run, outcomes, chartFile);
  process.stdout.write(`${markdown}\n`);

  mkdirSync(outDir, { recursive: true });
  const json = {
    schema: 2,
    environment: env,
    run: {
      ...run,
      argv,
      largeObjectIterations,
      scenarios: selected.map((s) => s.name),
      backends: selectedBackends.map((b) => b.name),
      selection: { sizes: selection.sizes, concurrency: selection.concurrency, chunkSizes: selection.chunkSizes },
      peers: { mode: peerMode, ...tools },
      loadAverage: { start: loadAtStart, end: loadAtEnd },
      totalMs,
    },
    results: outcomes.map(({ name, title, status, durationMs, report, error }) => ({
      name,
      title,
      status,
      durationMs,
      ...(report ? { headline: report.headline, params: report.params, raw: report.raw, notes: report.notes } : {}),
      ...(error ? { error } : {}),
    })),
  };
  writeFileSync(path.join(outDir, `${base}.json`), `${JSON.stringify(json, compactLatencies, 2)}\n`);
  writeFileSync(path.join(outDir, `${base}.md`), markdown);
  for (const o of outcomes) for (const chart of o.report?.charts ?? []) writeFileSync(path.join(outDir, chartFile(o.name, chart.name)), chart.svg);
  log(`wrote ${path.relative(process.cwd(), path.join(outDir, base))}.json, .md and the charts (${(totalMs / 1000).toFixed(1)} s)`);

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
