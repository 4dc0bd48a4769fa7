// Peers: the same 256 MiB object from ONE SeaweedFS read by @range/s3, a plain GetObject, OpenDAL's Node binding
// (opendal@0.49.1: newer ones need a newer glibc) with and without its concurrent reader, and the s3dlio Python wheel.
// The peers are installed from npm / PyPI on first use into <repo>/.cache/bench-peers (git-ignored).
// Run after `pnpm --filter @range/s3... build`:  node packages/s3/bench/peers.mjs [--runs N] [--size-mib N] [--json out.json]
import { execFileSync } from "node:child_process";
import { randomFillSync } from "node:crypto";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { findWorkspaceRoot, startSeaweedFs, withFileLock } from "@range/test-servers";
import { createS3Store } from "../dist/index.js";

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";
const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const RUNS = Number(arg("--runs", 5));
const SIZE = Number(arg("--size-mib", 256)) * MiB;
const jsonOut = arg("--json", undefined);
const OPENDAL = "0.49.1";
const S3DLIO = "0.10.0";

const peersDir = join(findWorkspaceRoot() ?? ".", ".cache", "bench-peers");
mkdirSync(peersDir, { recursive: true });
await withFileLock(join(peersDir, "install.lock"), async () => {
  if (!existsSync(join(peersDir, "node_modules", "opendal", "package.json"))) {
    console.log(`installing opendal@${OPENDAL} from npm into ${peersDir}`);
    execFileSync("npm", ["install", "--prefix", peersDir, "--no-save", "--no-audit", "--no-fund", `opendal@${OPENDAL}`], { stdio: "inherit" });
  }
  if (!existsSync(join(peersDir, "venv", "bin", "python"))) {
    console.log(`installing s3dlio==${S3DLIO} from PyPI into ${peersDir}/venv`);
    execFileSync("python3", ["-m", "venv", join(peersDir, "venv")], { stdio: "inherit" });
    execFileSync(join(peersDir, "venv", "bin", "pip"), ["install", "--disable-pip-version-check", `s3dlio==${S3DLIO}`], { stdio: "inherit" });
  }
});
const { Operator } = createRequire(join(peersDir, "package.json"))("opendal");

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const server = await startSeaweedFs({ buckets: ["bench"] });
const rows = [];
try {
  const conn = {
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
  };
  const store = createS3Store({ ...conn, bucket: "bench" });
  const big = Buffer.allocUnsafe(SIZE);
  randomFillSync(big);
  await store.put("big.bin", big);
  const plain = new S3Client({ ...conn, forcePathStyle: true, responseChecksumValidation: "WHEN_REQUIRED" });
  const op = new Operator("s3", {
    bucket: "bench",
    root: "/",
    endpoint: server.endpoint,
    region: server.region,
    access_key_id: server.accessKeyId,
    secret_access_key: server.secretAccessKey,
  });
  const variants = {
    "plain GetObject (SDK)": async () => (await plain.send(new GetObjectCommand({ Bucket: "bench", Key: "big.bin" }))).Body.transformToByteArray(),
    "@range/s3 store.get (defaults)": () => store.get("big.bin"),
    "opendal read": () => op.read("big.bin"),
    "opendal read, concurrent 8 × 8 MiB": () => op.read("big.bin", { concurrent: 8, chunk: 8 * MiB }),
    "opendal read, concurrent 32 × 8 MiB": () => op.read("big.bin", { concurrent: 32, chunk: 8 * MiB }),
  };
  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
  for (const fn of Object.values(variants)) await fn(); // warm-up
  for (let run = 0; run < RUNS; run++) {
    for (const [name, fn] of Object.entries(variants)) {
      const t0 = performance.now();
      const data = await fn();
      const ms = performance.now() - t0;
      if (data.length !== SIZE) throw new Error(`${name}: ${data.length} bytes`);
      samples[name].push(ms);
    }
  }
  for (const [name, ms] of Object.entries(samples)) rows.push({ name, ms: median(ms) });

  const python = `
import os, time, s3dlio
s3dlio.configure_s3(endpoint_url=os.environ["AWS_ENDPOINT_URL"], region=os.environ["AWS_REGION"])
uri = "s3://bench/big.bin"
assert len(s3dlio.get(uri)) == ${SIZE}
times = []
for _ in range(${RUNS}):
    t = time.perf_counter(); n = len(s3dlio.get(uri)); times.append(time.perf_counter() - t)
    assert n == ${SIZE}, n
times.sort(); print(times[len(times) // 2] * 1000)
`;
  try {
    const out = execFileSync(join(peersDir, "venv", "bin", "python"), ["-c", python], {
      env: { ...process.env, ...server.env() },
      encoding: "utf8",
      timeout: 600_000,
    });
    rows.push({ name: `s3dlio.get (Python, s3dlio ${S3DLIO})`, ms: Number(out.trim().split("\n").at(-1)) });
  } catch (error) {
    rows.push({ name: "s3dlio.get (Python)", error: String(error.stderr ?? error).slice(0, 500) });
  }
  await store.close();
  plain.destroy();
} finally {
  await server.stop();
}
const base = rows[0].ms;
console.log(`\n${SIZE / MiB} MiB object from one local SeaweedFS, median of ${RUNS} runs`);
for (const row of rows) {
  if (row.error) console.log(`  ${row.name.padEnd(40)} FAILED: ${row.error}`);
  else console.log(`  ${row.name.padEnd(40)} ${row.ms.toFixed(0).padStart(6)} ms ${(SIZE / MiB / (row.ms / 1000)).toFixed(0).padStart(5)} MiB/s  ×${(base / row.ms).toFixed(2)}`);
}
if (jsonOut) writeFileSync(jsonOut, JSON.stringify({ size: SIZE, runs: RUNS, rows }, null, 2));
