/**
 * Child process that runs ONE benchmark cell (see lib/cells.ts): reads a CellJob on stdin, opens the backend, seeds
 * the objects that live in this process, then runs rounds on request — warm-up rounds verify the bytes, measured
 * rounds report a sample each (protocol in `main`). Progress and errors go to stderr; exit status 3 means wrong
 * bytes. Not a public entry point.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { createHash } from "node:crypto";
import type { ObjectStore, RangeStats } from "@range/core";
import { createLoader } from "@range/loader";
import { backendNamed } from "../backends/index.js";
import type { BackendClient, ExternalRead, PeerImpl } from "../backends/types.js";
import type { CellJob, CellSample, WorkerCommand, WorkerMessage } from "../lib/cells.js";
import { seededBytes, sha256Hex } from "../lib/data.js";
import { itemIndex, manyDataset, rangeOffsets, writeRecipe } from "../lib/datasets.js";
import { startS3dlio, type S3dlioJob } from "../lib/external.js";
import { enableGc } from "../lib/gc.js";
import { settle } from "../lib/local.js";
import { now, summarize } from "../lib/measure.js";

class WrongBytes extends Error {
  constructor(message: string) {
    super(`WRONG BYTES: ${message}`);
  }
}

/** One round's raw results, before the process-level measurements are added. */
interface Round {
  bytes: number;
  ops: number;
  latencies: number[];
  ttfbs: number[];
  /** Overrides the wall time (dd's own time), and dd's own usage. */
  external?: { ms: number; userMs?: number; sysMs?: number; peakRssBytes?: number };
  extra?: Record<string, number>;
}

type RoundFn = (warm: boolean) => Promise<Round>;

