// How much the op-log's cost on 1 KiB memory-store gets moves from one process to the next (the `oplog` scenario
// measures within one process). Each child process measures plain / control / `withOpLog` (TSV + gzip) the way the
// scenario does: rotated blocks of 10,000 sequential gets, main-thread CPU from /proc/thread-self/schedstat, paired
// per round; it prints the medians of the paired ratios. The parent prints each process's numbers, their spread, and
// the op-log's cost net of the control (both are paired with the same plain blocks) with a 95% t-interval of its mean.
//
//   pnpm build   # the packages' dist/ (@range/core, @range/oplog) must be built
//   node benchmarks/scripts/oplog-processes.mjs [processes=8] [rounds=40]
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const BLOCK = 10_000;
const OBJECTS = 1000;
const WARMUP_ROUNDS = 6;

/** The 97.5% quantile of Student's t with `df` degrees of freedom (a table: this script runs a handful of processes). */
function tQuantile975(df) {
  const table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131];
  return df <= table.length ? table[df - 1] : 1.96 + 2.4 / df;
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function child(rounds) {
  const { createMemoryStore } = await import("@range/core");
  const { createOpLog, withOpLog } = await import("@range/oplog");
  const parked = new Int32Array(new SharedArrayBuffer(4));
  // A short sleep first makes the kernel account the thread's time up to now (see the oplog scenario).
  const threadCpuUs = () => {
    Atomics.wait(parked, 0, 0, 0.2);
    return Number(readFileSync("/proc/thread-self/schedstat", "utf8").split(" ")[0]) / 1e3;
  };
  const memory = createMemoryStore();
  const payload = new Uint8Array(1024).fill(7);
  for (let i = 0; i < OBJECTS; i++) await memory.put(`obj/${i}`, payload);
  const dir = mkdtempSync(path.join(tmpdir(), "range-oplog-processes-"));
  const log = createOpLog(path.join(dir, "ops.tsv.gz"));
  const sides = [
    { id: "plain", store: memory },
    { id: "control", store: memory },
    { id: "oplog", store: withOpLog(memory, { log }), log },
  ];
  const perOp = Object.fromEntries(sides.map((s) => [s.id, []]));
  try {
    for (let round = -WARMUP_ROUNDS; round < rounds; round++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(k + Math.max(0, round)) % sides.length];
        globalThis.gc();
        const before = threadCpuUs();
        for (let i = 0; i < BLOCK; i++) await side.store.get(`obj/${i % OBJECTS}`);
        const after = threadCpuUs();
        await side.log?.flush();
        if (round >= 0) perOp[side.id].push((after - before) / BLOCK);
      }
    }
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const overhead = (id) => median(perOp[id].map((x, i) => x / perOp.plain[i] - 1));
  const addedUs = (id) => median(perOp[id].map((x, i) => x - perOp.plain[i]));
  console.log(JSON.stringify({ plainUs: median(perOp.plain), control: overhead("control"), oplog: overhead("oplog"), oplogAddedUs: addedUs("oplog") }));
}

function parent(processes, rounds) {
  const self = fileURLToPath(import.meta.url);
  const runs = [];
  const pct = (x) => {
    const text = (x * 100).toFixed(1);
    return `${text.startsWith("-") ? "" : "+"}${text === "-0.0" ? "0.0" : text}%`;
  };
  for (let p = 0; p < processes; p++) {
    const out = spawnSync(process.execPath, ["--expose-gc", self, "--child", String(rounds)], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
    if (out.status !== 0) throw new Error(`process ${p + 1} failed (exit ${out.status})`);
    const run = JSON.parse(out.stdout.trim().split("\n").at(-1));
    runs.push(run);
    console.log(
      `process ${p + 1}: plain ${run.plainUs.toFixed(2)} µs/get, control ${pct(run.control)}, op-log ${pct(run.oplog)} (${run.oplogAddedUs.toFixed(2)} µs/get), op-log − control ${pct(run.oplog - run.control)}`,
    );
  }
  const spread = (key, values = runs.map((r) => r[key])) => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    return `${pct(Math.min(...values))} … ${pct(Math.max(...values))}, mean ${pct(mean)}`;
  };
  console.log(`control: ${spread("control")}`);
  console.log(`op-log:  ${spread("oplog")}`);
  const added = runs.map((r) => r.oplogAddedUs);
  console.log(`op-log µs added per get: ${Math.min(...added).toFixed(2)} … ${Math.max(...added).toFixed(2)}, mean ${(added.reduce((a, b) => a + b, 0) / added.length).toFixed(2)}`);
  const net = runs.map((r) => r.oplog - r.control);
  const mean = net.reduce((a, b) => a + b, 0) / net.length;
  if (net.length > 1) {
    const sd = Math.sqrt(net.reduce((a, x) => a + (x - mean) ** 2, 0) / (net.length - 1));
    const half = tQuantile975(net.length - 1) * (sd / Math.sqrt(net.length));
    console.log(`op-log − control: ${spread("oplog-control", net)}, sd ${pct(sd)}; 95% interval of the mean ${pct(mean - half)} … ${pct(mean + half)}`);
  }
}

const args = process.argv.slice(2);
if (args[0] === "--child") await child(Number(args[1]));
else parent(Number(args[0] ?? 8), Number(args[1] ?? 40));
