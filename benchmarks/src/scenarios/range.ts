import { KiB, MiB } from "@range/core";
import type { CellResult } from "../lib/cells.js";
import { loadNow, opScenarioReport, prepare, runContenders, sharedObject, suiteOf } from "../lib/cross.js";
import { seedOf } from "../lib/datasets.js";
import { fmtBytes } from "../lib/format.js";
import type { Scenario } from "../lib/types.js";

/** Random ranges of one object, N in flight: our getRange against each backend's plain ranged read. */
export const rangeScenario: Scenario = {
  name: "range",
  title: "Random ranged reads of one object, every selected backend, against its peers",
  async run(ctx) {
    const suite = suiteOf(ctx);
    const loadStart = loadNow();
    const objectSize = ctx.quick ? 32 * MiB : 256 * MiB;
    const object = sharedObject(objectSize);
    const lengths = [
      { length: 64 * KiB, count: ctx.quick ? 200 : 500 },
      { length: MiB, count: ctx.quick ? 32 : 64 },
    ];
    const concurrencies = suite.selection.concurrency ?? [16];
    const results: CellResult[] = [];
    for (const backend of suite.selection.backends) {
      const seed = await prepare(suite, backend, [object]);
      for (const { length, count } of lengths) {
        for (const concurrency of concurrencies) {
          ctx.log(`  range ${backend.name} ${fmtBytes(length)} × ${count}, ${concurrency} in flight`);
          results.push(
            ...(await runContenders(
              ctx,
              backend,
              "range",
              { range: `${fmtBytes(length)}, ${concurrency} in flight` },
              {
                iterations: ctx.iterations,
                warmup: 1,
                object,
                range: { length, count, concurrency, rngSeed: seedOf("range") + length },
                ...(seed?.length ? { seed } : {}),
              },
            )),
          );
        }
      }
    }
    return opScenarioReport(
      ctx,
      results,
      loadStart,
      `Random ranges (the same offsets for every contender, from a seeded generator) of one ${fmtBytes(objectSize)} object, ` +
        "several in flight. Each range is one request for every contender; the warm-up round compares every range with " +
        "the same slice of the object. Latency percentiles are per range.",
      { category: (r) => String(r.params.range), categoryName: "range size, in flight", chartTitle: `range — random ranged reads of a ${fmtBytes(objectSize)} object, MB/s` },
      { objectSize, lengths, concurrencies },
    );
  },
};
