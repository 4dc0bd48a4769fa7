import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { KiB, MiB, createMemoryStore, type ObjectStore } from "@range/core";
import { createFileStore } from "@range/file";
import { createOpLog, readOpLog, withOpLog, type OpLog } from "@range/oplog";
import { fmtNum, fmtRatio } from "../lib/format.js";
import { maybeGc, medianInterval, now, summarize, type MedianInterval, type Summary } from "../lib/measure.js";
import type { Scenario, ScenarioContext, ScenarioReport } from "../lib/types.js";

/**
 * The cases measured:
 * - 1 KiB memory-store gets: no I/O at all (~10 µs of CPU each), so the op-log's fixed cost per operation shows most:
 *   the µs it adds per get is this scenario's measure of that cost. Its percentage is held against a stretch bound
 *   (`stretchBound`) of 3%, reported, not a gate: the same build measured in separate processes lands anywhere in −1…+6% (the
 *   control's spread is −3…+3%: `scripts/oplog-processes.mjs`), so no single run can decide a 3% bound there.
 * - 1 KiB file-store gets: the cheapest hot path that does I/O (page-cached files; ~100 µs of main-thread CPU per get
 *   here), and 1 MiB memory-store gets (a get that moves real bytes), which have no stretch bound: the op-log must
 *   not be measurable.
 */
const CASES = [
  // Blocks longer than a batch (4096 entries), so that batches reach the writer thread while the block runs, as in
  // real use: shorter blocks leave the writer's work to the untimed flush after the block, and each block's forced
  // full collection (below) leaves sweeping work that a short block pays a larger share of (measured with 2,500-get
  // blocks: 15 instead of 10.5 µs of CPU per get, on both sides). Four warm-up rounds (160,000 gets): the optimizing
  // compiler keeps improving a 1 KiB get for ~100,000 of them (16 → 10.5 µs), and a side still warming up skews its pairs.
  { id: "1 KiB", backend: "memory", size: 1 * KiB, objects: 1000, opsPerBlock: 10_000, roundsPerIteration: 12, warmupRounds: 4, quickOps: 5_000, stretchBound: 0.03 },
  // ~100 µs of CPU per get: blocks of 2,000 gets (0.2–0.5 s) keep the case to ~2 minutes, and batches of 512 entries
  // (instead of 4096) still reach the writer thread during each block. Two warm-up rounds suffice because the memory
  // case before it has already warmed core's get path up (it runs first in this list).
  { id: "1 KiB", backend: "file", size: 1 * KiB, objects: 1000, opsPerBlock: 2_000, roundsPerIteration: 6, warmupRounds: 2, quickOps: 300, batchSize: 512 },
  { id: "1 MiB", backend: "memory", size: 1 * MiB, objects: 32, opsPerBlock: 1_000, roundsPerIteration: 8, warmupRounds: 1, quickOps: 300 },
] as const;

type Case = (typeof CASES)[number];

/** "met" / "over" a stretch bound in percent, or without one whether the overhead is distinguishable from 0 at all. */
function boundVerdict(overhead: Summary, stretchBound: number | undefined): string {
  if (stretchBound !== undefined) return overhead.median <= stretchBound ? "met" : "over";
  const sorted = [...overhead.samples].sort((a, b) => a - b);
  const q1 = sorted[Math.floor((sorted.length - 1) / 4)]!;
  const q3 = sorted[Math.ceil((3 * (sorted.length - 1)) / 4)]!;
  return q1 <= 0 && q3 >= 0 ? "not measurable" : overhead.median > 0 ? "measurable cost" : "measurably faster";
}

interface Side {
  id: string;
  what: string;
  store: ObjectStore;
  log?: OpLog;
  file?: string;
}

const parked = new Int32Array(new SharedArrayBuffer(4));

/**
 * CPU time of the calling thread alone, in ms: on Linux from /proc/thread-self/schedstat (nanoseconds on the CPU),
 * else /proc/thread-self/stat (10 ms ticks); undefined elsewhere. Unlike wall time it does not grow while other
 * processes hold the CPU, and unlike `process.cpuUsage()` it leaves out the writer thread: it is the cost on the
 * hot path itself. Nanoseconds make each round's pair of blocks a ratio of its own.
 */
