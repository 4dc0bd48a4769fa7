import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FaultProxy } from "./proxy.js";
import type { Fault, FaultRule } from "./rules.js";

/**
 * The read-fault suite every cloud backend runs behind the fault proxy: one table of faults a retry recovers from, one
 * of faults that never go away, the other read paths (getStream, abort, seeded chaos) and downloadFile, asserted the
 * same way on every backend. The backend passes only what differs (how a proxied store is made, how a status error
 * looks for its service, which requests a rule aims at); its own tests (writes, metadata calls) stay in its file.
 *
 * vitest comes from the caller, structurally typed, so this package does not depend on it at runtime.
 */

/** The part of vitest's `expect` the suite uses. */
export interface FaultSuiteMatchers {
  toBe(expected: unknown): void;
  toBeUndefined(): void;
  toBeLessThan(expected: number): void;
  toBeGreaterThanOrEqual(expected: number): void;
  toMatch(expected: RegExp): void;
  toBeGreaterThan(expected: number): void;
  toEqual(expected: unknown): void;
}

/** vitest's `describe`, `it` and `expect`, as the caller imported them. */
export interface FaultSuiteVitest {
  describe(name: string, body: () => void): void;
  it(name: string, test: () => Promise<void>): void;
  expect(actual: unknown, message?: string): FaultSuiteMatchers;
}

/** The part of `RangeStats` the suite reads. */
export interface FaultReadStats {
  retries: number;
  ranges: number;
}

/** The part of an `ObjectStore` the suite reads with. */
export interface FaultReadStore {
  get(key: string, options?: { signal?: AbortSignal; onStats?: (stats: FaultReadStats) => void }): Promise<Uint8Array>;
  getStream(key: string): AsyncIterable<Uint8Array>;
}

/** The engine options the suite needs to know to bound a read's time; passed back to `proxiedStore` unchanged. */
export interface FaultSuiteEngine {
  rangeTimeoutMs?: number;
  retry?: { attempts?: number; baseDelayMs?: number; maxDelayMs?: number };
}

export type FaultObjectSize = "large" | "small";
/** Which GETs of an object a rule aims at: its head request (`bytes=0-`, the first range), the ranges after it, or any. */
export type FaultTargetRequest = "head" | "ranges" | "any";

/** A fault a retry recovers from. `headOfLarge`: the typed error a fault on a large object's head request leads to instead. */
export interface TransientFaultRow {
  name: string;
  fault: Fault;
  headOfLarge?: { name: string; code: string };
}

/** A fault that never goes away and the typed error (name, code) the read must end with. */
export interface PersistentFaultRow {
  name: string;
  fault: Fault;
  error: string;
  code: string;
}

export interface ReadFaultSuiteOptions<E extends FaultSuiteEngine> {
  vitest: FaultSuiteVitest;
  /** The running proxy (a getter: it is started in the caller's `beforeAll`, after the suite is declared). */
  proxy: () => FaultProxy;
  /** A store behind the proxy with every retry left to the engine; `engine` replaces the default engine options. */
  proxiedStore: (options?: { engine: E }) => FaultReadStore;
  /** The engine options `proxiedStore` uses by default (its stall timeout and retry policy bound the read time). */
  engine: E;
  keys: Record<FaultObjectSize, string>;
  /** The bytes stored under `keys`. */
  source: Record<FaultObjectSize, Uint8Array>;
  /** Requests the large object's read is made of (head request + ranges). */
  largeRanges: number;
  /** The engine's range size: a fault aimed at one later range of the large object hits the 3rd or the 4th range. */
  rangeSize: number;
  /** The rule fields that aim at one object's GETs. */
  target: (size: FaultObjectSize, which: FaultTargetRequest) => Pick<FaultRule, "method" | "path" | "range">;
  /** The service's error answer for an HTTP status (503 throttled, 500 server error, 429 too many requests). */
  statusFault: (status: 503 | 500 | 429, retryAfter?: number) => Fault;
  /** How the service names its 503 and 500 answers in test titles, e.g. "503 SlowDown". */
  statusNames: { 503: string; 500: string };
  /** The backend, in log lines (e.g. "s3"). */
  name: string;
  /** "object" or "blob", in test titles. */
  noun: string;
  /** `isRangeStoreError` of @range/core, from the caller (this package does not depend on core). */
  isTyped: (error: unknown) => boolean;
  /** `downloadFile` of @range/core, from the caller. */
  downloadFile(store: FaultReadStore, key: string, path: string, options?: { onStats?: (stats: FaultReadStats) => void }): Promise<unknown>;
  /** The rule path that matches the GETs of every object the suite reads (the seeded-chaos test aims at it). */
  chaosPath: RegExp;
  /** Backend-specific rows, run after the shared ones. */
  extraTransient?: readonly TransientFaultRow[];
  extraPersistent?: readonly PersistentFaultRow[];
}

