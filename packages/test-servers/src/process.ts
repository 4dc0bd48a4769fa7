import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readFileSync, rmSync } from "node:fs";

export interface SpawnServerOptions {
  /** Name used in messages, e.g. "seaweedfs volume 2". */
  name: string;
  command: string;
  args: readonly string[];
  /** stdout and stderr go here (appended). */
  logFile: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Default true: a tiny `sh` loop kills the server's process group when this Node process disappears without
   * running its exit hooks (SIGKILL, a crash in native code), so no server outlives its test run.
   */
  watchdog?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The stop grace period: a server gets this long after SIGTERM before SIGKILL. Test data is throwaway. */
export const DEFAULT_GRACE_MS = 2_000;

const live = new Set<ServerProcess>();
const exitCleanups = new Set<string>();
let hooksInstalled = false;

/** Removes `path` (a server's temp data dir) if this process exits before the server is stopped. */
export function removeOnExit(path: string): () => void {
  exitCleanups.add(path);
  return () => exitCleanups.delete(path);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function killAllNow(): void {
  for (const server of live) killGroup(server.pid, "SIGKILL");
  live.clear();
  for (const path of exitCleanups) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Best effort: a dir in the temp folder.
    }
  }
  exitCleanups.clear();
}

/** Kills every server this process started when it exits or is told to stop (SIGINT, SIGTERM, SIGHUP). */
function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", killAllNow);
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    const onSignal = () => {
      killAllNow();
      process.removeListener(signal, onSignal);
      // Nobody else handles it: restore the default (terminate) by raising it again.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

function startWatchdog(groupPid: number): void {
  // Polls once a second: while our process and the server's group both live, wait; if we vanish, kill the group.
  const script = `while kill -0 ${process.pid} 2>/dev/null; do kill -0 -${groupPid} 2>/dev/null || exit 0; sleep 1; done; kill -KILL -${groupPid} 2>/dev/null`;
  const watchdog = spawn("/bin/sh", ["-c", script], { detached: true, stdio: "ignore" });
  watchdog.on("error", () => {});
  watchdog.unref();
}

/**
 * A server process in its own process group (`detached`), so `stop()` reaches everything it forked. Once
 * `unref()`ed it no longer keeps Node's event loop alive, and it is killed when this process exits.
 */
export class ServerProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitInfo>;
  #exit: ExitInfo | undefined;
  readonly #child: ChildProcess;

  private constructor(name: string, child: ChildProcess, logFile: string) {
    this.name = name;
    this.#child = child;
    this.pid = child.pid!;
    this.logFile = logFile;
    this.exited = new Promise((resolve) => {
      child.once("exit", (code, signal) => {
        this.#exit = { code, signal };
        live.delete(this);
        resolve(this.#exit);
      });
    });
  }

  static async spawn(options: SpawnServerOptions): Promise<ServerProcess> {
    installExitHooks();
    const fd = openSync(options.logFile, "a");
    let child: ChildProcess;
    try {
      child = spawn(options.command, options.args, {
        cwd: options.cwd,
        env: options.env ?? process.env,
        detached: true,
        stdio: ["ignore", fd, fd],
      });
    } finally {
      closeSync(fd);
    }
    await new Promise<void>((resolve, reject) => {
      child.once("spawn", resolve);
      child.once("error", (error) => reject(new Error(`could not start ${options.name} (${options.command}): ${error.message}`)));
    });
    const server = new ServerProcess(options.name, child, options.logFile);
    live.add(server);
    if (options.watchdog ?? true) startWatchdog(server.pid);
    return server;
  }

  /**
   * Lets Node exit while the server runs (it is killed on exit). Starters call it once the server is ready; until
   * then, and during `stop()`, the process keeps the event loop alive so awaiting its exit works.
   */
  unref(): void {
    this.#child.unref();
  }

  /** How the process exited, or undefined while it runs. */
  get exitInfo(): ExitInfo | undefined {
    return this.#exit;
  }

  /** The last `lines` lines of its log, for error messages. */
  logTail(lines = 30): string {
    try {
      return readFileSync(this.logFile, "utf8").split("\n").slice(-lines - 1).join("\n");
    } catch {
      return "(no log)";
    }
  }

  /** SIGTERM to the whole group, SIGKILL after `graceMs`. Resolves once the process has exited. */
  async stop(graceMs = DEFAULT_GRACE_MS): Promise<void> {
    if (this.#exit === undefined) {
      this.#child.ref();
      killGroup(this.pid, "SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const killed = await Promise.race([
        this.exited.then(() => false),
        new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), graceMs);
        }),
      ]);
      clearTimeout(timer);
      if (killed) {
        killGroup(this.pid, "SIGKILL");
        await this.exited;
      }
    }
    // Anything the leader forked and left behind.
    killGroup(this.pid, "SIGKILL");
    live.delete(this);
  }
}

/** Servers started by this process and still running. */
export function liveServerProcesses(): readonly ServerProcess[] {
  return [...live];
}
