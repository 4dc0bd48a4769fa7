#!/usr/bin/env node
// Runs N worker processes that each load their own shard (rank / worldSize) of one store, then reports the
// aggregate throughput. Usage:
//
//   node examples/multi-process.mjs <store-uri> <prefix> <workers> [--json]
//
// e.g. node examples/multi-process.mjs file:///data/train shards/ 4
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { openStore, registerBackend } from "@range/core";
import { backend as fileBackend } from "@range/file";
import { createLoader } from "@range/loader";

registerBackend(fileBackend, { replace: true });

const [uri, prefix, workersArg, ...flags] = process.argv.slice(2);

if (process.env.RANGE_LOADER_RANK !== undefined) {
  // Worker: load this rank's shard and report what it saw.
  const rank = Number(process.env.RANGE_LOADER_RANK);
  const worldSize = Number(process.env.RANGE_LOADER_WORLD_SIZE);
  const store = await openStore(uri);
  const startedAt = performance.now();
  let items = 0;
  let bytes = 0;
  const keys = [];
  for await (const batch of createLoader(store, prefix, { rank, worldSize, batchSize: 16, concurrency: 16, shuffle: true, seed: 1 })) {
    for (const item of batch) {
      items++;
      bytes += item.size;
      keys.push(item.key);
    }
  }
  process.send({ rank, items, bytes, keys, ms: performance.now() - startedAt });
  await store.close();
  process.exit(0);
}

if (!uri || prefix === undefined || !workersArg) {
  console.error("usage: multi-process.mjs <store-uri> <prefix> <workers> [--json]");
  process.exit(2);
}
const workers = Number(workersArg);
const startedAt = performance.now();
const reports = await Promise.all(
  Array.from({ length: workers }, (_, rank) =>
    new Promise((resolve, reject) => {
      const child = fork(fileURLToPath(import.meta.url), [uri, prefix, workersArg], {
        env: { ...process.env, RANGE_LOADER_RANK: String(rank), RANGE_LOADER_WORLD_SIZE: String(workers) },
      });
      child.once("message", resolve);
      child.once("exit", (code) => code !== 0 && reject(new Error(`worker ${rank} exited with ${code}`)));
    }),
  ),
);
const seconds = (performance.now() - startedAt) / 1000;
const items = reports.reduce((n, r) => n + r.items, 0);
const bytes = reports.reduce((n, r) => n + r.bytes, 0);
const summary = { workers, items, bytes, seconds, itemsPerSec: items / seconds, mbPerSec: bytes / 1e6 / seconds, reports };
if (flags.includes("--json")) {
  console.log(JSON.stringify(summary));
} else {
  for (const r of reports) console.log(`rank ${r.rank}: ${r.items} items, ${(r.bytes / 1e6).toFixed(1)} MB in ${r.ms.toFixed(0)} ms`);
  console.log(`all ${workers}: ${items} items, ${summary.itemsPerSec.toFixed(0)} items/s, ${summary.mbPerSec.toFixed(1)} MB/s`);
}
