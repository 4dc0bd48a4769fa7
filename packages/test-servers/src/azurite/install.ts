import { mkdir, mkdtemp, readFile, rename, rm, stat } from "node:fs/promises";
import { join } from "node:path";
import { cacheRoot } from "../cache.js";
import { withFileLock } from "../lock.js";
import { runCommand, tail } from "../run-command.js";

/** The npm release of Azurite the kit installs. It declares `node >= 22` but its blob service runs on Node 20. */
export const AZURITE_VERSION = "3.37.0";

export interface InstallAzuriteOptions {
  /** Default: {@link cacheRoot}. */
  cacheDir?: string;
  /** Progress lines ("installing Azurite from npm ..."). Default: stderr. */
  log?: (line: string) => void;
}

export interface AzuriteInstall {
  /** The `azurite-blob` entry script (JavaScript, run with this Node: `node <script>`). */
  script: string;
  /** "env" when `RANGE_AZURITE_BLOB` named it, "cache" when a previous run installed it, "npm" when installed now. */
  source: "env" | "cache" | "npm";
  version: string;
  /** Time spent here, install included. */
  ms: number;
}

/** `node <script> --version` prints the version: the script exists, its dependencies load, and it runs here. */
async function probeScript(script: string): Promise<string | undefined> {
  try {
    if (!(await stat(script)).isFile()) return undefined;
    const result = await runCommand(process.execPath, [script, "--version"], { timeoutMs: 60_000 });
    const match = /(\d+\.\d+\.\d+)/.exec(result.stdout);
    return result.code === 0 && match ? match[1] : undefined;
  } catch {
    return undefined;
  }
}

/** The `azurite-blob` bin of the package installed under `prefix`. */
async function blobScriptIn(prefix: string): Promise<string> {
  const packageDir = join(prefix, "node_modules", "azurite");
  const manifest = JSON.parse(await readFile(join(packageDir, "package.json"), "utf8")) as { bin?: Record<string, string> };
  const bin = manifest.bin?.["azurite-blob"];
  if (!bin) throw new Error(`${packageDir}/package.json has no "azurite-blob" bin`);
  return join(packageDir, bin);
}

async function installWithNpm(target: string, log: (line: string) => void): Promise<string> {
  const spec = `azurite@${AZURITE_VERSION}`;
  log(`installing Azurite ${AZURITE_VERSION} from npm (${spec}) into ${target}`);
  const result = await runCommand(
    "npm",
    [
      "install",
      "--prefix",
      target,
      "--no-save",
      "--no-package-lock",
      "--no-audit",
      "--no-fund",
      "--omit=dev",
      // No install script is needed (they only concern optional telemetry and database drivers Azurite can use).
      "--ignore-scripts",
      // Azurite declares node >= 22; the blob service runs on Node 20, which this repo targets.
      "--engine-strict=false",
      "--loglevel=error",
      spec,
    ],
    { timeoutMs: 15 * 60_000, env: { ...process.env, npm_config_update_notifier: "false" } },
  );
  if (result.code !== 0) throw new Error(`npm install ${spec} failed (exit ${result.code}):\n${tail(result.stderr || result.stdout)}`);
  return blobScriptIn(target);
}

function installDir(cacheDir: string): string {
  return join(cacheDir, "azurite", AZURITE_VERSION);
}

/**
 * Finds or installs Azurite's blob service. Order: `$RANGE_AZURITE_BLOB` (path of an `azurite-blob` script); a previous
 * install in the cache (`<cache>/azurite/<version>`); `npm install --prefix <tmp> azurite@<version>` (~360 MB of
 * packages, ~30 s). The install runs under a file lock into a temp dir that is renamed into place once
 * `azurite-blob --version` works, so parallel test processes install once and never see half an install.
 */
export async function installAzurite(options: InstallAzuriteOptions = {}): Promise<AzuriteInstall> {
  const started = performance.now();
  const done = (script: string, source: AzuriteInstall["source"], version: string): AzuriteInstall => ({
    script,
    source,
    version,
    ms: Math.round(performance.now() - started),
  });
  const log = options.log ?? ((line: string) => process.stderr.write(`[test-servers] ${line}\n`));

  const fromEnv = process.env.RANGE_AZURITE_BLOB;
  if (fromEnv) {
    const version = await probeScript(fromEnv);
    if (!version) throw new Error(`RANGE_AZURITE_BLOB=${fromEnv} is not a working azurite-blob script (\`node ${fromEnv} --version\` failed)`);
    return done(fromEnv, "env", version);
  }

  const cacheDir = options.cacheDir ?? cacheRoot();
  const finalDir = installDir(cacheDir);
  // No `--version` run on a cache hit (loading Azurite takes seconds): the install dir only appears, by rename, once
  // that probe has passed, so the package's version is proof enough.
  const cached = async () => {
    try {
      const manifest = JSON.parse(await readFile(join(finalDir, "node_modules", "azurite", "package.json"), "utf8")) as { version?: string };
      const script = await blobScriptIn(finalDir);
      return manifest.version === AZURITE_VERSION && (await stat(script)).isFile() ? { script, version: manifest.version } : undefined;
    } catch {
      return undefined;
    }
  };
  const hit = await cached();
  if (hit) return done(hit.script, "cache", hit.version);

  return withFileLock(
    join(cacheDir, "azurite", "install.lock"),
    async () => {
      const again = await cached(); // another process installed it while we waited for the lock
      if (again) return done(again.script, "cache", again.version);
      await mkdir(join(cacheDir, "azurite"), { recursive: true });
      const tmp = await mkdtemp(`${finalDir}.tmp-`);
      try {
        const script = await installWithNpm(tmp, log);
        if (!(await probeScript(script))) throw new Error(`the installed ${script} does not run (\`azurite-blob --version\` failed)`);
        await rm(finalDir, { recursive: true, force: true });
        await rename(tmp, finalDir);
      } catch (error) {
        await rm(tmp, { recursive: true, force: true });
        throw new Error(
          `could not install Azurite ${AZURITE_VERSION} from npm. Set RANGE_AZURITE_BLOB to an azurite-blob script to skip the install.\n${(error as Error).message}`,
          { cause: error },
        );
      }
      const installed = await cached();
      if (!installed) throw new Error(`Azurite was installed into ${finalDir} but does not run from there`);
      log(`Azurite ${installed.version} installed from npm in ${Math.round(performance.now() - started)} ms: ${installed.script}`);
      return done(installed.script, "npm", installed.version);
    },
    { onWait: (holder) => log(`waiting for another process (pid ${holder || "?"}) to finish installing Azurite`) },
  );
}
