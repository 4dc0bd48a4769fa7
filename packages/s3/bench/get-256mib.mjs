// Benchmark: @range/s3 against plain GetObject, on ONE local SeaweedFS started through @range/test-servers.
// Run after `pnpm --filter @range/s3... build`:  node packages/s3/bench/get-256mib.mjs [--quick] [--json out.json]
// Both sides use the same server, client settings and process; runs alternate so drift hits both equally.
import { randomFillSync } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { Agent } from "node:http";
import { allocateAligned, allocatorKind } from "@range/aligned-memory";
import { startSeaweedFs } from "@range/test-servers";
import { createS3Store } from "../dist/index.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const quick = args.includes("--quick");
const jsonOut = args.includes("--json") ? args[args.indexOf("--json") + 1] : undefined;
const RUNS = quick ? 2 : 5;
const BIG = quick ? 64 * MiB : 256 * MiB;
const SMALL_COUNT = quick ? 32 : 128;
const SMALL_CONCURRENCY = 16;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const mbps = (bytes, ms) => bytes / MiB / (ms / 1000);

// The machine may be shared: wait (up to 10 min) for a quiet moment, and report what else ran during each section.
const quietDeadline = Date.now() + (args.includes("--no-wait") ? 0 : 10 * 60_000);
while (loadavg()[0] > 1.2 && Date.now() < quietDeadline) await new Promise((r) => setTimeout(r, 5_000));
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);

