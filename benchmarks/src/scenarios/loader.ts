import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KiB, MiB, type ObjectStore } from "@range/core";
import { createFileStore } from "@range/file";
import { createLoader } from "@range/loader";
import { pseudoRandomBytes } from "../lib/data.js";
import { fmtNum, fmtRatio } from "../lib/format.js";
import { maybeGc, mbPerSec, now, summarize, type Summary } from "../lib/measure.js";
import { BenchmarkFailure, type Scenario, type Table } from "../lib/types.js";

interface Dataset {
  label: string;
  count: number;
  size: number;
}

interface RunResult {
  ms: number;
  items: number;
  bytes: number;
  peakRssDeltaMiB: number;
  checksum: number;
}

/** Samples RSS while `work` runs; returns the peak growth over the RSS at the start. */
async function withPeakRss<T>(work: () => Promise<T>): Promise<{ result: T; peakRssDeltaMiB: number }> {
  const start = process.memoryUsage.rss();
  let peak = start;
  const timer = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage.rss());
  }, 10);
  try {
    const result = await work();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, peakRssDeltaMiB: (peak - start) / MiB };
  } finally {
    clearInterval(timer);
  }
}

/** A cheap per-item checksum so both strategies must really read every byte they claim. */
function touch(bytes: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 4096) sum = (sum + bytes[i]!) | 0;
  return sum;
}

async function runLoader(store: ObjectStore, concurrency: number): Promise<RunResult> {
  const startedAt = now();
  let items = 0;
  let bytes = 0;
  let checksum = 0;
  const { peakRssDeltaMiB } = await withPeakRss(async () => {
    for await (const batch of createLoader(store, "data/", { concurrency, batchSize: 32, prefetch: 2 })) {
      for (const item of batch) {
        items++;
        bytes += item.size;
        checksum = (checksum + touch(item.data as Uint8Array)) | 0;
      }
    }
  });
  return { ms: now() - startedAt, items, bytes, peakRssDeltaMiB, checksum };
}

/** What people write first: list, then `Promise.all` over fixed groups of `concurrency` keys. */
async function runNaive(store: ObjectStore, concurrency: number): Promise<RunResult> {
  const startedAt = now();
  let items = 0;
  let bytes = 0;
  let checksum = 0;
  const { peakRssDeltaMiB } = await withPeakRss(async () => {
    const keys: string[] = [];
    for await (const meta of store.list("data/")) keys.push(meta.key);
    for (let i = 0; i < keys.length; i += concurrency) {
      const group = await Promise.all(keys.slice(i, i + concurrency).map((key) => store.get(key)));
      for (const data of group) {
        items++;
        bytes += data.length;
        checksum = (checksum + touch(data)) | 0;
      }
    }
  });
  return { ms: now() - startedAt, items, bytes, peakRssDeltaMiB, checksum };
}

export const loaderScenario: Scenario = {
  name: "loader",
  title: "Loader throughput vs Promise.all in fixed groups (file backend)",
  async run(ctx) {
    const datasets: Dataset[] = ctx.quick
      ? [
          { label: "2,000 × 64 KiB", count: 2000, size: 64 * KiB },
          { label: "200 × 4 MiB", count: 200, size: 4 * MiB },
        ]
      : [
          { label: "10,000 × 64 KiB", count: 10_000, size: 64 * KiB },
          { label: "1,000 × 4 MiB", count: 1000, size: 4 * MiB },
        ];
    const concurrency = 16;
    const rows: string[][] = [];
    const raw: Record<string, unknown> = {};
    const headline: Record<string, number | string> = {};

    for (const dataset of datasets) {
      const root = mkdtempSync(join(tmpdir(), "range-bench-loader-"));
      try {
        ctx.log(`loader: writing ${dataset.label}`);
        mkdirSync(join(root, "data"));
        const block = pseudoRandomBytes(dataset.size + dataset.count);
        for (let i = 0; i < dataset.count; i++) {
          writeFileSync(join(root, "data", `item-${String(i).padStart(6, "0")}.bin`), block.subarray(i, i + dataset.size));
        }
        const store = createFileStore({ root });
        await runLoader(store, concurrency); // warm-up: page cache, JIT
        const loader: RunResult[] = [];
        const naive: RunResult[] = [];
        for (let i = 0; i < ctx.iterations; i++) {
          // Interleaved so drift on this noisy VM hits both sides alike.
          maybeGc();
          loader.push(await runLoader(store, concurrency));
          maybeGc();
          naive.push(await runNaive(store, concurrency));
        }
        const total = dataset.count * dataset.size;
        for (const r of [...loader, ...naive]) {
          if (r.items !== dataset.count || r.bytes !== total || r.checksum !== loader[0]!.checksum) {
            throw new BenchmarkFailure(`loader scenario: ${dataset.label} read ${r.items} items / ${r.bytes} bytes, checksum ${r.checksum}`);
          }
        }
        const itemsPerSec = (runs: RunResult[]): Summary => summarize(runs.map((r) => (r.items * 1000) / r.ms));
        const l = itemsPerSec(loader);
        const n = itemsPerSec(naive);
        const ratios = summarize(loader.map((r, i) => naive[i]!.ms / r.ms));
        const rss = (runs: RunResult[]) => Math.max(...runs.map((r) => r.peakRssDeltaMiB));
        for (const [name, runs, s] of [["loader", loader, l], ["Promise.all groups", naive, n]] as const) {
          const ms = summarize(runs.map((r) => r.ms)).median;
          rows.push([
            dataset.label,
            name,
            `${fmtNum(s.median)} (${fmtNum(s.min)}–${fmtNum(s.max)})`,
            fmtNum(mbPerSec(total, ms)),
            fmtNum(rss(runs)),
            name === "loader" ? `${fmtRatio(ratios.median)} (${fmtRatio(ratios.min)}–${fmtRatio(ratios.max)})` : "1.00×",
          ]);
        }
        headline[`${dataset.label}: loader / Promise.all`] = Number(ratios.median.toFixed(3));
        headline[`${dataset.label}: target ≥ 1.2×`] = ratios.median >= 1.2 ? "PASS" : "FAIL";
        raw[dataset.label] = { loader, naive };
        await store.close();
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    }

    const table: Table = {
      title: `loader vs naive groups — file backend, page-cached, concurrency ${concurrency}, batchSize 32, prefetch 2`,
      columns: ["dataset", "strategy", "items/s median (min–max)", "MB/s", "peak RSS growth MiB", "vs Promise.all (time ratio)"],
      rows,
    };
    return {
      summary:
        "Reads every object of a dataset once, the consumer touching one byte per page: `createLoader` over the prefix " +
        "against the first thing people write (list, then `Promise.all` over fixed groups of the same concurrency). " +
        "Both list first; the loader learns sizes from the listing. Iterations are interleaved; ratios are per pair.",
      tables: [table],
      notes: [
        "Peak RSS growth is sampled every 10 ms during each run, relative to the RSS at its start.",
        "The groups wait for their slowest member before starting the next group; the loader refills each slot as it frees.",
      ],
      headline,
      params: { concurrency, batchSize: 32, prefetch: 2, datasets },
      raw,
    };
  },
};
