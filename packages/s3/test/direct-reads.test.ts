import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { BackendError, IntegrityError, isAbortError, isRangeStoreError, type ObjectStore } from "@range/core";
import { startFaultProxy, type FaultProxy } from "@range/test-servers";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createS3Store, directEndpoint, objectTarget, type S3StoreOptions } from "../src/index.js";
import { BUCKET, RUN, bytes, connection, equalBytes, recordedStore } from "./helpers.js";

const MiB = 1024 * 1024;
const KiB = 1024;

/** Keys whose URL encoding has to match the SDK's byte for byte, or the signature (and the key) is wrong. */
const TRICKY_KEYS = [
  "enc/a b/c+d%e?f#g.bin",
  "enc/ünïcødé/çø ñ 日本語.bin",
  "enc/bang!quote'paren()star*tilde~.bin",
  "enc/semi;eq=amp&at@dollar$comma,colon:[brackets].bin",
  "enc/percent%2Fnot-a-slash%20.bin",
  "enc/dots/.hidden..name",
];

let proxy: FaultProxy;
const stores: ObjectStore[] = [];
const LARGE = bytes(5 * MiB + 333, 71);
const ENGINE = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 2, rangeTimeoutMs: 1_500, retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 } };

function store(options: Partial<S3StoreOptions> = {}): ObjectStore {
  const s = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN, ...options });
  stores.push(s);
  return s;
}

beforeAll(async () => {
  proxy = await startFaultProxy({ target: connection().endpoint });
  await store().put("direct/large.bin", LARGE);
  await store().put("direct/empty.bin", new Uint8Array(0));
});
afterAll(async () => {
  await store().deletePrefix("");
  for (const s of stores) await s.close();
  await proxy.close();
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.resetStats();
});

async function until(condition: () => boolean, ms = 3_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: Error) => error,
  );
}

