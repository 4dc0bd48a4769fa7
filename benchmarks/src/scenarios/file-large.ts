import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { allocateAligned, allocatorKind } from "@range/aligned-memory";
import { GiB, MiB, RangeEngine, type GetOptions, type ObjectStore, type RangeEngineOptions, type RangeStats } from "@range/core";
import { createFileStore } from "@range/file";
import { pseudoRandomBytes, sameBytes } from "../lib/data.js";
import { fmtBytes, fmtNum, fmtRatio } from "../lib/format.js";
import {
  fsTypeOf,
  interleave,
  loadAverage,
  loadNote,
  makeTempDir,
  pageCacheResidency,
  pairedRatio,
  runWorker,
  settle,
  summarizeCase,
  thpPolicy,
  verdict,
  verdictCell,
  writeFileSynced,
  type Case,
  type CaseSummary,
  type Sample,
} from "../lib/local.js";
import type { Summary } from "../lib/measure.js";
import { BenchmarkFailure, type Scenario, type ScenarioContext, type ScenarioReport, type Table } from "../lib/types.js";
import type { WorkerCase, WorkerInput, WorkerOutput } from "../workers/local-worker.js";

const SIZE = 1 * GiB;
const KEY = "large/1gib.bin";
const TARGET_GET = 4;
const TARGET_GET_FALLBACK = 2;
const TARGET_INTO = 0.8;
const GRID_CONCURRENCY = [4, 8, 16, 32];
const GRID_CHUNK_MIB = [8, 32, 64];
const THREADPOOL_SIZES = [4, 8, 16];

const range = (s: Summary, f = fmtNum) => `${f(s.min)}–${f(s.max)}`;
const ratioCell = (s: Summary) => `${fmtRatio(s.median)} (${range(s, (x) => x.toFixed(2))})`;

/** A `store.get` case that records the engine's stats of each call as extras (ranges, maxInFlight). */
function getCase(id: string, store: ObjectStore, opts: GetOptions, verify: (bytes: Uint8Array) => void, prepare?: () => void): Case<Uint8Array> {
  let stats: RangeStats | undefined;
  return {
    id,
    run: () => store.get(KEY, { ...opts, onStats: (s) => (stats = s) }),
    verify,
    ...(prepare ? { prepare } : {}),
    time: (_bytes, wallMs) => ({ ms: wallMs, ...(stats ? { extra: { ranges: stats.ranges, maxInFlight: stats.maxInFlight } } : {}) }),
  };
}

function extraOf(samples: Sample[], key: string): string {
  return [...new Set(samples.map((s) => s.extra?.[key]).filter((v) => v !== undefined))].join("/");
}

/** Runs the worker; a wrong-bytes exit becomes a BenchmarkFailure (the run must fail), anything else an Error. */
async function worker(input: WorkerInput, env: Record<string, string>, log: (m: string) => void): Promise<WorkerOutput> {
  try {
    return await runWorker<WorkerOutput>(input, env, log);
  } catch (error) {
    const message = (error as Error).message;
    if (message.includes("WRONG BYTES")) throw new BenchmarkFailure(message);
    throw error;
  }
}

function checkWorker(out: WorkerOutput, cases: WorkerCase[], what: string): void {
  const missing = cases.filter((c) => !out.verified.includes(c.id));
  if (missing.length > 0) throw new BenchmarkFailure(`${what}: worker did not verify ${missing.map((c) => c.id).join(", ")}`);
  if (out.size !== SIZE) throw new BenchmarkFailure(`${what}: worker read ${out.size} bytes, expected ${SIZE}`);
}

/**
 * Reads the file whole (the reference read: it must equal what was written) until it is all in the page cache, at
 * most 3 times. A function of its own so each 1 GiB read is collectable as soon as it is checked.
 */
async function warmPageCache(file: string, reference: Buffer): Promise<{ resident: number; total: number } | undefined> {
  let residency: { resident: number; total: number } | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    if (!(await readFile(file)).equals(reference)) throw new BenchmarkFailure("readFile of the freshly written file differs from the written bytes");
    await settle();
    residency = await pageCacheResidency([file]);
    if (!residency || residency.resident >= residency.total) break;
  }
  return residency;
}

