/**
 * The peers that live outside the workspace: OpenDAL's Node binding (npm) and the s3dlio Python wheel (PyPI). They are
 * installed on first use into `<repo>/.cache/bench-peers` (git-ignored), under a file lock so parallel runs do not
 * race; a peer that cannot be installed is reported as missing, with the reason, and its cells are skipped.
 */
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { findWorkspaceRoot, withFileLock } from "@range/test-servers";
import type { PeerTools } from "../backends/types.js";

const execFileAsync = promisify(execFile);

/** Pinned: newer opendal binaries need a newer glibc than these machines have. */
export const OPENDAL_VERSION = "0.49.1";
export const S3DLIO_VERSION = "0.10.0";

/** `install`: install what is missing; `installed`: use only what is already there; `none`: no external peers. */
export type PeerMode = "install" | "installed" | "none";

export function peersDir(): string {
  return join(findWorkspaceRoot() ?? process.cwd(), ".cache", "bench-peers");
}

async function which(command: string): Promise<string | undefined> {
  try {
    const { stdout } = await execFileAsync("sh", ["-c", `command -v ${command}`]);
    return stdout.trim() || undefined;
  } catch {
    return undefined;
  }
}

function short(error: unknown): string {
  const e = error as { stderr?: string; message?: string };
  const text = (e.stderr && e.stderr.trim()) || e.message || String(error);
  return text.split("\n").filter(Boolean).slice(-2).join(" ").slice(0, 300);
}

async function findOpendal(dir: string, mode: PeerMode, log: (m: string) => void): Promise<PeerTools["opendal"]> {
  const manifest = join(dir, "node_modules", "opendal", "package.json");
  if (!existsSync(manifest)) {
    if (mode !== "install") return { missing: `opendal@${OPENDAL_VERSION} is not installed in ${dir} (run without --quick, or with --peers install)` };
    log(`peers: installing opendal@${OPENDAL_VERSION} from npm into ${dir}`);
    try {
      await execFileAsync("npm", ["install", "--prefix", dir, "--no-save", "--no-audit", "--no-fund", `opendal@${OPENDAL_VERSION}`], { timeout: 300_000 });
    } catch (error) {
      return { missing: `npm install opendal@${OPENDAL_VERSION} failed: ${short(error)}` };
    }
  }
  try {
    // Load it in a child: a binary built for another glibc fails here, not in the middle of a measurement.
    const { stdout } = await execFileAsync(process.execPath, ["-e", `const o=require(${JSON.stringify(join(dir, "node_modules", "opendal"))}); new o.Operator("memory", {}); console.log("ok")`], {
      timeout: 60_000,
    });
    if (stdout.trim() !== "ok") return { missing: `opendal did not load: ${stdout.trim()}` };
  } catch (error) {
    return { missing: `opendal@${OPENDAL_VERSION} does not load on this machine: ${short(error)}` };
  }
  const version = (JSON.parse(readFileSync(manifest, "utf8")) as { version: string }).version;
  return { dir, version };
}

async function findS3dlio(dir: string, mode: PeerMode, python3: string | undefined, log: (m: string) => void): Promise<PeerTools["s3dlio"]> {
  const python = join(dir, "venv", "bin", "python");
  if (!existsSync(python)) {
    if (mode !== "install") return { missing: `s3dlio==${S3DLIO_VERSION} is not installed in ${dir}/venv (run without --quick, or with --peers install)` };
    if (!python3) return { missing: "python3 is not installed (s3dlio is a Python wheel)" };
    log(`peers: installing s3dlio==${S3DLIO_VERSION} from PyPI into ${dir}/venv`);
    try {
      await execFileAsync(python3, ["-m", "venv", join(dir, "venv")], { timeout: 120_000 });
      await execFileAsync(join(dir, "venv", "bin", "pip"), ["install", "--disable-pip-version-check", "--quiet", `s3dlio==${S3DLIO_VERSION}`], { timeout: 600_000 });
    } catch (error) {
      return { missing: `pip install s3dlio==${S3DLIO_VERSION} failed: ${short(error)}` };
    }
  }
  try {
    const { stdout } = await execFileAsync(python, ["-c", "import importlib.metadata as m, s3dlio; print(m.version('s3dlio'))"], { timeout: 60_000 });
    return { python, version: stdout.trim() };
  } catch (error) {
    return { missing: `s3dlio does not import: ${short(error)}` };
  }
}

/** Finds (and with mode "install", installs) the external peers. Never throws: a missing peer says why. */
export async function preparePeerTools(mode: PeerMode, log: (m: string) => void): Promise<PeerTools> {
  const python3 = await which("python3");
  if (mode === "none") {
    const missing = "external peers disabled (--peers none)";
    return { opendal: { missing }, s3dlio: { missing }, ...(python3 ? { python3 } : {}) };
  }
  const dir = peersDir();
  mkdirSync(dir, { recursive: true });
  return withFileLock(join(dir, "install.lock"), async () => ({
    opendal: await findOpendal(dir, mode, log),
    s3dlio: await findS3dlio(dir, mode, python3, log),
    ...(python3 ? { python3 } : {}),
  }));
}

/** Why a peer needing `need` cannot run, or undefined when it can. */
export function missingTool(tools: PeerTools, need: "opendal" | "s3dlio" | "python3" | undefined): string | undefined {
  if (need === undefined) return undefined;
  if (need === "python3") return tools.python3 ? undefined : "python3 is not installed";
  const tool = tools[need];
  return "missing" in tool ? tool.missing : undefined;
}