/** The path and Host header the SDK itself signs for GetObject `key` (captured after signing, never sent). */
async function sdkTarget(endpoint: string, bucket: string, key: string, forcePathStyle: boolean): Promise<{ path: string; host: string }> {
  const client = new S3Client({ endpoint, region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" }, forcePathStyle, maxAttempts: 1 });
  const command = new GetObjectCommand({ Bucket: bucket, Key: key });
  let captured: { path: string; headers: Record<string, string> } | undefined;
  command.middlewareStack.add(
    () => async (args) => {
      captured = args.request as typeof captured;
      throw new Error("captured");
    },
    { step: "finalizeRequest", priority: "low", name: "captureSigned" },
  );
  await client.send(command).catch(() => {});
  client.destroy();
  return { path: captured!.path, host: captured!.headers.host! };
}

describe("key encoding: the same URL as the SDK", () => {
  it.each([
    ["http://127.0.0.1:8333", "range-s3-test", true],
    ["http://127.0.0.1:8333", "range-s3-test", false],
    ["http://localhost:9000/base", "bucket-one", false],
    ["http://localhost:9000/base/", "dotted.bucket", false],
    ["http://localhost:9000/base/", "dotted.bucket", true],
    ["http://localhost:9000/base", "dotted.bucket", false],
    ["http://localhost:9000/", "bucket-one", false],
    ["http://localhost", "bucket-one", true],
    ["http://10.0.0.1:9000/base/", "bucket-one", false],
  ] as const)("%s bucket %s forcePathStyle %s", async (endpoint, bucket, forcePathStyle) => {
    for (const key of [...TRICKY_KEYS, "plain.bin"]) {
      const ours = objectTarget(directEndpoint(endpoint)!, bucket, key, forcePathStyle);
      const sdk = await sdkTarget(endpoint, bucket, key, forcePathStyle);
      expect(ours.path, key).toBe(sdk.path);
      expect(ours.authority, key).toBe(sdk.host);
    }
  });

  it("https endpoints stay on the SDK", () => {
    expect(directEndpoint("https://s3.example.com")).toBeUndefined();
  });

  it.each([true, false])("round trip of tricky keys against SeaweedFS (directReads %s): put, get, getRange, list", async (directReads) => {
    const s = store({ directReads });
    const writer = store({ directReads: false });
    for (const [i, key] of TRICKY_KEYS.entries()) {
      const data = bytes(10 * KiB + i, 100 + i);
      await writer.put(key, data);
      expect(equalBytes(await s.get(key), data), key).toBe(true);
      expect(equalBytes(await s.getRange(key, 5, 100), data.subarray(5, 105)), key).toBe(true);
    }
    const listed: string[] = [];
    for await (const meta of s.list("enc/", { recursive: true })) listed.push(meta.key);
    expect(listed.sort()).toEqual([...TRICKY_KEYS].sort());
  });
});

describe.each([true, false])("error mapping (directReads %s)", (directReads) => {
  it("404 → NotFoundError with the caller's key; one request", async () => {
    const { store: s, log } = await recordedStore({ directReads });
    stores.push(s);
    const error = await rejection(s.get("direct/missing.bin"));
    expect(isRangeStoreError(error) && [error.name, error.code]).toEqual(["NotFoundError", "E_NOT_FOUND"]);
    expect((error as { key?: string }).key).toBe("direct/missing.bin");
    expect(log.requests.map((r) => r.command)).toEqual(["GetObject"]);
  });

  it("a wrong secret → E_AUTH (SignatureDoesNotMatch), not retried, no secret in the message", async () => {
    const secret = "DirectWrongSecret-Zx81Qp";
    const s = store({ directReads, credentials: { accessKeyId: connection().credentials.accessKeyId, secretAccessKey: secret } });
    const error = await rejection(s.get("direct/large.bin"));
    expect(isRangeStoreError(error) && [error.code, error.retryable]).toEqual(["E_AUTH", false]);
    expect(error.message).toMatch(/SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId/);
    expect(error.message).not.toMatch(/&#?\w+;/);
    expect(`${error.message} ${String(error.stack)}`).not.toContain(secret);
  });

  it("503 SlowDown with Retry-After → E_THROTTLED with retryAfterMs (no retries anywhere)", async () => {
    const s = store({ directReads, endpoint: proxy.endpoint, maxAttempts: 1, engine: { ...ENGINE, retry: { attempts: 1 } } });
    proxy.setRules([{ method: "GET", fault: { kind: "status", status: 503, retryAfter: 3 } }]);
    const error = await rejection(s.get("direct/large.bin"));
    expect(BackendError.isInstance(error) && [error.code, error.retryable, error.retryAfterMs]).toEqual(["E_THROTTLED", true, 3000]);
    expect(error.message).toMatch(/SlowDown/);
    expect(proxy.count({ method: "GET" })).toBe(1);
  });

  it("a range past the end → InvalidRangeError (416); a 0-byte object reads as empty (416 → stat)", async () => {
    const s = store({ directReads });
    const error = await rejection(s.getRange("direct/large.bin", LARGE.length + 10, 5));
    expect(isRangeStoreError(error) && error.name).toBe("InvalidRangeError");
    expect((await s.get("direct/empty.bin")).length).toBe(0);
  });

  it("an overwrite between ranges → IntegrityError E_OBJECT_CHANGED (If-Match → 412)", async () => {
    const { store: s, log } = await recordedStore({ directReads, engine: { ...ENGINE, maxConcurrentRanges: 1 } });
    stores.push(s);
    const key = `direct/pinned-${String(directReads)}.bin`;
    await s.put(key, bytes(3 * MiB, 5));
    let overwrite: Promise<unknown> | undefined;
    log.before = async (request) => {
      if (request.command !== "GetObject" || request.headers["if-match"] === undefined) return;
      overwrite ??= store().put(key, bytes(3 * MiB, 6));
      await overwrite;
    };
    const error = await rejection(s.get(key));
    expect(IntegrityError.isInstance(error) && error.code).toBe("E_OBJECT_CHANGED");
  });
});

describe("clock skew", () => {
  it("a signing clock an hour off: RequestTimeTooSkewed, the offset is taken from the server's Date, signed again once", async () => {
    const { store: s, driver, log } = await recordedStore();
    stores.push(s);
    const config = (await driver.client()).config as { systemClockOffset?: number };
    config.systemClockOffset = -3_600_000;
    expect(equalBytes(await s.getRange("direct/large.bin", 10, 1000), LARGE.subarray(10, 1010))).toBe(true);
    expect(log.count("GetObject")).toBe(2);
    expect(Math.abs(config.systemClockOffset)).toBeLessThan(60_000);
    log.clear();
    expect(equalBytes(await s.getRange("direct/large.bin", 10, 1000), LARGE.subarray(10, 1010))).toBe(true);
    expect(log.count("GetObject")).toBe(1);
  });
});

describe("direct reads through a fault proxy: connections", () => {
  it("an abort mid-body closes the connection at once: none left open, at the client or the server side", async () => {
    const { store: s, driver } = await recordedStore({ endpoint: proxy.endpoint, engine: ENGINE });
    stores.push(s);
    proxy.setRules([{ method: "GET", fault: { kind: "stall", afterBytes: 64 * KiB } }]);
    const controller = new AbortController();
    // Other tests' idle keep-alive connections to the proxy stay (or time out): count relative to them.
    const baseline = proxy.openConnections;
    const reading = s.getRange("direct/large.bin", 0, 3 * MiB, { signal: controller.signal });
    await until(() => proxy.count({ method: "GET" }) === 1 && proxy.openConnections === baseline + 1);
    await new Promise((r) => setTimeout(r, 100));
    controller.abort();
    expect(isAbortError(await rejection(reading))).toBe(true);
    expect(driver.directClient!.connectionStats().open).toBe(0);
    await until(() => proxy.openConnections <= baseline);
  });

  it("a response that ends early (connection closed mid-body) is read again: exact bytes, one retry", async () => {
    const s = store({ endpoint: proxy.endpoint, engine: ENGINE, maxAttempts: 1 });
    proxy.setRules([{ method: "GET", range: /^bytes=[1-9]/, nth: 2, fault: { kind: "truncate", bytes: 10 * KiB } }]);
    let retries = -1;
    const data = await s.get("direct/large.bin", { onStats: (stats) => (retries = stats.retries) });
    expect(equalBytes(data, LARGE)).toBe(true);
    expect(retries).toBe(1);
  });

  it("a reset before the response head is retried below the engine (maxAttempts), like the SDK's own retries", async () => {
    const s = store({ endpoint: proxy.endpoint, engine: ENGINE, maxAttempts: 3 });
    proxy.setRules([{ method: "GET", nth: 1, fault: { kind: "reset", during: "headers" } }]);
    let retries = -1;
    const data = await s.get("direct/large.bin", { onStats: (stats) => (retries = stats.retries) });
    expect(equalBytes(data, LARGE)).toBe(true);
    expect(retries).toBe(0);
    expect(proxy.count({ method: "GET" })).toBe(1 + 1 + 5);
  });

  it("keep-alive: 10 sequential gets open at most maxSockets connections", async () => {
    const { store: s, driver } = await recordedStore({ endpoint: proxy.endpoint, engine: ENGINE, maxSockets: 2 });
    stores.push(s);
    for (let i = 0; i < 10; i++) expect(equalBytes(await s.get("direct/large.bin"), LARGE)).toBe(true);
    const stats = driver.directClient!.connectionStats();
    expect(stats.opened).toBeLessThanOrEqual(2);
    expect(stats.queued).toBe(0);
    expect(proxy.count({ method: "GET" })).toBe(10 * 6);
  });
});
