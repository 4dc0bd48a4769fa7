import type { ObjectStore, RangeEngineOptions } from "@range/core";

/** What a cell measures. */
export type Op = "get" | "range" | "stream" | "put" | "list" | "loader";

/** JSON data a worker needs to reach a running backend (endpoint, credentials of a throwaway server, a root dir). */
export type Connection = Record<string, unknown>;

/** Tools outside the workspace that some peers need, found (or installed) once per run by the parent. */
export interface PeerTools {
  /** Directory to `createRequire` `opendal` from, or why it is missing. */
  opendal: { dir: string; version: string } | { missing: string };
  /** A Python with `s3dlio` importable, or why it is missing. */
  s3dlio: { python: string; version: string } | { missing: string };
  /** `python3` for the rusage wrapper around dd, or undefined. */
  python3?: string;
}

/** A contender other than our store, as the parent sees it: what it is called and what it can do. */
export interface PeerSpec {
  id: string;
  /** Per operation (e.g. "plain GetObject" vs "plain PutObject"); a string applies to every op. */
  label: string | Partial<Record<Op, string>>;
  ops: Op[];
  /** The ops whose ratios divide by this peer. One baseline per backend and op. */
  baselineFor?: Op[];
  /**
   * Shown for reference but not a peer (not the same work, or our own store with another setting): never counted as
   * the fastest peer. The text says why.
   */
  reference?: string;
  /** An external tool it needs: the cell is reported as unavailable without it. */
  needs?: "opendal" | "s3dlio" | "python3";
  /** Smallest object it is run on (a process spawn per read makes small reads meaningless). */
  minSize?: number;
  /** At most this many operations per round (a process spawn per read is slow). */
  maxOpsPerRound?: number;
}

/** Marks the first byte of one operation (time to first byte). */
export interface FirstByte {
  (): void;
}

/** A read done outside this process (dd): its bytes and its own resource usage. */
export interface ExternalRead {
  bytes: number;
  /** The tool's own time, when it reports one (dd does). */
  ms?: number;
  userMs?: number;
  sysMs?: number;
  peakRssBytes?: number;
}

/** A peer's implementation in the worker. Each method is one operation; the worker times and verifies it. */
export interface PeerImpl {
  get?(key: string, size: number, firstByte: FirstByte): Promise<Uint8Array | ExternalRead>;
  range?(key: string, offset: number, length: number): Promise<Uint8Array>;
  stream?(key: string, firstByte: FirstByte): AsyncIterable<Uint8Array>;
  put?(key: string, data: Uint8Array): Promise<void>;
  /** Number of objects under `prefix`. */
  list?(prefix: string): Promise<number>;
  /** False when `put` keeps nothing to read back (the memory backend's memcpy). Default true. */
  persists?: boolean;
  close?(): Promise<void>;
}

/** Counts the requests a cell issues. */
export interface RequestCounter {
  /** How it counts, for the report ("SeaweedFS server metrics", "pread calls", ...). */
  scope: string;
  read(): Promise<number>;
  /** Whether this counter sees the requests of that contender ("range" = our store). */
  counts(contender: string): boolean;
}

/** The worker side of a backend: our store, the peers, a request counter. */
export interface BackendClient {
  /** Our store, optionally with engine defaults. */
  store(engine?: RangeEngineOptions): ObjectStore;
  peer(id: string, tools: PeerTools): Promise<PeerImpl>;
  requests?: RequestCounter;
  /** How an external tool (s3dlio) names a key, and the environment it needs. */
  external?: { uri(key: string): string; env: Record<string, string>; metricsUrl?: string };
  close(): Promise<void>;
}

/** The parent side of a started backend. */
export interface RunningBackend {
  /** Sent to every worker. */
  connection: Connection;
  /** One line for the report: what runs behind it. */
  description: string;
  /**
   * Writes an object the cells will read. Absent for backends whose objects live in the worker process (memory):
   * those are regenerated there from their seed.
   */
  write?(key: string, bytes: Uint8Array): Promise<void>;
  /** After a batch of writes: let them settle (flush dirty pages so no writeback runs during a measurement). */
  settle?(): Promise<void>;
  stop(): Promise<void>;
}

export interface StartContext {
  log(message: string): void;
}

/**
 * One backend of the suite. A new backend is one module exporting one of these, added to `backends/index.ts`; the
 * scenarios run every op on every selected backend, with the peers it lists.
 */
export interface BenchBackend {
  name: string;
  title: string;
  /** Runs without a server: part of the default selection. */
  embedded: boolean;
  peers: PeerSpec[];
  /** Why it cannot run here (its package is not installed), or undefined. */
  unavailable?(): Promise<string | undefined>;
  start(ctx: StartContext): Promise<RunningBackend>;
  connect(connection: Connection): Promise<BackendClient>;
}

/** The label of a peer for one op. */
export function peerLabel(spec: PeerSpec, op: Op): string {
  return typeof spec.label === "string" ? spec.label : (spec.label[op] ?? spec.id);
}
