import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { ListMultipartUploadsCommand, S3Client } from "@aws-sdk/client-s3";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadFile, isRangeStoreError, type ObjectStore, type RangeEngineOptions } from "@range/core";
import { runReadFaultSuite, startFaultProxy, type Fault, type FaultProxy, type FaultRule } from "@range/test-servers";
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

/** S3's error answer: the proxy's default XML body names the code of the status (503 SlowDown, 500 InternalError). */
function s3Status(status: number, retryAfter?: number): Fault {
  return { kind: "status", status, ...(retryAfter !== undefined ? { retryAfter } : {}) };
}

/** The transient and persistent fault tables shared by every cloud backend (@range/test-servers). */
const { timedGet, expectExact } = runReadFaultSuite({
  vitest: { describe, it, expect },
  proxy: () => proxy,
  proxiedStore,
  engine: ENGINE,
  keys: KEYS,
  source: SOURCE,
  largeRanges: 7,
  rangeSize: 1 * MiB,
  target,
  statusFault: s3Status,
  statusNames: { 503: "503 SlowDown", 500: "500 InternalError" },
  noun: "object",
  isTyped: isRangeStoreError,
  downloadFile,
  chaosPath: new RegExp(`/${RUN}faults/`),
  name: "s3",
});

describe("retry layers and hints", () => {
  it.each([true, false])("with maxAttempts 3, a 503 is retried below the engine (directReads %s: by the driver, or by the SDK): exact bytes, RangeStats.retries 0", async (directReads) => {
    proxy.setRules([{ ...target("small", "any"), nth: 1, fault: { kind: "status", status: 503 } }]);
    const outcome = await timedGet(proxiedStore({ maxAttempts: 3, directReads }), "small");
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
});

describe("other read paths under faults", () => {
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
});

describe("downloadFile under faults: the file is whole or absent", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "range-faults-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
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
