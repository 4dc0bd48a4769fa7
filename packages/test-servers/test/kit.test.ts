import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { describe, expect, it } from "vitest";
import { freePorts, withFileLock } from "../src/index.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function eventually(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

describe("freePorts", () => {
  it("returns distinct bindable loopback ports", async () => {
    const ports = await freePorts(20);
    expect(new Set(ports).size).toBe(20);
    for (const port of ports) expect(port).toBeGreaterThan(0);
  });
});

describe("withFileLock", () => {
  it("runs one holder at a time", async () => {
    const dir = await mkdtemp(join(tmpdir(), "range-lock-"));
    const lock = join(dir, "x.lock");
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      Array.from({ length: 5 }, () =>
        withFileLock(
          lock,
          async () => {
            inside++;
            maxInside = Math.max(maxInside, inside);
            await new Promise((r) => setTimeout(r, 30));
            inside--;
          },
          { pollMs: 10 },
        ),
      ),
    );
    expect(maxInside).toBe(1);
    expect(existsSync(lock)).toBe(false);
    await rm(dir, { recursive: true });
  });

  it("takes over a lock whose holder process is gone", async () => {
    const dir = await mkdtemp(join(tmpdir(), "range-lock-"));
    const lock = join(dir, "x.lock");
    // A pid that cannot be alive: above the kernel's pid_max.
    await writeFile(lock, "4194999\n");
    expect(await withFileLock(lock, async () => "ran", { timeoutMs: 2_000 })).toBe("ran");
    await rm(dir, { recursive: true });
  });

  it("releases the lock when the work throws", async () => {
    const dir = await mkdtemp(join(tmpdir(), "range-lock-"));
    const lock = join(dir, "x.lock");
    await expect(withFileLock(lock, async () => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    expect(existsSync(lock)).toBe(false);
    await rm(dir, { recursive: true });
  });
});

/** Runs the fixture that starts SeaweedFS in a child Node process and prints its pids. */
async function startHolder(): Promise<{ child: ReturnType<typeof spawn>; pids: number[]; dataDir: string }> {
  const child = spawn(process.execPath, [join(import.meta.dirname, "fixtures", "hold-server.mjs")], { stdio: ["ignore", "pipe", "inherit"] });
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`fixture exited with ${code}`)));
  });
  const { pids, dataDir } = JSON.parse(line) as { pids: number[]; dataDir: string };
  return { child, pids, dataDir };
}

describe("servers die with the process that started them", () => {
  it("on SIGTERM (exit hooks)", async () => {
    const { child, pids, dataDir } = await startHolder();
    expect(pids.every(alive)).toBe(true);
    child.kill("SIGTERM");
    expect(await eventually(() => !pids.some(alive), 10_000)).toBe(true);
    expect(await eventually(() => !existsSync(dataDir), 5_000)).toBe(true);
  });

  it("on SIGKILL (the watchdog)", async () => {
    const { child, pids, dataDir } = await startHolder();
    expect(pids.every(alive)).toBe(true);
    child.kill("SIGKILL");
    expect(await eventually(() => !pids.some(alive), 10_000)).toBe(true);
    await rm(dataDir, { recursive: true, force: true });
  });
});

describe("fixture sanity", () => {
  it("the fixture imports the built kit", async () => {
    const text = await readFile(join(import.meta.dirname, "fixtures", "hold-server.mjs"), "utf8");
    expect(text).toContain("../../dist/index.js");
  });
});
