import { downloadFile, isRangeStoreError, type ObjectStore, type RangeEngineOptions } from "@range/core";
import { runReadFaultSuite, startFaultProxy, type Fault, type FaultProxy, type FaultRule } from "@range/test-servers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AzureDriver, createAzureStore, type AzureStoreOptions } from "../src/index.js";
import { CONTAINER, RUN, bytes, connection, equalBytes } from "./helpers.js";

/**
 * The fault proxy in front of Azurite: every fault of issue 9 on the Blob service's downloads and uploads. Exact bytes
 * or the right typed error in bounded time, never a hang; a failed put leaves no blob.
 */

const MiB = 1024 * 1024;
const KiB = 1024;

/** A 6 MiB blob is a head request plus 6 ranges of 1 MiB; a short stall timeout and backoff keep the run short. */
const RANGE_TIMEOUT_MS = 1_500;
const RETRY = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200 };
const ENGINE: RangeEngineOptions = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 4, rangeTimeoutMs: RANGE_TIMEOUT_MS, retry: RETRY };

const LARGE = bytes(6 * MiB + 123, 701);
const SMALL = bytes(200 * KiB + 7, 702);
const KEYS = { large: "faults/large.bin", small: "faults/small.bin" } as const;
const SOURCE = { large: LARGE, small: SMALL } as const;
type Size = keyof typeof KEYS;

let proxy: FaultProxy;
const stores: ObjectStore[] = [];
const drivers: AzureDriver[] = [];

/** A store that talks to Azurite through the proxy. `maxTries: 1` leaves every retry to the engine (visible in RangeStats). */
function proxiedStore(options: Partial<AzureStoreOptions> = {}): ObjectStore {
  const store = createAzureStore({ ...connection(), endpoint: proxyEndpoint(), container: CONTAINER, prefix: RUN, engine: ENGINE, maxTries: 1, ...options });
  stores.push(store);
  return store;
}

function directStore(): ObjectStore {
  const store = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN });
  stores.push(store);
  return store;
}

/** The proxy's origin with the account path of Azurite's blob endpoint. */
function proxyEndpoint(): string {
  return proxy.endpoint + new URL(connection().endpoint).pathname;
}

/** Blocks staged for `key` but never committed, asked of the server directly (Get Block List). */
async function uncommittedBlocks(key: string): Promise<number> {
  const driver = new AzureDriver({ ...connection(), container: CONTAINER, prefix: RUN });
  drivers.push(driver);
  const blob = await driver.blobClient(key);
  try {
    const list = await blob.getBlockList("uncommitted");
    return list.uncommittedBlocks?.length ?? 0;
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return 0;
    throw error;
  }
}

beforeAll(async () => {
  proxy = await startFaultProxy({ target: new URL(connection().endpoint).origin });
  const direct = directStore();
  await direct.put(KEYS.large, LARGE);
  await direct.put(KEYS.small, SMALL);
});
afterAll(async () => {
  await directStore().deletePrefix("faults/");
  for (const store of stores) await store.close();
  for (const driver of drivers) await driver.close();
  await proxy.close();
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.resetStats();
});

/** Rules aim at one blob's downloads: its head request (`bytes=0-`) or the ranges after it. */
function target(size: Size, which: "head" | "ranges" | "any"): Pick<FaultRule, "method" | "path" | "range"> {
  return {
    method: "GET",
    path: new RegExp(`/${CONTAINER}/${RUN}${KEYS[size]}`.replace(/[.]/g, "\\.")),
    range: which === "head" ? /^bytes=0-/ : which === "ranges" ? /^bytes=[1-9]/ : true,
  };
}

