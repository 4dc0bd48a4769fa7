#!/usr/bin/env node
// Focused benchmark of @range/file `get` against the Node baselines the issue names, interleaved in one process
// (ours, baseline, ours, baseline, ...) so machine noise hits both alike. Reports median ratio and spread.
//
//   node packages/file/bench/get.mjs                       small (64 KiB, 1 MiB) and mid (8, 16, 32 MiB) files
//   node packages/file/bench/get.mjs --sizes 64k,1m --runs 15 --ms 300
//   node packages/file/bench/get.mjs --large 1g --runs 5   1 GiB: every variant in a fresh child process
//   node packages/file/bench/get.mjs --against /other/build/packages/file/dist/index.js   also: ours vs that build
//   node packages/file/bench/get.mjs --malloc-default      small and mid sizes without the malloc tunables (see below)
//
// Small files: ops/s (1 / median op time) of sequential `store.get` vs `fs.promises.readFile` (and the memory store vs a memcpy, to
// separate core's per-call cost from the driver's). Mid files: `store.get` vs one `open + read(size) + close`.
// Large: a fresh process per sample (first-touch page faults depend on what the process already holds).
// Build first: pnpm --filter @range/aligned-memory --filter @range/core --filter @range/file build
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { createMemoryStore } from "@range/core";
import { allocatorKind } from "@range/aligned-memory";
import { createFileStore } from "../dist/index.js";

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const parseSize = (s) => {
  const m = /^(\d+(?:\.\d+)?)([kmg]?)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size ${s}`);
  return Math.round(Number(m[1]) * { "": 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase()]);
};
const label = (n) => (n >= 1024 ** 3 ? `${n / 1024 ** 3} GiB` : n >= 1024 ** 2 ? `${n / 1024 ** 2} MiB` : `${n / 1024} KiB`);
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs) => `${median(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

// ---- child mode: one large-file sample in a fresh process, prints seconds ----
if (args[0] === "--child") {
  const [, variant, path, sizeText] = args;
  const size = Number(sizeText);
  const root = join(path, "..");
  const key = path.slice(root.length + 1);
  let seconds;
  let cpuFrom = process.cpuUsage();
  if (variant === "readFile") {
    const t = performance.now();
    const b = await readFile(path);
    seconds = (performance.now() - t) / 1000;
    if (b.length !== size) throw new Error("short");
  } else if (variant === "memcpy") {
    const src = Buffer.allocUnsafeSlow(size).fill(1);
    const dst = Buffer.allocUnsafeSlow(size).fill(2);
    cpuFrom = process.cpuUsage();
    const t = performance.now();
    dst.set(src);
    seconds = (performance.now() - t) / 1000;
  } else {
    const create = variant === "get-against" ? (await import(pathToFileURL(process.env.RANGE_BENCH_AGAINST).href)).createFileStore : createFileStore;
    const store = create({ root, ...(variant === "get-4k" ? { hugePages: false } : {}) });
    if (variant === "get-into") {
      const into = Buffer.allocUnsafeSlow(size).fill(0);
      await store.get(key, { into }); // touch and warm once, as a reused buffer is
      cpuFrom = process.cpuUsage();
      const t = performance.now();
      await store.get(key, { into });
      seconds = (performance.now() - t) / 1000;
    } else {
      const t = performance.now();
      const b = await store.get(key);
      seconds = (performance.now() - t) / 1000;
      if (b.length !== size) throw new Error("short");
    }
  }
  const cpu = process.cpuUsage(cpuFrom);
  process.stdout.write(`${seconds} ${(cpu.user + cpu.system) / 1e6}\n`);
  process.exit(0);
}

// The in-process comparisons (small and mid sizes) run with glibc's malloc told to keep freed heap memory
// (GLIBC_TUNABLES below), so the baselines' `Buffer.allocUnsafeSlow` results always get memory that is already faulted
// in, as `get`'s results from the reuse cache of @range/aligned-memory do. With malloc's defaults, whether a freed
// 8 MiB block comes back faulted in depends on its trim heuristics and on what else the process allocates: a loop of
// 8 MiB allocUnsafeSlow + fill took ~1,100 page faults per buffer (289 with these tunables), so the baseline's cost
// changed with what `get` allocated between its ops. `--malloc-default` keeps malloc's defaults.
const FAIR_MALLOC = "glibc.malloc.trim_threshold=4294967296:glibc.malloc.mmap_threshold=67108864";
if (
  process.platform === "linux" &&
  arg("large", undefined) === undefined &&
  !args.includes("--malloc-default") &&
  process.env.GLIBC_TUNABLES === undefined
) {
  const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), ...args], {
    stdio: "inherit",
    env: { ...process.env, GLIBC_TUNABLES: FAIR_MALLOC },
  });
  process.exit(out.status ?? 1);
}

const runs = Number(arg("runs", "9"));
const windowMs = Number(arg("ms", "250"));
const dir = mkdtempSync(join(tmpdir(), "range-file-bench-"));
const self = fileURLToPath(import.meta.url);
console.log(
  `node ${process.version}, allocator ${allocatorKind}, ${runs} runs, load: ${(await import("node:os")).loadavg().map((l) => l.toFixed(2)).join(" ")}` +
    `, GLIBC_TUNABLES=${process.env.GLIBC_TUNABLES ?? "(malloc defaults)"}`,
);