function threadCpuMs(): number | undefined {
  try {
    // The kernel adds a running thread's time to schedstat only at scheduler ticks (every 4 ms at HZ=250: ±40% on a
    // 10 ms block, measured); a 0.2 ms sleep first makes it account the thread's time up to now.
    Atomics.wait(parked, 0, 0, 0.2);
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e6;
  } catch {
    try {
      const stat = readFileSync("/proc/thread-self/stat", "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      // After "pid (comm) ", field 3 (state) is index 0: utime and stime are fields 14 and 15.
      return (Number(fields[11]) + Number(fields[12])) * 10;
    } catch {
      return undefined;
    }
  }
}

/**
 * `ops` gets of the case's objects with `concurrency` in flight, then `log`'s flush; returns elapsed ms and main-thread
 * CPU ms of the gets, and process CPU ms (all threads) of the gets and the flush: the writer's work for this block,
 * which must not run during (and be charged to) the next side's block.
 */
async function getLoop(
  store: ObjectStore,
  objects: number,
  ops: number,
  concurrency: number,
  log: OpLog | undefined,
): Promise<{ ms: number; cpuMs: number; threadMs: number | undefined }> {
  let next = 0;
  const cpu = process.cpuUsage();
  const thread0 = threadCpuMs();
  const t0 = now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < ops) await store.get(`obj/${next++ % objects}`);
    }),
  );
  const ms = now() - t0;
  const thread1 = threadCpuMs();
  await log?.flush();
  const used = process.cpuUsage(cpu);
  return { ms, cpuMs: (used.user + used.system) / 1000, threadMs: thread0 === undefined || thread1 === undefined ? undefined : thread1 - thread0 };
}

interface CaseResult {
  /** "memory 1 KiB", "file 1 KiB", ... */
  case: string;
  backend: Case["backend"];
  size: Case["id"];
  mode: string;
  side: string;
  opsPerSec: Summary;
  cpuUsPerOp: Summary;
  ratio: Summary | undefined;
  /** Main-thread CPU µs per get (median of the rounds). */
  threadUsPerOp: Summary | undefined;
  /** Main-thread CPU per get against plain's in the same round, minus 1: median and min–max over the rounds. */
  threadOverhead: Summary | undefined;
  /** The 95% interval of `threadOverhead`'s median (see `medianInterval`). */
  threadInterval: MedianInterval | undefined;
  /** Main-thread CPU µs per get minus plain's in the same round: what the op-log adds per operation, in time. */
  threadAddedUs: Summary | undefined;
  threadAddedInterval: MedianInterval | undefined;
  stretchBound: number | undefined;
}

const caseName = (c: Case) => `${c.backend} ${c.id}`;

/** A store of `c.objects` objects of `c.size` bytes (`obj/0`, `obj/1`, ...) on the case's backend. */
async function seededStore(c: Case, dir: string): Promise<ObjectStore> {
  const store = c.backend === "file" ? createFileStore({ root: mkdtempSync(path.join(dir, "files-")) }) : createMemoryStore();
  const payload = new Uint8Array(c.size).fill(7);
  for (let i = 0; i < c.objects; i++) await store.put(`obj/${i}`, payload);
  return store;
}

