import { setMaxListeners } from "node:events";
import {
  DEFAULT_ENGINE_OPTIONS,
  KiB,
  MIN_PLANNED_RANGE,
  MiB,
  MemoryBucket,
  RangeEngine,
  chooseRangeSize,
  createMemoryStore,
  createObjectStore,
  type RangeFetcher,
  type RangeStats,
} from "@range/core";
import { pseudoRandomBytes, sameBytes } from "../lib/data.js";
import { fmtBytes, fmtNum, fmtRatio } from "../lib/format.js";
import { maybeGc, mbPerSec, now, summarize, type Summary } from "../lib/measure.js";
import {
  SimulatedNetworkDriver,
  modelMakespanMs,
  modelRequestMs,
  throttledFetcher,
  type NetworkModel,
  type RequestCounter,
} from "../lib/sim.js";
import { BenchmarkFailure, type Scenario, type ScenarioContext, type ScenarioReport, type Table } from "../lib/types.js";

/** 5 ms round trip, 100 MB/s per connection: round figures for one object-store GET stream, stated rather than
 * measured. Parallel connections add up; no aggregate (NIC) cap is modelled. */
const MODEL: NetworkModel = { latencyMs: 5, perStreamBytesPerSec: 100e6 };
const SIZES_MIB = [1, 4, 8, 16, 32, 64, 256];
const FIXED_CHUNK = 64 * MiB;
const CONCURRENCY = DEFAULT_ENGINE_OPTIONS.maxConcurrentRanges;

interface Range {
  offset: number;
  length: number;
}

interface StrategyRun {
  ms: number;
  requests: number;
  maxInFlight: number;
  stats?: RangeStats;
}

interface Strategy {
  id: string;
  label: string;
  /**
   * false: no separate warm-up pass (one long request, nothing to JIT; the executor is warmed by the other
   * strategies) and verification happens on the first measured run instead. Saves ~6 s per run.
   */
  warmup: boolean;
  /** The ranges this strategy requests for `size` (for the model time and the request count). */
  plan(size: number): Range[];
  /** Fetches the object into `dst` (a reused, already-touched buffer of exactly `size` bytes). */
  run(size: number, key: string, dst: Buffer): Promise<StrategyRun>;
}

function fixedPlan(size: number, rangeSize: number): Range[] {
  const out: Range[] = [];
  for (let offset = 0; offset < size; offset += rangeSize) out.push({ offset, length: Math.min(rangeSize, size - offset) });
  return out;
}

/** The planner's rule with another floor than MIN_PLANNED_RANGE (which is a constant, not an option). */
function plannerPlanWithFloor(size: number, floor: number): Range[] {
  const { chunkSize, maxConcurrentRanges, minSplitSize } = DEFAULT_ENGINE_OPTIONS;
  if (size < minSplitSize) return [{ offset: 0, length: size }];
  const perSlot = Math.ceil(size / maxConcurrentRanges / (64 * KiB)) * (64 * KiB);
  return fixedPlan(size, Math.min(chunkSize, Math.max(floor, perSlot)));
}

/**
 * The bench's own executor for plans the engine cannot express (fixed 64 MiB chunks, other floors): `concurrency`
 * workers, each taking the next range, every range copied into one result buffer. Same shape as the engine's loop,
 * minus timeouts and retries.
 */
async function fetchPlan(plan: Range[], data: Uint8Array, fetch: RangeFetcher, concurrency: number): Promise<{ maxInFlight: number }> {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal); // every in-flight request listens on this one signal
  let next = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  const worker = async () => {
    while (!controller.signal.aborted && next < plan.length) {
      const range = plan[next++]!;
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        const bytes = await fetch(range.offset, range.length, controller.signal);
        if (bytes.length !== range.length) throw new BenchmarkFailure(`fetcher returned ${bytes.length} bytes, expected ${range.length}`);
        data.set(bytes, range.offset);
      } finally {
        inFlight--;
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(concurrency, plan.length) }, () =>
      worker().catch((error: unknown) => {
        controller.abort(error);
        throw error;
      }),
    ),
  );
  return { maxInFlight };
}

