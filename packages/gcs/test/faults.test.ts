import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadFile, isRangeStoreError, type ObjectStore, type RangeEngineOptions } from "@range/core";
import { runReadFaultSuite, startFaultProxy, type Fault, type FaultProxy, type FaultRule } from "@range/test-servers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { GcsDriver, type GcsStoreOptions } from "../src/index.js";
import { BUCKET, RUN, bytes, endpoint, equalBytes, gcsStore } from "./helpers.js";

/**
 * The fault proxy in front of fake-gcs-server: every fault of issue 9 on media downloads and uploads. Exact bytes or
 * the right typed error in bounded time, never a hang; a failed put leaves no object and no open resumable session.
 */

const MiB = 1024 * 1024;
const KiB = 1024;

/** A 6 MiB object is a head request plus 6 ranges of 1 MiB; a short stall timeout and backoff keep the run short. */
const RANGE_TIMEOUT_MS = 1_500;
const RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 };
const ENGINE: RangeEngineOptions = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 4, rangeTimeoutMs: RANGE_TIMEOUT_MS, retry: RETRY };

const LARGE = bytes(6 * MiB + 123, 601);
const SMALL = bytes(200 * KiB + 7, 602);
const KEYS = { large: "faults/large.bin", small: "faults/small.bin" } as const;
const SOURCE = { large: LARGE, small: SMALL } as const;
type Size = keyof typeof KEYS;

let proxy: FaultProxy;
const stores: ObjectStore[] = [];
const drivers: GcsDriver[] = [];

/** The SDK's own retries off (uploads, metadata): what the engine and the driver do is what the test sees. */
const NO_SDK_RETRIES = { retryOptions: { autoRetry: false } } as const;

/** A store that talks to fake-gcs-server through the proxy. */
function proxiedStore(options: Partial<GcsStoreOptions> & { engine?: RangeEngineOptions } = {}): ObjectStore {
  const { store, driver } = gcsStore({ apiEndpoint: proxy.endpoint, engine: ENGINE, storageOptions: NO_SDK_RETRIES, ...options });
  stores.push(store);
  drivers.push(driver);
  return store;
}

function directStore(options: Partial<GcsStoreOptions> = {}): ObjectStore {
  const { store, driver } = gcsStore(options);
  stores.push(store);
  drivers.push(driver);
  return store;
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

/** The media GETs of one object: `/storage/v1/b/<bucket>/o/<name, percent-encoded>?alt=media`. */
function objectPath(key: string): RegExp {
  return new RegExp(`/b/${BUCKET}/o/${escape(encodeURIComponent(RUN + key))}\\?alt=media`);
}

beforeAll(async () => {
  proxy = await startFaultProxy({ target: endpoint() });
  const direct = directStore();
  await direct.put(KEYS.large, LARGE);
  await direct.put(KEYS.small, SMALL);
});
afterAll(async () => {
  await directStore().deletePrefix("faults/");
  for (const store of stores) await store.close();
  await proxy.close();
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.resetStats();
});

/** Rules aim at one object's media GETs: its head request (`bytes=0-`) or the ranges after it. */
function target(size: Size, which: "head" | "ranges" | "any"): Pick<FaultRule, "method" | "path" | "range"> {
  return { method: "GET", path: objectPath(KEYS[size]), range: which === "head" ? /^bytes=0-/ : which === "ranges" ? /^bytes=[1-9]/ : true };
}

/** A JSON API error answer, as GCS sends it. */
function gcsStatus(status: number, retryAfter?: number): Fault {
  return {
    kind: "status",
    status,
    body: JSON.stringify({ error: { code: status, message: `injected by the fault proxy (HTTP ${status})` } }),
    contentType: "application/json",
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  };
}

/** The transient and persistent fault tables shared by every cloud backend (@range/test-servers). */
const { timedGet, expectExact, expectTyped } = runReadFaultSuite({
  vitest: { describe, it, expect },
  proxy: () => proxy,
  proxiedStore,
  engine: ENGINE,
  keys: KEYS,
  source: SOURCE,
  largeRanges: 7,
  rangeSize: 1 * MiB,
  target,
  statusFault: gcsStatus,
  statusNames: { 503: "503 Service Unavailable", 500: "500 Internal Server Error" },
  noun: "object",
  isTyped: isRangeStoreError,
  downloadFile,
  chaosPath: new RegExp(`/o/${encodeURIComponent(`${RUN}faults/`)}`),
  name: "gcs",
});

describe("retry layers, hints and other read paths", () => {
  it("Retry-After is the floor of the engine's backoff", async () => {
    const store = proxiedStore({ engine: { ...ENGINE, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 3_000 } } });
    proxy.setRules([{ ...target("large", "ranges"), nth: 3, fault: gcsStatus(503, 1) }]);
    const large = await timedGet(store, "large");
    expectExact(large, "large");
    expect(large.stats?.retries).toBe(1);
    expect(large.ms).toBeGreaterThanOrEqual(1_000);
  });

  it("getRange and stat, stalled once: answered by the retry", async () => {
    const store = proxiedStore();
    proxy.setRules([{ ...target("large", "any"), nth: 1, fault: { kind: "stall", afterBytes: 10 } }]);
    const range = await store.getRange(KEYS.large, 3 * MiB + 5, 200 * KiB);
    expect(equalBytes(range, LARGE.subarray(3 * MiB + 5, 3 * MiB + 5 + 200 * KiB))).toBe(true);
    expect(proxy.count({ method: "GET" })).toBe(2);
    // stat is objects.get (JSON metadata), through the SDK.
    proxy.setRules([{ method: "GET", path: /\/o\/[^?]*$/, nth: 1, fault: { kind: "stall", during: "headers" } }]);
    expect((await store.stat(KEYS.large)).size).toBe(LARGE.length);
    expect(proxy.count({ fault: "stall" })).toBe(1);
  });
});

