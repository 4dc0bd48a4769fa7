import type { CellResult } from "../lib/cells.js";
import { LARGE_OBJECT, iterationsFor, loadNow, opScenarioReport, prepare, runContenders, suiteOf } from "../lib/cross.js";
import { seedOf, type ManyRecipe } from "../lib/datasets.js";
import type { Scenario } from "../lib/types.js";

/** A listing of 10,000 keys under one prefix, against each backend's plain listing. */
export const listScenario: Scenario = {
  name: "list",
  title: "List 10,000 keys, every selected backend, against its peers",
  async run(ctx) {
    const suite = suiteOf(ctx);
    const loadStart = loadNow();
    const count = ctx.quick ? 1000 : 10_000;
    const dataset: ManyRecipe = { kind: "many", prefix: `bench/list-${count}/`, count, size: 16, seed: seedOf("list") };
    const results: CellResult[] = [];
    for (const backend of suite.selection.backends) {
      const seed = await prepare(suite, backend, [dataset]);
      ctx.log(`  list ${backend.name} ${count} keys`);
      results.push(
        ...(await runContenders(
          ctx,
          backend,
          "list",
          { keys: count.toLocaleString("en-US") },
          // A listing of 10,000 keys takes seconds on Azurite: it gets the rounds of a large object.
          { iterations: count >= 10_000 ? iterationsFor(ctx, LARGE_OBJECT) : ctx.iterations, warmup: 1, opsPerRound: 1, list: { prefix: dataset.prefix, expected: count }, ...(seed?.length ? { seed } : {}) },
        )),
      );
    }
    return opScenarioReport(
      ctx,
      results,
      loadStart,
      `Every object under one prefix holding ${count.toLocaleString("en-US")} keys of 16 bytes, with sizes (what our \`list\` ` +
        "returns), counted; every round must find them all. Throughput is objects listed per second.",
      { category: (r) => `${String(r.params.keys)} keys`, categoryName: "listing", metric: "ops", opsUnit: "objects/s", requestsPer: "round", chartTitle: `list — ${count.toLocaleString("en-US")} keys, objects/s` },
      { count },
    );
  },
};
