import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { ListMultipartUploadsCommand, S3Client } from "@aws-sdk/client-s3";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadFile, isRangeStoreError, type GetOptions, type ObjectStore, type RangeEngineOptions, type RangeStats } from "@range/core";
import { startFaultProxy, type Fault, type FaultProxy, type FaultRule } from "@range/test-servers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createS3Store, type S3StoreOptions } from "../src/index.js";
import { BUCKET, RUN, bytes, connection, equalBytes } from "./helpers.js";

const MiB = 1024 * 1024;
const KiB = 1024;

/**
 * Small ranges so a 6 MiB object is a head request plus 6 ranges; a short stall timeout so a stalled range is given up
 * quickly; short backoff so retries do not dominate the run time.
 */
const RANGE_TIMEOUT_MS = 1_500;
const RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 };
const ENGINE: RangeEngineOptions = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 4, rangeTimeoutMs: RANGE_TIMEOUT_MS, retry: RETRY };
/** Longest a read may take when every attempt of one range times out: attempts × (stall timeout + backoff), plus slack. */
const WORST_CASE_MS = RETRY.attempts * (RANGE_TIMEOUT_MS + RETRY.maxDelayMs) + 3_000;

const LARGE = bytes(6 * MiB + 123, 901);
const SMALL = bytes(200 * KiB + 7, 902);
const KEYS = { large: "faults/large.bin", small: "faults/small.bin" } as const;
const SOURCE = { large: LARGE, small: SMALL } as const;
type Size = keyof typeof KEYS;

let proxy: FaultProxy;
const stores: ObjectStore[] = [];

/** A store that talks to SeaweedFS through the proxy. `maxAttempts: 1` leaves every retry to the engine (visible in RangeStats). */
function proxiedStore(options: Partial<S3StoreOptions> = {}): ObjectStore {
  const store = createS3Store({ ...connection(), endpoint: proxy.endpoint, bucket: BUCKET, prefix: RUN, engine: ENGINE, maxAttempts: 1, ...options });
  stores.push(store);
  return store;
}

beforeAll(async () => {
  proxy = await startFaultProxy({ target: connection().endpoint });
  const direct = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN });
  await direct.put(KEYS.large, LARGE);
  await direct.put(KEYS.small, SMALL);
  await direct.close();
});
afterAll(async () => {
  for (const store of stores) await store.close();
  await proxy.close();
  const direct = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN });
  await direct.deletePrefix("faults/");
  await direct.close();
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.resetStats();
});

/** Multipart uploads still in progress under `key`, asked of the server directly. */
async function inProgressUploads(key: string): Promise<unknown[]> {
  const client = new S3Client({ ...connection(), forcePathStyle: true });
  try {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: RUN + key }));
    return out.Uploads ?? [];
  } finally {
    client.destroy();
  }
}

/** Rules aim at one object's GETs: its head request (`bytes=0-`, the first range) or the ranges after it. */
function target(size: Size, which: "head" | "ranges" | "any"): Pick<FaultRule, "method" | "path" | "range"> {
  return {
    method: "GET",
    path: new RegExp(`/${BUCKET}/${RUN}${KEYS[size]}`.replace(/[.]/g, "\\.")),
    range: which === "head" ? /^bytes=0-/ : which === "ranges" ? /^bytes=[1-9]/ : true,
  };
}

interface Outcome {
  data?: Uint8Array;
  error?: unknown;
  stats?: RangeStats;
  ms: number;
}

async function timedGet(store: ObjectStore, size: Size, opts: GetOptions = {}): Promise<Outcome> {
  const started = performance.now();
  let stats: RangeStats | undefined;
  try {
    const data = await store.get(KEYS[size], { ...opts, onStats: (s) => (stats = s) });
    return { data, ms: performance.now() - started, ...(stats ? { stats } : {}) };
  } catch (error) {
    return { error, ms: performance.now() - started };
  }
}

function expectExact(outcome: Outcome, size: Size): void {
  if (outcome.error) throw outcome.error;
  expect(outcome.data?.length).toBe(SOURCE[size].length);
  expect(equalBytes(outcome.data!, SOURCE[size])).toBe(true);
}

