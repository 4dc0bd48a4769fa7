// Benchmark: @range/gcs against the SDK's own download paths, on ONE fake-gcs-server started through
// @range/test-servers. Run after `pnpm --filter @range/gcs... build`:
//   node packages/gcs/bench/get-256mib.mjs [--quick] [--runs N] [--no-wait] [--json out.json]
// Every variant uses the same server, object and process; repetitions are interleaved so drift hits all equally.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { Storage, TransferManager } from "@google-cloud/storage";
import { allocateAligned, allocatorKind } from "@range/aligned-memory";
import { RangeEngine } from "@range/core";
import { cpuSecondsOf, median, mibPerSecond, opsPerSecond, seedGetBenchmark, startFakeGcsServer, waitForQuiet } from "@range/test-servers";
import { createGcsStore } from "../dist/index.js";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const quick = args.includes("--quick");
const RUNS = Number(arg("--runs", quick ? 2 : 5));
const BIG = quick ? 64 * MiB : 256 * MiB;
const CHUNK = 8 * MiB;
const CONCURRENCY = 32;
const SMALL_COUNT = quick ? 32 : 128;
const SMALL_CONCURRENCY = 16;
const jsonOut = arg("--json", undefined);

const mbps = mibPerSecond;

// The machine may be shared: wait (up to 10 min) for a quiet moment.
await waitForQuiet(1.2, args.includes("--no-wait") ? 0 : 10 * 60_000);
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (${cpus().length} cores), node ${process.version}`);

const server = await startFakeGcsServer({ buckets: ["bench"], logLevel: "error" });
// Prefer tmpfs for the file TransferManager must write: it measures the download, not the disk.
const scratch = mkdtempSync(join(readFileSync("/proc/mounts", "utf8").includes(" /dev/shm ") ? "/dev/shm" : tmpdir(), "range-gcs-bench-"));
const cpuSeconds = cpuSecondsOf;
const results = { machine: `${process.platform} ${process.arch}, node ${process.version}`, object: BIG, runs: RUNS, rows: [] };
try {
  const store = createGcsStore({ bucket: "bench", apiEndpoint: server.endpoint });
  const unchecked = createGcsStore({ bucket: "bench", apiEndpoint: server.endpoint, verifyChecksums: false });
  // Results in huge-page-backed memory (native allocator): fewer first-touch page faults than a fresh Buffer.
  const hugeStore = createGcsStore({ bucket: "bench", apiEndpoint: server.endpoint, allocate: (size) => allocateAligned(size) });
  const storage = new Storage({ apiEndpoint: server.endpoint, projectId: server.projectId });
  const bucket = storage.bucket("bench");
  const transfer = new TransferManager(bucket);

  const { big, smallKeys } = await seedGetBenchmark(store, BIG, SMALL_COUNT);

  // The same engine and plan as store.get, but each range fetched with the SDK's file.createReadStream: isolates
  // the transport (see src/media.ts).
  const sdkEngine = new RangeEngine({ chunkSize: CHUNK, maxConcurrentRanges: CONCURRENCY });
  const sdkRanges = async () => {
    const file = bucket.file("big.bin");
    const [metadata] = await file.getMetadata();
    const size = Number(metadata.size);
    const { data } = await sdkEngine.download(size, (offset, length, signal, context) =>
      new Promise((resolve, reject) => {
        const out = context?.target ?? Buffer.allocUnsafeSlow(length);
        let at = 0;
        const stream = file.createReadStream({ start: offset, end: offset + length - 1, validation: false });
        signal.addEventListener("abort", () => stream.destroy(signal.reason), { once: true });
        stream.on("data", (chunk) => {
          out.set(chunk, at);
          at += chunk.length;
          context?.progress();
        });
        stream.on("end", () => resolve(out));
        stream.on("error", reject);
      }),
    );
    return data;
  };

  const tmFile = join(scratch, "tm.bin");
  const into = Buffer.allocUnsafeSlow(BIG).fill(0);
  const engine = { chunkSize: CHUNK, maxConcurrentRanges: CONCURRENCY };
  const variants = {
    "file.download() (SDK default: validation on)": async () => (await bucket.file("big.bin").download())[0],
    "file.download({ validation: false })": async () => (await bucket.file("big.bin").download({ validation: false }))[0],
    [`TransferManager.downloadFileInChunks (${CHUNK / MiB} MiB × ${CONCURRENCY}, default: crc32c)`]: async () =>
      (await transfer.downloadFileInChunks("big.bin", { chunkSizeBytes: CHUNK, concurrencyLimit: CONCURRENCY, destination: tmFile }))[0],
    [`TransferManager.downloadFileInChunks (${CHUNK / MiB} MiB × ${CONCURRENCY}, validation: false)`]: async () =>
      (await transfer.downloadFileInChunks("big.bin", { chunkSizeBytes: CHUNK, concurrencyLimit: CONCURRENCY, destination: tmFile, validation: false }))[0],
    [`engine + SDK createReadStream per range (${CHUNK / MiB} MiB × ${CONCURRENCY})`]: sdkRanges,
    [`store.get (${CHUNK / MiB} MiB × ${CONCURRENCY}, CRC32C checked)`]: () => store.get("big.bin", { engine }),
    [`store.get (${CHUNK / MiB} MiB × ${CONCURRENCY}, verifyChecksums: false)`]: () => unchecked.get("big.bin", { engine }),
    "store.get (engine defaults, CRC32C checked)": () => store.get("big.bin"),
    // A fresh 256 MiB result is first-touched page by page while ranges land in it; a reused one is not.
    [`store.get (${CHUNK / MiB} MiB × ${CONCURRENCY}, CRC32C checked, into a reused buffer)`]: () => store.get("big.bin", { engine, into }),
    [`store.get (${CHUNK / MiB} MiB × ${CONCURRENCY}, CRC32C checked, allocate: huge pages (${allocatorKind}))`]: () => hugeStore.get("big.bin", { engine }),
  };

  async function time(fn) {
    const cpu0 = cpuSeconds(server.pids[0]);
    const t0 = performance.now();
    const data = await fn();
    const ms = performance.now() - t0;
    if (data.length !== BIG) throw new Error(`got ${data.length} bytes`);
    if (!Buffer.from(data.buffer, data.byteOffset, data.length).subarray(BIG - 4096).equals(big.subarray(BIG - 4096))) throw new Error("wrong bytes");
    return { ms, serverCpu: cpuSeconds(server.pids[0]) - cpu0 };
  }

  // Warm-up (connections, JIT).
  for (const fn of Object.values(variants)) await time(fn);

  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  const load0 = loadavg()[0];
  for (let run = 0; run < RUNS; run++) for (const [name, fn] of Object.entries(variants)) samples[name].push(await time(fn));
  console.log(`\n${BIG / MiB} MiB object, median of ${RUNS} interleaved runs (load average ${load0.toFixed(2)} → ${loadavg()[0].toFixed(2)})`);
  const ms = (name) => median(samples[name].map((s) => s.ms));
  const baseDownload = ms("file.download() (SDK default: validation on)");
  for (const name of Object.keys(variants)) {
    const m = ms(name);
    const serverCpu = median(samples[name].map((s) => s.serverCpu));
    results.rows.push({ case: `${BIG / MiB}MiB`, name, ms: m, mbps: mbps(BIG, m), serverCpuSeconds: serverCpu });
    console.log(`  ${name.padEnd(72)} ${m.toFixed(0).padStart(6)} ms ${mbps(BIG, m).toFixed(0).padStart(6)} MiB/s  server CPU ${serverCpu.toFixed(2)} s`);
  }
  const ours = ms(`store.get (${CHUNK / MiB} MiB × ${CONCURRENCY}, CRC32C checked)`);
  const ratios = {
    "get vs TransferManager (both check CRC32C)": ms(`TransferManager.downloadFileInChunks (${CHUNK / MiB} MiB × ${CONCURRENCY}, default: crc32c)`) / ours,
    "get vs TransferManager validation:false (get still checks)": ms(`TransferManager.downloadFileInChunks (${CHUNK / MiB} MiB × ${CONCURRENCY}, validation: false)`) / ours,
    "get vs file.download() (SDK default)": baseDownload / ours,
    "get vs file.download({ validation: false }) (get still checks)": ms("file.download({ validation: false })") / ours,
    "get, checks off, vs file.download({ validation: false })":
      ms("file.download({ validation: false })") / ms(`store.get (${CHUNK / MiB} MiB × ${CONCURRENCY}, verifyChecksums: false)`),
    "media client vs SDK createReadStream, same engine (checks off)":
      ms(`engine + SDK createReadStream per range (${CHUNK / MiB} MiB × ${CONCURRENCY})`) / ms(`store.get (${CHUNK / MiB} MiB × ${CONCURRENCY}, verifyChecksums: false)`),
  };
  console.log("  speed-ups (time of the other ÷ time of ours):");
  for (const [name, ratio] of Object.entries(ratios)) {
    results.rows.push({ case: "ratio", name, ratio });
    console.log(`    ${name.padEnd(66)} ×${ratio.toFixed(2)}`);
  }

  // Range size × concurrency on this machine (same total bytes), against one file.download({ validation: false }).
  const grid = quick ? [[8, 32], [64, 4]] : [[8, 32], [16, 16], [32, 8], [64, 4]];
  const gridVariants = {
    "file.download({ validation: false })": variants["file.download({ validation: false })"],
    ...Object.fromEntries(
      grid.map(([mib, ranges]) => [`store.get (${mib} MiB × ${ranges}, CRC32C checked)`, () => store.get("big.bin", { engine: { chunkSize: mib * MiB, maxConcurrentRanges: ranges } })]),
    ),
  };
  const gridSamples = Object.fromEntries(Object.keys(gridVariants).map((k) => [k, []]));
  for (let run = 0; run < RUNS; run++) for (const [name, fn] of Object.entries(gridVariants)) gridSamples[name].push((await time(fn)).ms);
  console.log(`\n${BIG / MiB} MiB object, range size × concurrency, median of ${RUNS} interleaved runs (load average ${loadavg()[0].toFixed(2)})`);
  const gridBase = median(gridSamples["file.download({ validation: false })"]);
  for (const [name, xs] of Object.entries(gridSamples)) {
    const m = median(xs);
    results.rows.push({ case: "grid", name, ms: m, mbps: mbps(BIG, m), vsDownloadNoValidation: gridBase / m });
    console.log(`  ${name.padEnd(44)} ${m.toFixed(0).padStart(6)} ms ${mbps(BIG, m).toFixed(0).padStart(6)} MiB/s  ×${(gridBase / m).toFixed(2)} vs file.download({ validation: false })`);
  }

  // Many 1 MiB objects, SMALL_CONCURRENCY at a time: ops/s.
  const opsPerSec = (read) => opsPerSecond(smallKeys, SMALL_CONCURRENCY, MiB, read);
  const smallVariants = {
    "file.download() (SDK default: validation on)": async (key) => (await bucket.file(key).download())[0],
    "file.download({ validation: false })": async (key) => (await bucket.file(key).download({ validation: false }))[0],
    "store.get (1 media GET each, CRC32C checked)": (key) => store.get(key),
  };
  for (const fn of Object.values(smallVariants)) await opsPerSec(fn);
  const smallSamples = Object.fromEntries(Object.keys(smallVariants).map((k) => [k, []]));
  for (let run = 0; run < RUNS; run++) for (const [name, fn] of Object.entries(smallVariants)) smallSamples[name].push(await opsPerSec(fn));
  console.log(`\n${SMALL_COUNT} × 1 MiB objects, ${SMALL_CONCURRENCY} in flight, median of ${RUNS} runs`);
  const ourOps = median(smallSamples["store.get (1 media GET each, CRC32C checked)"]);
  for (const [name, ops] of Object.entries(smallSamples)) {
    const m = median(ops);
    results.rows.push({ case: "1MiB", name, opsPerSec: m, oursRatio: ourOps / m });
    console.log(`  ${name.padEnd(50)} ${m.toFixed(0).padStart(6)} ops/s   store.get ×${(ourOps / m).toFixed(2)}`);
  }

  await store.close();
  await unchecked.close();
  await hugeStore.close();
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
} finally {
  rmSync(scratch, { recursive: true, force: true });
  await server.stop();
}
