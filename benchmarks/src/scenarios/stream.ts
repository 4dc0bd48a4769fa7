import { MiB } from "@range/core";
import type { CellResult } from "../lib/cells.js";
import { FULL_SIZES, QUICK_SIZES, LARGE_OBJECT, iterationsFor, loadNow, opScenarioReport, prepare, runContenders, sharedObject, suiteOf } from "../lib/cross.js";
import { fmtBytes } from "../lib/format.js";
import type { Scenario } from "../lib/types.js";

/** getStream (ordered, bounded memory) against each backend's plain stream, from 8 MiB up. */
export const streamScenario: Scenario = {
  name: "stream",
  title: "Streaming read (getStream) by size, every selected backend, against its plain stream",
  async run(ctx) {
    const suite = suiteOf(ctx);
    const loadStart = loadNow();
    // By default up to 256 MiB: the 1 GiB stream repeats the 256 MiB one at four times the time (get keeps 1 GiB).
    const sizes = suite.selection.sizes?.filter((s) => s >= 8 * MiB) ?? (ctx.quick ? QUICK_SIZES : FULL_SIZES).filter((s) => s >= 8 * MiB && s <= LARGE_OBJECT);
    const results: CellResult[] = [];
    for (const backend of suite.selection.backends) {
      for (const size of sizes) {
        const object = sharedObject(size);
        const seed = await prepare(suite, backend, [object]);
        ctx.log(`  stream ${backend.name} ${fmtBytes(size)}`);
        results.push(
          ...(await runContenders(ctx, backend, "stream", { size: fmtBytes(size) }, { iterations: iterationsFor(ctx, size), warmup: 1, object, ...(seed?.length ? { seed } : {}) }, { size })),
        );
      }
    }
    return opScenarioReport(
      ctx,
      results,
      loadStart,
      "The object consumed as an ordered stream (each chunk hashed on the warm-up round, counted on the others): our " +
        "`getStream` (ranges fetched ahead, at most maxConcurrentRanges + 1 chunks held) against the backend's plain " +
        "stream. TTFB is the time until the first chunk reaches the consumer; peak RSS shows the bounded memory.",
      { category: (r) => String(r.params.size), chartTitle: "stream — ordered streaming read, MB/s by object size" },
      { sizes },
    );
  },
};
