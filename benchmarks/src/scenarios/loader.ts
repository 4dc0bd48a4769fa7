import { KiB, MiB } from "@range/core";
import type { CellResult } from "../lib/cells.js";
import { iterationsFor, loadNow, opScenarioReport, prepare, runContenders, suiteOf } from "../lib/cross.js";
import { seedOf, type ManyRecipe } from "../lib/datasets.js";
import { fmtBytes } from "../lib/format.js";
import { pairedRatio } from "../lib/matrix.js";
import type { Contender } from "../lib/suite.js";
import type { Scenario } from "../lib/types.js";

const TARGET = 1.2;
const CONCURRENCY = 16;
const BATCH_SIZE = 32;
const PREFETCH = 2;

const contenders: Contender[] = [
  { id: "ours", label: `@range \`createLoader(store, prefix, { concurrency: ${CONCURRENCY}, batchSize: ${BATCH_SIZE}, prefetch: ${PREFETCH} })\``, role: "ours" },
  { id: "groups", label: `list, then \`Promise.all\` over fixed groups of ${CONCURRENCY} \`store.get\`s`, role: "baseline" },
];

/** Loader throughput over a prefix of many objects, against list + Promise.all in fixed groups, on every backend. */
export const loaderScenario: Scenario = {
  name: "loader",
  title: "Loader throughput vs Promise.all in fixed groups, every selected backend",
  async run(ctx) {
    const suite = suiteOf(ctx);
    const loadStart = loadNow();
    const datasets: ManyRecipe[] = (
      ctx.quick
        ? [
            { count: 500, size: 64 * KiB },
            { count: 25, size: 4 * MiB },
          ]
        : [
            { count: 500, size: 64 * KiB },
            { count: 64, size: 4 * MiB },
          ]
    ).map(({ count, size }) => ({ kind: "many", prefix: `bench/loader-${count}x${size}/`, count, size, seed: seedOf("loader") + size }));
    const label = (d: ManyRecipe) => `${d.count.toLocaleString("en-US")} × ${fmtBytes(d.size)}`;
    const results: CellResult[] = [];
    for (const backend of suite.selection.backends) {
      for (const dataset of datasets) {
        const seed = await prepare(suite, backend, [dataset]);
        ctx.log(`  loader ${backend.name} ${label(dataset)}`);
        results.push(
          ...(await runContenders(
            ctx,
            backend,
            "loader",
            { dataset: label(dataset) },
            {
              iterations: iterationsFor(ctx, dataset.count * dataset.size),
              warmup: 1,
              loader: { prefix: dataset.prefix, count: dataset.count, size: dataset.size, seed: dataset.seed, concurrency: CONCURRENCY, batchSize: BATCH_SIZE, prefetch: PREFETCH },
              ...(seed?.length ? { seed } : {}),
            },
            { contenders },
          )),
        );
      }
    }
    const report = opScenarioReport(
      ctx,
      results,
      loadStart,
      "Reads every object under a prefix once: `createLoader` (lists, then keeps `concurrency` reads in flight and yields " +
        "batches) against the first thing people write (list, then `Promise.all` over fixed groups of the same " +
        "concurrency, each group waiting for its slowest member). Both read through the same store; every item is " +
        "compared with the bytes written on the warm-up round. Latency percentiles are per batch / group.",
      { category: (r) => String(r.params.dataset), categoryName: "dataset", chartTitle: "loader — MB/s by dataset" },
      { concurrency: CONCURRENCY, batchSize: BATCH_SIZE, prefetch: PREFETCH, datasets: datasets.map(label) },
    );
    // The loader's target: at least TARGET× the fixed groups, per backend and dataset.
    for (const r of results.filter((x) => x.contender === "ours")) {
      const base = results.find((b) => b.backend === r.backend && b.contender === "groups" && b.params.dataset === r.params.dataset);
      const ratio = pairedRatio(r, base, "mbps");
      if (ratio) report.headline[`${r.backend} ${r.params.dataset}: target ≥ ${TARGET}×`] = ratio.median >= TARGET ? "PASS" : "FAIL";
    }
    return report;
  },
};
