import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { isRangeStoreError, parseRetryAfter } from "@range/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  MAX_PARTS,
  MAX_PART_SIZE,
  backend,
  createS3Store,
  mapS3Error,
  maxStreamSize,
  partSizeForLength,
  resolveS3Options,
  streamPartSize,
  totalFromContentRange,
} from "../src/index.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe("resolveS3Options", () => {
  const noEnv = { AWS_ENDPOINT_URL: undefined, AWS_ENDPOINT_URL_S3: undefined, AWS_REGION: undefined, AWS_DEFAULT_REGION: undefined };

  it("takes the endpoint from AWS_ENDPOINT_URL_S3, then AWS_ENDPOINT_URL; path style and us-east-1 follow", () => {
    withEnv({ ...noEnv, AWS_ENDPOINT_URL: "http://a:1" }, () => {
      const o = resolveS3Options({ bucket: "bkt" });
      expect(o.endpoint).toBe("http://a:1");
      expect(o.forcePathStyle).toBe(true);
      expect(o.region).toBe("us-east-1");
    });
    withEnv({ ...noEnv, AWS_ENDPOINT_URL: "http://a:1", AWS_ENDPOINT_URL_S3: "http://b:2", AWS_REGION: "eu-west-3" }, () => {
      const o = resolveS3Options({ bucket: "bkt" });
      expect(o.endpoint).toBe("http://b:2");
      expect(o.region).toBe("eu-west-3");
    });
    withEnv({ ...noEnv, AWS_ENDPOINT_URL: "http://a:1" }, () => {
      expect(resolveS3Options({ bucket: "bkt", endpoint: "http://c:3", forcePathStyle: false, region: "x" })).toMatchObject({
        endpoint: "http://c:3",
        forcePathStyle: false,
        region: "x",
      });
    });
  });

  it("leaves endpoint and region to the SDK (AWS, config files) when nothing is set", () => {
    withEnv(noEnv, () => {
      const o = resolveS3Options({ bucket: "bkt", prefix: "a/b" });
      expect(o.endpoint).toBeUndefined();
      expect(o.region).toBeUndefined();
      expect(o.forcePathStyle).toBe(false);
      expect(o.prefix).toBe("a/b/");
    });
  });

  it("sizes the socket pool from the engine's concurrency", () => {
    expect(resolveS3Options({ bucket: "bkt", engine: { maxConcurrentRanges: 48 } }).maxSockets).toBe(96);
    expect(resolveS3Options({ bucket: "bkt" }).maxSockets).toBe(64);
    expect(resolveS3Options({ bucket: "bkt", maxSockets: 10 }).maxSockets).toBe(10);
  });

  it("rejects bad options with RangeConfigError before any I/O", () => {
    for (const bad of [
      { bucket: "" },
      { bucket: "UPPER" },
      { bucket: "bkt", partSize: 1 * MiB },
      { bucket: "bkt", partSize: 6 * GiB },
      { bucket: "bkt", multipartThreshold: 0 },
      { bucket: "bkt", uploadConcurrency: 0 },
      { bucket: "bkt", endpoint: "not a url" },
      { bucket: "bkt", endpoint: "ftp://x" },
      { bucket: "bkt", engine: { chunkSize: -1 } },
      { bucket: "bkt", bogus: 1 },
    ]) {
      let error: unknown;
      try {
        createS3Store(bad as never);
      } catch (e) {
        error = e;
      }
      expect(isRangeStoreError(error) && error.name, JSON.stringify(bad)).toBe("RangeConfigError");
    }
  });
});

describe("the s3:// plugin", () => {
  it("takes the bucket from the host and the prefix from the path", async () => {
    const store = await backend.create(new URL("s3://my-bucket/some/prefix"), { endpoint: "http://127.0.0.1:9" });
    expect(store.scheme).toBe("s3");
    await store.close();
  });

  it("rejects a URI without a bucket or with a query", () => {
    expect(() => backend.create(new URL("s3:///x"))).toThrow(/bucket/);
    expect(() => backend.create(new URL("s3://bkt/x?secret=1"))).toThrow(/query/);
  });
});

describe("multipart part sizes", () => {
  it("keeps known sizes within 10,000 parts", () => {
    expect(partSizeForLength(100 * MiB, 8 * MiB)).toBe(8 * MiB);
    const big = 5 * TiB;
    const size = partSizeForLength(big, 8 * MiB);
    expect(Math.ceil(big / size)).toBeLessThanOrEqual(MAX_PARTS);
    expect(size).toBeLessThanOrEqual(MAX_PART_SIZE);
  });

  it("grows stream parts so 10,000 of them exceed S3's 5 TiB object limit", () => {
    expect(streamPartSize(1, 8 * MiB)).toBe(8 * MiB);
    expect(streamPartSize(900, 8 * MiB)).toBe(8 * MiB);
    expect(streamPartSize(901, 8 * MiB)).toBe(16 * MiB);
    expect(streamPartSize(10_000, 8 * MiB)).toBeLessThanOrEqual(MAX_PART_SIZE);
    expect(maxStreamSize(5 * MiB)).toBeGreaterThan(5 * TiB);
    expect(maxStreamSize(8 * MiB)).toBeGreaterThan(10 * TiB);
  });
});

describe("helpers", () => {
  it("parses Content-Range and Retry-After", () => {
    expect(totalFromContentRange("bytes 0-9/100")).toBe(100);
    expect(totalFromContentRange("bytes */100")).toBe(100);
    expect(totalFromContentRange(undefined)).toBeUndefined();
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
  });
});

