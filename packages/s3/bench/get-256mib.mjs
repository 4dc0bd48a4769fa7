// Benchmark: @range/s3 against one plain GetObject and the peers (OpenDAL's concurrent reader, the s3dlio Python
// wheel), on ONE SeaweedFS started through @range/test-servers. Run after `pnpm --filter @range/s3... build`:
//   node --expose-gc packages/s3/bench/get-256mib.mjs [--quick] [--runs N] [--no-wait] [--no-peers] [--raw] [--tune] [--json out.json]
// Every variant uses the same server. Runs interleave, each round starting one variant later (so no variant always
// follows the same one); each timed read follows an untimed one of the same variant (see below), and with --expose-gc
// a full GC runs before that pair. Each variant reports the CPU seconds SeaweedFS and the client (this process, or the
// s3dlio child) spent on its timed read, to show which side is the limit.
// The peers come from the benchmark suite's cache (.cache/bench-peers: `pnpm bench -- --peers install` puts them
// there); a missing peer is skipped with a note. --raw adds the ceiling: a bare socket reader (no SDK, no node:http)
// into a buffer touched beforehand, one stream and 32 ranges. "store.get, directReads: false" is the same store with
// GetObject sent through the SDK (the path before direct reads), so both show in one run. --tune adds direct-read
// stores with other chunk sizes and concurrencies (to pick the defaults).
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { connect } from "node:net";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { allocateReusable } from "@range/aligned-memory";
import { cpuSecondsOf, measureOtherLoad, median, mibPerSecond, opsPerSecond, ownCpuSeconds, seedGetBenchmark, spread, startSeaweedFs, waitForQuiet } from "@range/test-servers";
import { createS3Store } from "../dist/index.js";

const MiB = 1024 * 1024;
const args = process.argv.slice(2);
const arg = (name, fallback) => (args.includes(name) ? args[args.indexOf(name) + 1] : fallback);
const quick = args.includes("--quick");
const RUNS = Number(arg("--runs", quick ? 2 : 5));
const BIG = quick ? 64 * MiB : 256 * MiB;
const SMALL_COUNT = quick ? 32 : 128;
const SMALL_CONCURRENCY = 16;
/** The peers' chunk size and concurrency (the benchmark suite's OpenDAL setting). */
const CHUNK = 8 * MiB;
const CONCURRENCY = 32;
const jsonOut = arg("--json", undefined);
const peersDir = fileURLToPath(new URL("../../../.cache/bench-peers/", import.meta.url));

const mbps = mibPerSecond;

// The machine may be shared: wait (up to 10 min) for a quiet moment, and report what else ran during each section.
await waitForQuiet(1.5, args.includes("--no-wait") ? 0 : 10 * 60_000);
console.log(`load average at start: ${loadavg().map((l) => l.toFixed(2)).join(" ")}${globalThis.gc ? "" : " (run with --expose-gc for a GC before each read)"}`);

const server = await startSeaweedFs({ buckets: ["bench"] });
const cpuOf = cpuSecondsOf;
const serverCpu = () => server.pids.reduce((sum, pid) => sum + cpuOf(pid), 0);
/** Cores busy with other work (not this process, its children, or SeaweedFS) while `fn` ran. */
const otherLoad = (fn, childCpu) => measureOtherLoad(fn, server.pids, childCpu);

/** s3dlio in a long-lived Python child: one `get` per line on stdin, answered with its own wall time. */
async function startS3dlio(env) {
  const python = `${peersDir}venv/bin/python`;
  if (!existsSync(python)) return undefined;
  const code = [
    "import sys, time, s3dlio",
    "for line in sys.stdin:",
    "    t = time.perf_counter(); data = s3dlio.get(line.strip()); n = len(memoryview(data))",
    "    sum(memoryview(data)[::4096]); ms = (time.perf_counter() - t) * 1000; del data",
    "    print(ms, n, flush=True)",
  ].join("\n");
  const child = spawn(python, ["-c", code], { env: { ...process.env, ...env }, stdio: ["pipe", "pipe", "inherit"] });
  let pending;
  let text = "";
  child.stdout.setEncoding("utf8").on("data", (d) => {
    text += d;
    const nl = text.indexOf("\n");
    if (nl >= 0 && pending) {
      const [ms, n] = text.slice(0, nl).split(" ").map(Number);
      text = text.slice(nl + 1);
      pending({ ms, n });
      pending = undefined;
    }
  });
  return {
    pid: child.pid,
    get: (uri) =>
      new Promise((resolve) => {
        pending = resolve;
        child.stdin.write(`${uri}\n`);
      }),
    stop: () => child.kill(),
  };
}

