import { MiB } from "@range/core";
import type { CellResult } from "../lib/cells.js";
import { iterationsFor, loadNow, opScenarioReport, prepare, runContenders, suiteOf } from "../lib/cross.js";
import { seedOf } from "../lib/datasets.js";
import { fmtBytes } from "../lib/format.js";
import type { Scenario } from "../lib/types.js";

/** put of one object: single request below the multipart threshold, multipart above, against each backend's peers. */
export const putScenario: Scenario = {
  name: "put",
  title: "put (single request and multipart) by size, every selected backend, against its peers",
  async run(ctx) {
    const suite = suiteOf(ctx);
    const loadStart = loadNow();
    const sizes = suite.selection.sizes ?? (ctx.quick ? [MiB, 32 * MiB] : [MiB, 64 * MiB]);
    const results: CellResult[] = [];
    for (const backend of suite.selection.backends) {
      if (!(await prepare(suite, backend, []))) {
        results.push(...(await runContenders(ctx, backend, "put", { size: "—" }, { iterations: 0, warmup: 0 })));
        continue;
      }
      for (const size of sizes) {
        ctx.log(`  put ${backend.name} ${fmtBytes(size)}`);
        results.push(
          ...(await runContenders(
            ctx,
            backend,
            "put",
            { size: fmtBytes(size) },
            {
              iterations: iterationsFor(ctx, size),
              warmup: 1,
              opsPerRound: size <= MiB ? (ctx.quick ? 8 : 16) : 1,
              put: { size, seed: seedOf("put") + size, keyPrefix: `bench/put/${fmtBytes(size).replace(/\s+/g, "")}/` },
            },
            { size },
          )),
        );
      }
    }
    return opScenarioReport(
      ctx,
      results,
      loadStart,
      "One object written from memory (the same bytes for our store and the Node peers; s3dlio writes random bytes of the " +
        "same size). Our store uses one request below its multipart threshold (S3: 16 MiB) and a multipart upload above " +
        "it; the peers are the plain single request (baseline), the SDK's own parallel helper, OpenDAL and s3dlio. The " +
        "warm-up round reads the object back and compares its SHA-256.",
      { category: (r) => String(r.params.size), chartTitle: "put — MB/s by object size" },
      { sizes },
    );
  },
};