/** What one timed read gave: the bytes or the error, its stats, and how long it took. */
export interface FaultReadOutcome {
  data?: Uint8Array;
  error?: unknown;
  stats?: FaultReadStats;
  ms: number;
}

/** The suite's helpers, for the backend's own tests next to it. */
export interface ReadFaultKit {
  timedGet(store: FaultReadStore, size: FaultObjectSize, opts?: { signal?: AbortSignal }): Promise<FaultReadOutcome>;
  /** Fails unless the read gave exactly the stored bytes (rethrows its error). */
  expectExact(outcome: FaultReadOutcome, size: FaultObjectSize): void;
  /** Fails unless the read rejected with a typed error of this name (and code). */
  expectTyped(outcome: FaultReadOutcome, name: string, code?: string): void;
}

const KiB = 1024;

/** Faults shared by every backend that a retry recovers from, fired ONCE. */
function transientRows(options: Pick<ReadFaultSuiteOptions<FaultSuiteEngine>, "statusFault" | "statusNames" | "extraTransient">): TransientFaultRow[] {
  const { statusFault, statusNames } = options;
  // A total that is wrong on the head response (the one the read planned with) shows up as every later range naming
  // another size, which no retry of those ranges can fix.
  const wrongTotal = { name: "IntegrityError", code: "E_SIZE_MISMATCH" };
  return [
    { name: "connection reset mid-body", fault: { kind: "reset", afterBytes: 64 * KiB } },
    { name: "connection reset before the body", fault: { kind: "reset", afterBytes: 0 } },
    { name: "stall after N bytes", fault: { kind: "stall", afterBytes: 100 * KiB } },
    { name: "stall before the headers", fault: { kind: "stall", during: "headers" } },
    { name: statusNames[503], fault: statusFault(503) },
    { name: statusNames[500], fault: statusFault(500) },
    { name: "429 with Retry-After", fault: statusFault(429, 0) },
    { name: "body truncated (connection closed)", fault: { kind: "truncate", bytes: 10 * KiB } },
    { name: "body truncated (short Content-Length)", fault: { kind: "truncate", bytes: 10 * KiB, mode: "content-length" } },
    { name: "Content-Range shifted", fault: { kind: "content-range", shift: 1 } },
    { name: "Content-Range total too small", fault: { kind: "content-range", totalDelta: -1 }, headOfLarge: wrongTotal },
    { name: "Content-Range total too large", fault: { kind: "content-range", totalDelta: 1 }, headOfLarge: wrongTotal },
    ...(options.extraTransient ?? []),
  ];
}

