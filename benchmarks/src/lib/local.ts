/** Helpers shared by the local-backend scenarios (file-large, file-small, directio). */
import { execFile, execFileSync, spawn } from "node:child_process";
import { constants as fsConstants, mkdtempSync, readFileSync, rmSync, statfsSync } from "node:fs";
import { open } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { maybeGc, mbPerSec, now, summarize, type Summary } from "./measure.js";

const execFileAsync = promisify(execFile);

/** A fresh directory under `os.tmpdir()`; `cleanup()` removes it and everything in it. */
export function makeTempDir(label: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `range-bench-${label}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The file system type of `dir`, by its statfs magic (the ones that matter here; others as hex). */
export function fsTypeOf(dir: string): string {
  const magic = statfsSync(dir).type;
  const known: Record<number, string> = {
    0xef53: "ext2/3/4",
    0x01021994: "tmpfs",
    0x58465342: "xfs",
    0x9123683e: "btrfs",
    0x858458f6: "ramfs",
    0x794c7630: "overlayfs",
  };
  return known[magic] ?? `0x${magic.toString(16)}`;
}

/**
 * Writes `data` to `file` with positioned writes in 64 MiB pieces and fsyncs it: the pages stay in the page cache,
 * clean, so no writeback runs during the measurements.
 */
export async function writeFileSynced(file: string, data: Uint8Array): Promise<void> {
  const handle = await open(file, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o644);
  try {
    const piece = 64 * 1024 * 1024;
    for (let done = 0; done < data.length; ) {
      const { bytesWritten } = await handle.write(data, done, Math.min(piece, data.length - done), done);
      done += bytesWritten;
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Whether `bytes` equals the content of `file`, read back through the page cache (ordinary reads, 64 MiB at a time):
 * a reference read that needs no second copy of a large object in memory.
 */
export async function equalsFile(bytes: Uint8Array, file: string): Promise<boolean> {
  const handle = await open(file, "r");
  try {
    if ((await handle.stat()).size !== bytes.length) return false;
    const piece = Buffer.allocUnsafeSlow(Math.min(64 * 1024 * 1024, Math.max(1, bytes.length)));
    const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    for (let done = 0; done < bytes.length; ) {
      const want = Math.min(piece.length, bytes.length - done);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await handle.read(piece, got, want - got, done + got);
        if (bytesRead === 0) return false;
        got += bytesRead;
      }
      if (!piece.subarray(0, want).equals(view.subarray(done, done + want))) return false;
      done += want;
    }
    return true;
  } finally {
    await handle.close();
  }
}

/**
 * Writes `size` pseudo-random bytes to `file` (fsynced) and checks them through a read-back. A separate function on
 * purpose: a suspended async caller may keep a dead local alive, and this 1 GiB must be collectable once written.
 */
export async function writeRandomFile(file: string, size: number, generate: (size: number) => Buffer): Promise<void> {
  const generated = generate(size);
  await writeFileSynced(file, generated);
  if (!(await equalsFile(generated, file))) throw new Error(`${file}: the bytes read back differ from the bytes written`);
}

/** `sync -f dir`: flushes the file system holding `dir` (many small files written without fsync each). */
export function syncFileSystem(dir: string): void {
  try {
    execFileSync("sync", ["-f", dir], { stdio: "ignore" });
  } catch {
    // best effort: writeback during the first iteration only adds noise
  }
}

/**
 * Bytes of `files` resident in the page cache, from util-linux `fincore` (mincore(2)); undefined when fincore is
 * missing. Asked in batches so a long list of small files stays below the argument limit.
 */
export async function pageCacheResidency(files: string[]): Promise<{ resident: number; total: number } | undefined> {
  let resident = 0;
  let total = 0;
  try {
    for (let i = 0; i < files.length; i += 400) {
      const { stdout } = await execFileAsync("fincore", ["--bytes", "--json", "--output", "RES,SIZE", ...files.slice(i, i + 400)], {
        maxBuffer: 16 * 1024 * 1024,
      });
      const rows = (JSON.parse(stdout) as { fincore: { res: number | string; size: number | string }[] }).fincore;
      for (const row of rows) {
        resident += Number(row.res);
        total += Number(row.size);
      }
    }
  } catch {
    return undefined;
  }
  return { resident, total };
}

/**
 * Collects garbage so buffers from the previous measurement are gone before the next one: `gc()`, then a turn of the
 * event loop (N-API finalizers, e.g. the native aligned allocator's `munmap`, run from a second-pass callback), twice.
 */
export async function settle(): Promise<void> {
  for (let i = 0; i < 2; i++) {
    maybeGc();
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Resource usage of this process (all its threads: the libuv pool included) over one measured region. */
export interface Usage {
  /** Minor page faults (first touch of anonymous memory, page-cache mappings). */
  minflt: number;
  majflt: number;
  userMs: number;
  sysMs: number;
  /** Voluntary context switches (a thread blocked: waiting for the pool, for I/O). */
  vcsw: number;
}

export function usageNow(): NodeJS.ResourceUsage {
  return process.resourceUsage();
}

export function usageSince(before: NodeJS.ResourceUsage, after: NodeJS.ResourceUsage = process.resourceUsage()): Usage {
  return {
    minflt: after.minorPageFault - before.minorPageFault,
    majflt: after.majorPageFault - before.majorPageFault,
    userMs: (after.userCPUTime - before.userCPUTime) / 1000,
    sysMs: (after.systemCPUTime - before.systemCPUTime) / 1000,
    vcsw: after.voluntaryContextSwitches - before.voluntaryContextSwitches,
  };
}

export interface Sample extends Usage {
  /** The time that counts (wall time of the call, or the tool's own figure for dd). */
  ms: number;
  /** Wall time around the call as the bench saw it. */
  wallMs: number;
  /** Case-specific extras (engine stats, dd's own numbers). */
  extra?: Record<string, number>;
}

/** One contender: `run` is timed; what it returns is handed to `verify` on the warm-up round only. */
export interface Case<R = unknown> {
  id: string;
  run: () => Promise<R>;
  /** Called before the warm-up call only, untimed (e.g. scribble over a reused destination so verify means something). */
  prepare?: () => void;
  /** Called with the warm-up result (untimed); throw BenchmarkFailure on wrong bytes. */
  verify?: (result: R) => void | Promise<void>;
  /** Override the measured time (e.g. dd's own elapsed time) and attach extras. */
  time?: (result: R, wallMs: number) => { ms: number; extra?: Record<string, number> };
}

/**
 * Runs every case once as a warm-up (verifying its result), then `iterations` rounds in which every case runs once,
 * the order rotated each round so drift (page cache, THP availability, host noise) does not favour one case. Collects
 * garbage between calls, untimed. Returns each case's samples, round by round (index i = round i).
 */
export async function interleave(
  cases: Case<any>[],
  iterations: number,
  log?: (message: string) => void,
  label = "",
): Promise<Map<string, Sample[]>> {
  const samples = new Map<string, Sample[]>(cases.map((c) => [c.id, []]));
  for (let round = -1; round < iterations; round++) {
    const order = cases.map((_, i) => cases[(i + Math.max(round, 0)) % cases.length]!);
    for (const c of order) {
      if (round < 0) c.prepare?.();
      await settle();
      const sample = await measureOnce(c, round < 0);
      if (sample) samples.get(c.id)!.push(sample);
    }
    await settle();
    if (log && round >= 0) {
      log(`  ${label}round ${round + 1}/${iterations}: ${cases.map((c) => `${c.id} ${samples.get(c.id)!.at(-1)!.ms.toFixed(0)} ms`).join(", ")}`);
    }
  }
  return samples;
}

/**
 * One timed call (and on the warm-up, its verification). A function of its own so the result — often 1 GiB — is
 * unreachable as soon as it returns: a suspended async caller can keep a dead local alive until its next await.
 */
async function measureOnce<R>(c: Case<R>, warmup: boolean): Promise<Sample | undefined> {
  const before = usageNow();
  const t0 = now();
  const result = await c.run();
  const wallMs = now() - t0;
  const usage = usageSince(before);
  const timed = c.time ? c.time(result, wallMs) : { ms: wallMs };
  if (warmup) {
    await c.verify?.(result);
    return undefined;
  }
  return { ...usage, ms: timed.ms, wallMs, ...(timed.extra ? { extra: timed.extra } : {}) };
}

/** The summaries a table needs for one case. */
export interface CaseSummary {
  ms: Summary;
  mbPerSec: Summary;
  minflt: number;
  userMs: number;
  sysMs: number;
}

export function summarizeCase(samples: Sample[], bytes: number): CaseSummary {
  return {
    ms: summarize(samples.map((s) => s.ms)),
    mbPerSec: summarize(samples.map((s) => mbPerSec(bytes, s.ms))),
    minflt: summarize(samples.map((s) => s.minflt)).median,
    userMs: summarize(samples.map((s) => s.userMs)).median,
    sysMs: summarize(samples.map((s) => s.sysMs)).median,
  };
}

/**
 * Speed of `a` relative to `b` (> 1: `a` is faster), per round — both measured in the same round, so slow phases of
 * the VM hit both — summarized over rounds: the median is the headline, min–max the spread.
 */
export function pairedRatio(a: Sample[], b: Sample[]): Summary {
  if (a.length !== b.length) throw new Error("paired samples differ in length");
  return summarize(a.map((s, i) => b[i]!.ms / s.ms));
}

/** PASS/FAIL against a target ratio (on the median). */
export function verdict(ratio: number, target: number): "PASS" | "FAIL" {
  return ratio >= target ? "PASS" : "FAIL";
}

/** A table cell for a verdict, with the unrounded comparison (0.947 rounds to "0.95×" but fails a 0.95 target). */
export function verdictCell(ratio: number, target: number): string {
  const ok = ratio >= target;
  return `**${ok ? "PASS" : "FAIL"}** (${ratio.toFixed(3)} ${ok ? "≥" : "<"} ${target})`;
}

/** The compiled worker script (dist/workers/local-worker.js), run as a child process. */
export const WORKER_PATH = fileURLToPath(new URL("../workers/local-worker.js", import.meta.url));

/** Runs the worker with extra environment (e.g. RANGE_ALIGNED_MEMORY, UV_THREADPOOL_SIZE); resolves with its JSON. */
export function runWorker<T>(input: unknown, env: Record<string, string>, log?: (message: string) => void): Promise<T> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WORKER_PATH], {
      env: { ...process.env, ...env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      for (const line of d.split("\n")) if (line.trim() && log) log(`    [worker] ${line}`);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) {
        reject(new Error(`worker exited with ${code}: ${stderr.trim().split("\n").slice(-5).join(" | ")}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as T);
      } catch (error) {
        reject(new Error(`worker printed no JSON: ${(error as Error).message}; stdout: ${stdout.slice(0, 200)}`));
      }
    });
    child.stdin.end(JSON.stringify(input));
  });
}

