import { NotFoundError, RangeConfigError, abortErrorFrom, sleep, type ObjectStore } from "@range/core";
import { SyntheticDataset } from "@range/datagen";
import { errorCode, type OpMethod } from "./ops.js";
import { readOpLog, type OpRecord } from "./reader.js";

export interface ReplayOptions {
  /** Recorded inter-arrival times are divided by this (default 1; 2 = twice as fast). */
  speed?: number;
  /** At most this many replayed operations in flight; a schedule that needs more waits (default 256). */
  maxInFlight?: number;
  /**
   * First create every object the log reads before (or without) writing it, at the largest size the log reads of
   * it, with synthetic bytes (`@range/datagen`). Objects that already exist at that size or larger are left alone.
   */
  prepare?: boolean;
  /** Puts in flight while preparing (default 16). */
  prepareConcurrency?: number;
  /** Prepended to every recorded key (e.g. "replay/"), so a replay can run under another prefix. */
  keyPrefix?: string;
  /**
   * Records are written when operations finish, so the file is not in start order; replay re-sorts them in a
   * window of this many records (default 100 000). An operation that overlapped more records than that starts late.
   */
  reorderWindow?: number;
  signal?: AbortSignal;
  /**
   * Default true: operations of one `thread` run one after another, each waiting for the previous one of its thread
   * as well as for its start time. The recording's thread is the slot the operation held among those in flight (a
   * warp worker, in warp's files), so this keeps "get after put" in order even when the replay's store is slower,
   * and never holds back anything that overlapped in the recording. `false`: a pure open loop on start times.
   */
  sequentialThreads?: boolean;
  /** Called after each replayed operation. */
  onOperation?: (result: ReplayedOperation) => void;
}

export interface ReplayedOperation {
  record: OpRecord;
  latencyMs: number;
  /** Error code of the replay, "" when it succeeded. */
  error: string;
  bytes: number;
}

export interface LatencySummary {
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
  maxMs: number;
}

export interface ReplayOpSummary extends LatencySummary {
  count: number;
  errors: number;
  bytes: number;
}

export interface ReplaySummary {
  /** Operations issued. */
  ops: number;
  ok: number;
  /** Operations that failed although the recording did not, or failed with another code. */
  errors: number;
  /** Operations that failed with the very error code the recording has (a recorded miss, replayed faithfully). */
  reproducedErrors: number;
  /** Operations the recording has as failed that succeeded now. */
  unexpectedSuccesses: number;
  /** Records with an op replay does not know (neither ours nor warp's GET/PUT/STAT/LIST/DELETE). */
  skipped: number;
  /** Reads that found no object where the recording found one: what `prepare` would have created. */
  missing: { count: number; keys: string[] };
  /** Replay error codes and their counts (errors only, not reproduced ones). */
  errorCodes: Record<string, number>;
  /** Successful reads whose byte count differs from the recording's. */
  sizeMismatches: number;
  prepared: { objects: number; bytes: number };
  speed: number;
  /** Wall time of the replay (after preparing). */
  seconds: number;
  /** From the first recorded start to the last recorded end. */
  recordedSeconds: number;
  latency: LatencySummary;
  byMethod: Partial<Record<OpMethod, ReplayOpSummary>>;
  /**
   * How late operations started against the scaled schedule: timer resolution, maxInFlight reached, or the previous
   * operation of the same thread still running (the replay's store is slower than the recorded one).
   */
  lag: LatencySummary;
}

/** Up to this many missing keys are listed in the summary. */
const MISSING_LISTED = 10;