function loadOpendal() {
  try {
    return createRequire(`${peersDir}node_modules/`)("opendal");
  } catch {
    return undefined;
  }
}

/**
 * The ceiling: GETs signed by the SDK (captured before the clock starts), sent over bare sockets and read straight
 * into a buffer touched beforehand. `ranges` requests of equal size in parallel, one connection each.
 */
async function rawCeiling(client, key, size, ranges) {
  const step = Math.ceil(size / ranges);
  const requests = [];
  for (let offset = 0; offset < size; offset += step) {
    const command = new GetObjectCommand({ Bucket: "bench", Key: key, Range: `bytes=${offset}-${Math.min(size, offset + step) - 1}` });
    let captured;
    command.middlewareStack.add(
      (next) => async (a) => {
        captured = a.request;
        throw new Error("captured");
      },
      { step: "finalizeRequest", priority: "low", name: "captureSigned" },
    );
    await client.send(command).catch(() => {});
    if (captured === undefined) throw new Error("no signed request captured (the middleware did not run after signing)");
    requests.push({ offset, length: Math.min(size, offset + step) - offset, request: captured });
  }
  const out = Buffer.allocUnsafeSlow(size).fill(0);
  return async () => {
    await Promise.all(requests.map(({ offset, length, request }) => rawGet(request, out, offset, length)));
    return out;
  };
}