async function run(ctx: ScenarioContext): Promise<ScenarioReport> {
  const loadStart = loadAverage();
  const n = ctx.iterations;
  const { dir, cleanup } = makeTempDir("file-large");
  const file = path.join(dir, ...KEY.split("/"));
  try {
    // --- data: a 1 GiB file, fsynced (clean pages), then read once so it is in the page cache ------------------------
    ctx.log(`file-large: writing ${fmtBytes(SIZE)} to ${dir} (${fsTypeOf(dir)})`);
    const reference = pseudoRandomBytes(SIZE);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFileSynced(file, reference);
    const residency = await warmPageCache(file, reference);
    ctx.log(`  page cache: ${residency ? `${fmtBytes(residency.resident)} of ${fmtBytes(residency.total)} resident` : "fincore not available"}`);

    // --- the pure-JS fallback, in a child process (the allocator kind is fixed at module load) ----------------------
    ctx.log("file-large: child process with RANGE_ALIGNED_MEMORY=wasm");
    const wasmCases: WorkerCase[] = [
      { id: "readFile", kind: "readFile" },
      { id: "get", kind: "get" },
    ];
    const wasm = await worker({ store: "file", root: dir, key: KEY, iterations: n, cases: wasmCases }, { RANGE_ALIGNED_MEMORY: "wasm" }, ctx.log);
    checkWorker(wasm, wasmCases, "wasm child");
    if (wasm.allocatorKind !== "wasm") throw new Error(`the RANGE_ALIGNED_MEMORY=wasm child reports allocator ${wasm.allocatorKind}`);
    const wasmRatio = pairedRatio(wasm.samples["get"]!, wasm.samples["readFile"]!);

    // --- UV_THREADPOOL_SIZE, in child processes (libuv sizes its pool once, at first use) ---------------------------
    const poolCases: WorkerCase[] = [
      { id: "get", kind: "get" },
      { id: "getNoHuge", kind: "get", hugePages: false },
      { id: "getInto", kind: "getInto" },
    ];
    const pools: { size: number; out: WorkerOutput }[] = [];
    if (!ctx.quick) {
      for (const size of THREADPOOL_SIZES) {
        ctx.log(`file-large: child process with UV_THREADPOOL_SIZE=${size}`);
        const out = await worker({ store: "file", root: dir, key: KEY, iterations: n, cases: poolCases }, { UV_THREADPOOL_SIZE: String(size) }, ctx.log);
        checkWorker(out, poolCases, `UV_THREADPOOL_SIZE=${size} child`);
        pools.push({ size, out });
      }
    }

    // --- in-process: readFile vs get (huge pages / plain), get into a reused buffer vs memcpy ----------------------
    ctx.log(`file-large: in-process comparison (allocator ${allocatorKind})`);
    const store = createFileStore({ root: dir });
    const storeNoHuge = createFileStore({ root: dir, hugePages: false });
    const reused = Buffer.allocUnsafeSlow(SIZE);
    reused.fill(0xa5); // touched: every page mapped before the first measurement
    const checkFresh = (what: string) => (bytes: Uint8Array) => {
      if (bytes.length !== SIZE || !sameBytes(bytes, reference)) throw new BenchmarkFailure(`${what}: bytes differ from the file's`);
    };
    const checkReused = (what: string) => (bytes: Uint8Array) => {
      if (bytes.buffer !== reused.buffer || bytes.byteOffset !== reused.byteOffset || bytes.length !== SIZE) {
        throw new BenchmarkFailure(`${what}: get({ into }) did not return a view of \`into\``);
      }
      if (!reused.equals(reference)) throw new BenchmarkFailure(`${what}: bytes in \`into\` differ from the file's`);
    };
    const scribble = () => reused.fill(0);
    const mainCases: Case<any>[] = [
      { id: "readFile", run: () => readFile(file), verify: checkFresh("readFile") },
      getCase("get", store, {}, checkFresh("get (default)")),
      getCase("getNoHuge", storeNoHuge, {}, checkFresh("get (hugePages: false)")),
      getCase("getInto", store, { into: reused }, checkReused("get into"), scribble),
      {
        id: "memcpy",
        run: async () => {
          reused.set(reference);
          return reused;
        },
        prepare: scribble,
        verify: () => {
          if (!reused.equals(reference)) throw new BenchmarkFailure("memcpy: copy differs from the source");
        },
      },
    ];
    // Probes, not peers: the cost of first-touching 1 GiB of fresh memory, which every fresh-result read pays.
    mainCases.push({ id: "touch4k", run: async () => Buffer.allocUnsafeSlow(SIZE).fill(1) });
    if (allocatorKind === "native") mainCases.push({ id: "touchHuge", run: async () => allocateAligned(SIZE).fill(1) });
    const main = await interleave(mainCases, n, ctx.log, "main ");

    // --- engine settings for local files (full mode only) -----------------------------------------------------------
    const grid: { c: number; chunkMiB: number; samples: Sample[]; ranges: number }[] = [];
    const freshC: { c: number; samples: Sample[]; ranges: number }[] = [];
    if (!ctx.quick) {
      ctx.log("file-large: engine grid (maxConcurrentRanges × chunkSize), get into the reused buffer");
      const gridCases: Case<any>[] = [];
      for (const c of GRID_CONCURRENCY) {
        for (const chunkMiB of GRID_CHUNK_MIB) {
          const engine: RangeEngineOptions = { maxConcurrentRanges: c, chunkSize: chunkMiB * MiB };
          gridCases.push(getCase(`c${c}/${chunkMiB}MiB`, store, { into: reused, engine }, checkReused(`get into, c${c}, ${chunkMiB} MiB`), scribble));
        }
      }
      const gridSamples = await interleave(gridCases, n, ctx.log, "grid ");
      for (const c of GRID_CONCURRENCY) {
        for (const chunkMiB of GRID_CHUNK_MIB) {
          const ranges = new RangeEngine({ maxConcurrentRanges: c, chunkSize: chunkMiB * MiB }).plan(SIZE).length;
          grid.push({ c, chunkMiB, samples: gridSamples.get(`c${c}/${chunkMiB}MiB`)!, ranges });
        }
      }
      ctx.log("file-large: maxConcurrentRanges with fresh results (hugePages: false)");
      const freshCases = GRID_CONCURRENCY.map((c) =>
        getCase(`fresh-c${c}`, storeNoHuge, { engine: { maxConcurrentRanges: c } }, checkFresh(`get (hugePages: false), c${c}`)),
      );
      const freshSamples = await interleave(freshCases, n, ctx.log, "fresh ");
      for (const c of GRID_CONCURRENCY) {
        freshC.push({ c, samples: freshSamples.get(`fresh-c${c}`)!, ranges: new RangeEngine({ maxConcurrentRanges: c }).plan(SIZE).length });
      }
    }
    await store.close();
    await storeNoHuge.close();
    const residencyAfter = await pageCacheResidency([file]);

    // --- report ------------------------------------------------------------------------------------------------------
    const s = (id: string): CaseSummary => summarizeCase(main.get(id)!, SIZE);
    const vsReadFile = (id: string) => pairedRatio(main.get(id)!, main.get("readFile")!);
    const getRatio = vsReadFile("get");
    const noHugeRatio = vsReadFile("getNoHuge");
    const intoRatio = pairedRatio(main.get("getInto")!, main.get("memcpy")!);
    const labels: Record<string, string> = {
      readFile: "`fs.promises.readFile(path)` (baseline)",
      get: `\`store.get(key)\` — default: huge-page results (allocator \`${allocatorKind}\`)`,
      getNoHuge: "`store.get(key)` of `createFileStore({ root, hugePages: false })`",
      getInto: "`store.get(key, { into: buf })` — reused, touched Buffer",
      memcpy: "memcpy `buf.set(src)` — same reused Buffer, source in memory",
      touch4k: "probe: `Buffer.allocUnsafeSlow(1 GiB).fill(1)` — first touch of fresh 4 KiB pages, no I/O",
      touchHuge: "probe: `allocateAligned(1 GiB).fill(1)` — first touch of fresh huge pages (the default result allocator), no I/O",
    };
    const mainRows = ["readFile", "get", "getNoHuge", "getInto", "memcpy", ...(main.has("touchHuge") ? ["touch4k", "touchHuge"] : ["touch4k"])].map((id) => {
      const v = s(id);
      const samples = main.get(id)!;
      const vs = id === "readFile" ? "1.00×" : id === "memcpy" || id.startsWith("touch") ? "" : ratioCell(vsReadFile(id));
      return [
        labels[id]!,
        fmtNum(v.mbPerSec.median),
        range(v.mbPerSec),
        fmtNum(v.ms.median),
        extraOf(samples, "ranges"),
        fmtNum(v.minflt),
        fmtNum(v.userMs),
        fmtNum(v.sysMs),
        vs,
        id === "getInto" ? ratioCell(intoRatio) : id === "memcpy" ? "1.00×" : "",
      ];
    });
    const wasmSummary = { readFile: summarizeCase(wasm.samples["readFile"]!, SIZE), get: summarizeCase(wasm.samples["get"]!, SIZE) };
    mainRows.push(
      [
        "child, `RANGE_ALIGNED_MEMORY=wasm`: `fs.promises.readFile(path)`",
        fmtNum(wasmSummary.readFile.mbPerSec.median),
        range(wasmSummary.readFile.mbPerSec),
        fmtNum(wasmSummary.readFile.ms.median),
        "",
        fmtNum(wasmSummary.readFile.minflt),
        fmtNum(wasmSummary.readFile.userMs),
        fmtNum(wasmSummary.readFile.sysMs),
        "1.00× (child)",
        "",
      ],
      [
        `child, \`RANGE_ALIGNED_MEMORY=wasm\` (allocator \`${wasm.allocatorKind}\`): \`store.get(key)\``,
        fmtNum(wasmSummary.get.mbPerSec.median),
        range(wasmSummary.get.mbPerSec),
        fmtNum(wasmSummary.get.ms.median),
        "",
        fmtNum(wasmSummary.get.minflt),
        fmtNum(wasmSummary.get.userMs),
        fmtNum(wasmSummary.get.sysMs),
        `${ratioCell(wasmRatio)} (child)`,
        "",
      ],
    );

    const targets = [
      { what: `\`store.get\` ≥ ${TARGET_GET}× readFile (default, allocator \`${allocatorKind}\`)`, ratio: getRatio, target: TARGET_GET },
      { what: `\`store.get\` ≥ ${TARGET_GET_FALLBACK}× readFile on the pure-JS fallback (child, \`RANGE_ALIGNED_MEMORY=wasm\`)`, ratio: wasmRatio, target: TARGET_GET_FALLBACK },
      { what: `\`store.get(key, { into })\` ≥ ${TARGET_INTO}× memcpy of the same size`, ratio: intoRatio, target: TARGET_INTO },
    ];
    const tables: Table[] = [
      {
        title: `file-large: ${fmtBytes(SIZE)} page-cached file, median of ${n} (min–max), MB/s = 10^6 B/s`,
        columns: ["what", "MB/s", "MB/s min–max", "ms", "ranges", "minor faults", "user ms", "sys ms", "vs readFile (paired, min–max)", "vs memcpy (paired)"],
        align: ["l", "r", "r", "r", "r", "r", "r", "r", "r", "r"],
        rows: mainRows,
      },
      {
        title: "file-large: targets",
        columns: ["target", "measured (median of per-round ratios, min–max)", "result"],
        align: ["l", "r", "l"],
        rows: targets.map((t) => [t.what, ratioCell(t.ratio), verdictCell(t.ratio.median, t.target)]),
      },
    ];
    let best: { c: number; chunkMiB: number; mbps: number } | undefined;
    if (grid.length > 0) {
      const cell = (g: (typeof grid)[number]) => {
        const v = summarizeCase(g.samples, SIZE);
        return `${fmtNum(v.mbPerSec.median)} (${range(v.mbPerSec)}) · ${g.ranges}`;
      };
      tables.push({
        title: "file-large: `store.get(key, { into: buf, engine: { maxConcurrentRanges, chunkSize } })`, MB/s median (min–max) · ranges",
        columns: ["maxConcurrentRanges", ...GRID_CHUNK_MIB.map((m) => `chunkSize ${m} MiB`)],
        rows: GRID_CONCURRENCY.map((c) => [String(c), ...GRID_CHUNK_MIB.map((m) => cell(grid.find((g) => g.c === c && g.chunkMiB === m)!))]),
      });
      for (const g of grid) {
        const mbps = summarizeCase(g.samples, SIZE).mbPerSec.median;
        if (!best || mbps > best.mbps) best = { c: g.c, chunkMiB: g.chunkMiB, mbps };
      }
      tables.push({
        title: "file-large: `store.get(key, { engine: { maxConcurrentRanges } })` into fresh results (`hugePages: false`), default chunkSize",
        columns: ["maxConcurrentRanges", "ranges", "MB/s", "MB/s min–max", "minor faults", "sys ms"],
        rows: freshC.map((f) => {
          const v = summarizeCase(f.samples, SIZE);
          return [String(f.c), String(f.ranges), fmtNum(v.mbPerSec.median), range(v.mbPerSec), fmtNum(v.minflt), fmtNum(v.sysMs)];
        }),
      });
    }
    if (pools.length > 0) {
      const poolCell = (out: WorkerOutput, id: string) => {
        const v = summarizeCase(out.samples[id]!, SIZE);
        return `${fmtNum(v.mbPerSec.median)} (${range(v.mbPerSec)})`;
      };
      tables.push({
        title: "file-large: UV_THREADPOOL_SIZE (child processes, default engine options), MB/s median (min–max)",
        columns: ["UV_THREADPOOL_SIZE", "`get` (huge pages)", "`get`, `hugePages: false`", "`get` into reused Buffer"],
        rows: pools.map(({ size, out }) => [String(size), poolCell(out, "get"), poolCell(out, "getNoHuge"), poolCell(out, "getInto")]),
      });
    }

    const gm = s("get");
    const nh = s("getNoHuge");
    const rf = s("readFile");
    const loadEnd = loadAverage();
    const notes = [
      `Targets: get/readFile **${fmtRatio(getRatio.median)}** (${verdict(getRatio.median, TARGET_GET)} vs ${TARGET_GET}×); ` +
        `with \`hugePages: false\` ${fmtRatio(noHugeRatio.median)}; pure-JS fallback (child) **${fmtRatio(wasmRatio.median)}** ` +
        `(${verdict(wasmRatio.median, TARGET_GET_FALLBACK)} vs ${TARGET_GET_FALLBACK}×); get into/memcpy **${fmtRatio(intoRatio.median)}** ` +
        `(${verdict(intoRatio.median, TARGET_INTO)} vs ${TARGET_INTO}×). Ratios are per round (both sides measured in the same round), median and min–max over ${n} rounds.`,
      `Allocator in this process: \`${allocatorKind}\`; THP policy: ${JSON.stringify(thpPolicy())}. Page cache before: ` +
        `${residency ? `${fmtBytes(residency.resident)} of ${fmtBytes(residency.total)}` : "unknown (no fincore)"}; after: ` +
        `${residencyAfter ? `${fmtBytes(residencyAfter.resident)} of ${fmtBytes(residencyAfter.total)}` : "unknown"}.`,
      `Where the time goes (medians per call; faults, user and sys are the whole process, libuv pool included): readFile ` +
        `${fmtNum(rf.ms.median)} ms, ${fmtNum(rf.minflt)} minor faults, ${fmtNum(rf.sysMs)} ms sys; get with huge pages ` +
        `${fmtNum(gm.ms.median)} ms, ${fmtNum(gm.minflt)} faults, ${fmtNum(gm.sysMs)} ms sys; get with 4 KiB pages ${fmtNum(nh.ms.median)} ms, ` +
        `${fmtNum(nh.minflt)} faults, ${fmtNum(nh.sysMs)} ms sys; get into a touched buffer ${fmtNum(s("getInto").ms.median)} ms, ` +
        `${fmtNum(s("getInto").minflt)} faults (the page-cache → user copy only); memcpy ${fmtNum(s("memcpy").ms.median)} ms. ` +
        `First touch of fresh memory with no I/O at all: 4 KiB pages ${fmtNum(s("touch4k").ms.median)} ms` +
        (main.has("touchHuge") ? `, huge pages ${fmtNum(s("touchHuge").ms.median)} ms.` : "."),
      "Each round runs every case once in a rotated order, with garbage collected (and N-API finalizers run) between calls, untimed. " +
        "Bytes verified once per run (warm-up) with `Buffer.equals` against the written data; a mismatch fails the run.",
      ...(ctx.quick ? ["`--quick`: the engine grid and the UV_THREADPOOL_SIZE children are skipped."] : []),
      ...(best ? [`Fastest engine setting in the grid (into a reused buffer): maxConcurrentRanges ${best.c}, chunkSize ${best.chunkMiB} MiB, ${fmtNum(best.mbps)} MB/s.`] : []),
      loadNote(loadStart, loadEnd),
    ];

    const summaryOf = (v: CaseSummary) => ({ ms: v.ms, mbPerSec: v.mbPerSec, minflt: v.minflt, userMs: v.userMs, sysMs: v.sysMs });
    return {
      summary:
        `A ${fmtBytes(SIZE)} file in the page cache (on ${fsTypeOf(dir)} under \`os.tmpdir()\`), read whole by \`createFileStore({ root }).get\` ` +
        "against `fs.promises.readFile` in the same run, with the default result allocator (huge pages when the native allocator is built), " +
        "with `hugePages: false`, with the pure-JS fallback (a child process with `RANGE_ALIGNED_MEMORY=wasm`), and into a reused buffer " +
        `against a plain memcpy of the same size. Median of ${n} rounds after 1 warm-up.`,
      tables,
      notes,
      headline: {
        allocatorKind,
        readFileMBps: rf.mbPerSec.median,
        getMBps: gm.mbPerSec.median,
        getNoHugeMBps: nh.mbPerSec.median,
        getIntoMBps: s("getInto").mbPerSec.median,
        memcpyMBps: s("memcpy").mbPerSec.median,
        getVsReadFile: getRatio.median,
        getVsReadFileVerdict: verdict(getRatio.median, TARGET_GET),
        getNoHugeVsReadFile: noHugeRatio.median,
        wasmGetVsReadFile: wasmRatio.median,
        wasmVerdict: verdict(wasmRatio.median, TARGET_GET_FALLBACK),
        getIntoVsMemcpy: intoRatio.median,
        getIntoVerdict: verdict(intoRatio.median, TARGET_INTO),
        touch4kMs: s("touch4k").ms.median,
        ...(main.has("touchHuge") ? { touchHugeMs: s("touchHuge").ms.median } : {}),
        ...(best ? { bestConcurrency: best.c, bestChunkMiB: best.chunkMiB, bestMBps: best.mbps } : {}),
      },
      params: {
        loadAverage: { start: loadStart, end: loadEnd },
        sizeBytes: SIZE,
        iterations: n,
        warmup: 1,
        dir,
        fsType: fsTypeOf(dir),
        allocatorKind,
        thp: thpPolicy(),
        targets: { get: TARGET_GET, getFallback: TARGET_GET_FALLBACK, into: TARGET_INTO },
        grid: ctx.quick ? null : { concurrency: GRID_CONCURRENCY, chunkMiB: GRID_CHUNK_MIB },
        threadpoolSizes: ctx.quick ? null : THREADPOOL_SIZES,
        pageCache: { before: residency ?? null, after: residencyAfter ?? null },
      },
      raw: {
        main: Object.fromEntries([...main].map(([id, samples]) => [id, { summary: summaryOf(s(id)), samples }])),
        ratios: { getVsReadFile: getRatio, getNoHugeVsReadFile: noHugeRatio, getIntoVsMemcpy: intoRatio, wasmGetVsReadFile: wasmRatio },
        wasmChild: wasm,
        threadpoolChildren: pools,
        grid: grid.map((g) => ({ maxConcurrentRanges: g.c, chunkMiB: g.chunkMiB, ranges: g.ranges, summary: summarizeCase(g.samples, SIZE), samples: g.samples })),
        freshConcurrency: freshC.map((f) => ({ maxConcurrentRanges: f.c, ranges: f.ranges, summary: summarizeCase(f.samples, SIZE), samples: f.samples })),
      },
    };
  } finally {
    cleanup();
  }
}

export const fileLarge: Scenario = {
  name: "file-large",
  backends: ["file"],
  supersededBy: "get (file backend: readFile, dd, OpenDAL, s3dlio at 64 KiB–1 GiB, paired rounds)",
  title: "file:// get of a 1 GiB page-cached file vs readFile and memcpy",
  run,
};
