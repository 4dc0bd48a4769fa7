/**
 * Peers that run in another process or come from outside the workspace: OpenDAL's Node binding (loaded from the
 * peers cache), the s3dlio Python wheel (one Python process per cell, python/s3dlio_cell.py) and dd (through
 * python/rusage.py, which reports its CPU time and peak RSS).
 */
import { spawn } from "node:child_process";
import { createRequire } from "node:module";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ExternalRead, PeerTools } from "../backends/types.js";

const PYTHON_DIR = fileURLToPath(new URL("../../python/", import.meta.url));

/** The subset of OpenDAL's `Operator` the peers use (opendal@0.49.1). */
export interface OpendalOperator {
  read(path: string, options?: { offset?: bigint; size?: bigint; concurrent?: number; chunk?: number }): Promise<Buffer>;
  write(path: string, content: Buffer, options?: { concurrent?: number; chunk?: bigint }): Promise<unknown>;
  list(path: string, options?: { recursive?: boolean }): Promise<{ path(): string }[]>;
}

/** An OpenDAL operator for `scheme` with `options`; throws when the binding is missing. */
export function opendalOperator(tools: PeerTools, scheme: string, options: Record<string, string>): OpendalOperator {
  if ("missing" in tools.opendal) throw new Error(tools.opendal.missing);
  const require = createRequire(join(tools.opendal.dir, "package.json"));
  const { Operator } = require("opendal") as { Operator: new (scheme: string, options: Record<string, string>) => OpendalOperator };
  return new Operator(scheme, options);
}

/** Files under a listing (OpenDAL lists directories as entries ending in "/"). */
export function countFiles(entries: { path(): string }[]): number {
  let n = 0;
  for (const entry of entries) if (!entry.path().endsWith("/")) n++;
  return n;
}

interface Collected {
  code: number | null;
  stdout: string;
  stderr: string;
}

function collect(command: string, args: string[], input: string | undefined, env?: Record<string, string>): Promise<Collected> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...process.env, ...env, LC_ALL: "C" }, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d));
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(input ?? "");
  });
}

/**
 * `dd if=FILE of=/dev/null bs=8M [iflag=direct]`: dd's own elapsed time (its exec is not the read) and, through
 * python/rusage.py when python3 exists, its CPU time and peak RSS.
 */
export async function runDd(tools: PeerTools, file: string, direct: boolean): Promise<ExternalRead> {
  const ddArgs = [`if=${file}`, "of=/dev/null", "bs=8M", ...(direct ? ["iflag=direct"] : [])];
  let stderr: string;
  let usage: { userMs?: number; sysMs?: number; peakRssBytes?: number } = {};
  if (tools.python3) {
    const out = await collect(tools.python3, [join(PYTHON_DIR, "rusage.py"), "dd", ...ddArgs], undefined);
    if (out.code !== 0) throw new Error(`rusage.py dd failed (${out.code}): ${out.stderr.trim()}`);
    const parsed = JSON.parse(out.stdout) as { code: number; stderr: string; userMs: number; sysMs: number; peakRssBytes: number };
    if (parsed.code !== 0) throw new Error(`dd ${ddArgs.join(" ")} failed: ${parsed.stderr.trim()}`);
    stderr = parsed.stderr;
    usage = { userMs: parsed.userMs, sysMs: parsed.sysMs, peakRssBytes: parsed.peakRssBytes };
  } else {
    const out = await collect("dd", ddArgs, undefined);
    if (out.code !== 0) throw new Error(`dd ${ddArgs.join(" ")} failed: ${out.stderr.trim()}`);
    stderr = out.stderr;
  }
  const match = /^(\d+) bytes .* copied, ([\d.e+-]+) s/m.exec(stderr);
  if (!match) throw new Error(`dd printed no summary: ${stderr.trim()}`);
  return { bytes: Number(match[1]), ms: Number(match[2]) * 1000, ...usage };
}

/** One measured round of an s3dlio cell, as python/s3dlio_cell.py prints it. */
export interface S3dlioSample {
  ms: number;
  bytes: number;
  ops: number;
  latencies: number[];
  userMs: number;
  sysMs: number;
  peakRssBytes: number;
  requests?: number;
}

export interface S3dlioJob {
  op: "get" | "range" | "put" | "list";
  ops?: number;
  uri?: string;
  uriPrefix?: string;
  sha256?: string;
  size?: number;
  ranges?: [number, number][];
  concurrency?: number;
  expected?: number;
  endpoint?: string;
  region?: string;
  metricsUrl?: string;
  bucket?: string;
}

export interface S3dlioProcess {
  /** Runs one round; resolves with its sample, or undefined for a warm-up round (which verified the bytes). */
  round(warm: boolean): Promise<S3dlioSample | undefined>;
  close(): Promise<void>;
}

/**
 * Starts python/s3dlio_cell.py for one cell and waits until it is ready. The process stays up for the whole cell and
 * runs one round per request line; an exit with status 3 (wrong bytes) rejects with "WRONG BYTES" in the message.
 */
export async function startS3dlio(tools: PeerTools, job: S3dlioJob, env: Record<string, string>): Promise<S3dlioProcess> {
  if ("missing" in tools.s3dlio) throw new Error(tools.s3dlio.missing);
  const child = spawn(tools.s3dlio.python, [join(PYTHON_DIR, "s3dlio_cell.py")], { env: { ...process.env, ...env, LC_ALL: "C" }, stdio: ["pipe", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  const waiting: { resolve: (line: string) => void; reject: (e: Error) => void }[] = [];
  let buffered = "";
  let exited: Error | undefined;
  child.stdout.setEncoding("utf8").on("data", (d: string) => {
    buffered += d;
    for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
      const line = buffered.slice(0, nl);
      buffered = buffered.slice(nl + 1);
      waiting.shift()?.resolve(line);
    }
  });
  child.on("close", (code) => {
    const tail = stderr.trim().split("\n").slice(-4).join(" | ");
    exited = new Error(code === 3 ? tail : `s3dlio cell exited (${code}): ${tail}`);
    for (const w of waiting.splice(0)) w.reject(exited);
  });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      if (exited) reject(exited);
      else waiting.push({ resolve, reject });
    });
  child.stdin.write(`${JSON.stringify(job)}\n`);
  await next(); // {"ready": true}
  return {
    async round(warm) {
      const reply = next();
      child.stdin.write(`${JSON.stringify({ warm })}\n`);
      const message = JSON.parse(await reply) as { sample?: S3dlioSample };
      return message.sample;
    },
    async close() {
      child.stdin.end();
      if (!exited) await new Promise((resolve) => child.once("close", resolve));
    },
  };
}