class MinHeap<T> {
  readonly #items: T[] = [];
  constructor(private readonly less: (a: T, b: T) => boolean) {}
  get size(): number {
    return this.#items.length;
  }
  push(item: T): void {
    const a = this.#items;
    a.push(item);
    for (let i = a.length - 1; i > 0; ) {
      const parent = (i - 1) >> 1;
      if (!this.less(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }
  pop(): T | undefined {
    const a = this.#items;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last !== undefined) {
      a[0] = last;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l]!, a[m]!)) m = l;
        if (r < a.length && this.less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Records in start-time order (ties: file order), re-sorted within a window of `window` records. */
export async function* byStartTime(records: AsyncIterable<OpRecord> | Iterable<OpRecord>, window = 100_000): AsyncGenerator<OpRecord, void, undefined> {
  let sequence = 0;
  const heap = new MinHeap<{ record: OpRecord; sequence: number }>((a, b) =>
    a.record.start !== b.record.start ? a.record.start < b.record.start : a.sequence < b.sequence,
  );
  for await (const record of records) {
    heap.push({ record, sequence: sequence++ });
    if (heap.size > window) yield heap.pop()!.record;
  }
  while (heap.size > 0) yield heap.pop()!.record;
}

function summarizeLatencies(values: number[]): LatencySummary {
  if (values.length === 0) return { p50Ms: 0, p99Ms: 0, meanMs: 0, maxMs: 0 };
  const sorted = Float64Array.from(values).sort();
  // Nearest-rank percentiles.
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
  let sum = 0;
  for (const v of sorted) sum += v;
  return { p50Ms: rank(0.5), p99Ms: rank(0.99), meanMs: sum / sorted.length, maxMs: sorted[sorted.length - 1]! };
}

/** A stable 32-bit number per key, so a replayed PUT of the same key writes the same bytes every time. */
function seedOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/** Objects from this size on are written as streams (bounded memory). */
const STREAM_FROM = 64 * 1024 * 1024;

/**
 * Synthetic bytes for a replayed PUT (or a prepared object) of `key`: object number hash(key) of one huge seed-0
 * dataset, so every key gets its own bytes (distinct blocks, no accidental dedup between keys) while all of them are
 * cut from the one cached random pool, at memcpy speed. (A seed per key would fill a new pool of up to 16 MiB per PUT.)
 */
function payload(key: string, size: number): Uint8Array | AsyncIterable<Uint8Array> {
  const count = size === 0 ? 1 : Math.floor(Number.MAX_SAFE_INTEGER / size);
  const dataset = new SyntheticDataset({ size, count, seed: 0 });
  const index = seedOf(key) % count;
  return size >= STREAM_FROM ? dataset.stream(index) : dataset.object(index);
}

function readEnd(record: OpRecord): number | undefined {
  if (record.error !== "") return undefined;
  switch (record.method) {
    case "get":
    case "getStream":
    case "readTo":
    case "stat":
    case "copy":
      return record.bytes;
    case "getRange":
      return (record.offset ?? 0) + record.bytes;
    case "exists":
      return record.objects > 0 ? 0 : undefined;
    default:
      return undefined;
  }
}

/** The objects a log reads before writing them, with the size each needs. */
async function objectsToPrepare(records: AsyncIterable<OpRecord>): Promise<Map<string, number>> {
  const needed = new Map<string, number>();
  const written = new Set<string>();
  for await (const record of records) {
    if (record.method === "put") {
      if (!needed.has(record.key)) written.add(record.key);
      continue;
    }
    if (record.method === "copy" && record.dst !== undefined && !needed.has(record.dst)) written.add(record.dst);
    if (written.has(record.key)) continue;
    const end = readEnd(record);
    if (end !== undefined) needed.set(record.key, Math.max(end, needed.get(record.key) ?? 0));
  }
  return needed;
}

async function prepareObjects(
  store: ObjectStore,
  needed: Map<string, number>,
  keyPrefix: string,
  concurrency: number,
  signal: AbortSignal | undefined,
): Promise<{ objects: number; bytes: number }> {
  const entries = [...needed];
  let next = 0;
  let objects = 0;
  let bytes = 0;
  const lane = async () => {
    while (next < entries.length) {
      signal?.throwIfAborted();
      const [key, size] = entries[next++]!;
      const target = keyPrefix + key;
      const existing = await store.stat(target).catch((error: unknown) => {
        if (NotFoundError.isInstance(error)) return undefined;
        throw error;
      });
      if (existing && existing.size >= size) continue;
      await store.put(target, payload(target, size), signal ? { signal } : {});
      objects++;
      bytes += size;
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, entries.length) }, lane));
  return { objects, bytes };
}

/** `ObjectStore.copy`, present on stores that copy server-side. */
type CopyMethod = (srcKey: string, dstKey: string, opts?: { signal?: AbortSignal }) => Promise<{ size: number }>;

async function issue(store: ObjectStore, record: OpRecord, keyPrefix: string, signal: AbortSignal | undefined): Promise<number> {
  const opts = signal ? { signal } : {};
  const key = keyPrefix + record.key;
  switch (record.method!) {
    case "copy": {
      if (record.dst === undefined) throw new RangeConfigError(`a COPY record of ${JSON.stringify(record.key)} has no dst`);
      const dst = keyPrefix + record.dst;
      const copy = (store as { copy?: CopyMethod }).copy;
      if (typeof copy === "function") return (await copy.call(store, key, dst, opts)).size;
      return (await store.put(dst, store.getStream(key, opts), opts)).size;
    }
    case "get":
    case "readTo":
      return (await store.get(key, opts)).length;
    case "getStream": {
      let bytes = 0;
      for await (const chunk of store.getStream(key, opts)) bytes += chunk.length;
      return bytes;
    }
    case "getRange":
      return (await store.getRange(key, record.offset ?? 0, record.bytes, opts)).length;
    case "put":
      return (await store.put(key, payload(key, record.bytes), opts)).size;
    case "stat":
      return (await store.stat(key)).size;
    case "exists":
      await store.exists(key);
      return 0;
    case "list": {
      for await (const _ of store.list(key, { recursive: true, ...opts })) {
        // drained: a LIST costs its pages
      }
      return 0;
    }
    case "delete":
      await store.delete(key);
      return 0;
    case "deletePrefix":
      await store.deletePrefix(key);
      return 0;
  }
}

/**
 * Re-issues the operations of an op-log against `store`, each at its recorded start time (relative to the first)
 * divided by `speed`, as an open loop: operations overlap as they did in the recording, up to `maxInFlight`.
 * PUTs write synthetic bytes of the recorded size. Returns counts, error codes and latency percentiles.
 *
 * `source` is a file path (read with {@link readOpLog}) or records.
 */
export async function replayOpLog(
  source: string | Iterable<OpRecord> | AsyncIterable<OpRecord>,
  store: ObjectStore,
  options: ReplayOptions = {},
): Promise<ReplaySummary> {
  const {
    speed = 1,
    maxInFlight = 256,
    prepare = false,
    prepareConcurrency = 16,
    keyPrefix = "",
    reorderWindow = 100_000,
    sequentialThreads = true,
    signal,
    onOperation,
  } = options;
  if (typeof speed !== "number" || !Number.isFinite(speed) || speed <= 0) throw new RangeConfigError(`speed must be a number > 0, got ${String(speed)}`);
  for (const [name, value] of [
    ["maxInFlight", maxInFlight],
    ["prepareConcurrency", prepareConcurrency],
    ["reorderWindow", reorderWindow],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 1) throw new RangeConfigError(`${name} must be a positive integer, got ${String(value)}`);
  }
  if (typeof keyPrefix !== "string") throw new RangeConfigError("keyPrefix must be a string");
  // A path is read twice when preparing; records that are not a path are kept (they may be a one-shot iterator).
  let records: () => AsyncIterable<OpRecord> | Iterable<OpRecord>;
  if (typeof source === "string") records = () => readOpLog(source);
  else if (prepare && !Array.isArray(source)) {
    const kept: OpRecord[] = [];
    for await (const record of source) kept.push(record);
    records = () => kept;
  } else records = () => source;

  const prepared = prepare
    ? await prepareObjects(store, await objectsToPrepare(byStartTime(records(), reorderWindow)), keyPrefix, prepareConcurrency, signal)
    : { objects: 0, bytes: 0 };

  const summary: ReplaySummary = {
    ops: 0,
    ok: 0,
    errors: 0,
    reproducedErrors: 0,
    unexpectedSuccesses: 0,
    skipped: 0,
    missing: { count: 0, keys: [] },
    errorCodes: {},
    sizeMismatches: 0,
    prepared,
    speed,
    seconds: 0,
    recordedSeconds: 0,
    latency: summarizeLatencies([]),
    byMethod: {},
    lag: summarizeLatencies([]),
  };
  const latencies: number[] = [];
  const lags: number[] = [];
  const perMethod = new Map<OpMethod, { latencies: number[]; errors: number; bytes: number }>();
  let firstStart = Number.NaN;
  let lastEnd = Number.NaN;
  let inFlight = 0;
  let slotFreed: (() => void) | undefined;
  const running = new Set<Promise<void>>();
  const started = performance.now();

  /** Per thread: settles when its latest operation has. */
  const threadTails = new Map<number, Promise<void>>();

  const run = async (record: OpRecord, due: number) => {
    const method = record.method!;
    const t0 = performance.now();
    lags.push(Math.max(0, t0 - started - due));
    let error = "";
    let bytes = 0;
    try {
      bytes = await issue(store, record, keyPrefix, signal);
    } catch (e) {
      error = errorCode(e);
    }
    const latencyMs = performance.now() - t0;
    if (signal?.aborted) return;
    latencies.push(latencyMs);
    let bucket = perMethod.get(method);
    if (!bucket) perMethod.set(method, (bucket = { latencies: [], errors: 0, bytes: 0 }));
    bucket.latencies.push(latencyMs);
    bucket.bytes += bytes;
    if (error === "") {
      summary.ok++;
      if (record.error !== "") summary.unexpectedSuccesses++;
      const isRead = method === "get" || method === "getRange" || method === "getStream" || method === "readTo";
      if (isRead && record.error === "" && bytes !== record.bytes) summary.sizeMismatches++;
    } else if (error === record.error) {
      summary.reproducedErrors++;
    } else {
      summary.errors++;
      bucket.errors++;
      summary.errorCodes[error] = (summary.errorCodes[error] ?? 0) + 1;
      if (error === "E_NOT_FOUND" && record.error === "") {
        summary.missing.count++;
        if (summary.missing.keys.length < MISSING_LISTED) summary.missing.keys.push(record.key);
      }
    }
    onOperation?.({ record, latencyMs, error, bytes });
  };

  for await (const record of byStartTime(records(), reorderWindow)) {
    if (signal?.aborted) break;
    if (!record.method) {
      summary.skipped++;
      continue;
    }
    if (Number.isNaN(firstStart)) firstStart = record.start;
    lastEnd = Number.isNaN(lastEnd) ? record.end : Math.max(lastEnd, record.end);
    const due = (record.start - firstStart) / speed;
    // setTimeout has millisecond resolution and may fire up to a millisecond early, so the wait is checked again
    // after each sleep: an operation goes no earlier than within the millisecond it is due.
    for (let wait = due - (performance.now() - started); wait >= 1 && !signal?.aborted; wait = due - (performance.now() - started)) {
      await sleep(wait, signal).catch(() => {});
    }
    while (inFlight >= maxInFlight && !signal?.aborted) await new Promise<void>((resolve) => (slotFreed = resolve));
    if (signal?.aborted) break;
    summary.ops++;
    inFlight++;
    const previous = sequentialThreads ? threadTails.get(record.thread) : undefined;
    const done = (previous ? previous.then(() => run(record, due)) : run(record, due)).finally(() => {
      inFlight--;
      running.delete(done);
      if (threadTails.get(record.thread) === done) threadTails.delete(record.thread);
      const wake = slotFreed;
      slotFreed = undefined;
      wake?.();
    });
    running.add(done);
    if (sequentialThreads) threadTails.set(record.thread, done);
  }
  await Promise.all(running);
  if (signal?.aborted) throw abortErrorFrom(signal);

  summary.seconds = (performance.now() - started) / 1000;
  summary.recordedSeconds = Number.isNaN(firstStart) ? 0 : (lastEnd - firstStart) / 1000;
  summary.latency = summarizeLatencies(latencies);
  summary.lag = summarizeLatencies(lags);
  for (const [method, bucket] of perMethod) {
    summary.byMethod[method] = { count: bucket.latencies.length, errors: bucket.errors, bytes: bucket.bytes, ...summarizeLatencies(bucket.latencies) };
  }
  return summary;
}
