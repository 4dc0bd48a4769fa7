// The loader against the first thing people write — list, then `Promise.all` over fixed groups of `concurrency`
// `store.get`s — and against a bare async pool (the upper bound any pool can reach over this store), on the file
// backend and on SeaweedFS (started through @range/test-servers), for 10,000 × 64 KiB and 1,000 × 4 MiB objects.
// Contenders run interleaved in one process (rotating order per repetition, a GC before each run); every run reads
// the whole prefix once and touches every item. Reports the median and spread of items/s and MB/s, the process CPU
// time per item (user + system, all threads: steadier than wall time on a shared machine), the median of the paired
// ratios to the groups, the main thread's event-loop utilisation (ELU: near 1 means the main thread is the limit), and
// the peak RSS and ArrayBuffer memory (the objects' bytes) seen during the runs.
//
//   pnpm --filter @range/loader build
//   node --expose-gc packages/loader/bench/loader-vs-groups.mjs [--backends file,s3,memory] [--datasets small,large]
//        [--runs 5] [--concurrency 16] [--batch-size 32] [--prefetch 2] [--contenders loader,groups,pool]
//        [--ordering ordered] [--json out.json]
//        [--scale 0.1] (fewer objects, for a quick look) [--before-dist path/to/old/index.js] (contender "before")
//        [--step-ms 2] (the consumer's training step per batch, a timer wait as for a GPU: no CPU; default 0 = none)
import { randomFillSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { PerformanceObserver, constants } from "node:perf_hooks";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { writeFileSync } from "node:fs";
import { createFileStore } from "@range/file";
import { createLoader } from "../dist/index.js";

const { values } = parseArgs({
  options: {
    backends: { type: "string", default: "file,s3" },
    datasets: { type: "string", default: "small,large" },
    runs: { type: "string", default: "5" },
    concurrency: { type: "string", default: "16" },
    "batch-size": { type: "string", default: "32" },
    prefetch: { type: "string", default: "2" },
    contenders: { type: "string", default: "loader,groups,pool" },
    ordering: { type: "string", default: "ordered" },
    json: { type: "string" },
    scale: { type: "string", default: "1" },
    "before-dist": { type: "string" },
    "step-ms": { type: "string", default: "0" },
  },
});
// A second loader build to compare with (e.g. a copy of an older dist/): contender "before".
const before = values["before-dist"] ? await import(new URL(values["before-dist"], `file://${process.cwd()}/`).href) : undefined;
const KiB = 1024;
const MiB = 1024 * KiB;
const scale = Number(values.scale); // fewer objects for a quick look; 1 for the issue's sizes
const DATASETS = {
  small: { name: `${(10_000 * scale).toLocaleString("en-US")} × 64 KiB`, count: 10_000 * scale, size: 64 * KiB },
  large: { name: `${(1_000 * scale).toLocaleString("en-US")} × 4 MiB`, count: 1_000 * scale, size: 4 * MiB },
};
const runs = Number(values.runs);
const concurrency = Number(values.concurrency);
const batchSize = Number(values["batch-size"]);
const prefetch = Number(values.prefetch);
const ordering = values.ordering;
const contenderNames = values.contenders.split(",");
const gc = globalThis.gc;
if (!gc) console.warn("run with --expose-gc for a GC before each run (fairer, less noisy)");

/** Reads one item's bytes so nothing is optimised away, as a consumer would. */
const touch = (bytes) => bytes[0] + bytes[bytes.length - 1];
/**
 * The consumer's work per batch besides touching it: with --step-ms, a training step that waits that long without
 * using the CPU (the GPU computes). What a loader is for: fetching the next batches meanwhile. 0: no step.
 */
const stepMs = Number(values["step-ms"]);
const step = stepMs > 0 ? () => new Promise((resolve) => setTimeout(resolve, stepMs)) : undefined;

/** Every contender: reads the whole prefix once, handing batches of `batchSize` to a consumer. Returns items and bytes. */
const CONTENDERS = {
  async loader(store, prefix) {
    let items = 0;
    let bytes = 0;
    for await (const batch of createLoader(store, prefix, { concurrency, batchSize, prefetch, ordering })) {
      for (const item of batch) {
        touch(item.data);
        bytes += item.size;
      }
      items += batch.length;
      if (step) await step();
    }
    return { items, bytes };
  },
  async before(store, prefix) {
    let items = 0;
    let bytes = 0;
    for await (const batch of before.createLoader(store, prefix, { concurrency, batchSize, prefetch, ordering })) {
      for (const item of batch) {
        touch(item.data);
        bytes += item.size;
      }
      items += batch.length;
      if (step) await step();
    }
    return { items, bytes };
  },
  // Naive: list, then Promise.all over fixed groups of `concurrency` gets; each group waits for its slowest member.
  async groups(store, prefix) {
    const keys = [];
    for await (const meta of store.list(prefix, { recursive: true })) if (!meta.isPrefix) keys.push(meta.key);
    let items = 0;
    let bytes = 0;
    let batch = [];
    for (let i = 0; i < keys.length; i += concurrency) {
      const group = await Promise.all(keys.slice(i, i + concurrency).map((key) => store.get(key)));
      for (const data of group) {
        batch.push(data);
        if (batch.length === batchSize) {
          for (const b of batch) touch(b);
          items += batch.length;
          batch = [];
          if (step) await step();
        }
        bytes += data.length;
      }
    }
    for (const b of batch) touch(b);
    if (step && batch.length > 0) await step();
    return { items: items + batch.length, bytes };
  },
  // A bare async pool: `concurrency` workers pulling the next key; sizes from the listing; no ordering, no backpressure,
  // no cancellation. What the loader could reach at best over this store.
  async pool(store, prefix) {
    // Like the loader, it keeps a listed entry only where its size is used: 10,000 listed entries (etag, date) hold
    // ~3.6 MiB more heap than their keys for the whole run, which by itself brings V8's full GCs into play.
    const metas = [];
    for await (const meta of store.list(prefix, { recursive: true })) if (!meta.isPrefix) metas.push(meta.size > 4 * MiB ? meta : meta.key);
    let next = 0;
    let items = 0;
    let bytes = 0;
    let batch = [];
    const worker = async () => {
      while (next < metas.length) {
        const meta = metas[next++];
        // Listed sizes only where the engine splits the object (as the loader does): a small object is one request anyway.
        const data = typeof meta === "string" ? await store.get(meta) : await store.get(meta.key, { knownMeta: meta });
        batch.push(data);
        bytes += data.length;
        if (batch.length === batchSize) {
          for (const b of batch) touch(b);
          items += batch.length;
          batch = [];
          if (step) await step();
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    return { items: items + batch.length, bytes };
  },
};

async function seed(store, prefix, { count, size }) {
  const template = randomFillSync(Buffer.allocUnsafe(size));
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const i = next++;
      const data = Buffer.from(template);
      data.writeUInt32LE(i, 0);
      await store.put(`${prefix}${String(i).padStart(6, "0")}.bin`, data);
    }
  };
  await Promise.all(Array.from({ length: 8 }, worker));
}

// Time spent in GC during a run (main-thread pauses, by kind), from the performance timeline.
const gcTime = { minor: 0, major: 0 };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    if (entry.detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) gcTime.minor += entry.duration;
    else gcTime.major += entry.duration;
  }
}).observe({ entryTypes: ["gc"] });