interface CellResult {
  strategy: string;
  sizeBytes: number;
  requests: number;
  maxInFlight: number;
  modelMs: number;
  ms: Summary;
  mbPerSec: Summary;
  engineStats?: RangeStats[];
}

async function run(ctx: ScenarioContext): Promise<ScenarioReport> {
  const n = ctx.iterations;
  const sizes = SIZES_MIB.map((m) => m * MiB);
  const maxSize = Math.max(...sizes);

  ctx.log(`planner: putting ${sizes.length} objects (${sizes.map(fmtBytes).join(", ")})`);
  const bucket = new MemoryBucket();
  const inner = createMemoryStore({ bucket, latencyMs: MODEL.latencyMs });
  const source = pseudoRandomBytes(maxSize);
  const keyOf = (size: number) => `obj-${size}`;
  for (const size of sizes) await inner.put(keyOf(size), source.subarray(0, size));
  const driver = new SimulatedNetworkDriver(inner, MODEL);
  for (const size of sizes) await driver.prime(keyOf(size));
  const simStore = createObjectStore(driver);

  const fetcherFor = (key: string): { fetch: RangeFetcher; counter: RequestCounter } => {
    const counter: RequestCounter = { requests: 0 };
    return { fetch: throttledFetcher(inner, key, MODEL, counter), counter };
  };

  const engineStrategy = (id: string, label: string, engine: RangeEngine): Strategy => ({
    id,
    label,
    warmup: true,
    plan: (size) => engine.plan(size),
    async run(size, key, dst) {
      const { fetch, counter } = fetcherFor(key);
      const t0 = now();
      const { data, stats } = await engine.download(size, fetch, { into: dst });
      const ms = now() - t0;
      if (data.buffer !== dst.buffer || data.byteOffset !== dst.byteOffset) throw new BenchmarkFailure(`${id}: download({ into }) did not return a view of into`);
      return { ms, requests: counter.requests, maxInFlight: stats.maxInFlight, stats };
    },
  });
  const planStrategy = (id: string, label: string, plan: (size: number) => Range[], warmup = true): Strategy => ({
    id,
    label,
    warmup,
    plan,
    async run(size, key, dst) {
      const { fetch, counter } = fetcherFor(key);
      const t0 = now();
      const { maxInFlight } = await fetchPlan(plan(size), dst, fetch, CONCURRENCY);
      return { ms: now() - t0, requests: counter.requests, maxInFlight };
    },
  });

  const defaultEngine = new RangeEngine();
  const strategies: Strategy[] = [
    engineStrategy("planner", "planner (RangeEngine defaults)", defaultEngine),
    planStrategy("fixed64", "fixed 64 MiB chunks (s3dlio)", (size) => fixedPlan(size, FIXED_CHUNK), false),
    {
      id: "single",
      label: "single request",
      warmup: false,
      plan: (size) => [{ offset: 0, length: size }],
      async run(size, key, dst) {
        const { fetch, counter } = fetcherFor(key);
        const t0 = now();
        const bytes = await fetch(0, size, new AbortController().signal);
        dst.set(bytes); // every strategy lands its bytes in `dst` with one copy
        return { ms: now() - t0, requests: counter.requests, maxInFlight: 1 };
      },
    },
    {
      id: "store-get",
      label: "store.get (head request + planner)",
      warmup: true,
      plan(size) {
        const head = Math.min(size, DEFAULT_ENGINE_OPTIONS.minSplitSize);
        return [{ offset: 0, length: head }, ...defaultEngine.plan(size - head).map((r) => ({ offset: r.offset + head, length: r.length }))];
      },
      async run(size, key, dst) {
        const before = driver.counter.requests;
        let stats: RangeStats | undefined;
        const t0 = now();
        await simStore.get(key, { into: dst, onStats: (s) => (stats = s) });
        const ms = now() - t0;
        return { ms, requests: driver.counter.requests - before, maxInFlight: stats?.maxInFlight ?? 0, ...(stats ? { stats } : {}) };
      },
    },
    planStrategy("pool-floor-1m", "planner rule, bench executor (parity check)", (size) => plannerPlanWithFloor(size, MIN_PLANNED_RANGE)),
    planStrategy("floor-256k", "planner rule, floor 256 KiB", (size) => plannerPlanWithFloor(size, 256 * KiB)),
    planStrategy("floor-4m", "planner rule, floor 4 MiB", (size) => plannerPlanWithFloor(size, 4 * MiB)),
    engineStrategy("cap-256k", "RangeEngine { chunkSize: 256 KiB }", new RangeEngine({ chunkSize: 256 * KiB })),
    engineStrategy("cap-8m", "RangeEngine { chunkSize: 8 MiB }", new RangeEngine({ chunkSize: 8 * MiB })),
  ];

  // Sanity: the bench's copy of the rule must equal the engine's, or the floor variants compare the wrong thing.
  for (const size of sizes) {
    const mine = plannerPlanWithFloor(size, MIN_PLANNED_RANGE);
    const engines = defaultEngine.plan(size);
    if (mine.length !== engines.length || mine[0]!.length !== engines[0]!.length) {
      throw new BenchmarkFailure(`bench copy of the planner rule disagrees with the engine at ${fmtBytes(size)}`);
    }
    if (engines[0]!.length !== Math.min(size, chooseRangeSize(size, DEFAULT_ENGINE_OPTIONS))) {
      throw new BenchmarkFailure("RangeEngine.plan disagrees with chooseRangeSize");
    }
  }

  // One destination per size, allocated and touched once: every strategy lands its bytes there, so page faults on a
  // fresh result buffer (the same for every strategy, and very noisy on a VM) stay out of the comparison.
  const destinations = new Map(sizes.map((size) => [size, Buffer.allocUnsafeSlow(size).fill(0xa5)]));
  const samples = new Map<string, StrategyRun[]>();
  const cell = (id: string, size: number) => `${id}@${size}`;
  const once = async (strategy: Strategy, size: number, verify: boolean): Promise<StrategyRun> => {
    const dst = destinations.get(size)!;
    if (verify) dst.fill(0); // untimed scribble: bytes left by an earlier strategy must not make a check pass
    const result = await strategy.run(size, keyOf(size), dst);
    const expected = strategy.plan(size).length;
    if (result.requests !== expected) {
      throw new BenchmarkFailure(`${strategy.id} at ${fmtBytes(size)}: ${result.requests} requests, plan has ${expected}`);
    }
    if (verify && !sameBytes(dst, source.subarray(0, size))) {
      throw new BenchmarkFailure(`${strategy.id} at ${fmtBytes(size)}: downloaded bytes differ from the source`);
    }
    return result;
  };

  ctx.log(`planner: warm-up + verification (${strategies.length} strategies × ${sizes.length} sizes)`);
  for (const size of sizes) for (const strategy of strategies) if (strategy.warmup) await once(strategy, size, true);
  for (let i = 0; i < n; i++) {
    const t = now();
    // Rotate the strategy order per iteration so none always runs first (or right after a GC-heavy one).
    for (const size of sizes) {
      for (let k = 0; k < strategies.length; k++) {
        const strategy = strategies[(k + i) % strategies.length]!;
        const r = await once(strategy, size, i === 0 && !strategy.warmup);
        const list = samples.get(cell(strategy.id, size)) ?? [];
        list.push(r);
        samples.set(cell(strategy.id, size), list);
      }
      maybeGc();
    }
    ctx.log(`  iteration ${i + 1}/${n}: ${fmtNum((now() - t) / 1000)} s`);
  }
  await simStore.close();
  await inner.close();

  const cells: CellResult[] = [];
  const get = (id: string, size: number): CellResult => {
    const c = cells.find((x) => x.strategy === id && x.sizeBytes === size);
    if (!c) throw new Error(`no result for ${id}@${size}`);
    return c;
  };
  for (const strategy of strategies) {
    for (const size of sizes) {
      const runs = samples.get(cell(strategy.id, size)) ?? [];
      const plan = strategy.plan(size);
      const modelMs =
        strategy.id === "store-get"
          ? modelRequestMs(MODEL, plan[0]!.length) + (plan.length > 1 ? modelMakespanMs(MODEL, plan.slice(1).map((r) => r.length), CONCURRENCY) : 0)
          : modelMakespanMs(MODEL, plan.map((r) => r.length), CONCURRENCY);
      const stats = runs.flatMap((r) => (r.stats ? [r.stats] : []));
      cells.push({
        strategy: strategy.id,
        sizeBytes: size,
        requests: plan.length,
        maxInFlight: Math.max(...runs.map((r) => r.maxInFlight)),
        modelMs,
        ms: summarize(runs.map((r) => r.ms)),
        mbPerSec: summarize(runs.map((r) => mbPerSec(size, r.ms))),
        ...(stats.length ? { engineStats: stats } : {}),
      });
    }
  }

  const msCell = (c: CellResult) => `${fmtNum(c.ms.median)} (${fmtNum(c.ms.min)}–${fmtNum(c.ms.max)})`;
  const main: Table = {
    title: `planner vs fixed 64 MiB chunks vs one request — ${MODEL.latencyMs} ms/request + ${MODEL.perStreamBytesPerSec / 1e6} MB/s per connection, ${CONCURRENCY} in flight`,
    columns: [
      "object",
      "planner ranges",
      "planner ms (min–max)",
      "model ms",
      "planner MB/s",
      "fixed64 ranges",
      "fixed64 ms",
      "fixed64 MB/s",
      "single ms",
      "single MB/s",
      "planner/fixed64",
      "planner/single",
    ],
    rows: sizes.map((size) => {
      const p = get("planner", size);
      const f = get("fixed64", size);
      const s = get("single", size);
      return [
        fmtBytes(size),
        `${p.requests} × ${fmtBytes(defaultEngine.plan(size)[0]!.length)}`,
        msCell(p),
        fmtNum(p.modelMs),
        fmtNum(p.mbPerSec.median),
        String(f.requests),
        msCell(f),
        fmtNum(f.mbPerSec.median),
        msCell(s),
        fmtNum(s.mbPerSec.median),
        fmtRatio(p.mbPerSec.median / f.mbPerSec.median),
        fmtRatio(p.mbPerSec.median / s.mbPerSec.median),
      ];
    }),
  };
  const altIds = ["planner", "floor-256k", "floor-4m", "cap-256k", "cap-8m", "pool-floor-1m", "store-get"];
  const alt: Table = {
    title: "alternatives — median ms (requests); the planner row is the same data as above",
    columns: ["object", ...altIds.map((id) => strategies.find((s) => s.id === id)!.label)],
    rows: sizes.map((size) => [fmtBytes(size), ...altIds.map((id) => `${fmtNum(get(id, size).ms.median)} (${get(id, size).requests})`)]),
  };

  const modelIds = ["planner", "fixed64", "single", "floor-256k", "floor-4m", "cap-256k", "store-get"];
  const model: Table = {
    title: "the simulation's ideal time (ms): waves × (latency + range / bandwidth), no CPU cost — measured ÷ ideal in brackets",
    columns: ["object", ...modelIds.map((id) => strategies.find((s) => s.id === id)!.label)],
    rows: sizes.map((size) => [
      fmtBytes(size),
      ...modelIds.map((id) => `${fmtNum(get(id, size).modelMs)} (${(get(id, size).ms.median / get(id, size).modelMs).toFixed(2)})`),
    ]),
  };

  const headline: Record<string, number | string> = {};
  for (const size of sizes) {
    const label = fmtBytes(size).replace(" ", "");
    headline[`planner_${label}_MBps`] = get("planner", size).mbPerSec.median;
    headline[`planner/fixed64_${label}`] = get("planner", size).mbPerSec.median / get("fixed64", size).mbPerSec.median;
    headline[`planner/single_${label}`] = get("planner", size).mbPerSec.median / get("single", size).mbPerSec.median;
  }
  // Where both make the same single request (objects < 4 MiB) the ratio is ~1 by construction, i.e. noise.
  const differing = sizes.filter((size) => defaultEngine.plan(size).length !== fixedPlan(size, FIXED_CHUNK).length);
  const worstVsFixed = Math.min(...differing.map((size) => get("planner", size).mbPerSec.median / get("fixed64", size).mbPerSec.median));

  return {
    summary:
      `Why the planner splits an object into size/concurrency ranges clamped to [1 MiB, chunkSize]. A simulated object ` +
      `store: the memory backend with \`latencyMs: ${MODEL.latencyMs}\` (the round trip) and a fetcher that completes each request ` +
      `at start + ${MODEL.latencyMs} ms + length / ${MODEL.perStreamBytesPerSec / 1e6} MB/s (one connection is bandwidth-limited; ` +
      `parallel connections add up, no aggregate cap). Every strategy uses that same fetcher. Median of ${n} iterations after ` +
      `1 warm-up; MB/s = 10^6 bytes/s; ratios are throughput ratios (> 1: the planner is faster).`,
    tables: [main, alt, model],
    notes: [
      `"model ms" is the simulation's ideal (waves × (${MODEL.latencyMs} ms + range / ${MODEL.perStreamBytesPerSec / 1e6} MB/s)); the gap to it is ` +
        "timer overshoot (~1 ms per request in Node), the memory copies and the engine's own work.",
      "fixed64 emulates s3dlio (a RangeEngine cannot take a custom plan): ranges [0, 64 MiB), [64 MiB, 128 MiB), … fetched " +
        `with the same fetcher by the bench's executor (${CONCURRENCY} workers, i.e. all at once for ≤ 256 MiB). Objects < 64 MiB get one range.`,
      "planner rule, floor X: the engine's rule with MIN_PLANNED_RANGE replaced by X (it is a constant in core, so these run on the " +
        "bench executor; the parity-check column runs the real 1 MiB rule on that executor to show it matches the engine).",
      "RangeEngine { chunkSize: 8 MiB } plans exactly like the defaults for objects ≤ 256 MiB (size/32 ≤ 8 MiB), so that column " +
        "is a measurement-noise check.",
      "store.get goes through `createObjectStore` over a driver with the same network model: it first reads `minSplitSize` (4 MiB) " +
        "in ONE request together with the size, then hands the rest to the planner. So an object of exactly 4 MiB is one request " +
        "through `get` although `RangeEngine.plan` splits it into 4 × 1 MiB, and every larger object waits for a 4 MiB single-stream " +
        "transfer before its ranges start.",
      "Every strategy lands its bytes in the same reused, already-touched destination buffer (`into` for the engine), so page faults " +
        "on a fresh result buffer stay out of the comparison; each request still returns a freshly allocated buffer from `getRange`, " +
        "like a network client's receive buffers, and that copy is real CPU work on one Node thread.",
      "Verified once per strategy and size: the destination is zero-filled (untimed) and compared with the source afterwards.",
      `Smallest planner/fixed64 ratio where the two plans differ (≥ 4 MiB): ${fmtRatio(worstVsFixed)}. Below 4 MiB both make the same ` +
        "single request, so a ratio there is measurement noise.",
    ],
    headline,
    params: {
      model: MODEL,
      sizesBytes: sizes,
      fixedChunkBytes: FIXED_CHUNK,
      concurrency: CONCURRENCY,
      engineDefaults: DEFAULT_ENGINE_OPTIONS,
      minPlannedRange: MIN_PLANNED_RANGE,
      iterations: n,
      warmup: 1,
    },
    raw: { strategies: strategies.map(({ id, label }) => ({ id, label })), cells },
  };
}

export const planner: Scenario = {
  name: "planner",
  backends: ["memory"],
  title: "Planner: range size = size/concurrency, clamped to [1 MiB, chunkSize]",
  run,
};