function expectTyped(outcome: Outcome, name: string, code?: string): void {
  expect(outcome.data, "expected a rejection, got data").toBeUndefined();
  expect(isRangeStoreError(outcome.error), `not a typed error: ${String(outcome.error)}`).toBe(true);
  expect((outcome.error as Error).name).toBe(name);
  if (code !== undefined) expect((outcome.error as { code: string }).code).toBe(code);
}

/**
 * Faults that a retry recovers from, each fired ONCE: on the head request (the first range, which also learns the
 * size) or on one later range. `headOfLarge` says what a fault on a large object's head leads to when that is not
 * exact bytes: a total that is wrong on the response the read planned with shows up as every later range naming
 * another size, which no retry of those ranges can fix.
 */
const TRANSIENT: { name: string; fault: Fault; headOfLarge?: { name: string; code: string } }[] = [
  { name: "connection reset mid-body", fault: { kind: "reset", afterBytes: 64 * KiB } },
  { name: "connection reset before the body", fault: { kind: "reset", afterBytes: 0 } },
  { name: "stall after N bytes", fault: { kind: "stall", afterBytes: 100 * KiB } },
  { name: "stall before the headers", fault: { kind: "stall", during: "headers" } },
  { name: "503 SlowDown", fault: { kind: "status", status: 503, code: "SlowDown" } },
  { name: "500 InternalError", fault: { kind: "status", status: 500 } },
  { name: "429 with Retry-After", fault: { kind: "status", status: 429, retryAfter: 0 } },
  { name: "body truncated (connection closed)", fault: { kind: "truncate", bytes: 10 * KiB } },
  { name: "body truncated (short Content-Length)", fault: { kind: "truncate", bytes: 10 * KiB, mode: "content-length" } },
  { name: "Content-Range shifted", fault: { kind: "content-range", shift: 1 } },
  {
    name: "Content-Range total too small",
    fault: { kind: "content-range", totalDelta: -1 },
    headOfLarge: { name: "IntegrityError", code: "E_SIZE_MISMATCH" },
  },
  {
    name: "Content-Range total too large",
    fault: { kind: "content-range", totalDelta: 1 },
    headOfLarge: { name: "IntegrityError", code: "E_SIZE_MISMATCH" },
  },
];

describe("transient faults: exact bytes after a retry", () => {
  for (const { name, fault, headOfLarge } of TRANSIENT) {
    describe(name, () => {
      it("on one range of a large object (engine, several ranges): exact bytes, retries = 1", async () => {
        proxy.setRules([{ ...target("large", "ranges"), nth: 2, fault }]);
        const outcome = await timedGet(proxiedStore(), "large");
        expectExact(outcome, "large");
        expect(proxy.stats().faults).toBe(1);
        expect(outcome.stats?.retries).toBe(1);
        expect(outcome.stats?.ranges).toBe(7);
        expect(outcome.ms).toBeLessThan(WORST_CASE_MS);
      });

      it(`on the head request of a large object: ${headOfLarge ? `${headOfLarge.name} ${headOfLarge.code}` : "exact bytes, retries = 1"}`, async () => {
        proxy.setRules([{ ...target("large", "head"), nth: 1, fault }]);
        const outcome = await timedGet(proxiedStore(), "large");
        expect(proxy.stats().faults).toBe(1);
        expect(outcome.ms).toBeLessThan(WORST_CASE_MS);
        if (headOfLarge) {
          expectTyped(outcome, headOfLarge.name, headOfLarge.code);
          return;
        }
        expectExact(outcome, "large");
        expect(outcome.stats?.retries).toBe(1);
      });

      it("on the single request of a small object: exact bytes, retries = 1", async () => {
        proxy.setRules([{ ...target("small", "any"), nth: 1, fault }]);
        const outcome = await timedGet(proxiedStore(), "small");
        expectExact(outcome, "small");
        expect(proxy.stats().faults).toBe(1);
        expect(outcome.stats?.retries).toBe(1);
        expect(outcome.ms).toBeLessThan(WORST_CASE_MS);
      });
    });
  }
});