async function run(ctx: ScenarioContext): Promise<ScenarioReport> {
  // Many short blocks rather than a few long ones: adjacent blocks see the same machine, so pairing them cancels the
  // drift of a shared VM (which moves ops/s by 2× within seconds here).
  const roundsOf = (c: Case) => (ctx.quick ? 12 : c.roundsPerIteration * ctx.iterations);
  const dir = mkdtempSync(path.join(tmpdir(), "range-bench-oplog-"));
  const results: CaseResult[] = [];
  const files: Record<string, { ops: number; dropped: number; bytes: number; recordsRead: number }> = {};
  const what = new Map<string, string>();
  try {
    for (const c of CASES) {
      const opsPerBlock = ctx.quick ? c.quickOps : c.opsPerBlock;
      const rounds = roundsOf(c);
      const name = caseName(c);
      const store = await seededStore(c, dir);
      const logs: OpLog[] = [];
      const tag = name.replace(/\s+/g, "-");
      const logged = (id: string, label: string, file: string): Side => {
        const log = createOpLog(path.join(dir, `${tag}-${file}`), "batchSize" in c ? { batchSize: c.batchSize } : {});
        logs.push(log);
        return { id, what: label, store: withOpLog(store, { log }), log, file: path.join(dir, `${tag}-${file}`) };
      };
      const sides: Side[] = [
        { id: "plain", what: `${c.backend} store, no op-log`, store },
        { id: "control", what: `${c.backend} store, no op-log, measured again as if it were a logged side (the control)`, store },
        logged("tsv", "`withOpLog`, TSV + gzip (`ops.tsv.gz`)", "ops.tsv.gz"),
        logged("jsonl", "`withOpLog`, JSON lines + gzip (`ops.jsonl.gz`)", "ops.jsonl.gz"),
      ];
      for (const side of sides) what.set(`${c.backend} ${side.id}`, side.what);
      try {
        for (const mode of MODES) {
          ctx.log(`oplog: ${name} gets, ${rounds} rounds of ${opsPerBlock} per side, ${mode.id}`);
          const opsPerSec = new Map<string, number[]>(sides.map((s) => [s.id, []]));
          const cpu = new Map<string, number[]>(sides.map((s) => [s.id, []]));
          const thread = new Map<string, number[] | undefined>(sides.map((s) => [s.id, []]));
          const warmup = ctx.quick ? 1 : c.warmupRounds;
          for (let round = -warmup; round < rounds; round++) {
            // Rotated order per round (ABCD, BCDA, CDAB, DABC): VM noise and drift hit every side alike. A full collection before
            // every block keeps major collections out of the blocks (without it, measured: per-round ratios from -90% to +380%).
            for (let k = 0; k < sides.length; k++) {
              const side = sides[(k + Math.max(0, round)) % sides.length]!;
              maybeGc();
              const { ms, cpuMs, threadMs } = await getLoop(side.store, c.objects, opsPerBlock, mode.concurrency, side.log);
              if (round < 0) continue;
              const own = thread.get(side.id);
              if (own && threadMs !== undefined) own.push((threadMs * 1000) / opsPerBlock);
              else thread.set(side.id, undefined);
              opsPerSec.get(side.id)!.push((opsPerBlock / ms) * 1000);
              cpu.get(side.id)!.push((cpuMs * 1000) / opsPerBlock);
            }
          }
          const plain = opsPerSec.get("plain")!;
          const plainThread = thread.get("plain");
          for (const side of sides) {
            const own = opsPerSec.get(side.id)!;
            const mine = thread.get(side.id);
            const hasPairs = side.id !== "plain" && mine && plainThread;
            const paired = hasPairs ? mine.map((x, i) => x / plainThread[i]! - 1) : undefined;
            const added = hasPairs ? mine.map((x, i) => x - plainThread[i]!) : undefined;
            results.push({
              case: name,
              backend: c.backend,
              size: c.id,
              mode: mode.id,
              side: side.id,
              opsPerSec: summarize(own),
              cpuUsPerOp: summarize(cpu.get(side.id)!),
              ratio: side.id === "plain" ? undefined : summarize(own.map((x, i) => x / plain[i]!)),
              threadUsPerOp: mine ? summarize(mine) : undefined,
              threadOverhead: paired ? summarize(paired) : undefined,
              threadInterval: paired ? medianInterval(paired) : undefined,
              threadAddedUs: added ? summarize(added) : undefined,
              threadAddedInterval: added ? medianInterval(added) : undefined,
              stretchBound: "stretchBound" in c ? c.stretchBound : undefined,
            });
          }
          ctx.log(
            `  ${name} ${mode.id}: ${results
              .slice(-sides.length)
              .map((r) => `${r.side} ${fmtNum(r.opsPerSec.median)} ops/s${r.threadOverhead ? ` (main-thread CPU ${pct(r.threadOverhead.median)})` : ""}`)
              .join(", ")}`,
          );
        }
        for (const side of sides) {
          if (!side.log || !side.file) continue;
          await side.log.close();
          const stats = side.log.stats();
          let recordsRead = 0;
          for await (const _ of readOpLog(side.file)) recordsRead++;
          files[`${name} ${side.id}`] = { ops: stats.recorded, dropped: stats.dropped, bytes: statSync(side.file).size, recordsRead };
        }
      } finally {
        // Also after an error: no writer thread left running (close is idempotent), no store left open.
        await Promise.allSettled(logs.map((log) => log.close()));
        await store.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const failures = Object.entries(files)
    .filter(([, f]) => f.recordsRead !== f.ops)
    .map(([id, f]) => `${id}: the file holds ${f.recordsRead} records, ${f.ops} were recorded`);
  const headline: Record<string, number | string> = {};
  for (const r of results) {
    if (!r.ratio) continue;
    // The memory cases keep their earlier keys (tsv1KiBSeq...), so results stay comparable across runs.
    const key = `${r.side}${r.backend === "memory" ? "" : "File"}${r.size.replace(/\s+/g, "")}${r.mode === "sequential" ? "Seq" : "Conc"}`;
    headline[`${key}Ratio`] = r.ratio.median;
    if (r.threadOverhead !== undefined) {
      headline[`${key}ThreadCpuOverhead`] = r.threadOverhead.median;
      if (r.threadInterval) {
        headline[`${key}ThreadCpuOverheadLow`] = r.threadInterval.low;
        headline[`${key}ThreadCpuOverheadHigh`] = r.threadInterval.high;
      }
      if (r.threadAddedUs) headline[`${key}ThreadCpuAddedUs`] = r.threadAddedUs.median;
      headline[`${key}Verdict`] = r.side === "control" ? controlVerdict(r.threadInterval) : boundVerdict(r.threadOverhead, r.stretchBound);
    }
  }
  const fmtUs = (x: number) => `${x >= 0 ? "+" : "−"}${Math.abs(x).toFixed(2)}`;
  return {
    summary:
      `The cost of recording every operation: gets of ${CASES.map((c) => `${c.objects} objects of ${c.id} (${c.backend} store)`).join(", ")}, ` +
      `read with \`store.get\` with and without \`withOpLog\`, one at a time and 16 in flight, and the plain store once more as a control. ` +
      `The memory store does no I/O at all, so its 1 KiB gets show the op-log's fixed cost per operation at its largest (in µs added per get, and in percent against a 3% stretch bound); on the file store's page-cached 1 KiB gets (the cheapest hot path that does I/O) and on 1 MiB gets it must not be measurable. ` +
      `Sides alternate in blocks (${CASES.map((c) => `${ctx.quick ? c.quickOps : c.opsPerBlock} gets of ${caseName(c)}`).join(", ")}; rotated order each round); ratios are paired per round; ` +
      `median and min–max of ${CASES.map((c) => `${roundsOf(c)} rounds (${caseName(c)})`).join(", ")}.`,
    tables: [
      {
        title: `oplog: gets, ops/s and logged/plain (median of ${CASES.map((c) => `${roundsOf(c)} rounds (${caseName(c)})`).join(", ")}, min–max)`,
        columns: [
          "store",
          "mode",
          "what",
          "ops/s",
          "ops/s vs plain (paired, min–max)",
          "main-thread CPU µs/op",
          "main-thread CPU vs plain (paired: median, [95% interval of the median], min … max)",
          "main-thread CPU µs added per op (paired: median [95% interval])",
          "bound (file 1 KiB, 1 MiB: is 0 inside the middle half of the rounds?)",
          "process CPU µs/op (all threads)",
        ],
        align: ["l", "l", "l", "r", "r", "r", "r", "r", "l", "r"],
        rows: results.map((r) => [
          r.case,
          r.mode,
          what.get(`${r.backend} ${r.side}`)!,
          fmtNum(r.opsPerSec.median),
          r.ratio ? `${fmtRatio(r.ratio.median)} (${r.ratio.min.toFixed(2)}–${r.ratio.max.toFixed(2)})` : "1.00×",
          r.threadUsPerOp === undefined ? "n/a" : fmtNum(r.threadUsPerOp.median),
          r.threadOverhead === undefined ? "" : `${pct(r.threadOverhead.median)} ${r.threadInterval ? `[${pct(r.threadInterval.low)} … ${pct(r.threadInterval.high)}]` : ""} (${pct(r.threadOverhead.min)} … ${pct(r.threadOverhead.max)})`,
          r.threadAddedUs === undefined
            ? ""
            : `${fmtUs(r.threadAddedUs.median)}${r.threadAddedInterval ? ` [${fmtUs(r.threadAddedInterval.low)} … ${fmtUs(r.threadAddedInterval.high)}]` : ""}`,
          r.threadOverhead === undefined
            ? ""
            : r.side === "control"
              ? controlVerdict(r.threadInterval)
              : r.stretchBound !== undefined
                ? `stretch bound ≤ ${pct(r.stretchBound)} (no I/O; reported, not a gate): ${boundVerdict(r.threadOverhead, r.stretchBound)}`
                : boundVerdict(r.threadOverhead, undefined),
          fmtNum(r.cpuUsPerOp.median),
        ]),
      },
      {
        title: "oplog: the files",
        columns: ["file", "operations recorded", "dropped", "compressed bytes", "bytes/operation"],
        align: ["l", "r", "r", "r", "r"],
        rows: Object.entries(files).map(([id, f]) => [id, String(f.ops), String(f.dropped), String(f.bytes), fmtNum(f.bytes / Math.max(1, f.ops))]),
      },
    ],
    notes: [
      "Main-thread CPU is read from /proc/thread-self/schedstat (nanoseconds) around every block, each read after a 0.2 ms sleep (the kernel accounts a running thread's time only at scheduler ticks, 4 ms here); each round pairs a logged block with the plain block next to it, and the table gives the median of those per-round ratios (and differences, in µs), its 95% interval (the order statistics that hold the true median with ≥ 95% probability whatever the noise's distribution) and their spread. It is the verdict's measure because it only counts work done, while wall-clock ops/s on a shared VM swing by 2× between neighbouring blocks (see min–max).",
      "The interval covers the noise within one process only. From one process to the next the memory store's 1 KiB cells move by about ±4% (the control's as much as the op-log's; even plain's own cost per get differs by up to half): `node benchmarks/scripts/oplog-processes.mjs` measures plain / control / TSV in fresh processes and gives the op-log's cost net of the control with a 95% interval of its mean (results/*-oplog-processes.md). So one run's memory cell can land on either side of a 3% bound. A file-store get costs ~50–150 µs of main-thread CPU here, so the op-log's fixed cost (the µs the memory cells add) is a far smaller share of it than the file cells can resolve (their 95% intervals are several percent wide): \"not measurable\" there says that the cost is hidden in that noise, not that it is zero. No verdict fails the run; only a file that does not read back does.",
      "Each logged block ends with its log's `flush()` (outside the main-thread time, inside the process CPU): the writer thread's work for a block is done before the next side's block starts, not charged to it.",
      "Both stores are made by core's `createObjectStore`, so `withOpLog` records their gets from inside the store's own `get` (`withOperationObserver`): on the operation's thread an entry costs one clock read (the start is the store's own), a thread number, a few stores into a shared ring of numbers and the key's characters copied into a shared character ring (no string kept, nothing cloned per batch), and no promise or microtask of its own. Formatting (written byte by byte into a reused buffer: no string per line, so the writer's own garbage collections stay rare), gzip (~1 µs of CPU per TSV line with formatting, measured) and the file writes run on a writer thread and zlib's pool. The process CPU column counts both threads, so it shows that work too: it is moved off the hot path, not made free.",
      "Policy `drop` (the default): when 65 536 entries wait for the writer, further entries are counted as dropped instead of slowing the operations. The writer's progress is a shared-memory counter, so a loop that never yields to the event loop (as the memory store's) still sees it.",
      `Every file is read back with \`readOpLog\` after the run and must hold exactly the recorded entries (dropped ones excluded); a mismatch fails the scenario.`,
    ],
    headline,
    params: { cases: CASES, rounds: Object.fromEntries(CASES.map((c) => [caseName(c), roundsOf(c)])), modes: MODES },
    raw: { results, files },
    ...(failures.length > 0 ? { failures } : {}),
  };
}

const MODES = [
  { id: "sequential", concurrency: 1 },
  { id: "16 in flight", concurrency: 16 },
] as const;

/** The control is the plain store measured as a logged side: its "overhead" is the measure's own error. */
function controlVerdict(interval: MedianInterval | undefined): string {
  if (!interval) return "control";
  return interval.low <= 0 && interval.high >= 0 ? "control: its interval holds 0 (the measure is sound)" : "control: **its interval misses 0** (drift in this run: read the others with care)";
}

function pct(x: number): string {
  return `${x >= 0 ? "+" : ""}${(x * 100).toFixed(1)}%`;
}

export const oplogScenario: Scenario = {
  name: "oplog",
  title: "Op-log overhead on the hot path (file store 1 KiB, memory store 1 KiB and 1 MiB gets, with and without withOpLog)",
  run,
};