/** What `dd ... of=/dev/null` reported: bytes and its own elapsed seconds; wallMs is the spawner's time around it. */
export interface DdResult {
  bytes: number;
  seconds: number;
  wallMs: number;
  stderr: string;
}

export const SPAWNER_PATH = fileURLToPath(new URL("../workers/spawner.js", import.meta.url));

/**
 * Starts the spawner helper (see workers/spawner.ts). Start it BEFORE allocating large buffers: commands are then
 * forked from a small process, and the bench's memory is never write-protected by a fork.
 */
export function startSpawner(): { dd: (args: string[]) => Promise<DdResult>; close: () => void } {
  const child = spawn(process.execPath, [SPAWNER_PATH], { stdio: ["pipe", "pipe", "inherit"] });
  const waiting: ((line: string) => void)[] = [];
  let buffered = "";
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    buffered += d;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.(line);
    }
  });
  const dd = (args: string[]) =>
    new Promise<DdResult>((resolve, reject) => {
      waiting.push((line) => {
        const { code, stderr, wallMs } = JSON.parse(line) as { code: number | null; stderr: string; wallMs: number };
        const match = /^(\d+) bytes .* copied, ([\d.e+-]+) s/m.exec(stderr);
        if (code !== 0 || !match) {
          reject(new Error(`dd ${args.join(" ")} failed (exit ${code}): ${stderr.trim()}`));
          return;
        }
        resolve({ bytes: Number(match[1]), seconds: Number(match[2]), wallMs, stderr: stderr.trim() });
      });
      child.stdin.write(`${JSON.stringify({ cmd: "dd", args })}\n`);
    });
  return { dd, close: () => child.stdin.end() };
}

/** The kernel's transparent-huge-page policy (the selected value in brackets), or undefined. */
export function thpPolicy(): { enabled?: string; defrag?: string } {
  const read = (file: string): string | undefined => {
    try {
      return /\[([\w+]+)\]/.exec(readFileSync(file, "utf8"))?.[1];
    } catch {
      return undefined;
    }
  };
  const enabled = read("/sys/kernel/mm/transparent_hugepage/enabled");
  const defrag = read("/sys/kernel/mm/transparent_hugepage/defrag");
  return { ...(enabled ? { enabled } : {}), ...(defrag ? { defrag } : {}) };
}

/** 1-minute load average now (other processes on this VM compete for its cores; the reports print it). */
export function loadAverage(): number {
  return os.loadavg()[0]!;
}

/** A note on the machine's load during a scenario. */
export function loadNote(start: number, end: number): string {
  return (
    `1-minute load average ${start.toFixed(1)} at the start and ${end.toFixed(1)} at the end of this scenario on ${os.availableParallelism()} cores ` +
    "(anything above ~1 is other processes competing with the measurement; ratios are paired per round for that reason)."
  );
}
