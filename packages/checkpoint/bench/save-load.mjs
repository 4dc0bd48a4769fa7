// Save and load one rank's checkpoint of `shards` × `size` MiB on the file backend (and S3 when AWS_ENDPOINT_URL and
// credentials are set and BUCKET is given), and time SHA-256 alone for comparison.
//   node bench/save-load.mjs [--shards 4] [--mib 64] [--bucket name]
import { createHash, randomFillSync } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createFileStore } from "@range/file";
import { createCheckpointer } from "../dist/index.js";

const { values } = parseArgs({ options: { shards: { type: "string", default: "4" }, mib: { type: "string", default: "64" }, bucket: { type: "string" } } });
const MiB = 1024 * 1024;
const shardCount = Number(values.shards);
const size = Number(values.mib) * MiB;
const shards = Object.fromEntries(Array.from({ length: shardCount }, (_, i) => [`shard-${i}.bin`, randomFillSync(Buffer.allocUnsafe(size))]));
const total = shardCount * size;
const rate = (bytes, ms) => `${((bytes / MiB) / (ms / 1000)).toFixed(0)} MiB/s`;

let t = performance.now();
for (const data of Object.values(shards)) createHash("sha256").update(data).digest();
console.log(`sha256 alone: ${rate(total, performance.now() - t)} (${total / MiB} MiB)`);

async function run(name, store) {
  const ckpt = createCheckpointer(store, { prefix: "bench/" });
  for (let step = 1; step <= 2; step++) {
    t = performance.now();
    await ckpt.save(step, shards);
    const saveMs = performance.now() - t;
    t = performance.now();
    const loaded = await ckpt.load();
    const loadMs = performance.now() - t;
    console.log(`${name} step ${step}: save ${rate(total, saveMs)} (${saveMs.toFixed(0)} ms), load+verify ${rate(loaded.bytes, loadMs)} (${loadMs.toFixed(0)} ms)`);
  }
  await store.deletePrefix("bench/");
  await store.close();
}

const root = await mkdtemp(join(tmpdir(), "range-ckpt-bench-"));
await run("file", createFileStore({ root }));
await run("file (fsync)", createFileStore({ root, fsync: true }));
await rm(root, { recursive: true, force: true });
if (values.bucket) {
  const { createS3Store } = await import("@range/s3");
  await run("s3", createS3Store({ bucket: values.bucket }));
}