/** One HTTP/1.1 GET on a fresh socket; the body lands in out[offset, offset + length) through `onread` (no per-chunk Buffer). */
function rawGet(request, out, offset, length) {
  return new Promise((resolve, reject) => {
    const query = Object.entries(request.query ?? {}).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
    const head = `GET ${request.path}${query ? `?${query}` : ""} HTTP/1.1\r\n${Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`).join("\r\n")}\r\nconnection: close\r\n\r\n`;
    const scratch = Buffer.allocUnsafe(256 * 1024).fill(0);
    let header = Buffer.alloc(0);
    let filled = -1;
    const socket = connect({
      host: request.hostname,
      port: request.port,
      onread: {
        buffer: scratch,
        callback(n, buf) {
          let chunk = buf.subarray(0, n);
          if (filled < 0) {
            header = Buffer.concat([header, chunk]);
            const end = header.indexOf("\r\n\r\n");
            if (end < 0) return;
            if (!header.subarray(0, 12).toString().includes("206")) {
              reject(new Error(header.subarray(0, 200).toString()));
              socket.destroy();
              return;
            }
            chunk = header.subarray(end + 4);
            filled = 0;
          }
          chunk.copy(out, offset + filled);
          filled += chunk.length;
          if (filled >= length) socket.destroy();
          if (filled >= length) resolve();
        },
      },
    });
    socket.on("error", reject);
    socket.write(head);
  });
}

const results = {
  machine: `${process.platform} ${process.arch}, ${cpus().length} cores, node ${process.version}`,
  seaweedfs: server.install.version,
  object: BIG,
  runs: RUNS,
  rows: [],
};
let s3dlio;
try {
  const credentials = { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey };
  const connection = { bucket: "bench", endpoint: server.endpoint, region: server.region, credentials };
  const store = createS3Store(connection);
  const sdkStore = createS3Store({ ...connection, directReads: false });
  // Result memory of a collected earlier get reused (first-touch page faults paid once, not per read).
  const reusing = createS3Store({ ...connection, allocate: allocateReusable });
  // The SDK as an application would use it: its default handler and agent.
  const sdk = new S3Client({ endpoint: server.endpoint, region: server.region, credentials, forcePathStyle: true });

  const { big, smallKeys } = await seedGetBenchmark(store, BIG, SMALL_COUNT);

  /** One GetObject of the whole object, its body read into a buffer of the response's size. */
  const plainGet = async (key) => {
    const out = await sdk.send(new GetObjectCommand({ Bucket: "bench", Key: key }));
    const buffer = Buffer.allocUnsafeSlow(out.ContentLength);
    let at = 0;
    for await (const chunk of out.Body) {
      buffer.set(chunk, at);
      at += chunk.length;
    }
    if (at !== buffer.length) throw new Error(`short body: ${at}`);
    return buffer;
  };

  const variants = {
    "one plain GetObject": () => plainGet("big.bin"),
    "store.get (defaults)": () => store.get("big.bin"),
    "store.get, directReads: false (SDK GetObject)": () => sdkStore.get("big.bin"),
    "store.get, allocate: allocateReusable": () => reusing.get("big.bin"),
  };
  const tuned = [];
  if (args.includes("--tune")) {
    for (const [chunkMiB, concurrency] of [[4, 16], [8, 8], [16, 16], [32, 8]]) {
      const s = createS3Store({ ...connection, engine: { chunkSize: chunkMiB * MiB, maxConcurrentRanges: concurrency } });
      tuned.push(s);
      variants[`store.get { chunkSize: ${chunkMiB} MiB, maxConcurrentRanges: ${concurrency} }`] = () => s.get("big.bin");
    }
  }
  let childCpu = () => 0;
  if (!args.includes("--no-peers")) {
    const opendal = loadOpendal();
    if (opendal) {
      const op = new opendal.Operator("s3", {
        bucket: "bench",
        root: "/",
        endpoint: server.endpoint,
        region: server.region,
        access_key_id: server.accessKeyId,
        secret_access_key: server.secretAccessKey,
      });
      variants[`OpenDAL read { concurrent: ${CONCURRENCY}, chunk: ${CHUNK / MiB} MiB }`] = () => op.read("big.bin", { concurrent: CONCURRENCY, chunk: CHUNK });
    } else console.log(`(OpenDAL not in ${peersDir}node_modules: skipped)`);
    s3dlio = await startS3dlio({
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
      AWS_REGION: server.region,
      AWS_ENDPOINT_URL: server.endpoint,
    });
    if (s3dlio) {
      const child = s3dlio;
      childCpu = () => cpuOf(child.pid);
      // Timed inside Python (its own wall clock), so the pipe round trip is not counted against it.
      variants["s3dlio.get (Python wheel)"] = async () => {
        const { ms, n } = await child.get("s3://bench/big.bin");
        return { length: n, ms };
      };
    } else console.log(`(s3dlio venv not in ${peersDir}venv: skipped)`);
  }
  if (args.includes("--raw")) {
    variants["ceiling: bare sockets, 1 stream, pre-touched buffer"] = await rawCeiling(sdk, "big.bin", BIG, 1);
    variants[`ceiling: bare sockets, ${CONCURRENCY} ranges, pre-touched buffer`] = await rawCeiling(sdk, "big.bin", BIG, CONCURRENCY);
  }

  async function time(fn, expected) {
    const t0 = performance.now();
    const data = await fn();
    const ms = data.ms ?? performance.now() - t0;
    if (data.length !== expected) throw new Error(`got ${data.length} bytes, expected ${expected}`);
    return ms;
  }
  // Warm-up (connections, JIT, the server's caches); the bytes are checked once per variant.
  for (const [name, fn] of Object.entries(variants)) {
    const data = await fn();
    if (data instanceof Uint8Array && !big.equals(Buffer.from(data.buffer, data.byteOffset, data.length))) throw new Error(`${name}: wrong bytes`);
  }

  const samples = Object.fromEntries(Object.keys(variants).map((k) => [k, { ms: [], serverCpu: [], clientCpu: [] }]));
  const section1 = await otherLoad(async () => {
    const entries = Object.entries(variants);
    for (let run = 0; run < RUNS; run++) {
      for (const [name, fn] of [...entries.slice(run % entries.length), ...entries.slice(0, run % entries.length)]) {
        // The steady state of a program that reads one object after another: each timed read follows an untimed
        // read of the same variant whose result is dropped, with no forced GC between the two, so memory reuse
        // happens only as often as it would in such a loop (when the GC has freed the previous result in time).
        globalThis.gc?.();
        await fn();
        const a0 = serverCpu();
        const c0 = ownCpuSeconds() + childCpu();
        samples[name].ms.push(await time(fn, BIG));
        samples[name].serverCpu.push(serverCpu() - a0);
        samples[name].clientCpu.push(ownCpuSeconds() + childCpu() - c0);
      }
    }
  }, childCpu);
  console.log(`\n${BIG / MiB} MiB object from one SeaweedFS ${results.seaweedfs}, median of ${RUNS} runs (other load: ${section1.other.toFixed(2)} cores)`);
  const single = median(samples["one plain GetObject"].ms);
  const peerNames = Object.keys(samples).filter((n) => n.startsWith("OpenDAL") || n.startsWith("s3dlio"));
  const fastestPeer = peerNames.length ? Math.min(...peerNames.map((n) => median(samples[n].ms))) : undefined;
  for (const [name, s] of Object.entries(samples)) {
    const m = median(s.ms);
    const row = {
      case: "big",
      name,
      ms: m,
      p25p75: spread(s.ms),
      mbps: mbps(BIG, m),
      vsSingle: single / m,
      ...(fastestPeer ? { vsFastestPeer: fastestPeer / m } : {}),
      serverCpuS: median(s.serverCpu),
      clientCpuS: median(s.clientCpu),
    };
    results.rows.push(row);
    console.log(
      `  ${name.padEnd(56)} ${m.toFixed(0).padStart(6)} ms (${row.p25p75.padStart(9)}) ${row.mbps.toFixed(0).padStart(5)} MiB/s  ×${row.vsSingle.toFixed(2)} vs plain` +
        `${fastestPeer ? `  ×${row.vsFastestPeer.toFixed(2)} vs fastest peer` : ""}   cpu: server ${row.serverCpuS.toFixed(2)} s, client ${row.clientCpuS.toFixed(2)} s`,
    );
  }

  // Many 1 MiB objects, SMALL_CONCURRENCY at a time: ops/s.
  const opsPerSec = (read) => opsPerSecond(smallKeys, SMALL_CONCURRENCY, MiB, read);
  const smallVariants = {
    "one plain GetObject": plainGet,
    "store.get (one GET each)": (key) => store.get(key),
    "store.get, directReads: false": (key) => sdkStore.get(key),
  };
  for (const fn of Object.values(smallVariants)) await opsPerSec(fn);
  const smallSamples = Object.fromEntries(Object.keys(smallVariants).map((k) => [k, []]));
  const section2 = await otherLoad(async () => {
    const entries = Object.entries(smallVariants);
    for (let run = 0; run < RUNS; run++) {
      for (const [name, fn] of run % 2 ? [...entries].reverse() : entries) smallSamples[name].push(await opsPerSec(fn));
    }
  }, () => 0);
  console.log(`\n${SMALL_COUNT} × 1 MiB objects, ${SMALL_CONCURRENCY} in flight, median of ${RUNS} runs (other load: ${section2.other.toFixed(2)} cores)`);
  const smallBase = median(smallSamples["one plain GetObject"]);
  for (const [name, ops] of Object.entries(smallSamples)) {
    const m = median(ops);
    results.rows.push({ case: "1MiB", name, opsPerSec: m, p25p75: spread(ops), ratio: m / smallBase });
    console.log(`  ${name.padEnd(56)} ${m.toFixed(0).padStart(6)} ops/s (${spread(ops).padStart(9)})  ×${(m / smallBase).toFixed(2)}`);
  }
  results.otherLoad = { big: section1.other, small: section2.other };
  await store.close();
  await sdkStore.close();
  for (const s of tuned) await s.close();
  await reusing.close();
  sdk.destroy();
  if (jsonOut) writeFileSync(jsonOut, JSON.stringify(results, null, 2));
} finally {
  s3dlio?.stop();
  await server.stop();
}
