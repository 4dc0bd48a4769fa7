import { constants as fsConstants } from "node:fs";
import { mkdir, open, readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { allocatorKind } from "@range/aligned-memory";
import { KiB, MiB, RangeEngine, type ObjectStore, type RangeStats } from "@range/core";
import { FileDriver, createFileStore } from "@range/file";
import { pseudoRandomBytes, sameBytes } from "../lib/data.js";
import { fmtBytes, fmtNum, fmtRatio } from "../lib/format.js";
import {
  fsTypeOf,
  interleave,
  loadAverage,
  loadNote,
  makeTempDir,
  pageCacheResidency,
  settle,
  syncFileSystem,
  usageNow,
  usageSince,
  verdict,
  verdictCell,
  writeFileSynced,
  type Case,
  type Sample,
  type Usage,
} from "../lib/local.js";
import { now, summarize, type Summary } from "../lib/measure.js";
import { BenchmarkFailure, type Scenario, type ScenarioContext, type ScenarioReport, type Table } from "../lib/types.js";

interface FileSet {
  id: string;
  size: number;
  count: number;
  /** Files per timed block: the two sides alternate block by block (ABBA), so VM noise hits both. */
  seqBlock: number;
  concBlock: number;
}

const SETS: FileSet[] = [
  { id: "64KiB", size: 64 * KiB, count: 2000, seqBlock: 100, concBlock: 500 },
  { id: "1MiB", size: 1 * MiB, count: 300, seqBlock: 25, concBlock: 100 },
];
const CONCURRENCY = 16;
/** What `get` asks the driver to read in the same request as the metadata: `minSplitSize` (default 4 MiB). */
const HEAD_LENGTH = 4 * MiB;
const BIG_MIB = [8, 16, 32];
const TARGET_SMALL = 0.95;
const TARGET_BIG = 1.3;

const range = (s: Summary, f = fmtNum) => `${f(s.min)}–${f(s.max)}`;
const ratioCell = (s: Summary) => `${fmtRatio(s.median)} (${range(s, (x) => x.toFixed(2))})`;

const fileName = (i: number) => `f${String(i).padStart(4, "0")}.bin`;

/** Runs `op(i)` for i in [from, to) with `concurrency` calls in flight. */
async function runMany(op: (i: number) => Promise<unknown>, from: number, to: number, concurrency: number): Promise<void> {
  let next = from;
  const worker = async () => {
    while (next < to) await op(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, to - from) }, worker));
}

interface SideTotals {
  ms: number;
  usage: Usage;
}

function addUsage(a: Usage, b: Usage): Usage {
  return { minflt: a.minflt + b.minflt, majflt: a.majflt + b.majflt, userMs: a.userMs + b.userMs, sysMs: a.sysMs + b.sysMs, vcsw: a.vcsw + b.vcsw };
}

/** One pass over all files per side, block by block, the side that goes first alternating per block. */
async function pairedPass(
  sides: { id: string; op: (i: number) => Promise<unknown> }[],
  count: number,
  block: number,
  concurrency: number,
): Promise<Map<string, SideTotals>> {
  const totals = new Map<string, SideTotals>(sides.map((s) => [s.id, { ms: 0, usage: { minflt: 0, majflt: 0, userMs: 0, sysMs: 0, vcsw: 0 } }]));
  for (let from = 0, k = 0; from < count; from += block, k++) {
    const to = Math.min(count, from + block);
    for (let j = 0; j < sides.length; j++) {
      const side = sides[(j + k) % sides.length]!;
      const before = usageNow();
      const t0 = now();
      await runMany(side.op, from, to, concurrency);
      const ms = now() - t0;
      const t = totals.get(side.id)!;
      t.ms += ms;
      t.usage = addUsage(t.usage, usageSince(before));
    }
  }
  return totals;
}

