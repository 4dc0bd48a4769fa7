import { GiB, MemoryBucket, RangeEngine, createMemoryStore, type RangeStats } from "@range/core";
import { pseudoRandomBytes, sameBytes } from "../lib/data.js";
import { fmtBytes, fmtNum, fmtRatio } from "../lib/format.js";
import { maybeGc, mbPerSec, now, summarize, type Summary } from "../lib/measure.js";
import { BenchmarkFailure, type Scenario, type ScenarioContext, type ScenarioReport } from "../lib/types.js";

const SIZE = 1 * GiB;
const KEY = "bench/1gib.bin";

interface Sample {
  ms: number;
  /** Engine samples only: the stats `get` reported through `onStats`. */
  stats?: RangeStats;
}

interface VariantResult {
  variant: "fresh" | "reused";
  engine: { ms: Summary; mbPerSec: Summary; samples: Sample[] };
  memcpy: { ms: Summary; mbPerSec: Summary; samples: Sample[] };
  /** median engine MB/s ÷ median memcpy MB/s. */
  ratio: number;
}

function assertStats(stats: RangeStats | undefined, what: string): RangeStats {
  if (!stats) throw new BenchmarkFailure(`${what}: get() did not report stats`);
  if (stats.bytes !== SIZE) throw new BenchmarkFailure(`${what}: stats.bytes is ${stats.bytes}, expected ${SIZE}`);
  return stats;
}

function result(variant: VariantResult["variant"], engine: Sample[], memcpy: Sample[]): VariantResult {
  const side = (samples: Sample[]) => ({
    ms: summarize(samples.map((s) => s.ms)),
    mbPerSec: summarize(samples.map((s) => mbPerSec(SIZE, s.ms))),
    samples,
  });
  const e = side(engine);
  const m = side(memcpy);
  return { variant, engine: e, memcpy: m, ratio: e.mbPerSec.median / m.mbPerSec.median };
}

