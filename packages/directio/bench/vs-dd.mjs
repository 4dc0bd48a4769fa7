#!/usr/bin/env node
// @range/directio `get` against `dd if=FILE of=/dev/null bs=8M iflag=direct` on the same file, interleaved
// (dd, get, get into a reused buffer, dd, ...) so machine noise hits all alike. Median ratio and spread.
//
//   node packages/directio/bench/vs-dd.mjs                   512 MiB file, 7 runs, in a directory under the cwd
//   node packages/directio/bench/vs-dd.mjs --size 1g --runs 5 --dir /mnt/nvme/tmp
//
// The directory must be on a file system with O_DIRECT (not tmpfs). Build first:
//   pnpm --filter @range/aligned-memory --filter @range/core --filter @range/file --filter @range/directio build
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { allocatorKind, allocateAligned, reuseStats } from "@range/aligned-memory";
import { createDirectIoStore } from "../dist/index.js";

const args = process.argv.slice(2);
const arg = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const sizeText = arg("size", "512m");
const size = Math.round(Number.parseFloat(sizeText) * { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[sizeText.slice(-1).toLowerCase()]);
const runs = Number(arg("runs", "7"));
const dir = mkdtempSync(join(resolve(arg("dir", ".")), ".range-directio-bench-"));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmt = (xs) => `${median(xs).toFixed(2)}× (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;

try {
  const path = join(dir, "data.bin");
  const chunk = Buffer.alloc(64 * 1024 * 1024, 5);
  const h = await open(path, "w");
  for (let done = 0; done < size; done += chunk.length) await h.write(chunk, 0, Math.min(chunk.length, size - done), done);
  await h.sync();
  await h.close();
  console.log(`node ${process.version}, allocator ${allocatorKind}, ${size / 1024 ** 2} MiB, ${runs} runs, load ${loadavg().map((l) => l.toFixed(2)).join(" ")}`);

  const store = createDirectIoStore({ root: dir });
  const into = allocateAligned(size);
  const dd = () => {
    const t = performance.now();
    execFileSync("dd", [`if=${path}`, "of=/dev/null", "bs=8M", "iflag=direct"], { stdio: "ignore" });
    return performance.now() - t;
  };
  const get = async (opts) => {
    const t = performance.now();
    const bytes = await store.get("data.bin", opts);
    if (bytes.length !== size) throw new Error("short read");
    return performance.now() - t;
  };
  await get({ into }); // touch the reused buffer once, as a reused buffer is
  const times = { dd: [], get: [], into: [] };
  // Whether a get's result came from the memory of an earlier, collected result (no page faults) or fresh memory
  // depends on when the GC ran: printed so the spread can be read.
  const reused = [];
  for (let r = 0; r < runs; r++) {
    times.dd.push(dd());
    const before = reuseStats().reused;
    times.get.push(await get());
    reused.push(reuseStats().reused > before ? "reused" : "fresh");
    times.into.push(await get({ into }));
  }
  for (const [k, v] of Object.entries(times)) console.log(`${k.padEnd(5)} median ${median(v).toFixed(0)} ms (${v.map((t) => t.toFixed(0)).join(" ")})`);
  console.log(`get result memory per run: ${reused.join(" ")}`);
  console.log(`get vs dd:                  ${fmt(times.get.map((t, i) => times.dd[i] / t))}`);
  console.log(`get into reused buffer vs dd: ${fmt(times.into.map((t, i) => times.dd[i] / t))}`);
  await store.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