describe("writes under faults: no visible object, no open resumable session", () => {
  // Resumable from 2 MiB, in 1 MiB chunks (each its own PUT to the session URI); below it one multipart upload.
  const upload: Partial<GcsStoreOptions> = { resumableThreshold: 2 * MiB, resumableChunkSize: 1 * MiB };
  const DATA = bytes(5 * MiB + 5, 603);
  const simpleUpload: Pick<FaultRule, "method" | "path"> = { method: "POST", path: /uploadType=multipart/ };
  const sessionChunk: Pick<FaultRule, "method" | "path"> = { method: "PUT", path: /upload_id=/ };

  /** The session URIs the proxy saw chunks sent to, pointed at fake-gcs-server itself. */
  const sessions = () => [...new Set(proxy.log.filter((r) => r.method === "PUT" && /upload_id=/.test(r.path)).map((r) => endpoint() + r.path))];

  /** A resumable session's state on the server: `Content-Range: bytes *\/*` asks without sending bytes (308 = still open). */
  async function sessionStatus(uri: string): Promise<number> {
    const response = await fetch(uri, { method: "PUT", headers: { "content-range": "bytes */*", "content-length": "0" } });
    await response.arrayBuffer();
    return response.status;
  }

  it("a connection reset during a multipart (one-request) upload: rejects E_NETWORK, no object", async () => {
    proxy.setRules([{ ...simpleUpload, nth: 1, fault: { kind: "reset", during: "request", afterBytes: 100 * KiB } }]);
    const key = "faults/put-single.bin";
    await expect(proxiedStore(upload).put(key, bytes(1 * MiB, 604))).rejects.toMatchObject({ name: "BackendError", code: "E_NETWORK" });
    expect(proxy.count({ fault: "reset" })).toBe(1);
    expect(await directStore().exists(key)).toBe(false);
  });

  it("a connection reset during a resumable chunk: rejects, the session is cancelled (DELETE), no object", async () => {
    proxy.setRules([{ ...sessionChunk, nth: 3, fault: { kind: "reset", during: "request", afterBytes: 300 * KiB } }]);
    const key = "faults/put-resumable-reset.bin";
    const error = await proxiedStore(upload).put(key, DATA).then(() => undefined, (e: unknown) => e);
    expect(isRangeStoreError(error), String(error)).toBe(true);
    expect(error).toMatchObject({ name: "BackendError", code: "E_NETWORK", retryable: true });
    expect(proxy.count({ fault: "reset" })).toBe(1);
    expect(await directStore().exists(key)).toBe(false);
    const [session] = sessions();
    expect(session).toBeDefined();
    expect(proxy.count({ method: "DELETE", path: /upload_id=/ })).toBe(1);
    // Still open it would answer 308 (resume incomplete).
    expect(await sessionStatus(session!)).not.toBe(308);
  });

  it("a 500 on one chunk of a streamed upload: rejects BackendError, session cancelled, an older object under the key stays whole", async () => {
    const key = "faults/put-overwrite.bin";
    await directStore().put(key, SMALL);
    proxy.setRules([{ ...sessionChunk, nth: 2, fault: gcsStatus(500) }]);
    async function* stream() {
      for (let offset = 0; offset < DATA.length; offset += 256 * KiB) yield DATA.subarray(offset, offset + 256 * KiB);
    }
    // The SDK reports a failed chunk as "Retry limit exceeded - status: 500" without a status field, so it maps to
    // E_GCS (not E_SERVER): typed, but see the report (errors.ts).
    await expect(proxiedStore(upload).put(key, stream())).rejects.toMatchObject({ name: "BackendError" });
    expect(proxy.count({ method: "DELETE", path: /upload_id=/ })).toBe(1);
    expect(equalBytes(await directStore().get(key), SMALL)).toBe(true);
  });

  it("an abort while a chunk is stalled: AbortError at once, session cancelled, no object", async () => {
    proxy.setRules([{ ...sessionChunk, fault: { kind: "stall", during: "request", afterBytes: 200 * KiB } }]);
    const key = "faults/put-aborted.bin";
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const started = performance.now();
    await expect(proxiedStore(upload).put(key, DATA, { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(await directStore().exists(key)).toBe(false);
    const [session] = sessions();
    expect(await sessionStatus(session!)).not.toBe(308);
  });

  it("a stalled chunk without any signal: TimeoutError after rangeTimeoutMs without progress, session cancelled, no object", async () => {
    proxy.setRules([{ ...sessionChunk, fault: { kind: "stall", during: "request", afterBytes: 200 * KiB } }]);
    const key = "faults/put-stalled.bin";
    const started = performance.now();
    await expect(proxiedStore(upload).put(key, DATA)).rejects.toMatchObject({ name: "TimeoutError", code: "E_TIMEOUT" });
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(RANGE_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(RANGE_TIMEOUT_MS + 5_000);
    expect(await directStore().exists(key)).toBe(false);
    expect(proxy.count({ method: "DELETE", path: /upload_id=/ })).toBe(1);
  });

  it("a stalled listing and a stalled delete fail with TimeoutError instead of hanging", async () => {
    const store = proxiedStore();
    proxy.setRules([{ method: "GET", path: /\/o\?/, fault: { kind: "stall", during: "headers" } }]);
    const listing = (async () => {
      for await (const _ of store.list("faults/")) break;
    })();
    await expect(listing).rejects.toMatchObject({ name: "TimeoutError" });
    proxy.setRules([{ method: "DELETE", fault: { kind: "stall", during: "headers" } }]);
    await expect(store.delete("faults/nothing-here.bin")).rejects.toMatchObject({ name: "TimeoutError" });
  });
});

describe("CRC32C (verifyChecksums, on by default): bytes damaged on the way down", () => {
  const key = KEYS.large;
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "range-gcs-crc-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("small object, one damaged response: read again, checked again → exact bytes, one retry", async () => {
    proxy.setRules([{ ...target("small", "any"), nth: 1, fault: { kind: "corrupt", at: 1000 } }]);
    const outcome = await timedGet(proxiedStore(), "small");
    expectExact(outcome, "small");
    expect(outcome.stats?.retries).toBe(1);
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
  });

  it("small object damaged on every response: IntegrityError E_CHECKSUM after the engine's attempts", async () => {
    proxy.setRules([{ ...target("small", "any"), fault: { kind: "corrupt", at: 5 } }]);
    const outcome = await timedGet(proxiedStore(), "small");
    expectTyped(outcome, "IntegrityError", "E_CHECKSUM");
    expect(proxy.count({ fault: "corrupt" })).toBe(RETRY.attempts);
  });

  it("large object, one damaged range: get, getStream (after the last byte) and downloadFile (no file) fail E_CHECKSUM", async () => {
    const store = proxiedStore();
    proxy.setRules([{ ...target("large", "ranges"), nth: 2, fault: { kind: "corrupt", at: 777 } }]);
    expectTyped(await timedGet(store, "large"), "IntegrityError", "E_CHECKSUM");

    proxy.resetStats();
    proxy.setRules([{ ...target("large", "ranges"), nth: 4, fault: { kind: "corrupt", at: 3 } }]);
    let received = 0;
    const streamed = await (async () => {
      for await (const chunk of store.getStream(key)) received += chunk.length;
    })().then(() => undefined, (e: unknown) => e);
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(streamed).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    expect(received).toBe(LARGE.length);

    proxy.resetStats();
    proxy.setRules([{ ...target("large", "ranges"), nth: 1, fault: { kind: "corrupt", at: 64 * KiB } }]);
    await expect(downloadFile(store, key, join(dir, "large.bin"))).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(await readdir(dir)).toEqual([]);

    proxy.setRules([]);
    await downloadFile(store, key, join(dir, "large.bin"));
    expect(equalBytes(await readFile(join(dir, "large.bin")), LARGE)).toBe(true);
  });

  it("with verifyChecksums: false the damaged range comes back unnoticed (why the check exists)", async () => {
    proxy.setRules([{ ...target("large", "ranges"), nth: 2, fault: { kind: "corrupt", at: 0 } }]);
    const outcome = await timedGet(proxiedStore({ verifyChecksums: false }), "large");
    expect(outcome.error).toBeUndefined();
    expect(equalBytes(outcome.data!, LARGE)).toBe(false);
  });
});