/** Faults shared by every backend that never go away. */
function persistentRows(options: Pick<ReadFaultSuiteOptions<FaultSuiteEngine>, "statusFault" | "statusNames" | "extraPersistent">): PersistentFaultRow[] {
  const { statusFault, statusNames } = options;
  return [
    { name: "connection reset mid-body", fault: { kind: "reset", afterBytes: 64 * KiB }, error: "BackendError", code: "E_NETWORK" },
    { name: "stall after N bytes", fault: { kind: "stall", afterBytes: 64 * KiB }, error: "TimeoutError", code: "E_TIMEOUT" },
    { name: "stall before the headers", fault: { kind: "stall", during: "headers" }, error: "TimeoutError", code: "E_TIMEOUT" },
    { name: "latency beyond the stall timeout", fault: { kind: "latency", ms: 5_000 }, error: "TimeoutError", code: "E_TIMEOUT" },
    { name: statusNames[503], fault: statusFault(503), error: "BackendError", code: "E_THROTTLED" },
    { name: statusNames[500], fault: statusFault(500), error: "BackendError", code: "E_SERVER" },
    { name: "429 Too Many Requests", fault: statusFault(429, 0), error: "BackendError", code: "E_THROTTLED" },
    { name: "body truncated (connection closed)", fault: { kind: "truncate", bytes: 1000 }, error: "BackendError", code: "E_NETWORK" },
    { name: "body truncated (short Content-Length)", fault: { kind: "truncate", bytes: 1000, mode: "content-length" }, error: "IntegrityError", code: "E_BAD_CONTENT_RANGE" },
    { name: "Content-Range shifted", fault: { kind: "content-range", shift: 4096 }, error: "IntegrityError", code: "E_BAD_CONTENT_RANGE" },
    ...(options.extraPersistent ?? []),
  ];
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

function required(value: number | undefined, name: string): number {
  if (value === undefined || !Number.isFinite(value)) throw new TypeError(`runReadFaultSuite: engine.${name} must be set (it bounds the read time)`);
  return value;
}

/**
 * Declares the shared read-fault tests (call it at the top level of a test file, beside the file's own `beforeAll`
 * that starts the proxy and stores the objects, and a `beforeEach` that clears the rules and stats) and returns the
 * helpers for the backend's own tests.
 */
export function runReadFaultSuite<E extends FaultSuiteEngine>(options: ReadFaultSuiteOptions<E>): ReadFaultKit {
  const { vitest, keys, source, noun } = options;
  const { describe, it, expect } = vitest;
  const proxy = () => options.proxy();
  const target = options.target;
  const stallMs = required(options.engine.rangeTimeoutMs, "rangeTimeoutMs");
  const attempts = required(options.engine.retry?.attempts, "retry.attempts");
  const maxDelayMs = required(options.engine.retry?.maxDelayMs, "retry.maxDelayMs");
  /** Longest a read may take when every attempt of one range times out: attempts × (stall timeout + backoff), plus slack. */
  const worstCaseMs = attempts * (stallMs + maxDelayMs) + 3_000;

  const kit: ReadFaultKit = {
    async timedGet(store, size, opts = {}) {
      const started = performance.now();
      let stats: FaultReadStats | undefined;
      try {
        const data = await store.get(keys[size], { ...opts, onStats: (s) => (stats = s) });
        return { data, ms: performance.now() - started, ...(stats ? { stats } : {}) };
      } catch (error) {
        return { error, ms: performance.now() - started };
      }
    },
    expectExact(outcome, size) {
      if (outcome.error) throw outcome.error;
      expect(outcome.data?.length).toBe(source[size].length);
      expect(sameBytes(outcome.data!, source[size])).toBe(true);
    },
    expectTyped(outcome, name, code) {
      expect(outcome.data, "expected a rejection, got data").toBeUndefined();
      expect(options.isTyped(outcome.error), `not a typed error: ${String(outcome.error)}`).toBe(true);
      expect((outcome.error as Error).name).toBe(name);
      if (code !== undefined) expect((outcome.error as { code: string }).code).toBe(code);
    },
  };
  const { timedGet, expectExact, expectTyped } = kit;

  describe("transient faults: exact bytes after a retry", () => {
    for (const { name, fault, headOfLarge } of transientRows(options)) {
      describe(name, () => {
        it(`on one range of a large ${noun} (engine, several ranges): exact bytes, retries = 1`, async () => {
          proxy().setRules([{ ...target("large", "ranges"), nth: 2, fault }]);
          const outcome = await timedGet(options.proxiedStore(), "large");
          expectExact(outcome, "large");
          expect(proxy().stats().faults).toBe(1);
          expect(outcome.stats?.retries).toBe(1);
          expect(outcome.stats?.ranges).toBe(options.largeRanges);
          expect(outcome.ms).toBeLessThan(worstCaseMs);
        });

        it(`on the head request of a large ${noun}: ${headOfLarge ? `${headOfLarge.name} ${headOfLarge.code}` : "exact bytes, retries = 1"}`, async () => {
          proxy().setRules([{ ...target("large", "head"), nth: 1, fault }]);
          const outcome = await timedGet(options.proxiedStore(), "large");
          expect(proxy().stats().faults).toBe(1);
          expect(outcome.ms).toBeLessThan(worstCaseMs);
          if (headOfLarge) {
            expectTyped(outcome, headOfLarge.name, headOfLarge.code);
            return;
          }
          expectExact(outcome, "large");
          expect(outcome.stats?.retries).toBe(1);
        });

        it(`on the single request of a small ${noun}: exact bytes, retries = 1`, async () => {
          proxy().setRules([{ ...target("small", "any"), nth: 1, fault }]);
          const outcome = await timedGet(options.proxiedStore(), "small");
          expectExact(outcome, "small");
          expect(proxy().stats().faults).toBe(1);
          expect(outcome.stats?.retries).toBe(1);
          expect(outcome.ms).toBeLessThan(worstCaseMs);
        });
      });
    }
  });

  describe("persistent faults: a typed error after exactly `attempts` tries, in bounded time", () => {
    const persistentStallMs = 800;
    const retry = { attempts: 3, baseDelayMs: 20, maxDelayMs: 200 };
    const engine = { ...options.engine, rangeTimeoutMs: persistentStallMs, retry };
    const bound = retry.attempts * (persistentStallMs + retry.maxDelayMs) + 2_000;
    const rangeAt = new RegExp(`^bytes=${2 * options.rangeSize}-`);
    for (const { name, fault, error, code } of persistentRows(options)) {
      it(`${name}: ${error} ${code} (small ${noun}; large ${noun}, one range)`, async () => {
        const store = options.proxiedStore({ engine });
        proxy().setRules([{ ...target("small", "any"), fault }]);
        const small = await timedGet(store, "small");
        expectTyped(small, error, code);
        expect((small.error as { retryable: boolean }).retryable).toBe(true);
        expect(proxy().count({ fault: true })).toBe(retry.attempts);
        expect(small.ms).toBeLessThan(bound);

        proxy().setRules([{ ...target("large", "ranges"), range: rangeAt, fault }]);
        proxy().resetStats();
        const large = await timedGet(store, "large");
        expectTyped(large, error, code);
        expect(proxy().count({ fault: true })).toBe(retry.attempts);
        expect(large.ms).toBeLessThan(bound);
        if (code === "E_TIMEOUT") {
          // Every try waited for the stall timer: the timeout is neither skipped nor stretched.
          expect(small.ms).toBeGreaterThanOrEqual(retry.attempts * persistentStallMs - 50);
          expect((small.error as Error).message).toMatch(new RegExp(`made no progress for ${persistentStallMs} ms \\(${retry.attempts} attempts\\)`));
        }
      });
    }
  });

  describe("read paths under faults", () => {
    it("latency below the stall timeout: exact bytes, no retries", async () => {
      proxy().setRules([{ ...target("large", "any"), probability: 0.5, fault: { kind: "latency", ms: 300 } }]);
      const outcome = await timedGet(options.proxiedStore(), "large");
      expectExact(outcome, "large");
      expect(outcome.stats?.retries).toBe(0);
      expect(proxy().count({ fault: "latency" })).toBeGreaterThan(0);
    });

    it("getStream: a reset and a stall on two ranges still yield the exact bytes, in order", async () => {
      proxy().setRules([
        { ...target("large", "ranges"), nth: 2, fault: { kind: "reset", afterBytes: 1000 } },
        { ...target("large", "ranges"), nth: 4, fault: { kind: "stall", afterBytes: 1000 } },
      ]);
      const chunks: Uint8Array[] = [];
      for await (const chunk of options.proxiedStore().getStream(keys.large)) chunks.push(chunk);
      expect(sameBytes(Buffer.concat(chunks), source.large)).toBe(true);
      expect(proxy().stats().faults).toBe(2);
    });

    it("an abort while a range is stalled rejects AbortError at once, whatever the stall timeout", async () => {
      proxy().setRules([{ ...target("large", "ranges"), fault: { kind: "stall", afterBytes: 1000 } }]);
      const controller = new AbortController();
      setTimeout(() => controller.abort(), 300);
      const outcome = await timedGet(options.proxiedStore({ engine: { ...options.engine, rangeTimeoutMs: 60_000 } }), "large", { signal: controller.signal });
      expect((outcome.error as Error).name).toBe("AbortError");
      expect(outcome.ms).toBeLessThan(1_000);
    });

    it("seeded chaos (resets, 503s, truncations, each on 5% of GETs): every read is exact or a typed error", async () => {
      const rule = (fault: Fault): FaultRule => ({ method: "GET", path: options.chaosPath, probability: 0.05, fault });
      proxy().setRules([rule({ kind: "reset", afterBytes: 32 * KiB }), rule(options.statusFault(503)), rule({ kind: "truncate", bytes: 5000 })]);
      const store = options.proxiedStore({ engine: { ...options.engine, rangeTimeoutMs: 500 } });
      const tally = { exact: 0, typed: 0, retries: 0 };
      for (let i = 0; i < 24; i++) {
        const size: FaultObjectSize = i % 3 === 0 ? "large" : "small";
        const outcome = await timedGet(store, size);
        if (outcome.data) {
          expectExact(outcome, size);
          tally.exact++;
          tally.retries += outcome.stats!.retries;
        } else {
          expect(options.isTyped(outcome.error), String(outcome.error)).toBe(true);
          tally.typed++;
        }
      }
      expect(tally.exact + tally.typed).toBe(24);
      expect(proxy().stats().faults).toBeGreaterThan(0);
      // With a few tries per range, a 15% fault rate almost never exhausts one: retries absorb the faults.
      expect(tally.retries).toBeGreaterThan(0);
      console.info(`${options.name} chaos: ${JSON.stringify({ ...tally, ...proxy().stats() })}`);
    });
  });

  describe("downloadFile under faults: the file is whole or absent", () => {
    /** A fresh directory per test, so what a download leaves behind is all the directory holds. */
    async function inTempDir(test: (dir: string) => Promise<void>): Promise<void> {
      const dir = await mkdtemp(join(tmpdir(), `range-${options.name}-faults-`));
      try {
        await test(dir);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    }

    it("a transient reset on one range: the file has the exact bytes, one retry", () =>
      inTempDir(async (dir) => {
        proxy().setRules([{ ...target("large", "ranges"), nth: 3, fault: { kind: "reset", afterBytes: 100 } }]);
        let stats: FaultReadStats | undefined;
        await options.downloadFile(options.proxiedStore(), keys.large, join(dir, "ok.bin"), { onStats: (s) => (stats = s) });
        expect(sameBytes(await readFile(join(dir, "ok.bin")), source.large)).toBe(true);
        expect(stats?.retries).toBe(1);
        expect(await readdir(dir)).toEqual(["ok.bin"]);
      }));

    it("a persistent fault on one range: rejects typed, leaves no file and no temporary file", () =>
      inTempDir(async (dir) => {
        proxy().setRules([{ ...target("large", "ranges"), range: new RegExp(`^bytes=${3 * options.rangeSize}-`), fault: options.statusFault(500) }]);
        const path = join(dir, "failed", "big.bin");
        const error = await options.downloadFile(options.proxiedStore(), keys.large, path).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(options.isTyped(error), `not a typed error: ${String(error)}`).toBe(true);
        expect((error as Error).name).toBe("BackendError");
        expect((error as { code: string }).code).toBe("E_SERVER");
        expect(await readdir(join(dir, "failed"))).toEqual([]);
      }));
  });

  return kit;
}