/** Faults that never go away: the read must give up with the right typed error, after exactly `attempts` tries. */
const PERSISTENT: { name: string; fault: Fault; error: string; code: string }[] = [
  { name: "connection reset mid-body", fault: { kind: "reset", afterBytes: 64 * KiB }, error: "BackendError", code: "E_NETWORK" },
  { name: "stall after N bytes", fault: { kind: "stall", afterBytes: 64 * KiB }, error: "TimeoutError", code: "E_TIMEOUT" },
  { name: "stall before the headers", fault: { kind: "stall", during: "headers" }, error: "TimeoutError", code: "E_TIMEOUT" },
  { name: "latency beyond the stall timeout", fault: { kind: "latency", ms: 5_000 }, error: "TimeoutError", code: "E_TIMEOUT" },
  { name: "503 SlowDown", fault: { kind: "status", status: 503 }, error: "BackendError", code: "E_THROTTLED" },
  { name: "500 InternalError", fault: { kind: "status", status: 500 }, error: "BackendError", code: "E_SERVER" },
  { name: "429 Too Many Requests", fault: { kind: "status", status: 429, retryAfter: 0 }, error: "BackendError", code: "E_THROTTLED" },
  { name: "body truncated (connection closed)", fault: { kind: "truncate", bytes: 1000 }, error: "BackendError", code: "E_NETWORK" },
  { name: "body truncated (short Content-Length)", fault: { kind: "truncate", bytes: 1000, mode: "content-length" }, error: "IntegrityError", code: "E_BAD_CONTENT_RANGE" },
  { name: "Content-Range shifted", fault: { kind: "content-range", shift: 4096 }, error: "IntegrityError", code: "E_BAD_CONTENT_RANGE" },
];

describe("persistent faults: a typed error after exactly `attempts` tries, in bounded time", () => {
  const PERSISTENT_TIMEOUT_MS = 800;
  const retry = { attempts: 3, baseDelayMs: 20, maxDelayMs: 200 };
  const engine: RangeEngineOptions = { ...ENGINE, rangeTimeoutMs: PERSISTENT_TIMEOUT_MS, retry };
  const bound = retry.attempts * (PERSISTENT_TIMEOUT_MS + retry.maxDelayMs) + 2_000;
  for (const { name, fault, error, code } of PERSISTENT) {
    it(`${name}: ${error} ${code} (small object; large object, one range)`, async () => {
      const store = proxiedStore({ engine });
      proxy.setRules([{ ...target("small", "any"), fault }]);
      const small = await timedGet(store, "small");
      expectTyped(small, error, code);
      expect((small.error as { retryable: boolean }).retryable).toBe(true);
      expect(proxy.count({ fault: true })).toBe(retry.attempts);
      expect(small.ms).toBeLessThan(bound);

      proxy.setRules([{ ...target("large", "ranges"), range: /^bytes=2097152-/, fault }]);
      proxy.resetStats();
      const large = await timedGet(store, "large");
      expectTyped(large, error, code);
      expect(proxy.count({ fault: true })).toBe(retry.attempts);
      expect(large.ms).toBeLessThan(bound);
      if (code === "E_TIMEOUT") {
        // Every try waited for the stall timer: the timeout is neither skipped nor stretched.
        expect(small.ms).toBeGreaterThanOrEqual(retry.attempts * PERSISTENT_TIMEOUT_MS - 50);
        expect((small.error as Error).message).toMatch(/made no progress for 800 ms \(3 attempts\)/);
      }
    });
  }
});

describe("retry layers and hints", () => {
  it("with the SDK's own retries (maxAttempts 3), a 503 is retried below the engine: exact bytes, RangeStats.retries 0", async () => {
    proxy.setRules([{ ...target("small", "any"), nth: 1, fault: { kind: "status", status: 503 } }]);
    const outcome = await timedGet(proxiedStore({ maxAttempts: 3 }), "small");
    expectExact(outcome, "small");
    expect(outcome.stats?.retries).toBe(0);
    expect(proxy.count({ method: "GET" })).toBe(2);
  });

  it("Retry-After is the floor of the engine's backoff (head request and later ranges)", async () => {
    const store = proxiedStore({ engine: { ...ENGINE, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 3_000 } } });
    proxy.setRules([{ ...target("small", "any"), nth: 1, fault: { kind: "status", status: 429, retryAfter: 1 } }]);
    const small = await timedGet(store, "small");
    expectExact(small, "small");
    expect(small.stats?.retries).toBe(1);
    expect(small.ms).toBeGreaterThanOrEqual(1_000);

    proxy.setRules([{ ...target("large", "ranges"), nth: 3, fault: { kind: "status", status: 503, retryAfter: 1 } }]);
    const large = await timedGet(store, "large");
    expectExact(large, "large");
    expect(large.stats?.retries).toBe(1);
    expect(large.ms).toBeGreaterThanOrEqual(1_000);
  });

  it("latency below the stall timeout: exact bytes, no retries", async () => {
    proxy.setRules([{ ...target("large", "any"), probability: 0.5, fault: { kind: "latency", ms: 300 } }]);
    const outcome = await timedGet(proxiedStore(), "large");
    expectExact(outcome, "large");
    expect(outcome.stats?.retries).toBe(0);
    expect(proxy.count({ fault: "latency" })).toBeGreaterThan(0);
  });
});

