import { mkdir, open, readFile, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";

export interface FileLockOptions {
  /** Give up after this long. Default 30 minutes (a Go build of a server can take that long on 2 cores). */
  timeoutMs?: number;
  /** Poll interval while another process holds the lock. Default 250 ms. */
  pollMs?: number;
  /** Called once when the lock is busy, e.g. to log "waiting for another install". */
  onWait?: (holder: string) => void;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Runs `work` while holding an exclusive lock file (`O_CREAT | O_EXCL`, holding our pid), so parallel vitest workers
 * and packages install a server once. A lock whose holder process is gone is stale and taken over.
 */
export async function withFileLock<T>(path: string, work: () => Promise<T>, options: FileLockOptions = {}): Promise<T> {
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  const pollMs = options.pollMs ?? 250;
  const deadline = Date.now() + timeoutMs;
  await mkdir(dirname(path), { recursive: true });
  let told = false;
  for (;;) {
    try {
      const handle = await open(path, "wx");
      await handle.writeFile(`${process.pid}\n`);
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const holder = (await readFile(path, "utf8").catch(() => "")).trim();
    const pid = Number.parseInt(holder, 10);
    if (Number.isInteger(pid) && pid > 0 && !alive(pid)) {
      await rm(path, { force: true });
      continue;
    }
    if (holder === "") {
      // Just created by someone who has not written its pid yet, or left empty by a crash: give it a moment.
      const age = Date.now() - ((await stat(path).catch(() => undefined))?.mtimeMs ?? Date.now());
      if (age > 10_000) await rm(path, { force: true });
    }
    if (!told) {
      told = true;
      options.onWait?.(holder);
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for the lock ${path} (held by pid ${holder})`);
    await new Promise((r) => setTimeout(r, pollMs));
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}
