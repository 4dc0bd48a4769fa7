/**
 * What the backends' own benchmark scripts (packages/<backend>/bench) share: robust statistics, a quiet-moment wait,
 * CPU accounting from /proc (so a row can say what the server and the rest of a shared machine spent), and the
 * many-small-objects ops/s loop, and the objects they read. Linux only, like the servers this kit starts.
 */
import { randomFillSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";

/** The middle sample (the upper one of an even count). */
export function median(samples: readonly number[]): number {
  return [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;
}

/** The middle half of the samples, as "p25-p75". */
export function spread(samples: readonly number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  return `${sorted[Math.floor((sorted.length - 1) / 4)]!.toFixed(0)}-${sorted[Math.ceil(((sorted.length - 1) * 3) / 4)]!.toFixed(0)}`;
}

/** MiB/s for `bytes` in `ms`. */
export function mibPerSecond(bytes: number, ms: number): number {
  return bytes / (1024 * 1024) / (ms / 1000);
}

/** Waits until the 1-minute load average is at most `maxLoad`, for at most `maxWaitMs` (a shared machine). */
export async function waitForQuiet(maxLoad: number, maxWaitMs: number): Promise<void> {
  const deadline = Date.now() + maxWaitMs;
  while (loadavg()[0]! > maxLoad && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 5_000));
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function machineTicks(): { idle: number; total: number } {
  const fields = readFileSync("/proc/stat", "utf8").split("\n")[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { idle: fields[3]! + fields[4]!, total: fields.reduce((a, b) => a + b, 0) };
}

/** CPU seconds (user + system) this process has used. */
export function ownCpuSeconds(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) / 1e6;
}

/**
 * Runs `fn` and reports how many cores other work kept busy meanwhile: the machine's busy cores minus this process,
 * the `serverPids` and whatever `extraCpuSeconds` counts (e.g. child processes of peers).
 */
export async function measureOtherLoad<T>(
  fn: () => Promise<T>,
  serverPids: readonly number[],
  extraCpuSeconds: () => number = () => 0,
): Promise<{ value: T; other: number }> {
  const ours = () => serverPids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0) + ownCpuSeconds() + extraCpuSeconds();
  const ticks0 = machineTicks();
  const cpu0 = ours();
  const t0 = performance.now();
  const value = await fn();
  const seconds = (performance.now() - t0) / 1000;
  const ticks1 = machineTicks();
  const busy = (1 - (ticks1.idle - ticks0.idle) / (ticks1.total - ticks0.total)) * cpus().length;
  return { value, other: Math.max(0, busy - (ours() - cpu0) / seconds) };
}

/**
 * Reads every key with `concurrency` reads in flight (after a GC when `--expose-gc` is on) and returns keys per
 * second; a read that does not return `expectedLength` bytes throws.
 */
export async function opsPerSecond(
  keys: readonly string[],
  concurrency: number,
  expectedLength: number,
  read: (key: string) => Promise<Uint8Array>,
): Promise<number> {
  (globalThis as { gc?: () => void }).gc?.();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < keys.length) {
        const data = await read(keys[next++]!);
        if (data.length !== expectedLength) throw new Error("short read");
      }
    }),
  );
  return keys.length / ((performance.now() - t0) / 1000);
}

/**
 * Writes what the get benchmarks read: `big.bin` (`bigBytes` random bytes) and `smallCount` random 1 MiB objects
 * `small/<i>.bin`, 16 puts at a time. Returns the big object's bytes, to check every read, and the small keys.
 */
export async function seedGetBenchmark(
  store: { put(key: string, data: Uint8Array): Promise<unknown> },
  bigBytes: number,
  smallCount: number,
): Promise<{ big: Buffer; smallKeys: string[] }> {
  const big = Buffer.allocUnsafe(bigBytes);
  randomFillSync(big);
  await store.put("big.bin", big);
  const small = Buffer.allocUnsafe(1024 * 1024);
  randomFillSync(small);
  const smallKeys = Array.from({ length: smallCount }, (_, i) => `small/${i}.bin`);
  for (let i = 0; i < smallKeys.length; i += 16) await Promise.all(smallKeys.slice(i, i + 16).map((k) => store.put(k, small)));
  return { big, smallKeys };
}