describe("other read paths under faults", () => {
  it("getStream: a reset and a stall on two ranges still yield the exact bytes, in order", async () => {
    proxy.setRules([
      { ...target("large", "ranges"), nth: 2, fault: { kind: "reset", afterBytes: 1000 } },
      { ...target("large", "ranges"), nth: 4, fault: { kind: "stall", afterBytes: 1000 } },
    ]);
    const chunks: Uint8Array[] = [];
    for await (const chunk of proxiedStore().getStream(KEYS.large)) chunks.push(chunk);
    expect(equalBytes(Buffer.concat(chunks), LARGE)).toBe(true);
    expect(proxy.stats().faults).toBe(2);
  });

  it("getRange (one request, outside the engine's plan) gets the same stall timer and retries", async () => {
    const store = proxiedStore();
    proxy.setRules([{ ...target("large", "any"), nth: 1, fault: { kind: "stall", afterBytes: 10 } }]);
    const started = performance.now();
    const range = await store.getRange(KEYS.large, 3 * MiB + 5, 200 * KiB);
    expect(equalBytes(range, LARGE.subarray(3 * MiB + 5, 3 * MiB + 5 + 200 * KiB))).toBe(true);
    expect(performance.now() - started).toBeLessThan(WORST_CASE_MS);
    expect(proxy.count({ method: "GET" })).toBe(2);
  });

  it("stat (HeadObject) stalled once: answered by the retry", async () => {
    proxy.setRules([{ method: "HEAD", nth: 1, fault: { kind: "stall", during: "headers" } }]);
    const meta = await proxiedStore().stat(KEYS.large);
    expect(meta.size).toBe(LARGE.length);
    expect(proxy.count({ method: "HEAD" })).toBe(2);
  });

  it("an abort while a range is stalled rejects AbortError at once, whatever the stall timeout", async () => {
    proxy.setRules([{ ...target("large", "ranges"), fault: { kind: "stall", afterBytes: 1000 } }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const outcome = await timedGet(proxiedStore({ engine: { ...ENGINE, rangeTimeoutMs: 60_000 } }), "large", { signal: controller.signal });
    expect((outcome.error as Error).name).toBe("AbortError");
    expect(outcome.ms).toBeLessThan(1_000);
  });

  it("seeded chaos (resets, 503s, truncations, each on 5% of GETs): every read is exact or a typed error", async () => {
    const fault = (f: Fault): FaultRule => ({ method: "GET", path: new RegExp(`/${RUN}faults/`), probability: 0.05, fault: f });
    proxy.setRules([
      fault({ kind: "reset", afterBytes: 32 * KiB }),
      fault({ kind: "status", status: 503 }),
      fault({ kind: "truncate", bytes: 5000 }),
    ]);
    const store = proxiedStore({ engine: { ...ENGINE, rangeTimeoutMs: 500 } });
    const tally = { exact: 0, typed: 0, retries: 0 };
    for (let i = 0; i < 24; i++) {
      const size: Size = i % 3 === 0 ? "large" : "small";
      const outcome = await timedGet(store, size);
      if (outcome.data) {
        expectExact(outcome, size);
        tally.exact++;
        tally.retries += outcome.stats!.retries;
      } else {
        expect(isRangeStoreError(outcome.error), String(outcome.error)).toBe(true);
        tally.typed++;
      }
    }
    expect(tally.exact + tally.typed).toBe(24);
    expect(proxy.stats().faults).toBeGreaterThan(0);
    // With 4 tries per range, a 15% fault rate almost never exhausts one: retries absorb the faults.
    expect(tally.retries).toBeGreaterThan(0);
    console.info(`chaos: ${JSON.stringify({ ...tally, ...proxy.stats() })}`);
  });
});

describe("downloadFile under faults: the file is whole or absent", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "range-faults-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("a transient reset on one range: the file has the exact bytes", async () => {
    proxy.setRules([{ ...target("large", "ranges"), nth: 3, fault: { kind: "reset", afterBytes: 100 } }]);
    let stats: RangeStats | undefined;
    await downloadFile(proxiedStore(), KEYS.large, join(dir, "ok.bin"), { onStats: (s) => (stats = s) });
    expect(equalBytes(await readFile(join(dir, "ok.bin")), LARGE)).toBe(true);
    expect(stats?.retries).toBe(1);
    expect(await readdir(dir)).toEqual(["ok.bin"]);
  });

  it("a persistent fault on one range: rejects typed, leaves no file and no temporary file", async () => {
    proxy.setRules([{ ...target("large", "ranges"), range: /^bytes=3145728-/, fault: { kind: "status", status: 500 } }]);
    const path = join(dir, "failed", "big.bin");
    const error = await downloadFile(proxiedStore(), KEYS.large, path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe("BackendError");
    expect(await readdir(join(dir, "failed"))).toEqual([]);
  });

  it("an existing file is left untouched when a download over it fails", async () => {
    const path = join(dir, "keep.bin");
    await downloadFile(proxiedStore(), KEYS.small, path);
    proxy.setRules([{ ...target("large", "any"), fault: { kind: "reset", afterBytes: 1 } }]);
    await expect(downloadFile(proxiedStore(), KEYS.large, path)).rejects.toMatchObject({ name: "BackendError" });
    expect(equalBytes(await readFile(path), SMALL)).toBe(true);
    expect((await readdir(dir)).filter((name) => name.includes("keep"))).toEqual(["keep.bin"]);
  });

  it("an abort mid-download leaves no file", async () => {
    proxy.setRules([{ ...target("large", "ranges"), fault: { kind: "latency", ms: 2_000 } }]);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const path = join(dir, "aborted.bin");
    await expect(downloadFile(proxiedStore(), KEYS.large, path, { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect((await readdir(dir)).filter((name) => name.includes("aborted"))).toEqual([]);
  });
});

describe("writes under faults: no visible object, no orphaned multipart upload", () => {
  const multipart: Partial<S3StoreOptions> = { multipartThreshold: 5 * MiB, partSize: 5 * MiB, uploadConcurrency: 2 };
  const DATA = bytes(12 * MiB + 5, 903); // 3 parts
  const direct = () => {
    const store = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN });
    stores.push(store);
    return store;
  };

  const uploadPart = (n: number): Pick<FaultRule, "method" | "path"> => ({ method: "PUT", path: new RegExp(`[?&]partNumber=${n}(&|$)`) });

  it("a connection reset during an UploadPart body: put rejects BackendError, the upload is aborted, no object", async () => {
    proxy.setRules([{ ...uploadPart(2), nth: 1, fault: { kind: "reset", during: "request", afterBytes: 1 * MiB } }]);
    const key = "faults/put-reset.bin";
    const error = await proxiedStore(multipart)
      .put(key, DATA)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(isRangeStoreError(error) && (error as Error).name).toBe("BackendError");
    expect((error as { code: string }).code).toBe("E_NETWORK");
    expect(proxy.count({ method: "DELETE", path: /uploadId=/ })).toBe(1); // AbortMultipartUpload
    expect(proxy.count({ method: "POST", path: /uploadId=/ })).toBe(0); // no CompleteMultipartUpload
    expect(await inProgressUploads(key)).toEqual([]);
    expect(await direct().exists(key)).toBe(false);
  });

  it("the same reset with the SDK's retries (maxAttempts 3): the part is sent again and the object is exact", async () => {
    proxy.setRules([{ ...uploadPart(2), nth: 1, fault: { kind: "reset", during: "request", afterBytes: 1 * MiB } }]);
    const key = "faults/put-retried.bin";
    await proxiedStore({ ...multipart, maxAttempts: 3 }).put(key, DATA);
    expect(proxy.count({ method: "PUT", path: /partNumber=2/ })).toBe(2);
    expect(equalBytes(await direct().get(key), DATA)).toBe(true);
    expect(await inProgressUploads(key)).toEqual([]);
  });

  it("a 500 on one part of a streamed upload: rejects, aborted, and an older object under the key stays whole", async () => {
    const key = "faults/put-overwrite.bin";
    const old = bytes(3 * MiB, 904);
    await direct().put(key, old);
    proxy.setRules([{ ...uploadPart(3), fault: { kind: "status", status: 500 } }]);
    async function* stream() {
      for (let offset = 0; offset < DATA.length; offset += 1 * MiB) yield DATA.subarray(offset, offset + 1 * MiB);
    }
    await expect(proxiedStore(multipart).put(key, stream())).rejects.toMatchObject({ name: "BackendError", code: "E_SERVER" });
    expect(await inProgressUploads(key)).toEqual([]);
    expect(equalBytes(await direct().get(key), old)).toBe(true);
  });

  it("a reset during a single PutObject: rejects, no object", async () => {
    proxy.setRules([{ method: "PUT", nth: 1, fault: { kind: "reset", during: "request", afterBytes: 100 * KiB } }]);
    const key = "faults/put-single.bin";
    await expect(proxiedStore(multipart).put(key, bytes(1 * MiB, 905))).rejects.toMatchObject({ name: "BackendError", code: "E_NETWORK" });
    expect(await direct().exists(key)).toBe(false);
  });

  it("an abort while an UploadPart is stalled: AbortError at once, the upload is aborted, no object", async () => {
    proxy.setRules([{ ...uploadPart(1), fault: { kind: "stall", during: "request", afterBytes: 1 * MiB } }]);
    const key = "faults/put-aborted.bin";
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const started = performance.now();
    await expect(proxiedStore(multipart).put(key, DATA, { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await inProgressUploads(key)).toEqual([]);
    expect(await direct().exists(key)).toBe(false);
  });

  it("the answer to CompleteMultipartUpload lost (reset after the server committed): put rejects, the object is whole, never torn", async () => {
    proxy.setRules([{ method: "POST", path: /uploadId=/, fault: { kind: "reset", afterBytes: 0 } }]);
    const key = "faults/put-complete-lost.bin";
    const error = await proxiedStore(multipart)
      .put(key, DATA)
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect((error as Error).name).toBe("BackendError");
    expect(await inProgressUploads(key)).toEqual([]);
    // The server had committed before the connection went: the object is there, complete. What can never happen is
    // a partial object.
    expect(equalBytes(await direct().get(key), DATA)).toBe(true);
  });
});

describe("writes and metadata calls never hang: the socket-inactivity timeout (engine.rangeTimeoutMs)", () => {
  it("a stalled UploadPart without any signal: TimeoutError after the timeout, upload aborted, no object", async () => {
    const key = "faults/put-stalled.bin";
    proxy.setRules([{ method: "PUT", path: /partNumber=1(&|$)/, fault: { kind: "stall", during: "request", afterBytes: 1 * MiB } }]);
    const store = proxiedStore({ multipartThreshold: 5 * MiB, partSize: 5 * MiB });
    const started = performance.now();
    await expect(store.put(key, bytes(12 * MiB, 906))).rejects.toMatchObject({ name: "TimeoutError", code: "E_TIMEOUT" });
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(RANGE_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(RANGE_TIMEOUT_MS + 5_000);
    expect(await inProgressUploads(key)).toEqual([]);
    const direct = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN });
    stores.push(direct);
    expect(await direct.exists(key)).toBe(false);
  });

  it("a stalled listing and a stalled delete fail with TimeoutError instead of hanging", async () => {
    const store = proxiedStore();
    proxy.setRules([{ method: "GET", path: /list-type=2/, fault: { kind: "stall", during: "headers" } }]);
    const listing = (async () => {
      for await (const _ of store.list("faults/")) break;
    })();
    await expect(listing).rejects.toMatchObject({ name: "TimeoutError" });
    proxy.setRules([{ method: "DELETE", fault: { kind: "stall", during: "headers" } }]);
    await expect(store.delete("faults/nothing-here.bin")).rejects.toMatchObject({ name: "TimeoutError" });
  });
});