/** CPU time (user + system, ms) the given processes have used so far; undefined when /proc cannot tell. */
function processCpuMs(pids: number[]): number | undefined {
  let ticks = 0;
  try {
    for (const pid of pids) {
      const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat(5))
    }
  } catch {
    return undefined;
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

function resetPeakRss(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

function peakRssBytes(): number | undefined {
  try {
    const match = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match ? Number(match[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `tasks` with at most `concurrency` in flight. */
async function pool<T>(items: T[], concurrency: number, task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await task(items[next++]!);
    }),
  );
}

function isExternal(value: Uint8Array | ExternalRead): value is ExternalRead {
  return !(value instanceof Uint8Array);
}

/** The round function of an in-process contender. */
async function roundFor(job: CellJob, client: BackendClient, store: ObjectStore, peer: PeerImpl | undefined): Promise<RoundFn> {
  const isOurs = job.contender === "ours";
  const engineOpts = job.engine === undefined ? {} : { engine: job.engine };
  const ops = job.opsPerRound ?? 1;
  const missing = (what: string) => new Error(`${job.backend}: contender ${job.contender} has no ${what}`);

  switch (job.op) {
    case "get": {
      const object = job.object!;
      let lastStats: RangeStats | undefined;
      const getOnce = async (ttfbs: number[]): Promise<Uint8Array | ExternalRead> => {
        const t0 = now();
        if (isOurs) {
          let stats: RangeStats | undefined;
          let knownMeta: { size: number; etag?: string } | undefined;
          if (job.meta === "stat") {
            const meta = await store.stat(object.key);
            knownMeta = { size: meta.size, ...(meta.etag ? { etag: meta.etag } : {}) };
          } else if (job.meta === "known") {
            knownMeta = { size: object.size };
          }
          const getStart = now();
          const bytes = await store.get(object.key, { ...engineOpts, ...(knownMeta ? { knownMeta } : {}), onStats: (s) => (stats = s) });
          // firstByteMs counts from the start of get; a stat before it delays the first byte too.
          if (stats) {
            ttfbs.push(getStart - t0 + stats.firstByteMs);
            lastStats = stats;
          }
          return bytes;
        }
        if (!peer?.get) throw missing("get");
        let first: number | undefined;
        const result = await peer.get(object.key, object.size, () => (first ??= now() - t0));
        if (first !== undefined) ttfbs.push(first);
        return result;
      };
      return async (warm) => {
        const latencies: number[] = [];
        const ttfbs: number[] = [];
        let bytes = 0;
        let externalMs = 0;
        const usage = { userMs: 0, sysMs: 0, peak: 0 };
        let sawExternal = false;
        for (let i = 0; i < ops; i++) {
          const t0 = now();
          const result = await getOnce(ttfbs);
          const ms = now() - t0;
          if (isExternal(result)) {
            sawExternal = true;
            if (result.bytes !== object.size) throw new WrongBytes(`${job.contender} read ${result.bytes} bytes of ${object.key}, expected ${object.size}`);
            bytes += result.bytes;
            latencies.push(result.ms ?? ms);
            externalMs += result.ms ?? ms;
            usage.userMs += result.userMs ?? 0;
            usage.sysMs += result.sysMs ?? 0;
            usage.peak = Math.max(usage.peak, result.peakRssBytes ?? 0);
            continue;
          }
          latencies.push(ms);
          if (result.length !== object.size) throw new WrongBytes(`${job.contender} returned ${result.length} bytes of ${object.key}, expected ${object.size}`);
          if (warm && i === 0 && sha256Hex(result) !== object.sha256) {
            throw new WrongBytes(`${job.contender} returned other bytes than were written for ${object.key}`);
          }
          bytes += result.length;
        }
        return {
          bytes,
          ops,
          latencies,
          ttfbs,
          ...(lastStats ? { extra: { ranges: lastStats.ranges, maxInFlight: lastStats.maxInFlight } } : {}),
          ...(sawExternal ? { external: { ms: externalMs, userMs: usage.userMs, sysMs: usage.sysMs, peakRssBytes: usage.peak } } : {}),
        };
      };
    }

    case "range": {
      const object = job.object!;
      const { length, count, concurrency, rngSeed } = job.range!;
      const ranges = rangeOffsets(object.size, length, count, rngSeed);
      const read = isOurs
        ? (offset: number, len: number) => store.getRange(object.key, offset, len)
        : peer?.range
          ? peer.range.bind(peer, object.key)
          : undefined;
      if (!read) throw missing("range");
      return async (warm) => {
        const source = warm ? seededBytes(object.size, object.seed) : undefined;
        if (source && sha256Hex(source) !== object.sha256) throw new Error("regenerated object differs from the recipe's hash");
        const latencies: number[] = [];
        let bytes = 0;
        await pool(ranges, concurrency, async ([offset, len]) => {
          const t0 = now();
          const got = await read(offset, len);
          latencies.push(now() - t0);
          if (got.length !== len) throw new WrongBytes(`${job.contender} returned ${got.length} bytes for a ${len}-byte range`);
          if (source && !Buffer.from(got.buffer, got.byteOffset, got.length).equals(source.subarray(offset, offset + len))) {
            throw new WrongBytes(`${job.contender}: range [${offset}, ${offset + len}) of ${object.key} differs from the object`);
          }
          bytes += got.length;
        });
        return { bytes, ops: ranges.length, latencies, ttfbs: [] };
      };
    }

    case "stream": {
      const object = job.object!;
      return async (warm) => {
        const hash = warm ? createHash("sha256") : undefined;
        const t0 = now();
        let first: number | undefined;
        let bytes = 0;
        const source: AsyncIterable<Uint8Array> = isOurs
          ? store.getStream(object.key, engineOpts)
          : peer?.stream
            ? peer.stream(object.key, () => (first ??= now() - t0))
            : (() => {
                throw missing("stream");
              })();
        for await (const chunk of source) {
          if (isOurs) first ??= now() - t0;
          hash?.update(chunk);
          bytes += chunk.length;
        }
        const ms = now() - t0;
        if (bytes !== object.size) throw new WrongBytes(`${job.contender} streamed ${bytes} bytes of ${object.key}, expected ${object.size}`);
        if (hash && hash.digest("hex") !== object.sha256) throw new WrongBytes(`${job.contender} streamed other bytes than were written`);
        return { bytes, ops: 1, latencies: [ms], ttfbs: first === undefined ? [] : [first] };
      };
    }

    case "put": {
      const { size, seed, keyPrefix } = job.put!;
      const data = seededBytes(size, seed);
      const sha = sha256Hex(data);
      const put = isOurs ? (key: string) => store.put(key, data).then(() => {}) : peer?.put ? (key: string) => peer.put!(key, data) : undefined;
      if (!put) throw missing("put");
      const checker = client.store();
      return async (warm) => {
        const latencies: number[] = [];
        for (let i = 0; i < ops; i++) {
          const key = `${keyPrefix}${job.contender}-${i}.bin`;
          const t0 = now();
          await put(key);
          latencies.push(now() - t0);
          if (warm && i === 0 && peer?.persists !== false) {
            const back = await checker.get(key);
            if (sha256Hex(back) !== sha) throw new WrongBytes(`${key} read back differs from what ${job.contender} wrote`);
          }
        }
        return { bytes: size * ops, ops, latencies, ttfbs: [] };
      };
    }

    case "list": {
      const { prefix, expected } = job.list!;
      const list = isOurs
        ? async () => {
            let n = 0;
            for await (const meta of store.list(prefix)) if (!meta.isPrefix) n++;
            return n;
          }
        : peer?.list
          ? () => peer.list!(prefix)
          : undefined;
      if (!list) throw missing("list");
      return async () => {
        const latencies: number[] = [];
        for (let i = 0; i < ops; i++) {
          const t0 = now();
          const n = await list();
          latencies.push(now() - t0);
          if (n !== expected) throw new WrongBytes(`${job.contender} listed ${n} objects under ${prefix}, expected ${expected}`);
        }
        return { bytes: 0, ops: ops * expected, latencies, ttfbs: [] };
      };
    }

    case "loader": {
      const { prefix, count, size, seed, concurrency, batchSize, prefetch } = job.loader!;
      return async (warm) => {
        const dataset = warm ? manyDataset({ count, size, seed }) : undefined;
        const expected = warm ? Buffer.allocUnsafe(size) : undefined;
        const check = (key: string, bytes: Uint8Array) => {
          if (bytes.length !== size) throw new WrongBytes(`${key}: ${bytes.length} bytes, expected ${size}`);
          if (dataset && expected) {
            dataset.fill(itemIndex(key), expected);
            if (!expected.equals(bytes)) throw new WrongBytes(`${key} differs from the item written`);
          }
        };
        let items = 0;
        const latencies: number[] = [];
        const t0 = now();
        let last = t0;
        if (isOurs) {
          for await (const batch of createLoader(store, prefix, { concurrency, batchSize, prefetch })) {
            for (const item of batch) {
              check(item.key, item.data as Uint8Array);
              items++;
            }
            const t = now();
            latencies.push(t - last);
            last = t;
          }
        } else {
          // The first thing people write: list, then Promise.all over fixed groups of `concurrency` keys.
          const keys: string[] = [];
          for await (const meta of store.list(prefix)) keys.push(meta.key);
          for (let i = 0; i < keys.length; i += concurrency) {
            const group = keys.slice(i, i + concurrency);
            const data = await Promise.all(group.map((key) => store.get(key)));
            data.forEach((bytes, j) => check(group[j]!, bytes));
            items += data.length;
            const t = now();
            latencies.push(t - last);
            last = t;
          }
        }
        if (items !== count) throw new WrongBytes(`${job.contender} delivered ${items} items, expected ${count}`);
        return { bytes: items * size, ops: items, latencies, ttfbs: [] };
      };
    }
  }
}

/** One measured (or warm-up) round of the cell, as the worker reports it. */
type RoundRunner = (warm: boolean) => Promise<CellSample | undefined>;

/**
 * s3dlio runs in its own Python process (python/s3dlio_cell.py), kept alive for the whole cell and driven round by
 * round like this worker is: this worker maps the cell to URIs, forwards each round, and adds the server's CPU time.
 */
async function externalRunner(job: CellJob, client: BackendClient): Promise<{ round: RoundRunner; close: () => Promise<void>; scope?: string }> {
  const ext = client.external;
  if (!ext) throw new Error(`${job.backend} has no URI for external peers`);
  const connection = job.connection as { endpoint?: string; region?: string; bucket?: string };
  const common = {
    ...(connection.endpoint ? { endpoint: connection.endpoint, region: connection.region ?? "us-east-1" } : {}),
    ...(ext.metricsUrl ? { metricsUrl: ext.metricsUrl, bucket: connection.bucket ?? "" } : {}),
  };
  let specific: S3dlioJob;
  switch (job.op) {
    case "get":
      specific = { op: "get", uri: ext.uri(job.object!.key), sha256: job.object!.sha256, ops: job.opsPerRound ?? 1 };
      break;
    case "range": {
      const { length, count, concurrency, rngSeed } = job.range!;
      specific = { op: "range", uri: ext.uri(job.object!.key), sha256: job.object!.sha256, ranges: rangeOffsets(job.object!.size, length, count, rngSeed), concurrency };
      break;
    }
    case "put":
      specific = { op: "put", uriPrefix: ext.uri(job.put!.keyPrefix), size: job.put!.size, ops: job.opsPerRound ?? 1 };
      break;
    case "list":
      specific = { op: "list", uri: ext.uri(job.list!.prefix), expected: job.list!.expected, ops: job.opsPerRound ?? 1 };
      break;
    default:
      throw new Error(`s3dlio has no ${job.op} cell`);
  }
  const python = await startS3dlio(job.tools, { ...common, ...specific }, ext.env);
  const serverPids = (job.connection.serverPids as number[] | undefined) ?? [];
  return {
    async round(warm) {
      const before = serverPids.length ? processCpuMs(serverPids) : undefined;
      const s = await python.round(warm);
      const after = serverPids.length ? processCpuMs(serverPids) : undefined;
      if (!s) return undefined;
      return {
        ms: s.ms,
        bytes: s.bytes,
        ops: job.op === "list" ? s.ops * job.list!.expected : s.ops,
        latencies: s.latencies,
        userMs: s.userMs,
        sysMs: s.sysMs,
        peakRssBytes: s.peakRssBytes,
        ...(s.requests !== undefined ? { requests: s.requests } : {}),
        ...(before !== undefined && after !== undefined ? { serverCpuMs: after - before } : {}),
      };
    },
    close: () => python.close(),
    ...(ext.metricsUrl && client.requests ? { scope: client.requests.scope } : {}),
  };
}

/** The round runner of an in-process contender: the op, wrapped in the process-level measurements. */
async function inProcessRunner(job: CellJob, client: BackendClient, store: ObjectStore): Promise<{ round: RoundRunner; close: () => Promise<void>; scope?: string }> {
  const peer = job.contender === "ours" || job.contender === "groups" ? undefined : await client.peer(job.contender, job.tools);
  const run = await roundFor(job, client, store, peer);
  const counter = client.requests?.counts(job.contender) ? client.requests : undefined;
  const canResetPeak = resetPeakRss();
  const serverPids = (job.connection.serverPids as number[] | undefined) ?? [];
  return {
    async round(warm) {
      await settle();
      const requestsBefore = counter ? await counter.read() : undefined;
      const serverBefore = serverPids.length ? processCpuMs(serverPids) : undefined;
      if (canResetPeak) resetPeakRss();
      const startRss = process.memoryUsage.rss();
      const cpu0 = process.cpuUsage();
      const t0 = now();
      const result = await run(warm);
      const wallMs = now() - t0;
      const cpu = process.cpuUsage(cpu0);
      const peak = canResetPeak ? peakRssBytes() : undefined;
      const requestsAfter = counter ? await counter.read() : undefined;
      const serverAfter = serverPids.length ? processCpuMs(serverPids) : undefined;
      if (warm) return undefined;
      const ext = result.external;
      return {
        ms: ext?.ms ?? wallMs,
        bytes: result.bytes,
        ops: result.ops,
        latencies: result.latencies,
        ...(result.ttfbs.length ? { ttfbMs: summarize(result.ttfbs).median } : {}),
        ...(requestsBefore !== undefined && requestsAfter !== undefined ? { requests: requestsAfter - requestsBefore } : {}),
        userMs: ext?.userMs ?? cpu.user / 1000,
        sysMs: ext?.sysMs ?? cpu.system / 1000,
        ...(serverBefore !== undefined && serverAfter !== undefined ? { serverCpuMs: serverAfter - serverBefore } : {}),
        ...(ext?.peakRssBytes ? { peakRssBytes: ext.peakRssBytes } : peak !== undefined ? { peakRssBytes: peak } : {}),
        startRssBytes: startRss,
        ...(result.extra ? { extra: result.extra } : {}),
      };
    },
    async close() {
      await peer?.close?.();
    },
    ...(counter ? { scope: counter.scope } : {}),
  };
}

const VERIFIED: Record<CellJob["op"], string> = {
  get: "sha256 of the object",
  range: "every range against the same slice of the object",
  stream: "sha256 of the streamed chunks",
  put: "sha256 of the object read back",
  list: "object count",
  loader: "every item against the item written",
};

/** What the warm-up round of this cell checked. */
function verifiedBy(job: CellJob): string {
  if (job.contender === "s3dlio") return `${VERIFIED[job.op]} (in the s3dlio process)`;
  // dd copies to /dev/null: only its byte count is seen here; the object's hash is checked by the other contenders.
  if (job.contender === "dd") return "byte count only (dd writes to /dev/null)";
  return VERIFIED[job.op];
}

function send(message: WorkerMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/**
 * Protocol (one JSON object per line): the parent sends the CellJob, the worker answers `ready`; then each
 * `{ cmd: "round", warm }` is answered with `warm` or `sample`, and `{ cmd: "end" }` with `end` before it exits.
 * The parent runs the rounds of all contenders of one comparison in rotation, so each round's ratio is paired.
 */
async function main(): Promise<void> {
  enableGc();
  const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
  const first = await lines.next();
  if (first.done) throw new Error("no job on stdin");
  const job = JSON.parse(first.value as string) as CellJob;
  const backend = backendNamed(job.backend);
  if (!backend) throw new Error(`unknown backend ${job.backend}`);
  const client = await backend.connect(job.connection);
  const store = client.store();
  for (const recipe of job.seed ?? []) await writeRecipe(recipe, async (key, bytes) => void (await store.put(key, bytes)));
  const runner = job.contender === "s3dlio" ? await externalRunner(job, client) : await inProcessRunner(job, client, store);
  send({ type: "ready" });
  for (let next = await lines.next(); !next.done; next = await lines.next()) {
    const command = JSON.parse(next.value as string) as WorkerCommand;
    if (command.cmd === "end") break;
    const sample = await runner.round(command.warm);
    send(sample ? { type: "sample", sample } : { type: "warm", verified: verifiedBy(job) });
    await settle(); // an idle worker holds no result while the other contenders run
  }
  await runner.close();
  await store.close();
  await client.close();
  send({ type: "end", ...(runner.scope ? { requestScope: runner.scope } : {}) });
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    // The parent shows the last lines: the message, not a stack (set RANGE_BENCH_DEBUG=1 for that).
    const text = error instanceof Error ? (process.env.RANGE_BENCH_DEBUG ? (error.stack ?? error.message) : error.message) : String(error);
    process.stderr.write(`${text}\n`);
    process.exit(error instanceof WrongBytes || (error instanceof Error && error.message.includes("WRONG BYTES")) ? 3 : 1);
  },
);
