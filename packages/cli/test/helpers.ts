import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll } from "vitest";
import { randomBytes } from "@range/conformance";

export const CLI = fileURLToPath(new URL("../dist/cli.js", import.meta.url));
if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "pnpm --filter @range/cli build" first (turbo's test task does)`);

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

export interface RunOptions {
  cwd?: string;
  /** Written to stdin, which is then closed; without it stdin is closed at once (a non-TTY, like CI). */
  input?: string | Uint8Array;
  env?: NodeJS.ProcessEnv;
}

/** Starts the built CLI as a child process (stdin, stdout and stderr are pipes, never a terminal). */
export function start(args: string[], options: Omit<RunOptions, "input"> = {}): ChildProcess {
  const child = spawn(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? process.cwd(),
    env: { ...process.env, ...options.env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  child.stdin!.on("error", () => {}); // EPIPE when the CLI exits before reading all of its input
  return child;
}

export function finish(child: ChildProcess): Promise<RunResult> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout!.on("data", (d: Buffer) => out.push(d));
  child.stderr!.on("data", (d: Buffer) => err.push(d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const stdoutBytes = Buffer.concat(out);
      resolve({ code, signal, stdout: stdoutBytes.toString("utf8"), stdoutBytes, stderr: Buffer.concat(err).toString("utf8") });
    });
  });
}

/** Runs `range <args>` to completion. */
export function range(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const child = start(args, options);
  const done = finish(child);
  child.stdin!.end(options.input);
  return done;
}

/** Call at the top of a test file: a fresh temporary directory for the file (the getter), removed after it. */
export function useTempDir(): () => string {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "range-cli-"));
  });
  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  return () => dir!;
}

/** Writes files given as { "rel/path": contents }. */
export async function writeTree(root: string, files: Record<string, string | Uint8Array>): Promise<void> {
  for (const [rel, contents] of Object.entries(files)) {
    const path = join(root, rel);
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, contents);
  }
}

/** Deterministic bytes (so a mismatch shows up as a wrong byte, not a wrong length), from the conformance kit. */
export function pattern(size: number, seed = 1): Buffer {
  return Buffer.from(randomBytes(size, seed));
}

export function fileUri(path: string): string {
  return `file://${path}`;
}