/** A Blob service error answer: the XML body and the `x-ms-error-code` header the SDK reads. */
function azureStatus(status: number, code: string, retryAfter?: number): Fault {
  return {
    kind: "status",
    status,
    body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>injected by the fault proxy</Message></Error>`,
    contentType: "application/xml",
    headers: { "x-ms-error-code": code },
    ...(retryAfter !== undefined ? { retryAfter } : {}),
  };
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
  statusFault: (status, retryAfter) => azureStatus(status, { 503: "ServerBusy", 500: "InternalError", 429: "TooManyRequests" }[status], retryAfter),
  statusNames: { 503: "503 ServerBusy", 500: "500 InternalError" },
  noun: "blob",
  isTyped: isRangeStoreError,
  downloadFile,
  chaosPath: new RegExp(`/${RUN}faults/`),
  name: "azure",
});

describe("retry layers, hints and other read paths", () => {
  it("with the SDK's own retries (maxTries 3), a 503 is retried below the engine: exact bytes, RangeStats.retries 0", async () => {
    proxy.setRules([{ ...target("small", "any"), nth: 1, fault: azureStatus(503, "ServerBusy") }]);
    const outcome = await timedGet(proxiedStore({ maxTries: 3, pipelineOptions: { retryOptions: { maxTries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 50 } } }), "small");
    expectExact(outcome, "small");
    expect(outcome.stats?.retries).toBe(0);
    expect(proxy.count({ method: "GET" })).toBe(2);
  });

  it("Retry-After is the floor of the engine's backoff", async () => {
    const store = proxiedStore({ engine: { ...ENGINE, retry: { attempts: 3, baseDelayMs: 1, maxDelayMs: 3_000 } } });
    proxy.setRules([{ ...target("large", "ranges"), nth: 3, fault: azureStatus(503, "ServerBusy", 1) }]);
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
    proxy.setRules([{ method: "HEAD", nth: 1, fault: { kind: "stall", during: "headers" } }]);
    expect((await store.stat(KEYS.large)).size).toBe(LARGE.length);
    expect(proxy.count({ method: "HEAD" })).toBe(2);
  });
});

describe("writes under faults: no visible blob; staged blocks stay uncommitted until the next commit", () => {
  const staged: Partial<AzureStoreOptions> = { blockUploadThreshold: 2 * MiB, blockSize: 1 * MiB, uploadConcurrency: 2 };
  const DATA = bytes(5 * MiB + 5, 703); // 6 blocks
  const stageBlock = (nth?: number): Pick<FaultRule, "method" | "path" | "nth"> => ({ method: "PUT", path: /[?&]comp=block(&|$)/, ...(nth ? { nth } : {}) });

  it("a connection reset during a StageBlock body: put rejects E_NETWORK, nothing committed, no blob", async () => {
    proxy.setRules([{ ...stageBlock(3), fault: { kind: "reset", during: "request", afterBytes: 300 * KiB } }]);
    const key = "faults/put-reset.bin";
    await expect(proxiedStore(staged).put(key, DATA)).rejects.toMatchObject({ name: "BackendError", code: "E_NETWORK" });
    expect(proxy.count({ method: "PUT", path: /comp=blocklist/ })).toBe(0);
    expect(await directStore().exists(key)).toBe(false);
    // Azure has no call to drop staged blocks: they stay invisible to reads and listings, and the blob's next
    // commit discards them (Azurite keeps them through a single Put Blob; Azure's docs say it drops them too).
    expect(await uncommittedBlocks(key)).toBeGreaterThan(0);
    const listed: string[] = [];
    for await (const meta of directStore().list("faults/")) listed.push(meta.key);
    expect(listed).not.toContain(key);
    const direct = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN, ...staged });
    stores.push(direct);
    await direct.put(key, DATA);
    expect(await uncommittedBlocks(key)).toBe(0);
    expect(equalBytes(await directStore().get(key), DATA)).toBe(true);
  });

  it("the same reset with the SDK's retries (maxTries 3): the block is sent again and the blob is exact", async () => {
    proxy.setRules([{ ...stageBlock(2), fault: { kind: "reset", during: "request", afterBytes: 300 * KiB } }]);
    const key = "faults/put-retried.bin";
    await proxiedStore({ ...staged, maxTries: 3, pipelineOptions: { retryOptions: { maxTries: 3, retryDelayInMs: 10, maxRetryDelayInMs: 50 } } }).put(key, DATA);
    expect(proxy.count({ method: "PUT", path: /comp=block(&|$)/ })).toBe(7);
    expect(equalBytes(await directStore().get(key), DATA)).toBe(true);
    expect(await uncommittedBlocks(key)).toBe(0);
  });

  it("a 500 on one block of a streamed upload: rejects E_SERVER, and an older blob under the key stays whole", async () => {
    const key = "faults/put-overwrite.bin";
    await directStore().put(key, SMALL);
    proxy.setRules([{ ...stageBlock(4), fault: azureStatus(500, "InternalError") }]);
    async function* stream() {
      for (let offset = 0; offset < DATA.length; offset += 256 * KiB) yield DATA.subarray(offset, offset + 256 * KiB);
    }
    await expect(proxiedStore(staged).put(key, stream())).rejects.toMatchObject({ name: "BackendError", code: "E_SERVER" });
    expect(equalBytes(await directStore().get(key), SMALL)).toBe(true);
  });

  it("a 500 on CommitBlockList: rejects, no blob", async () => {
    const key = "faults/put-commit-500.bin";
    proxy.setRules([{ method: "PUT", path: /comp=blocklist/, fault: azureStatus(500, "InternalError") }]);
    await expect(proxiedStore(staged).put(key, DATA)).rejects.toMatchObject({ name: "BackendError", code: "E_SERVER" });
    expect(await directStore().exists(key)).toBe(false);
  });

  it("a reset during a single Put Blob: rejects E_NETWORK, no blob", async () => {
    proxy.setRules([{ method: "PUT", nth: 1, fault: { kind: "reset", during: "request", afterBytes: 100 * KiB } }]);
    const key = "faults/put-single.bin";
    await expect(proxiedStore(staged).put(key, bytes(1 * MiB, 704))).rejects.toMatchObject({ name: "BackendError", code: "E_NETWORK" });
    expect(await directStore().exists(key)).toBe(false);
  });

  it("an abort while a StageBlock is stalled: AbortError at once, nothing committed, no blob", async () => {
    proxy.setRules([{ ...stageBlock(), fault: { kind: "stall", during: "request", afterBytes: 200 * KiB } }]);
    const key = "faults/put-aborted.bin";
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 500);
    const started = performance.now();
    await expect(proxiedStore(staged).put(key, DATA, { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(proxy.count({ method: "PUT", path: /comp=blocklist/ })).toBe(0);
    expect(await directStore().exists(key)).toBe(false);
  });

  it("the answer to CommitBlockList lost (the service committed, no answer came): put rejects, the blob is whole, never torn", async () => {
    // The commit's answer has no body: the proxy forwards the request whole, then resets before the answer's headers.
    proxy.setRules([{ method: "PUT", path: /comp=blocklist/, fault: { kind: "reset", during: "headers" } }]);
    const key = "faults/put-commit-lost.bin";
    await expect(proxiedStore(staged).put(key, DATA)).rejects.toMatchObject({ name: "BackendError", code: "E_NETWORK" });
    expect(proxy.count({ fault: "reset" })).toBe(1);
    expect(equalBytes(await directStore().get(key), DATA)).toBe(true);
  });

  it("a stalled StageBlock without any signal: TimeoutError after the stall timeout, nothing committed, no blob", async () => {
    proxy.setRules([{ ...stageBlock(), fault: { kind: "stall", during: "request", afterBytes: 200 * KiB } }]);
    const key = "faults/put-stalled.bin";
    const started = performance.now();
    await expect(proxiedStore(staged).put(key, DATA)).rejects.toMatchObject({ name: "TimeoutError", code: "E_TIMEOUT" });
    const ms = performance.now() - started;
    expect(ms).toBeGreaterThanOrEqual(RANGE_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(RANGE_TIMEOUT_MS + 5_000);
    expect(await directStore().exists(key)).toBe(false);
  });

  it("a stalled listing and a stalled delete fail with TimeoutError instead of hanging", async () => {
    const store = proxiedStore();
    proxy.setRules([{ method: "GET", path: /comp=list/, fault: { kind: "stall", during: "headers" } }]);
    const listing = (async () => {
      for await (const _ of store.list("faults/")) break;
    })();
    await expect(listing).rejects.toMatchObject({ name: "TimeoutError" });
    proxy.setRules([{ method: "DELETE", fault: { kind: "stall", during: "headers" } }]);
    await expect(store.delete("faults/nothing-here.bin")).rejects.toMatchObject({ name: "TimeoutError" });
  });
});