const server = await startSeaweedFs({ buckets: ["bench"] });
const procStat = () => {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0].trim().split(/\s+/).slice(1).map(Number);
  return { idle: fields[3] + fields[4], total: fields.reduce((a, b) => a + b, 0) };
};
const cpuOf = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return (Number(f[11]) + Number(f[12])) / 100;
};
/** Cores busy with other work (not this process, not SeaweedFS) while `fn` ran. */
async function otherLoad(fn) {
  const s0 = procStat();
  const w0 = cpuOf(server.pids[0]);
  const n0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const s1 = procStat();
  const cores = (await import("node:os")).cpus().length;
  const busy = (1 - (s1.idle - s0.idle) / (s1.total - s0.total)) * cores;
  const ours = (cpuOf(server.pids[0]) - w0) / seconds + (process.cpuUsage(n0).user + process.cpuUsage(n0).system) / 1e6 / seconds;
  return { value, other: Math.max(0, busy - ours) };
}
const results = { machine: `${process.platform} ${process.arch}, node ${process.version}`, object: BIG, runs: RUNS, rows: [] };
try {
  const connection = {
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  };
  const store = createS3Store({ ...connection, bucket: "bench" });
  // Huge-page-backed results (native allocator): first-touch page faults of a fresh 256 MiB buffer cost ~150 ms here.
  const hugeStore = createS3Store({ ...connection, bucket: "bench", allocate: (size) => allocateAligned(size) });
  const plain = new S3Client({
    ...connection,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: new NodeHttpHandler({ httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) }),
  });

  const big = Buffer.allocUnsafe(BIG);
  randomFillSync(big);
  await store.put("big.bin", big);
  const small = Buffer.allocUnsafe(MiB);
  randomFillSync(small);
  const smallKeys = Array.from({ length: SMALL_COUNT }, (_, i) => `small/${i}.bin`);
  for (let i = 0; i < smallKeys.length; i += 16) await Promise.all(smallKeys.slice(i, i + 16).map((k) => store.put(k, small)));

  // Plain SDK reads: the whole object in one GetObject.
  const plainToByteArray = async (key) => {
    const out = await plain.send(new GetObjectCommand({ Bucket: "bench", Key: key }));
    return out.Body.transformToByteArray();
  };
  const plainIntoBuffer = async (key) => {
    const out = await plain.send(new GetObjectCommand({ Bucket: "bench", Key: key }));
    const buf = Buffer.allocUnsafeSlow(out.ContentLength);
    let at = 0;
    for await (const chunk of out.Body) {
      buf.set(chunk, at);
      at += chunk.length;
    }
    return buf;
  };

  async function time(fn) {
    const t0 = performance.now();
    const data = await fn();
    const ms = performance.now() - t0;
    if (data.length !== BIG) throw new Error(`got ${data.length} bytes`);
    return ms;
  }

  // Warm-up (connections, JIT, server caches).
  await time(() => store.get("big.bin"));
  await time(() => plainToByteArray("big.bin"));

  const into = Buffer.allocUnsafeSlow(BIG).fill(0);
  const variants = {
    "plain GetObject → transformToByteArray": () => plainToByteArray("big.bin"),
    "plain GetObject → preallocated buffer": () => plainIntoBuffer("big.bin"),
    "store.get (engine defaults)": () => store.get("big.bin"),
    [`store.get, allocate: huge pages (${allocatorKind})`]: () => hugeStore.get("big.bin"),
    "store.get, into a reused buffer": () => store.get("big.bin", { into }),
  };
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const section1 = await otherLoad(async () => {
    for (let run = 0; run < RUNS; run++) for (const [name, fn] of Object.entries(variants)) samples[name].push(await time(fn));
  });
  console.log(`\n${BIG / MiB} MiB object, median of ${RUNS} runs (other load on the machine: ${section1.other.toFixed(2)} cores)`);
  const base = median(samples["plain GetObject → transformToByteArray"]);
  for (const [name, ms] of Object.entries(samples)) {
    const m = median(ms);
    results.rows.push({ case: `${BIG / MiB}MiB`, name, ms: m, mbps: mbps(BIG, m), speedup: base / m });
    console.log(`  ${name.padEnd(44)} ${m.toFixed(0).padStart(6)} ms  ${mbps(BIG, m).toFixed(0).padStart(5)} MiB/s  ×${(base / m).toFixed(2)}`);
  }

  // Grid: chunk size × concurrency.
  console.log(`\n${BIG / MiB} MiB object, store.get grid (median of ${Math.max(2, RUNS - 2)} runs), MiB/s`);
  const chunks = quick ? [8 * MiB] : [2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB];
  const concurrencies = quick ? [8, 32] : [4, 8, 16, 32];
  console.log(`  ${"chunk \\ ranges".padEnd(16)}${concurrencies.map((c) => String(c).padStart(8)).join("")}`);
  for (const chunkSize of chunks) {
    const row = [];
    for (const maxConcurrentRanges of concurrencies) {
      const engine = { chunkSize, maxConcurrentRanges };
      const ms = [];
      for (let run = 0; run < Math.max(2, RUNS - 2); run++) ms.push(await time(() => store.get("big.bin", { engine })));
      const m = median(ms);
      row.push(mbps(BIG, m));
      results.rows.push({ case: "grid", chunkSize, maxConcurrentRanges, ms: m, mbps: mbps(BIG, m) });
    }
    console.log(`  ${`${chunkSize / MiB} MiB`.padEnd(16)}${row.map((v) => v.toFixed(0).padStart(8)).join("")}`);
  }

  // Many 1 MiB objects, SMALL_CONCURRENCY at a time: ops/s.
  async function opsPerSec(read) {
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: SMALL_CONCURRENCY }, async () => {
        while (next < smallKeys.length) {
          const data = await read(smallKeys[next++]);
          if (data.length !== MiB) throw new Error("short read");
        }
      }),
    );
    return smallKeys.length / ((performance.now() - t0) / 1000);
  }
  const smallVariants = {
    "plain GetObject → transformToByteArray": plainToByteArray,
    "store.get (1 ranged GetObject each)": (key) => store.get(key),
  };
  await opsPerSec(smallVariants["store.get (1 ranged GetObject each)"]);
  await opsPerSec(plainToByteArray);
  const smallSamples = Object.fromEntries(Object.keys(smallVariants).map((k) => [k, []]));
  const section3 = await otherLoad(async () => {
    for (let run = 0; run < RUNS; run++) for (const [name, fn] of Object.entries(smallVariants)) smallSamples[name].push(await opsPerSec(fn));
  });
  console.log(`\n${SMALL_COUNT} × 1 MiB objects, ${SMALL_CONCURRENCY} in flight, median of ${RUNS} runs (other load: ${section3.other.toFixed(2)} cores)`);
  const smallBase = median(smallSamples["plain GetObject → transformToByteArray"]);
  for (const [name, ops] of Object.entries(smallSamples)) {
    const m = median(ops);
    results.rows.push({ case: "1MiB", name, opsPerSec: m, ratio: m / smallBase });
    console.log(`  ${name.padEnd(44)} ${m.toFixed(0).padStart(6)} ops/s  ×${(m / smallBase).toFixed(2)}`);
  }

  await store.close();
  await hugeStore.close();
  plain.destroy();
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
} finally {
  await server.stop();
}
