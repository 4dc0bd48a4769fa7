// Benchmark: @range/azure against the SDK's own download paths, on ONE Azurite started through @range/test-servers.
// Run after `pnpm --filter @range/azure... build`:
//   node --expose-gc packages/azure/bench/get-256mib.mjs [--quick] [--runs N] [--in-memory] [--no-wait] [--json out.json]
// Every variant uses the same server and process. Runs interleave, each round starting one variant later (so no
// variant always follows the same one), and with --expose-gc a full GC runs before each timed read (so no variant pays
// for the previous one's 256 MiB of garbage). Besides the time, each variant reports the CPU seconds Azurite and this
// process spent on it, to show which side is the limit.
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { BlobServiceClient, StorageSharedKeyCredential } from "@azure/storage-blob";
import { cpuSecondsOf, measureOtherLoad, median, mibPerSecond, opsPerSecond, ownCpuSeconds, seedGetBenchmark, spread, startAzurite, waitForQuiet } from "@range/test-servers";
import { createAzureStore } from "../dist/index.js";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const quick = args.includes("--quick");
const RUNS = Number(arg("--runs", quick ? 2 : 5));
const BIG = quick ? 64 * MiB : 256 * MiB;
const SMALL_COUNT = quick ? 32 : 128;
const SMALL_CONCURRENCY = 16;
/** The block size and concurrency both sides use for the big blob: the engine's defaults for 256 MiB (32 × ~8 MiB). */
const BLOCK = 8 * MiB;
const CONCURRENCY = 32;
const jsonOut = arg("--json", undefined);

const mbps = mibPerSecond;

