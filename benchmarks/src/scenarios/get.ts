import type { CellResult } from "../lib/cells.js";
import { FULL_SIZES, QUICK_SIZES, iterationsFor, loadNow, opScenarioReport, opsPerRound, prepare, runContenders, sharedObject, suiteOf } from "../lib/cross.js";
import { fmtBytes } from "../lib/format.js";
import type { Scenario } from "../lib/types.js";

/** Whole-object get at 64 KiB … 1 GiB on every selected backend, against each backend's peers. */
export const getScenario: Scenario = {
  name: "get",
  title: "Whole-object get by size, every selected backend, against its peers",
  async run(ctx) {
    const suite = suiteOf(ctx);
    const loadStart = loadNow();
    const sizes = suite.selection.sizes ?? (ctx.quick ? QUICK_SIZES : FULL_SIZES);
    const results: CellResult[] = [];
    for (const backend of suite.selection.backends) {
      for (const size of sizes) {
        const object = sharedObject(size);
        const seed = await prepare(suite, backend, [object]);
        ctx.log(`  get ${backend.name} ${fmtBytes(size)}`);
        results.push(
          ...(await runContenders(
            ctx,
            backend,
            "get",
            { size: fmtBytes(size) },
            { iterations: iterationsFor(ctx, size), warmup: 1, object, opsPerRound: opsPerRound(size, ctx.quick), ...(seed?.length ? { seed } : {}) },
            { size },
          )),
        );
      }
    }
    return opScenarioReport(
      ctx,
      results,
      loadStart,
      "The same object, read whole, by our store (engine defaults) and by each backend's peers: the plain single read " +
        "of its SDK or OS (the baseline), dd, OpenDAL, s3dlio. Small objects are read many times per round (about 64 MiB " +
        "per round, one at a time) so a round lasts long enough to time; latency percentiles are per read.",
      { category: (r) => String(r.params.size), chartTitle: "get — whole object, MB/s by object size" },
      { sizes },
    );
  },
};
