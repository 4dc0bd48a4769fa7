#!/usr/bin/env node
// Full GCs caused by a loop of `store.get` on one file, against the same reads without the engine. A result that
// outlives a young-generation GC keeps its external memory until a full GC; with results of many MiB that means a
// full GC every few gets. A regression check for that (it happened once: see the aligned-memory changelog).
//
//   node packages/file/bench/gc.mjs [--size 16] [--gets 1000]      size in MiB
// Build first: pnpm --filter @range/aligned-memory --filter @range/core --filter @range/file build
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PerformanceObserver, constants } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { createFileStore } from "../dist/index.js";

const { values } = parseArgs({
  options: { size: { type: "string", default: "16" }, gets: { type: "string", default: "1000" }, variant: { type: "string" } },
});
// Each variant in a fresh process: the collector's state after one loop changes what the next one pays.
if (values.variant === undefined) {
  for (const variant of ["engine", "no-engine"]) {
    process.stdout.write(execFileSync(process.execPath, [process.argv[1], ...process.argv.slice(2), "--variant", variant], { encoding: "utf8" }));
  }
  process.exit(0);
}
const size = Number(values.size) * 1024 * 1024;
const gets = Number(values.gets);
const dir = mkdtempSync(join(tmpdir(), "range-file-gc-"));
try {
  writeFileSync(join(dir, "f.bin"), Buffer.alloc(size, 3));
  const store = createFileStore({ root: dir });
  let full = 0;
  let young = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) full++;
      else young++;
    }
  });
  observer.observe({ entryTypes: ["gc"] });
  for (const [name, opts] of values.variant === "engine" ? [["get", {}]] : [["get, engine: false", { engine: false }]]) {
    for (let i = 0; i < 100; i++) await store.get("f.bin", opts);
    await new Promise((resolve) => setTimeout(resolve, 20));
    full = 0;
    young = 0;
    const start = performance.now();
    for (let i = 0; i < gets; i++) await store.get("f.bin", opts);
    const ms = (performance.now() - start) / gets;
    await new Promise((resolve) => setTimeout(resolve, 20));
    console.log(`${values.size} MiB ${name.padEnd(18)} ${ms.toFixed(2)} ms per get, ${full} full and ${young} young GCs per ${gets} gets`);
  }
  observer.disconnect();
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