// The machine may be shared: wait (up to 10 min) for a quiet moment, and report what else ran during each section.
await waitForQuiet(1.5, args.includes("--no-wait") ? 0 : 10 * 60_000);
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(" ")}${globalThis.gc ? "" : " (run with --expose-gc for a GC before each read)"}`);

const server = await startAzurite({ containers: ["bench"], inMemory: args.includes("--in-memory") });
const cpuOf = cpuSecondsOf;
/** Cores busy with other work (not this process, not Azurite) while `fn` ran. */
const otherLoad = (fn) => measureOtherLoad(fn, [server.pids[0]]);

const results = {
  machine: `${process.platform} ${process.arch}, ${cpus().length} cores, node ${process.version}`,
  azurite: `${server.install.version}${args.includes("--in-memory") ? " --inMemoryPersistence" : " (disk extents)"}`,
  object: BIG,
  runs: RUNS,
  rows: [],
};
try {
  const connection = { endpoint: server.blobEndpoint, account: server.account, accountKey: server.accountKey };
  const store = createAzureStore({ ...connection, container: "bench" });
  // The engine's defaults plan 256 MiB as a 4 MiB head + 32 ranges of 7.875 MiB, 32 in flight; pinned explicitly here so
  // the comparison with downloadToBuffer's 8 MiB × 32 holds whatever the defaults become.
  const pinned = createAzureStore({ ...connection, container: "bench", engine: { chunkSize: BLOCK, maxConcurrentRanges: CONCURRENCY } });
  // The SDK as an application would use it: its default pipeline and keep-alive agent.
  const sdk = new BlobServiceClient(server.blobEndpoint, new StorageSharedKeyCredential(server.account, server.accountKey)).getContainerClient("bench");

  const { big, smallKeys } = await seedGetBenchmark(store, BIG, SMALL_COUNT);

  /** One `download()` of the whole blob, its stream read into a buffer of the response's size. */
  const singleDownload = async (key) => {
    const response = await sdk.getBlockBlobClient(key).download();
    const buffer = Buffer.allocUnsafeSlow(response.contentLength);
    let at = 0;
    for await (const chunk of response.readableStreamBody) {
      buffer.set(chunk, at);
      at += chunk.length;
    }
    if (at !== buffer.length) throw new Error(`short body: ${at}`);
    return buffer;
  };
  const sizeUnknown = (key) =>
    sdk.getBlockBlobClient(key).downloadToBuffer(Buffer.allocUnsafeSlow(BIG), 0, undefined, { blockSize: BLOCK, concurrency: CONCURRENCY });
  const sizeKnown = (key) =>
    sdk.getBlockBlobClient(key).downloadToBuffer(Buffer.allocUnsafeSlow(BIG), 0, BIG, { blockSize: BLOCK, concurrency: CONCURRENCY });

  async function time(fn, expected) {
    globalThis.gc?.();
    const t0 = performance.now();
    const data = await fn();
    const ms = performance.now() - t0;
    if (data.length !== expected) throw new Error(`got ${data.length} bytes, expected ${expected}`);
    return ms;
  }

  const variants = {
    "single download() stream": () => singleDownload("big.bin"),
    [`downloadToBuffer ${BLOCK / MiB} MiB × ${CONCURRENCY} (getProperties first)`]: () => sizeUnknown("big.bin"),
    [`downloadToBuffer ${BLOCK / MiB} MiB × ${CONCURRENCY} (size given)`]: () => sizeKnown("big.bin"),
    [`store.get, engine ${BLOCK / MiB} MiB × ${CONCURRENCY}`]: () => pinned.get("big.bin"),
  };
  // Warm-up (connections, JIT, Azurite's caches).
  for (const fn of Object.values(variants)) await time(fn, BIG);

  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, { ms: [], azuriteCpu: [], clientCpu: [] }]));
  const section1 = await otherLoad(async () => {
    const entries = Object.entries(variants);
    for (let run = 0; run < RUNS; run++) {
      for (const [name, fn] of [...entries.slice(run % entries.length), ...entries.slice(0, run % entries.length)]) {
        const a0 = cpuOf(server.pids[0]);
        const c0 = ownCpuSeconds();
        samples[name].ms.push(await time(fn, BIG));
        samples[name].azuriteCpu.push(cpuOf(server.pids[0]) - a0);
        samples[name].clientCpu.push(ownCpuSeconds() - c0);
      }
    }
  });
  console.log(`\n${BIG / MiB} MiB blob from one Azurite ${results.azurite}, median of ${RUNS} runs (other load: ${section1.other.toFixed(2)} cores)`);
  const ms = (name) => median(samples[name].ms);
  const single = ms("single download() stream");
  const dtb = ms(`downloadToBuffer ${BLOCK / MiB} MiB × ${CONCURRENCY} (getProperties first)`);
  for (const [name, s] of Object.entries(samples)) {
    const m = median(s.ms);
    const row = {
      case: "big",
      name,
      ms: m,
      p25p75: spread(s.ms),
      mbps: mbps(BIG, m),
      vsSingle: single / m,
      vsDownloadToBuffer: dtb / m,
      azuriteCpuS: median(s.azuriteCpu),
      clientCpuS: median(s.clientCpu),
    };
    results.rows.push(row);
    console.log(
      `  ${name.padEnd(52)} ${m.toFixed(0).padStart(6)} ms (${row.p25p75.padStart(9)}) ${row.mbps.toFixed(0).padStart(5)} MiB/s  ×${row.vsSingle.toFixed(2)} vs single  ` +
        `×${row.vsDownloadToBuffer.toFixed(2)} vs downloadToBuffer   cpu: azurite ${row.azuriteCpuS.toFixed(2)} s, client ${row.clientCpuS.toFixed(2)} s`,
    );
  }

  // Many 1 MiB blobs, SMALL_CONCURRENCY at a time: ops/s.
  const opsPerSec = (read) => opsPerSecond(smallKeys, SMALL_CONCURRENCY, MiB, read);
  const smallVariants = {
    "single download() stream": singleDownload,
    "store.get (1 ranged download each)": (key) => store.get(key),
  };
  for (const fn of Object.values(smallVariants)) await opsPerSec(fn);
  const smallSamples = Object.fromEntries(Object.keys(smallVariants).map((k) => [k, []]));
  const section2 = await otherLoad(async () => {
    const entries = Object.entries(smallVariants);
    for (let run = 0; run < RUNS; run++) {
      for (const [name, fn] of run % 2 ? [...entries].reverse() : entries) smallSamples[name].push(await opsPerSec(fn));
    }
  });
  console.log(`\n${SMALL_COUNT} × 1 MiB blobs, ${SMALL_CONCURRENCY} in flight, median of ${RUNS} runs (other load: ${section2.other.toFixed(2)} cores)`);
  const smallBase = median(smallSamples["single download() stream"]);
  for (const [name, ops] of Object.entries(smallSamples)) {
    const m = median(ops);
    results.rows.push({ case: "1MiB", name, opsPerSec: m, p25p75: spread(ops), ratio: m / smallBase });
    console.log(`  ${name.padEnd(52)} ${m.toFixed(0).padStart(6)} ops/s (${spread(ops).padStart(9)})  ×${(m / smallBase).toFixed(2)}`);
  }
  results.otherLoad = { big: section1.other, small: section2.other };
  await store.close();
  await pinned.close();
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
} finally {
  await server.stop();
}