/** Peak RSS and ArrayBuffer memory (the objects' bytes: Node counts Buffers there) while `fn` runs, every 5 ms. */
async function sampled(fn) {
  let rss = 0;
  let arrayBuffers = 0;
  const sample = () => {
    const m = process.memoryUsage();
    rss = Math.max(rss, m.rss);
    arrayBuffers = Math.max(arrayBuffers, m.arrayBuffers);
  };
  const timer = setInterval(sample, 5);
  try {
    const result = await fn();
    sample();
    return { ...result, rss, arrayBuffers };
  } finally {
    clearInterval(timer);
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const fmt = (x, d = 0) => x.toFixed(d);
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

async function benchmark(backend, store, dataset) {
  const prefix = `bench/${dataset.count}x${dataset.size}/`;
  const t0 = performance.now();
  await seed(store, prefix, dataset);
  console.log(`# ${backend} ${dataset.name}: seeded in ${fmt((performance.now() - t0) / 1000, 1)} s; load ${load()}`);
  // Warm-up: one pass of each contender (JIT, connections, page cache).
  for (const name of contenderNames) await CONTENDERS[name](store, prefix);
  const results = Object.fromEntries(contenderNames.map((name) => [name, []]));
  for (let run = 0; run < runs; run++) {
    // Rotate the order so no contender always runs first (or right after another's garbage).
    const order = contenderNames.map((_, i) => contenderNames[(i + run) % contenderNames.length]);
    for (const name of order) {
      gc?.();
      const started = performance.now();
      const cpuBefore = process.cpuUsage();
      const gcBefore = { ...gcTime };
      const eluBefore = performance.eventLoopUtilization();
      const r = await sampled(() => CONTENDERS[name](store, prefix));
      const seconds = (performance.now() - started) / 1000;
      const cpu = process.cpuUsage(cpuBefore);
      const elu = performance.eventLoopUtilization(eluBefore).utilization;
      await new Promise((resolve) => setImmediate(resolve)); // let the last GC entries arrive
      if (r.items !== dataset.count || r.bytes !== dataset.count * dataset.size) {
        throw new Error(`${name} read ${r.items} items / ${r.bytes} bytes, expected ${dataset.count} / ${dataset.count * dataset.size}`);
      }
      results[name].push({
        seconds,
        itemsPerSecond: r.items / seconds,
        mbps: r.bytes / 1e6 / seconds,
        cpuMicrosPerItem: (cpu.user + cpu.system) / r.items,
        gcMinorMs: gcTime.minor - gcBefore.minor,
        gcMajorMs: gcTime.major - gcBefore.major,
        elu,
        rss: r.rss,
        arrayBuffers: r.arrayBuffers,
      });
    }
  }
  const rows = [];
  for (const name of contenderNames) {
    const rs = results[name];
    const ips = rs.map((r) => r.itemsPerSecond);
    const row = {
      backend,
      dataset: dataset.name,
      contender: name,
      itemsPerSecond: median(ips),
      min: Math.min(...ips),
      max: Math.max(...ips),
      mbps: median(rs.map((r) => r.mbps)),
      cpuMicrosPerItem: median(rs.map((r) => r.cpuMicrosPerItem)),
      gcMinorMs: median(rs.map((r) => r.gcMinorMs)),
      gcMajorMs: median(rs.map((r) => r.gcMajorMs)),
      peakRssMiB: Math.max(...rs.map((r) => r.rss)) / MiB,
      eventLoopUtilization: median(rs.map((r) => r.elu)),
      peakArrayBuffersMiB: Math.max(...rs.map((r) => r.arrayBuffers)) / MiB,
      runs: rs.map((r) => r.itemsPerSecond),
    };
    if (name !== "groups" && results.groups) {
      // Paired per repetition: run i of this contender against run i of the groups.
      const ratios = rs.map((r, i) => r.itemsPerSecond / results.groups[i].itemsPerSecond);
      Object.assign(row, { ratio: median(ratios), ratioMin: Math.min(...ratios), ratioMax: Math.max(...ratios) });
    }
    rows.push(row);
    console.log(
      `${backend.padEnd(5)} ${dataset.name.padEnd(16)} ${name.padEnd(7)} ${fmt(row.itemsPerSecond).padStart(7)} items/s ` +
        `(${fmt(row.min)}–${fmt(row.max)})  ${fmt(row.mbps).padStart(6)} MB/s  CPU ${fmt(row.cpuMicrosPerItem)} µs/item  ELU ${fmt(row.eventLoopUtilization, 2)}  GC ${fmt(row.gcMinorMs)}+${fmt(row.gcMajorMs)} ms  ` +
        `peak RSS ${fmt(row.peakRssMiB)} MiB (ArrayBuffers ${fmt(row.peakArrayBuffersMiB)} MiB)` +
        (row.ratio !== undefined ? `  ×${fmt(row.ratio, 2)} groups (${fmt(row.ratioMin, 2)}–${fmt(row.ratioMax, 2)})` : ""),
    );
  }
  await store.deletePrefix(prefix);
  console.log(`# load after: ${load()}`);
  return rows;
}

console.log(
  `# concurrency ${concurrency}, batchSize ${batchSize}, prefetch ${prefetch}, ordering ${ordering}, ` +
    `consumer step ${stepMs > 0 ? `${stepMs} ms per batch` : "none"}, ${runs} runs; ` +
    `node ${process.version}; load ${load()}`,
);
const all = [];
const datasets = values.datasets.split(",").map((d) => DATASETS[d]);
for (const backend of values.backends.split(",")) {
  if (backend === "memory") {
    // No I/O at all: what is left is each contender's own CPU cost per item.
    const { createMemoryStore } = await import("@range/core");
    const store = createMemoryStore();
    for (const dataset of datasets) all.push(...(await benchmark("memory", store, dataset)));
  } else if (backend === "file") {
    const root = await mkdtemp(join(tmpdir(), "range-loader-bench-"));
    try {
      const store = createFileStore({ root });
      for (const dataset of datasets) all.push(...(await benchmark("file", store, dataset)));
      await store.close();
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  } else if (backend === "s3") {
    const { startSeaweedFs } = await import("@range/test-servers");
    const { createS3Store } = await import("@range/s3");
    const bucket = "loader-bench";
    const server = await startSeaweedFs({ buckets: [bucket], volumeSizeLimitMB: 1024 });
    try {
      const store = createS3Store({
        bucket,
        endpoint: server.endpoint,
        region: server.region,
        credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
      });
      for (const dataset of datasets) all.push(...(await benchmark("s3", store, dataset)));
      await store.close();
    } finally {
      await server.stop();
    }
  } else {
    throw new Error(`unknown backend ${backend} (memory, file, s3)`);
  }
}
if (values.json) writeFileSync(values.json, JSON.stringify({ concurrency, batchSize, prefetch, ordering, runs, rows: all }, null, 2));
