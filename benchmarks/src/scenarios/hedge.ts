import { MiB, RangeEngine, seededRandom, type RangeEngineOptions, type RangeFetcher, type RangeStats } from "@range/core";
import { pseudoRandomBytes, sameBytes } from "../lib/data.js";
import { fmtBytes, fmtNum, fmtRatio } from "../lib/format.js";
import { verdictCell } from "../lib/local.js";
import { now, summarize } from "../lib/measure.js";
import { BenchmarkFailure, type Scenario, type ScenarioContext, type ScenarioReport } from "../lib/types.js";

const SIZE = 64 * MiB;
const RANGE = MiB;
const CONCURRENCY = 8;
const BASE_MS = 8;
const JITTER_MS = 4;
/** A straggler: a request that answers after this long (a slow disk, a busy server, a lost packet). */
const STRAGGLER_MS = 400;
const STRAGGLER_P = 0.03;
/** Hedging must cut the p99 download time by at least this factor. */
const TARGET_TAIL = 1.5;

/** A fetcher over `source` whose requests take BASE ± JITTER ms, and STRAGGLER ms with probability STRAGGLER_P. */
function simulatedNetwork(source: Uint8Array, random: () => number): { fetch: RangeFetcher; requests: () => number } {
  let requests = 0;
  const fetch: RangeFetcher = (offset, length, signal) => {
    requests++;
    const ms = random() < STRAGGLER_P ? STRAGGLER_MS : BASE_MS + (random() * 2 - 1) * JITTER_MS;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        signal.removeEventListener("abort", onAbort);
        resolve(source.subarray(offset, offset + length));
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal.reason);
      };
      signal.addEventListener("abort", onAbort, { once: true });
    });
  };
  return { fetch, requests: () => requests };
}

function percentile(samples: number[], p: number): number {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

async function run(ctx: ScenarioContext): Promise<ScenarioReport> {
  const downloads = ctx.quick ? 40 : 200;
  const source = pseudoRandomBytes(SIZE);
  const base: RangeEngineOptions = { chunkSize: RANGE, minSplitSize: RANGE, maxConcurrentRanges: CONCURRENCY };
  const variants = [
    { name: "no hedging", engine: new RangeEngine(base), random: seededRandom(1) },
    { name: "hedge: true (defaults)", engine: new RangeEngine({ ...base, hedge: true }), random: seededRandom(1) },
  ];
  const results = variants.map(() => ({ ms: [] as number[], requests: 0, hedges: 0, hedgeWins: 0 }));
  const into = new Uint8Array(SIZE);
  ctx.log(`hedge: ${downloads} downloads of ${fmtBytes(SIZE)} per variant, interleaved`);
  for (let i = 0; i < downloads; i++) {
    for (const [v, variant] of variants.entries()) {
      const network = simulatedNetwork(source, variant.random);
      const t0 = now();
      const { data, stats }: { data: Uint8Array; stats: RangeStats } = await variant.engine.download(SIZE, network.fetch, { into });
      results[v]!.ms.push(now() - t0);
      results[v]!.requests += network.requests();
      results[v]!.hedges += stats.hedges;
      results[v]!.hedgeWins += stats.hedgeWins;
      if (i === 0 && !sameBytes(data, source)) throw new BenchmarkFailure(`${variant.name}: downloaded bytes differ from the source`);
    }
  }
  const ranges = SIZE / RANGE;
  const rows = variants.map((variant, v) => {
    const r = results[v]!;
    return {
      name: variant.name,
      p50: percentile(r.ms, 0.5),
      p90: percentile(r.ms, 0.9),
      p99: percentile(r.ms, 0.99),
      max: Math.max(...r.ms),
      extraRequests: r.requests / (downloads * ranges) - 1,
      hedges: r.hedges,
      hedgeWins: r.hedgeWins,
    };
  });
  const [off, on] = rows as [(typeof rows)[0], (typeof rows)[0]];
  const tailRatio = off.p99 / on.p99;
  return {
    summary:
      `Tail latency with hedged requests: ${downloads} downloads of ${fmtBytes(SIZE)} in ${fmtBytes(RANGE)} ranges, ${CONCURRENCY} in flight, ` +
      `over a simulated network where a request takes ${BASE_MS} ± ${JITTER_MS} ms and ${STRAGGLER_P * 100}% of requests straggle for ` +
      `${STRAGGLER_MS} ms. Same engine, hedging off vs \`hedge: true\`, interleaved in one run.`,
    tables: [
      {
        title: "hedge: download time (ms)",
        columns: ["variant", "p50", "p90", "p99", "max", "extra requests", "hedges (won)"],
        rows: rows.map((r) => [
          r.name,
          fmtNum(r.p50),
          fmtNum(r.p90),
          fmtNum(r.p99),
          fmtNum(r.max),
          `${(r.extraRequests * 100).toFixed(1)}%`,
          `${r.hedges} (${r.hedgeWins})`,
        ]),
      },
      {
        title: "hedge: target",
        columns: ["target", "measured", "result"],
        rows: [[`p99 without ÷ p99 with hedging ≥ ${TARGET_TAIL}×`, fmtRatio(tailRatio), verdictCell(tailRatio, TARGET_TAIL)]],
      },
    ],
    notes: [
      `Median cost: ${fmtRatio(off.p50 / on.p50)} p50 ratio; hedging spends ${(on.extraRequests * 100).toFixed(1)}% extra requests (budget: 10% of a download's ranges).`,
    ],
    headline: { p99NoHedgeMs: off.p99, p99HedgeMs: on.p99, tailRatio, p50Ratio: off.p50 / on.p50, extraRequests: on.extraRequests },
    params: { size: SIZE, range: RANGE, concurrency: CONCURRENCY, baseMs: BASE_MS, jitterMs: JITTER_MS, stragglerMs: STRAGGLER_MS, stragglerP: STRAGGLER_P, downloads },
    raw: { rows, samples: results.map((r) => summarize(r.ms)) },
  };
}

export const hedge: Scenario = { name: "hedge", title: "Hedged requests vs stragglers", run };
