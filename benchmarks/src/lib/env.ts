import { execFileSync } from "node:child_process";
import os from "node:os";

export interface Environment {
  date: string;
  hostname: string;
  node: string;
  v8: string;
  platform: string;
  arch: string;
  kernel: string;
  cpuModel: string;
  cores: number;
  availableParallelism: number;
  totalMemoryBytes: number;
  freeMemoryBytesAtStart: number;
  /** How `global.gc` is available to the scenarios (set by the CLI). */
  gc?: "flag" | "runtime" | "none";
  git: { commit: string; dirty: boolean } | null;
}

function git(args: string[], cwd: string): string | null {
  try {
    return execFileSync("git", args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return null;
  }
}

export function collectEnvironment(repoDir: string): Environment {
  const cpus = os.cpus();
  const commit = git(["rev-parse", "HEAD"], repoDir);
  const status = commit === null ? null : git(["status", "--porcelain"], repoDir);
  return {
    date: new Date().toISOString(),
    hostname: os.hostname(),
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    kernel: os.release(),
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    totalMemoryBytes: os.totalmem(),
    freeMemoryBytesAtStart: os.freemem(),
    git: commit === null ? null : { commit, dirty: status !== null && status !== "" },
  };
}