describe("mapS3Error", () => {
  const ctx = { operation: "GetObject", bucket: "bkt", key: "p/k", relativeKey: "k" };
  const sdkError = (name: string, status: number | undefined, extra: Record<string, unknown> = {}) =>
    Object.assign(new Error(`${name} message`), { name, $metadata: { httpStatusCode: status, requestId: "req-1" }, ...extra });

  it.each([
    ["NoSuchKey", 404, "NotFoundError", "E_NOT_FOUND", false],
    ["NotFound", 404, "NotFoundError", "E_NOT_FOUND", false],
    ["NoSuchBucket", 404, "NotFoundError", "E_NO_SUCH_BUCKET", false],
    ["InvalidRange", 416, "InvalidRangeError", "E_INVALID_RANGE", false],
    ["PreconditionFailed", 412, "IntegrityError", "E_OBJECT_CHANGED", false],
    ["AccessDenied", 403, "BackendError", "E_AUTH", false],
    ["SignatureDoesNotMatch", 403, "BackendError", "E_AUTH", false],
    ["InvalidAccessKeyId", 403, "BackendError", "E_AUTH", false],
    ["SlowDown", 503, "BackendError", "E_THROTTLED", true],
    ["InternalError", 500, "BackendError", "E_SERVER", true],
    ["Unknown", 502, "BackendError", "E_SERVER", true],
    ["KeyTooLongError", 400, "InvalidKeyError", "E_INVALID_KEY", false],
    ["MalformedXML", 400, "BackendError", "E_S3", false],
  ] as const)("%s (HTTP %s) → %s %s", (name, status, errorName, code, retryable) => {
    const mapped = mapS3Error(sdkError(name, status), ctx) as Error & { code: string; retryable: boolean };
    expect(mapped.name).toBe(errorName);
    expect(mapped.code).toBe(code);
    expect(mapped.retryable).toBe(retryable);
    expect(mapped.message).toContain("s3://bkt/p/k");
  });

  it("network failures are retryable E_NETWORK", () => {
    for (const error of [
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" }),
      // The SDK's HTTP handler names resets "TimeoutError" (for its own retry logic); they are still resets.
      Object.assign(new Error("write EPIPE"), { name: "TimeoutError", code: "EPIPE" }),
    ]) {
      const mapped = mapS3Error(error, ctx) as Error & { code: string; retryable: boolean };
      expect(mapped.code).toBe("E_NETWORK");
      expect(mapped.retryable).toBe(true);
    }
    // The HTTP handler's socket-inactivity or connect timeout: core's TimeoutError, like the engine's stall timer.
    const timeout = mapS3Error(Object.assign(new Error("timed out"), { name: "TimeoutError" }), ctx) as Error & { code: string; retryable: boolean };
    expect([timeout.name, timeout.code, timeout.retryable]).toEqual(["TimeoutError", "E_TIMEOUT", true]);
  });

  it("keeps the server's Retry-After and drops signing details from the cause", () => {
    const error = sdkError("SlowDown", 503, {
      $response: { statusCode: 503, headers: { "retry-after": "2" } },
      StringToSign: "AWS4-HMAC-SHA256 secret-ish",
      SignatureProvided: "abcdef0123",
    });
    const mapped = mapS3Error(error, ctx) as Error & { retryAfterMs: number; cause: Record<string, unknown> };
    expect(mapped.retryAfterMs).toBe(2000);
    expect(JSON.stringify(mapped.cause)).not.toContain("abcdef0123");
    expect(mapped.cause.requestId).toBe("req-1");
    expect(mapped.cause.statusCode).toBe(503);
  });

  it("an aborted signal wins over whatever the SDK threw", () => {
    const controller = new AbortController();
    controller.abort();
    expect(mapS3Error(new Error("Request aborted"), { ...ctx, signal: controller.signal }).name).toBe("AbortError");
  });
});

describe("against a misbehaving loopback server", () => {
  let server: Server;
  let endpoint: string;
  let reply: (res: import("node:http").ServerResponse) => void = () => {};
  beforeAll(async () => {
    server = createServer((req, res) => {
      req.resume();
      reply(res);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const store = () =>
    createS3Store({
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "a", secretAccessKey: "b" },
      bucket: "bkt",
      maxAttempts: 1,
      engine: { retry: { attempts: 1 } },
    });

  it("503 SlowDown with Retry-After → retryable E_THROTTLED with retryAfterMs", async () => {
    reply = (res) => {
      res.writeHead(503, { "content-type": "application/xml", "retry-after": "7" });
      res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>`);
    };
    const s = store();
    const error = (await s.stat("k").catch((e: unknown) => e)) as Error & { code: string; retryable: boolean; retryAfterMs: number };
    expect(error.name).toBe("BackendError");
    expect(error.code).toBe("E_THROTTLED");
    expect(error.retryable).toBe(true);
    expect(error.retryAfterMs).toBe(7000);
    await s.close();
  });

  it("a connection reset mid-body is a retryable network error", async () => {
    reply = (res) => {
      res.writeHead(206, { "content-range": "bytes 0-99/100", "content-length": "100", etag: '"x"' });
      res.write(Buffer.alloc(10));
      setTimeout(() => res.socket?.destroy(), 20);
    };
    const s = store();
    const error = (await s.getRange("k", 0, 100).catch((e: unknown) => e)) as Error & { code: string; retryable: boolean };
    expect(error.name).toBe("BackendError");
    expect(error.retryable).toBe(true);
    expect(error.code).toBe("E_NETWORK");
    await s.close();
  });

  it("nothing listening is a retryable network error", async () => {
    const s = createS3Store({ endpoint: "http://127.0.0.1:9", region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" }, bucket: "bkt", maxAttempts: 1 });
    const error = (await s.stat("k").catch((e: unknown) => e)) as Error & { code: string; retryable: boolean };
    expect(error.code).toBe("E_NETWORK");
    expect(error.retryable).toBe(true);
    await s.close();
  });
});