async function singleRead(path) {
  const h = await open(path, "r");
  try {
    const { size } = await h.stat();
    const b = Buffer.allocUnsafeSlow(size);
    await h.read(b, 0, size, 0);
    return b;
  } finally {
    await h.close();
  }
}

try {
  const large = arg("large", undefined);
  if (large) {
    const size = parseSize(large);
    const path = join(dir, "large.bin");
    const chunk = Buffer.alloc(64 * 1024 * 1024, 7);
    const h = await open(path, "w");
    for (let done = 0; done < size; done += chunk.length) await h.write(chunk, 0, Math.min(chunk.length, size - done), done);
    await h.close();
    await readFile(path); // into the page cache
    const againstPath = arg("against", undefined);
    if (againstPath) process.env.RANGE_BENCH_AGAINST = againstPath;
    const variants = ["readFile", "get", "get-4k", "get-into", "memcpy", ...(againstPath ? ["get-against"] : [])];
    const times = Object.fromEntries(variants.map((v) => [v, []]));
    const cpus = Object.fromEntries(variants.map((v) => [v, []]));
    for (let r = 0; r < runs; r++) {
      for (const v of variants) {
        const out = spawnSync(process.execPath, [self, "--child", v, path, String(size)], { encoding: "utf8" });
        if (out.status !== 0) throw new Error(`${v}: ${out.stderr}`);
        const [wall, cpu] = out.stdout.trim().split(" ").map(Number);
        times[v].push(wall);
        cpus[v].push(cpu);
      }
    }
    for (const v of variants) {
      const walls = times[v].map((t) => (t * 1000).toFixed(0)).join(" ");
      console.log(`${label(size)} ${v.padEnd(9)} median ${(median(times[v]) * 1000).toFixed(0)} ms (${walls}), CPU (all threads) ${(median(cpus[v]) * 1000).toFixed(0)} ms`);
    }
    const ratio = (a, b) => times[a].map((t, i) => times[b][i] / t);
    console.log(`${label(size)} get vs readFile        ${fmt(ratio("get", "readFile"))}`);
    console.log(`${label(size)} get(hugePages:false) vs readFile ${fmt(ratio("get-4k", "readFile"))}`);
    console.log(`${label(size)} get into reused vs memcpy ${fmt(ratio("get-into", "memcpy"))}`);
    if (againstPath) console.log(`${label(size)} get vs get of the --against build ${fmt(ratio("get", "get-against"))}`);
  } else {
    const sizes = arg("sizes", "64k,1m,8m,16m,32m").split(",").map(parseSize);
    const store = createFileStore({ root: dir });
    const memory = createMemoryStore();
    const againstPath = arg("against", undefined);
    const other = againstPath ? (await import(pathToFileURL(againstPath).href)).createFileStore({ root: dir }) : undefined;
    for (const size of sizes) {
      const data = Buffer.alloc(size, 3);
      const key = `f-${size}.bin`;
      const path = join(dir, key);
      writeFileSync(path, data);
      await memory.put(key, data);
      const small = size < 4 * 1024 * 1024;
      const ours = () => store.get(key);
      const base = small ? () => readFile(path) : () => singleRead(path);
      const src = Buffer.alloc(size, 1);
      const memcpy = async () => {
        const b = Buffer.allocUnsafeSlow(size);
        b.set(src);
        return b;
      };
      const mem = () => memory.get(key);
      // Op-by-op interleaving (A B B A ...): load changes between samples hit both sides alike. Per-op medians,
      // not sums: on a shared machine a few ops that lost the CPU for milliseconds would otherwise decide the result.
      const pairs = async (a, b) => {
        const ta = [];
        const tb = [];
        const end = performance.now() + windowMs;
        for (let n = 0; performance.now() < end; n++) {
          const first = n % 2 === 0;
          const t = performance.now();
          await (first ? a() : b());
          const t1 = performance.now();
          await (first ? b() : a());
          const t2 = performance.now();
          (first ? ta : tb).push(t1 - t);
          (first ? tb : ta).push(t2 - t1);
        }
        return { a: 1000 / median(ta), b: 1000 / median(tb) };
      };
      await pairs(ours, base);
      const r = [];
      const m = [];
      const vsOther = [];
      const oursOps = [];
      const baseOps = [];
      for (let i = 0; i < runs; i++) {
        const { a, b } = await pairs(ours, base);
        r.push(a / b);
        oursOps.push(a);
        baseOps.push(b);
        if (small) {
          const x = await pairs(mem, memcpy);
          m.push(x.a / x.b);
        }
        if (other) {
          const x = await pairs(ours, () => other.get(key));
          vsOther.push(x.a / x.b);
        }
      }
      const what = small ? "readFile" : "single read";
      console.log(
        `${label(size).padEnd(7)} get ${median(oursOps).toFixed(0)} ops/s, ${what} ${median(baseOps).toFixed(0)} ops/s: ${fmt(r)}` +
          (small ? `   memory store get vs memcpy ${fmt(m)}` : "") +
          (other ? `   vs --against build ${fmt(vsOther)}` : ""),
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