/** The baseline for one whole file: open, ONE read of the whole size into one buffer (a single pread), close. */
async function readWhole(file: string, size: number, into?: Buffer): Promise<Buffer> {
  const handle = await open(file, "r");
  try {
    const buf = into ?? Buffer.allocUnsafeSlow(size);
    let done = 0;
    while (done < size) {
      const { bytesRead } = await handle.read(buf, done, size - done, done);
      if (bytesRead === 0) throw new Error(`${file} is shorter than ${size} bytes`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await handle.close();
  }
}

/**
 * The syscalls `store.get` makes for a file below `minSplitSize`, hand-written with nothing around them: open
 * (O_NOFOLLOW), fstat (bigint), ONE pread of the whole size into a fresh buffer, close.
 */
async function syscallsOnly(file: string): Promise<Buffer> {
  const handle = await open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
  try {
    const size = Number((await handle.stat({ bigint: true })).size);
    const buf = Buffer.allocUnsafeSlow(size);
    for (let done = 0; done < size; ) {
      const { bytesRead } = await handle.read(buf, done, size - done, done);
      if (bytesRead === 0) throw new Error(`${file} shrank`);
      done += bytesRead;
    }
    return buf;
  } finally {
    await handle.close();
  }
}

const SMALL_SIDES = ["readFile", "syscalls", "driver", "get"] as const;
type SmallSide = (typeof SMALL_SIDES)[number];

interface SmallResult {
  set: FileSet;
  mode: "sequential" | "concurrent";
  /** Per side, per round: ops/s and the usage totals. */
  sides: Record<SmallSide, { opsPerSec: number[]; usage: Usage[] }>;
  /** get vs readFile, and every side vs readFile, paired per round. */
  ratios: Record<SmallSide, Summary>;
}

async function run(ctx: ScenarioContext): Promise<ScenarioReport> {
  const loadStart = loadAverage();
  const n = ctx.iterations;
  const reps = ctx.quick ? 6 : 10;
  const { dir, cleanup } = makeTempDir("file-small");
  try {
    // --- data -------------------------------------------------------------------------------------------------------
    ctx.log(`file-small: writing ${SETS.map((s) => `${s.count} × ${fmtBytes(s.size)}`).join(", ")} and ${BIG_MIB.map((m) => `${m} MiB`).join(", ")} files to ${dir}`);
    const references = new Map<string, Buffer>();
    const allFiles: string[] = [];
    for (const set of SETS) {
      const data = pseudoRandomBytes(set.size * set.count); // no 4 KiB block repeated: every file's bytes are distinct
      references.set(set.id, data);
      await mkdir(path.join(dir, set.id), { recursive: true });
      for (let i = 0; i < set.count; i++) {
        const file = path.join(dir, set.id, fileName(i));
        await writeFile(file, data.subarray(i * set.size, (i + 1) * set.size));
        allFiles.push(file);
      }
    }
    await mkdir(path.join(dir, "big"), { recursive: true });
    for (const mib of BIG_MIB) {
      const data = pseudoRandomBytes(mib * MiB);
      references.set(`big${mib}`, data);
      const file = path.join(dir, "big", `${mib}MiB.bin`);
      await writeFileSynced(file, data);
      allFiles.push(file);
    }
    syncFileSystem(dir);

    const store = createFileStore({ root: dir });
    const driver = new FileDriver({ root: dir });
    const neverAborted = new AbortController().signal;
    const storeNoHuge = createFileStore({ root: dir, hugePages: false });

    // --- verification (untimed), which also reads every file once: all of them are in the page cache afterwards -------
    ctx.log("file-small: verifying every file through readFile and store.get");
    for (const set of SETS) {
      const ref = references.get(set.id)!;
      for (let i = 0; i < set.count; i++) {
        const expected = ref.subarray(i * set.size, (i + 1) * set.size);
        const viaReadFile = await readFile(path.join(dir, set.id, fileName(i)));
        if (!viaReadFile.equals(expected)) throw new BenchmarkFailure(`readFile of ${set.id}/${fileName(i)} differs from the written bytes`);
        const viaGet = await store.get(`${set.id}/${fileName(i)}`);
        if (!sameBytes(viaGet, expected)) throw new BenchmarkFailure(`store.get of ${set.id}/${fileName(i)} differs from the file's bytes`);
      }
    }
    const residency = await pageCacheResidency(allFiles);
    ctx.log(`  page cache: ${residency ? `${fmtBytes(residency.resident)} of ${fmtBytes(residency.total)} resident` : "fincore not available"}`);

    // --- 64 KiB and 1 MiB: ops/s, sequential and with 16 in flight -------------------------------------------------
    const small: SmallResult[] = [];
    for (const set of SETS) {
      for (const mode of ["sequential", "concurrent"] as const) {
        const concurrency = mode === "sequential" ? 1 : CONCURRENCY;
        const block = mode === "sequential" ? set.seqBlock : set.concBlock;
        const ops: Record<SmallSide, (i: number) => Promise<unknown>> = {
          readFile: (i) => readFile(path.join(dir, set.id, fileName(i))),
          syscalls: (i) => syscallsOnly(path.join(dir, set.id, fileName(i))),
          // The file driver alone (what get calls for a small file), without @range/core's get around it.
          driver: async (i) => {
            const reader = await driver.openReader(`${set.id}/${fileName(i)}`, { headLength: HEAD_LENGTH, signal: neverAborted });
            try {
              return reader.head;
            } finally {
              await reader.close();
            }
          },
          get: (i) => store.get(`${set.id}/${fileName(i)}`),
        };
        const sides = SMALL_SIDES.map((id) => ({ id, op: ops[id] }));
        const result: SmallResult = {
          set,
          mode,
          sides: Object.fromEntries(SMALL_SIDES.map((id) => [id, { opsPerSec: [] as number[], usage: [] as Usage[] }])) as unknown as SmallResult["sides"],
          ratios: {} as SmallResult["ratios"],
        };
        ctx.log(`file-small: ${set.count} × ${fmtBytes(set.size)}, ${mode}${mode === "concurrent" ? ` (${CONCURRENCY} in flight)` : ""}`);
        for (let round = -1; round < n; round++) {
          await settle();
          const totals = await pairedPass(sides, set.count, block, concurrency);
          if (round < 0) continue; // warm-up
          for (const side of SMALL_SIDES) {
            const t = totals.get(side)!;
            result.sides[side].opsPerSec.push((set.count / t.ms) * 1000);
            result.sides[side].usage.push(t.usage);
          }
          ctx.log(`  round ${round + 1}/${n}: ${SMALL_SIDES.map((id) => `${id} ${fmtNum(result.sides[id].opsPerSec.at(-1)!)}`).join(", ")} ops/s`);
        }
        for (const id of SMALL_SIDES) {
          result.ratios[id] = summarize(result.sides[id].opsPerSec.map((x, i) => x / result.sides.readFile.opsPerSec[i]!));
        }
        small.push(result);
      }
    }

    // --- 8, 16, 32 MiB: store.get vs ONE pread of the whole file -----------------------------------------------------
    const bigSize = Math.max(...BIG_MIB) * MiB;
    const reused = Buffer.allocUnsafeSlow(bigSize);
    reused.fill(0xa5); // touched
    const big: {
      mib: number;
      ranges: number;
      perRound: Record<string, { ms: number[]; minflt: number[]; sysMs: number[] }>;
      samples: Record<string, Sample[]>;
      ratio: Summary;
      noHugeRatio: Summary;
      intoRatio: Summary;
    }[] = [];
    for (const mib of BIG_MIB) {
      const size = mib * MiB;
      const key = `big/${mib}MiB.bin`;
      const file = path.join(dir, "big", `${mib}MiB.bin`);
      const ref = references.get(`big${mib}`)!;
      const intoView = reused.subarray(0, size);
      const check = (what: string) => (bytes: Uint8Array) => {
        if (bytes.length !== size || !sameBytes(bytes, ref)) throw new BenchmarkFailure(`${mib} MiB ${what}: bytes differ from the file's`);
      };
      const getCase = (id: string, s: ObjectStore, into?: Uint8Array): Case<Uint8Array> => {
        let stats: RangeStats | undefined;
        return {
          id,
          run: () => s.get(key, { ...(into ? { into } : {}), onStats: (st) => (stats = st) }),
          verify: check(id),
          ...(into ? { prepare: () => into.fill(0) } : {}),
          time: (_b, wallMs) => ({ ms: wallMs, ...(stats ? { extra: { ranges: stats.ranges } } : {}) }),
        };
      };
      const cases: Case<Uint8Array>[] = [
        { id: "pread", run: () => readWhole(file, size), verify: check("pread") },
        getCase("get", store),
        getCase("getNoHuge", storeNoHuge),
        { id: "preadInto", run: () => readWhole(file, size, intoView), verify: check("pread into"), prepare: () => intoView.fill(0) },
        getCase("getInto", store, intoView),
      ];
      ctx.log(`file-small: ${mib} MiB file, store.get vs one pread (${reps} calls per case per round)`);
      // interleave() runs one call per case per round; n × reps rounds, grouped back into n rounds of `reps` calls.
      const samples = await interleave(cases, n * reps);
      const perRound: Record<string, { ms: number[]; minflt: number[]; sysMs: number[] }> = {};
      for (const c of cases) {
        const all = samples.get(c.id)!;
        const group = (f: (s: Sample) => number) =>
          Array.from({ length: n }, (_, r) => all.slice(r * reps, (r + 1) * reps).reduce((a, s) => a + f(s), 0) / reps);
        perRound[c.id] = { ms: group((s) => s.ms), minflt: group((s) => s.minflt), sysMs: group((s) => s.sysMs) };
      }
      const paired = (a: string, b: string) => summarize(perRound[a]!.ms.map((ms, r) => perRound[b]!.ms[r]! / ms));
      const ratio = paired("get", "pread");
      big.push({
        mib,
        ranges: new RangeEngine().plan(size).length,
        perRound,
        samples: Object.fromEntries(samples),
        ratio,
        noHugeRatio: paired("getNoHuge", "pread"),
        intoRatio: paired("getInto", "preadInto"),
      });
      ctx.log(`  ${mib} MiB: get/pread ${fmtRatio(ratio.median)} (${range(ratio, (x) => x.toFixed(2))})`);
    }
    await store.close();
    await storeNoHuge.close();

    // --- report ------------------------------------------------------------------------------------------------------
    const perOpUs = (usage: Usage[], count: number, f: (u: Usage) => number) => summarize(usage.map((u) => (f(u) * 1000) / count)).median;
    const sideLabel: Record<SmallSide, string> = {
      readFile: "`fs.promises.readFile(path)` (baseline)",
      syscalls: "same syscalls as get, hand-written: open + fstat + one pread + close",
      driver: "`FileDriver.openReader` + `close` (the driver, without core's `get`)",
      get: "`store.get(key)`",
    };
    const smallRows: string[][] = [];
    for (const r of small) {
      for (const id of SMALL_SIDES) {
        const v = summarize(r.sides[id].opsPerSec);
        const u = r.sides[id].usage;
        smallRows.push([
          `${r.set.count} × ${fmtBytes(r.set.size)}`,
          r.mode === "sequential" ? "sequential" : `${CONCURRENCY} in flight`,
          sideLabel[id],
          fmtNum(v.median),
          range(v),
          fmtNum(1e6 / v.median),
          `${fmtNum(perOpUs(u, r.set.count, (x) => x.userMs))} / ${fmtNum(perOpUs(u, r.set.count, (x) => x.sysMs))}`,
          id === "readFile" ? "1.00×" : ratioCell(r.ratios[id]),
          id === "get" ? verdictCell(r.ratios.get.median, TARGET_SMALL) : "",
        ]);
      }
    }
    const ms = (b: (typeof big)[number], id: string) => summarize(b.perRound[id]!.ms);
    const msCell = (b: (typeof big)[number], id: string) => {
      const v = ms(b, id);
      return `${fmtNum(v.median)} (${range(v)})`;
    };
    const faults = (b: (typeof big)[number], id: string) => fmtNum(summarize(b.perRound[id]!.minflt).median);
    const bigRows = big.map((b) => [
      `${b.mib} MiB`,
      String(b.ranges),
      msCell(b, "pread"),
      msCell(b, "get"),
      msCell(b, "getNoHuge"),
      msCell(b, "preadInto"),
      msCell(b, "getInto"),
      `${faults(b, "pread")} / ${faults(b, "get")} / ${faults(b, "getNoHuge")}`,
      ratioCell(b.ratio),
      verdictCell(b.ratio.median, TARGET_BIG),
      ratioCell(b.noHugeRatio),
      ratioCell(b.intoRatio),
    ]);
    const tables: Table[] = [
      {
        title: `file-small: ops/s, \`store.get(key)\` vs \`fs.promises.readFile(path)\`, page-cached files (median of ${n} rounds, min–max)`,
        columns: ["files", "mode", "what", "ops/s", "min–max", "µs/op", "CPU µs/op (user / sys)", "vs readFile (paired, min–max)", `get ≥ ${TARGET_SMALL}×`],
        align: ["l", "l", "l", "r", "r", "r", "r", "r", "l"],
        rows: smallRows,
      },
      {
        title: `file-small: one file of 8–32 MiB, ms per call (median of ${n} rounds of ${reps} calls, min–max); pread = open + ONE \`filehandle.read\` of the whole size + close`,
        columns: [
          "file",
          "get ranges",
          "pread, fresh `Buffer.allocUnsafeSlow`",
          "`store.get` (default)",
          "`store.get`, `hugePages: false`",
          "pread into reused buffer",
          "`store.get(key, { into })`",
          "minor faults/call (pread / get / get no-huge)",
          "get/pread (paired)",
          `≥ ${TARGET_BIG}×`,
          "no-huge get/pread",
          "into: get/pread",
        ],
        align: ["l", "r", "r", "r", "r", "r", "r", "r", "r", "l", "r", "r"],
        rows: bigRows,
      },
    ];
    const headline: Record<string, number | string> = { allocatorKind };
    for (const r of small) {
      const k = `${r.set.id}${r.mode === "sequential" ? "Seq" : "Conc"}`;
      headline[`${k}GetVsReadFile`] = r.ratios.get.median;
      headline[`${k}Verdict`] = verdict(r.ratios.get.median, TARGET_SMALL);
      headline[`${k}ReadFileOps`] = summarize(r.sides.readFile.opsPerSec).median;
      headline[`${k}GetOps`] = summarize(r.sides.get.opsPerSec).median;
      headline[`${k}SyscallsVsReadFile`] = r.ratios.syscalls.median;
      headline[`${k}DriverVsReadFile`] = r.ratios.driver.median;
    }
    for (const b of big) {
      headline[`big${b.mib}MiBGetVsPread`] = b.ratio.median;
      headline[`big${b.mib}MiBVerdict`] = verdict(b.ratio.median, TARGET_BIG);
      headline[`big${b.mib}MiBNoHugeGetVsPread`] = b.noHugeRatio.median;
      headline[`big${b.mib}MiBIntoGetVsPread`] = b.intoRatio.median;
    }
    const loadEnd = loadAverage();
    const notes = [
      `Targets: get ≥ ${TARGET_SMALL}× readFile for 64 KiB and 1 MiB files (sequential and ${CONCURRENCY} in flight); get ≥ ${TARGET_BIG}× ONE pread for 8–32 MiB files. ` +
        `Ratios are paired: for small files the two sides alternate in blocks (${SETS.map((s) => `${s.seqBlock}/${s.concBlock} files`).join(", ")} sequential/concurrent), ` +
        `for big files every call is followed by the other cases' in a rotated order; the median and min–max over ${n} rounds are shown.`,
      `Allocator: \`${allocatorKind}\`. \`store.get\` of a file below 4 MiB (\`minSplitSize\`) is one open + fstat + pread + close, like readFile; ` +
        "8, 16 and 32 MiB files go through the engine in 8, 16 and 32 ranges of 1 MiB (all in flight, 4 at a time in libuv's pool).",
      "The fresh pread buffer comes from `Buffer.allocUnsafeSlow` (malloc): glibc serves 8 and 16 MiB from memory freed by the previous call " +
        "(its mmap threshold adapts up to 32 MiB) when its trim heuristics keep it, so those reads take 0 to ~2,000 page faults; 32 MiB is " +
        "always a fresh mmap. `store.get` (default) takes results ≥ 2 MiB from the reuse cache of @range/aligned-memory: the memory of a " +
        "released result, so with garbage collected between calls it takes no faults. The `into` column compares both sides reading into " +
        "memory that is already faulted in (the engine alone); `packages/file/bench/get.mjs` keeps the baseline's malloc memory mapped " +
        "instead. Compare the minor-fault column.",
      `Garbage is collected between big-file calls (untimed). Files verified once per run (every small file through both readFile and get; ` +
        `big files on the warm-up of every case) with \`Buffer.equals\`; a mismatch fails the run. Page cache: ${residency ? `${fmtBytes(residency.resident)} of ${fmtBytes(residency.total)} resident` : "unknown (no fincore)"} after the verification pass.`,
      loadNote(loadStart, loadEnd),
    ];
    return {
      summary:
        `Many small page-cached files (${SETS.map((s) => `${s.count} × ${fmtBytes(s.size)}`).join(", ")}) read with \`createFileStore({ root }).get\` ` +
        `against \`fs.promises.readFile\`, one at a time and ${CONCURRENCY} in flight; and single 8, 16 and 32 MiB files against ONE positioned read ` +
        "of the whole file into one buffer (the best a single request can do). Same process, same run, interleaved.",
      tables,
      notes,
      headline,
      params: {
        loadAverage: { start: loadStart, end: loadEnd },
        sets: SETS,
        concurrency: CONCURRENCY,
        bigMiB: BIG_MIB,
        callsPerRound: reps,
        iterations: n,
        warmup: 1,
        dir,
        fsType: fsTypeOf(dir),
        allocatorKind,
        targets: { small: TARGET_SMALL, big: TARGET_BIG },
        pageCache: residency ?? null,
      },
      raw: { small, big },
    };
  } finally {
    cleanup();
  }
}

export const fileSmall: Scenario = {
  name: "file-small",
  backends: ["file"],
  supersededBy: "get (file backend, 64 KiB–32 MiB against readFile and pread)",
  title: "file:// get of 64 KiB–32 MiB page-cached files vs readFile and one pread",
  run,
};