async function run(ctx: ScenarioContext): Promise<ScenarioReport> {
  const n = ctx.iterations;
  ctx.log(`generating ${fmtBytes(SIZE)} of synthetic data (@range/datagen)`);
  const bucket = new MemoryBucket();
  const store = createMemoryStore({ bucket });
  {
    const generated = pseudoRandomBytes(SIZE);
    await store.put(KEY, generated);
  }
  // The bytes the store serves: the memcpy baseline copies from the very same memory the engine reads.
  const src = bucket.objects.get(KEY)?.data;
  if (!src || src.length !== SIZE) throw new BenchmarkFailure("memory store did not keep the object");
  maybeGc();

  const engineFresh = async (): Promise<Sample & { data: Uint8Array }> => {
    let stats: RangeStats | undefined;
    const t0 = now();
    const data = await store.get(KEY, { onStats: (s) => (stats = s) });
    const ms = now() - t0;
    return { ms, stats: assertStats(stats, "engine (fresh)"), data };
  };
  const memcpyFresh = (): Sample & { data: Uint8Array } => {
    const t0 = now();
    const dst = Buffer.allocUnsafeSlow(SIZE);
    dst.set(src);
    return { ms: now() - t0, data: dst };
  };
  const reused = Buffer.allocUnsafeSlow(SIZE);
  reused.fill(0xa5); // touched: every page is mapped before the first measurement
  const engineReused = async (): Promise<Sample & { data: Uint8Array }> => {
    let stats: RangeStats | undefined;
    const t0 = now();
    const data = await store.get(KEY, { into: reused, onStats: (s) => (stats = s) });
    const ms = now() - t0;
    return { ms, stats: assertStats(stats, "engine (reused)"), data };
  };
  // The engine alone: a fetcher that hands back `context.target` untouched, so no byte is copied. What is left is the
  // engine's own work per download (planning, 32 promises, stall timers, stats), i.e. the ceiling it imposes.
  const engine = new RangeEngine();
  const bookkeepingOnly = async (): Promise<Sample> => {
    const t0 = now();
    const { stats } = await engine.download(SIZE, async (_offset, _length, _signal, context) => context!.target!, { into: reused });
    return { ms: now() - t0, stats };
  };
  // The same copies the engine path makes, in the same pieces, with nothing else: the 4 MiB head, then the engine's
  // ranges over the rest. Separates "the copy is split into 33 pieces" from "the engine's own work".
  const headBytes = Math.min(SIZE, engine.options.minSplitSize);
  const pieces = [
    { offset: 0, length: headBytes },
    ...engine.plan(SIZE - headBytes).map((r) => ({ offset: r.offset + headBytes, length: r.length })),
  ];
  const memcpyPieces = (): Sample => {
    const t0 = now();
    for (const { offset, length } of pieces) reused.subarray(offset, offset + length).set(src.subarray(offset, offset + length));
    return { ms: now() - t0 };
  };
  const memcpyReused = (): Sample => {
    const t0 = now();
    reused.set(src);
    return { ms: now() - t0 };
  };

  // --- (a) fresh allocation ---------------------------------------------------------------------------------------
  ctx.log("engine-memory-1gib (a) fresh allocation: warm-up + verification");
  {
    // Verified on the warm-up, before any memcpy of the source has run in this variant. A fresh 1 GiB buffer is a
    // new zeroed mapping, so an engine that skipped ranges would leave zeros and fail here.
    const w = await engineFresh();
    if (w.data.length !== SIZE || !sameBytes(w.data, src)) {
      throw new BenchmarkFailure("engine (fresh): downloaded bytes differ from the source");
    }
    const m = memcpyFresh();
    if (!sameBytes(m.data, src)) throw new BenchmarkFailure("memcpy (fresh): copy differs from the source");
  }
  maybeGc();
  const freshEngine: Sample[] = [];
  const freshMemcpy: Sample[] = [];
  for (let i = 0; i < n; i++) {
    // Alternate the order so drift (thermal, page cache, GC) does not favour one side.
    const first = i % 2 === 0 ? "engine" : "memcpy";
    for (const side of first === "engine" ? ["engine", "memcpy"] : ["memcpy", "engine"]) {
      if (side === "engine") {
        const { ms, stats } = await engineFresh();
        freshEngine.push({ ms, ...(stats ? { stats } : {}) });
      } else {
        freshMemcpy.push({ ms: memcpyFresh().ms });
      }
      maybeGc();
    }
    ctx.log(`  iteration ${i + 1}/${n}: engine ${fmtNum(freshEngine.at(-1)!.ms)} ms, memcpy ${fmtNum(freshMemcpy.at(-1)!.ms)} ms`);
  }

  // --- (b) reused, already-touched buffer ------------------------------------------------------------------------
  ctx.log("engine-memory-1gib (b) reused buffer: warm-up + verification");
  {
    reused.fill(0); // scribble, untimed: the check must not pass on bytes an earlier copy left behind
    const w = await engineReused();
    if (w.data.buffer !== reused.buffer || w.data.byteOffset !== reused.byteOffset || w.data.length !== SIZE) {
      throw new BenchmarkFailure("engine (reused): get({ into }) did not return a view of `into`");
    }
    if (!sameBytes(reused, src)) throw new BenchmarkFailure("engine (reused): bytes in `into` differ from the source");
    reused.fill(0);
    memcpyReused();
    if (!sameBytes(reused, src)) throw new BenchmarkFailure("memcpy (reused): copy differs from the source");
  }
  await bookkeepingOnly(); // warm-up
  reused.fill(0);
  memcpyPieces();
  if (!sameBytes(reused, src)) throw new BenchmarkFailure("memcpy in pieces: copy differs from the source");
  const reusedEngine: Sample[] = [];
  const reusedMemcpy: Sample[] = [];
  const piecewise: Sample[] = [];
  const bookkeeping: Sample[] = [];
  for (let i = 0; i < n; i++) {
    const order = i % 2 === 0 ? ["engine", "memcpy"] : ["memcpy", "engine"];
    for (const side of order) {
      if (side === "engine") {
        const { ms, stats } = await engineReused();
        reusedEngine.push({ ms, ...(stats ? { stats } : {}) });
      } else {
        reusedMemcpy.push(memcpyReused());
      }
    }
    piecewise.push(memcpyPieces());
    bookkeeping.push(await bookkeepingOnly());
    ctx.log(`  iteration ${i + 1}/${n}: engine ${fmtNum(reusedEngine.at(-1)!.ms)} ms, memcpy ${fmtNum(reusedMemcpy.at(-1)!.ms)} ms`);
  }
  await store.close();

  const variants = [result("fresh", freshEngine, freshMemcpy), result("reused", reusedEngine, reusedMemcpy)];
  const label = { fresh: "(a) fresh allocation", reused: "(b) reused, touched buffer" } as const;
  const baseline = { fresh: "`Buffer.allocUnsafeSlow(n)` + `dst.set(src)`", reused: "`buf.set(src)`" } as const;
  const engineCall = { fresh: "`store.get(key)`", reused: "`store.get(key, { into: buf })`" } as const;

  const rows: string[][] = [];
  for (const v of variants) {
    const stats = v.engine.samples.map((s) => s.stats!);
    const firstByte = summarize(stats.map((s) => s.firstByteMs));
    const ranges = [...new Set(stats.map((s) => s.ranges))].join("/");
    const inFlight = [...new Set(stats.map((s) => s.maxInFlight))].join("/");
    rows.push([
      label[v.variant],
      `engine ${engineCall[v.variant]}`,
      fmtNum(v.engine.mbPerSec.median),
      `${fmtNum(v.engine.mbPerSec.min)}–${fmtNum(v.engine.mbPerSec.max)}`,
      fmtNum(v.engine.ms.median),
      ranges,
      inFlight,
      fmtNum(firstByte.median),
      fmtRatio(v.ratio),
    ]);
    rows.push([
      label[v.variant],
      `memcpy ${baseline[v.variant]}`,
      fmtNum(v.memcpy.mbPerSec.median),
      `${fmtNum(v.memcpy.mbPerSec.min)}–${fmtNum(v.memcpy.mbPerSec.max)}`,
      fmtNum(v.memcpy.ms.median),
      "",
      "",
      "",
      "1.00×",
    ]);
  }
  const pw = { ms: summarize(piecewise.map((s) => s.ms)), mbPerSec: summarize(piecewise.map((s) => mbPerSec(SIZE, s.ms))) };
  rows.push([
    label.reused,
    `memcpy in the engine's pieces: \`buf.subarray(a, b).set(src.subarray(a, b))\` for the ${pieces.length} ranges of \`get\``,
    fmtNum(pw.mbPerSec.median),
    `${fmtNum(pw.mbPerSec.min)}–${fmtNum(pw.mbPerSec.max)}`,
    fmtNum(pw.ms.median),
    String(pieces.length),
    "",
    "",
    fmtRatio(pw.mbPerSec.median / variants[1]!.memcpy.mbPerSec.median),
  ]);
  const bk = { ms: summarize(bookkeeping.map((s) => s.ms)), mbPerSec: summarize(bookkeeping.map((s) => mbPerSec(SIZE, s.ms))) };
  const bkStats = bookkeeping.map((s) => s.stats!);
  rows.push([
    label.reused,
    "engine alone: `RangeEngine.download(n, fetch, { into: buf })`, fetcher returns `context.target` (no copy)",
    fmtNum(bk.mbPerSec.median),
    `${fmtNum(bk.mbPerSec.min)}–${fmtNum(bk.mbPerSec.max)}`,
    fmtNum(bk.ms.median),
    [...new Set(bkStats.map((s) => s.ranges))].join("/"),
    [...new Set(bkStats.map((s) => s.maxInFlight))].join("/"),
    fmtNum(summarize(bkStats.map((s) => s.firstByteMs)).median),
    "",
  ]);

  const [fresh, reusedV] = variants as [VariantResult, VariantResult];
  return {
    summary:
      `The range engine (default options) reading a ${fmtBytes(SIZE)} object from the memory backend, against ONE plain ` +
      `copy of the same bytes in the same process. There is no network here, so the engine cannot win: the ratio ` +
      `engine/memcpy is the engine's overhead (planning, promises, ${"`"}onStats${"`"}, the head request) on top of the copy ` +
      `it must make anyway. Median of ${n} iterations after 1 warm-up; MB/s = 10^6 bytes/s.`,
    tables: [
      {
        title: `engine-memory-1gib: ${fmtBytes(SIZE)}, memory backend, default engine options`,
        columns: ["variant", "what", "MB/s (median)", "MB/s min–max", "ms (median)", "ranges", "maxInFlight", "firstByteMs", "vs memcpy"],
        align: ["l", "l", "r", "r", "r", "r", "r", "r", "r"],
        rows,
      },
    ],
    notes: [
      `Headline: engine/memcpy = **${fmtRatio(fresh.ratio)}** into a fresh allocation, **${fmtRatio(reusedV.ratio)}** into a reused buffer.`,
      "`ranges` counts the head request: `get` first reads `minSplitSize` (4 MiB) together with the object's size, then the engine " +
        "splits the remaining 1020 MiB into 32 ranges of 31.875 MiB (size/32, rounded to 64 KiB, within [1 MiB, 64 MiB]).",
      "The memory driver copies each range straight into the engine's target view (`context.target`), so the engine path makes one " +
        "copy per byte, like the baseline (the 4 MiB head comes back as a view of the stored object and is copied once into the result).",
      "(a) is dominated by page faults on the new 1 GiB mapping (both sides pay them, and on a VM whose memory is lazily backed by the " +
        "host they vary several-fold from one allocation to the next, so a ratio above 1× there does not mean the engine beats memcpy, only that " +
        "its allocations happened to get cheaper pages: read (a) with its min–max); (b) is pure memory bandwidth and the meaningful ratio.",
      `"memcpy in the engine's pieces" makes exactly the engine path's copies (4 MiB head + 32 × 31.875 MiB) and nothing else: ` +
        `engine ÷ pieces = ${fmtRatio(reusedV.engine.mbPerSec.median / pw.mbPerSec.median)}, so the gap to one whole memcpy is mostly how the copy is split, not the engine.`,
      "\"engine alone\" is the engine's own cost for 1 GiB in 32 ranges with no copy at all: the ceiling the engine imposes.",
      "Verified once per run: the engine's bytes are compared with `Buffer.equals` against the source (into a zero-filled buffer for (b)); a mismatch fails the run.",
    ],
    headline: {
      freshEngineMBps: fresh.engine.mbPerSec.median,
      freshMemcpyMBps: fresh.memcpy.mbPerSec.median,
      freshRatio: fresh.ratio,
      reusedEngineMBps: reusedV.engine.mbPerSec.median,
      reusedMemcpyMBps: reusedV.memcpy.mbPerSec.median,
      reusedRatio: reusedV.ratio,
      engineAloneMs: bk.ms.median,
      piecewiseMemcpyMBps: pw.mbPerSec.median,
      engineVsPiecewise: reusedV.engine.mbPerSec.median / pw.mbPerSec.median,
    },
    params: { sizeBytes: SIZE, iterations: n, warmup: 1, engineOptions: "defaults", backend: "memory (latencyMs 0)" },
    raw: { variants, piecewiseMemcpy: { ...pw, pieces }, engineAlone: { ...bk, samples: bookkeeping } },
  };
}

export const engineMemory1GiB: Scenario = {
  name: "engine-memory-1gib",
  backends: ["memory"],
  title: "Engine overhead vs memcpy (1 GiB, memory backend)",
  run,
};
