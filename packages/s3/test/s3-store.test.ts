import { inspect } from "node:util";
import { ListMultipartUploadsCommand, S3Client } from "@aws-sdk/client-s3";
import { isRangeStoreError, openStore, type ObjectMeta } from "@range/core";
import { afterAll, describe, expect, it } from "vitest";
import { createS3Store } from "../src/index.js";
import { BUCKET, RUN, bytes, connection, equalBytes, recordedStore } from "./helpers.js";

const MiB = 1024 * 1024;

const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  const store = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN });
  await store.deletePrefix("");
  await store.close();
  for (const fn of cleanup) await fn();
});

function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

async function inProgressUploads(key: string): Promise<unknown[]> {
  const c = connection();
  const client = new S3Client({ ...c, forcePathStyle: true });
  try {
    const out = await client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: RUN + key }));
    return out.Uploads ?? [];
  } finally {
    client.destroy();
  }
}

describe("reads: request counts", () => {
  it("an object below minSplitSize is exactly ONE GetObject and no HeadObject", async () => {
    const { store, log } = await recordedStore();
    const data = bytes(1 * MiB + 3, 1);
    await store.put("count/small.bin", data);
    log.clear();
    const got = await store.get("count/small.bin");
    expect(equalBytes(got, data)).toBe(true);
    expect(log.requests.map((r) => r.command)).toEqual(["GetObject"]);
    expect(log.requests[0]!.headers.range).toBe(`bytes=0-${4 * MiB - 1}`);
    await store.close();
  });

  it("a large object costs no HeadObject: a ranged head GET, then ranges pinned with If-Match", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 4 };
    const { store, log } = await recordedStore({ engine });
    const data = bytes(6 * MiB + 17, 2);
    const meta = await store.put("count/large.bin", data);
    log.clear();
    const got = await store.get("count/large.bin");
    expect(equalBytes(got, data)).toBe(true);
    expect(log.count("HeadObject")).toBe(0);
    // 1 head request for the first MiB, then the remaining 5 MiB + 17 bytes as 6 ranges.
    expect(log.count("GetObject")).toBe(1 + 6);
    const [head, ...ranges] = log.requests;
    expect(head!.headers["if-match"]).toBeUndefined();
    for (const range of ranges) expect(range.headers["if-match"]).toBe(meta.etag);
    await store.close();
  });

  it("getStream of a large object also starts without HeadObject", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 2 };
    const { store, log } = await recordedStore({ engine });
    const data = bytes(3 * MiB, 3);
    await store.put("count/stream.bin", data);
    log.clear();
    const chunks: Uint8Array[] = [];
    for await (const chunk of store.getStream("count/stream.bin")) chunks.push(chunk);
    expect(equalBytes(Buffer.concat(chunks), data)).toBe(true);
    expect(log.count("HeadObject")).toBe(0);
    await store.close();
  });

  it("a missing key is one GetObject that rejects NotFoundError", async () => {
    const { store, log } = await recordedStore();
    const error = await errorOf(store.get("count/missing.bin"));
    expect(isRangeStoreError(error) && error.name).toBe("NotFoundError");
    expect(log.requests.map((r) => r.command)).toEqual(["GetObject"]);
    await store.close();
  });
});

describe("reads: allocate", () => {
  it("engine reads allocate their result with the allocate option", async () => {
    const sizes: number[] = [];
    const store = createS3Store({
      ...connection(),
      bucket: BUCKET,
      prefix: RUN,
      engine: { minSplitSize: 1 * MiB, chunkSize: 1 * MiB },
      allocate: (size) => {
        sizes.push(size);
        return new Uint8Array(size);
      },
    });
    const data = bytes(3 * MiB + 1, 14);
    await store.put("alloc/obj.bin", data);
    expect(equalBytes(await store.get("alloc/obj.bin"), data)).toBe(true);
    expect(sizes).toEqual([3 * MiB + 1]);
    await store.close();
  });
});

describe("reads: version pinning", () => {
  it("an overwrite between ranges rejects IntegrityError E_OBJECT_CHANGED (If-Match → 412), never mixed bytes", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 1, retry: { attempts: 2, baseDelayMs: 1 } };
    const { store, log } = await recordedStore({ engine });
    const writer = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN });
    const first = bytes(4 * MiB, 4);
    const second = bytes(4 * MiB, 5);
    await store.put("pin/object.bin", first);
    log.clear();
    let overwrite: Promise<ObjectMeta> | undefined;
    // The first range request waits until the object has been replaced: the head GET saw version 1, every range
    // after it meets version 2.
    log.before = async (request) => {
      if (request.command !== "GetObject" || request.headers["if-match"] === undefined) return;
      overwrite ??= writer.put("pin/object.bin", second);
      await overwrite;
    };
    const error = await errorOf(store.get("pin/object.bin"));
    expect(isRangeStoreError(error)).toBe(true);
    expect((error as Error).name).toBe("IntegrityError");
    expect((error as { code: string }).code).toBe("E_OBJECT_CHANGED");
    expect((error as { retryable: boolean }).retryable).toBe(false);
    // Not retried: a changed object does not come back.
    expect(log.count("GetObject")).toBe(2);
    log.before = undefined;
    expect(equalBytes(await store.get("pin/object.bin"), second)).toBe(true);
    await store.close();
    await writer.close();
  });

  it("an object overwritten mid-download (while a range streams) is read whole from one version or rejects", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 2 * MiB, maxConcurrentRanges: 2 };
    const { store } = await recordedStore({ engine });
    const writer = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN });
    const versions = [bytes(12 * MiB, 6), bytes(12 * MiB, 7)];
    await store.put("pin/midway.bin", versions[0]!);
    let writing: Promise<unknown> | undefined;
    const outcome = await store
      .get("pin/midway.bin", {
        onProgress: (p) => {
          if (p.bytes >= 2 * MiB) writing ??= writer.put("pin/midway.bin", versions[1]!);
        },
      })
      .then(
        (data) => ({ data }),
        (error: unknown) => ({ error }),
      );
    await writing;
    if ("data" in outcome) {
      expect(versions.some((v) => equalBytes(outcome.data, v))).toBe(true);
    } else {
      expect((outcome.error as Error).name).toBe("IntegrityError");
    }
    await store.close();
    await writer.close();
  });
});

describe("the HTTP agent", () => {
  it("directReads: false — the SDK's keep-alive agent has sockets for the engine's concurrency, and ranges run that concurrently", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 8 };
    const { store, driver, log } = await recordedStore({ engine, directReads: false });
    expect(driver.maxSockets).toBeGreaterThanOrEqual(8);
    const agent = driver.agents!.http;
    expect((agent as unknown as { keepAlive: boolean }).keepAlive).toBe(true);
    expect(agent.maxSockets).toBe(driver.maxSockets);
    await store.put("agent/obj.bin", bytes(16 * MiB, 8));
    log.clear();
    let maxInFlight = 0;
    await store.get("agent/obj.bin", { onStats: (s) => (maxInFlight = s.maxInFlight) });
    expect(maxInFlight).toBe(8);
    expect(log.maxInFlight.get("GetObject")).toBe(8);
    expect(driver.directClient).toBeUndefined();
    // The requests went through this agent, and their sockets stay open for the next read.
    const free = Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0);
    expect(free).toBeGreaterThanOrEqual(8);
    await store.close();
  });

  it("direct reads (default): GetObject goes through the HttpGetClient, whose keep-alive connections are reused", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 8 };
    const { store, driver, log } = await recordedStore({ engine });
    await store.put("agent/direct.bin", bytes(16 * MiB, 9));
    log.clear();
    let maxInFlight = 0;
    const data = await store.get("agent/direct.bin", { onStats: (s) => (maxInFlight = s.maxInFlight) });
    expect(equalBytes(data, bytes(16 * MiB, 9))).toBe(true);
    expect(maxInFlight).toBe(8);
    // 16 GetObjects, none through the SDK (its middleware saw nothing; the direct hook saw them all).
    expect(log.count("GetObject")).toBe(16);
    expect(log.maxInFlight.get("GetObject")).toBeUndefined();
    const client = driver.directClient!;
    const afterFirst = client.connectionStats();
    // The head request, then 8 ranges at a time: at most 8 connections (+1 while the head's body still arrived).
    expect(afterFirst.opened).toBeGreaterThanOrEqual(8);
    expect(afterFirst.opened).toBeLessThanOrEqual(9);
    expect(afterFirst.idle).toBe(afterFirst.open);
    // Sequential reads reuse those connections: no new one is opened.
    for (let i = 0; i < 5; i++) await store.get("agent/direct.bin");
    expect(client.connectionStats().opened).toBe(afterFirst.opened);
    expect(client.connectionStats().open).toBeLessThanOrEqual(driver.maxSockets);
    await store.close();
    expect(client.connectionStats().open).toBe(0);
  });
});

describe("writes", () => {
  it("below multipartThreshold: one PutObject", async () => {
    const { store, log } = await recordedStore({ multipartThreshold: 6 * MiB, partSize: 5 * MiB });
    const data = bytes(6 * MiB - 1, 9);
    await store.put("put/single.bin", data);
    expect(log.requests.map((r) => r.command)).toEqual(["PutObject"]);
    async function* chunks() {
      for (let i = 0; i < data.length; i += MiB) yield data.subarray(i, i + MiB);
    }
    log.clear();
    await store.put("put/single-stream.bin", chunks());
    expect(log.requests.map((r) => r.command)).toEqual(["PutObject"]);
    expect(equalBytes(await store.get("put/single-stream.bin"), data)).toBe(true);
    await store.close();
  });

  it("at or above it: a multipart upload with concurrent parts, from a Uint8Array and from a stream", async () => {
    const { store, log } = await recordedStore({ multipartThreshold: 5 * MiB, partSize: 5 * MiB, uploadConcurrency: 3 });
    const data = bytes(21 * MiB + 5, 10);
    const meta = await store.put("put/multi.bin", data);
    expect(log.count("CreateMultipartUpload")).toBe(1);
    expect(log.count("UploadPart")).toBe(5);
    expect(log.count("CompleteMultipartUpload")).toBe(1);
    expect(log.count("PutObject")).toBe(0);
    expect(log.maxInFlight.get("UploadPart")).toBeGreaterThanOrEqual(2);
    expect(log.maxInFlight.get("UploadPart")).toBeLessThanOrEqual(3);
    expect(meta.size).toBe(data.length);
    expect(equalBytes(await store.get("put/multi.bin"), data)).toBe(true);
    expect((await store.stat("put/multi.bin")).etag).toBe(meta.etag);

    log.clear();
    async function* chunks() {
      // Odd chunk sizes, so parts are cut across chunk boundaries.
      for (let i = 0; i < data.length; i += 777_777) yield data.subarray(i, i + 777_777);
    }
    await store.put("put/multi-stream.bin", chunks());
    expect(log.count("UploadPart")).toBe(5);
    expect(log.requests.filter((r) => r.command === "UploadPart").map((r) => r.headers["content-length"])).toEqual([
      ...Array(4).fill(String(5 * MiB)),
      String(MiB + 5),
    ]);
    expect(equalBytes(await store.get("put/multi-stream.bin"), data)).toBe(true);
    await store.close();
  });

  it("an aborted multipart put aborts the upload: no in-progress upload, no object", async () => {
    const { store, log } = await recordedStore({ multipartThreshold: 5 * MiB, partSize: 5 * MiB, uploadConcurrency: 2 });
    const controller = new AbortController();
    const part = bytes(5 * MiB, 11);
    let yielded = 0;
    async function* source() {
      for (;;) {
        yield part;
        yielded++;
        // Two parts are on their way (at least one finished): abort while the source stalls for the third.
        if (yielded === 2) {
          while (log.count("UploadPart") < 2) await new Promise((r) => setTimeout(r, 10));
          controller.abort();
          await new Promise((r) => setTimeout(r, 5_000));
        }
      }
    }
    const error = await errorOf(store.put("put/aborted.bin", source(), { signal: controller.signal }));
    expect((error as Error).name).toBe("AbortError");
    expect(log.count("CreateMultipartUpload")).toBe(1);
    expect(log.count("AbortMultipartUpload")).toBe(1);
    expect(log.count("CompleteMultipartUpload")).toBe(0);
    expect(await inProgressUploads("put/aborted.bin")).toEqual([]);
    expect(await store.exists("put/aborted.bin")).toBe(false);
    await store.close();
  });

  it("a source that throws mid-way aborts the upload and rejects with its error", async () => {
    const { store, log } = await recordedStore({ multipartThreshold: 5 * MiB, partSize: 5 * MiB });
    async function* source() {
      yield bytes(5 * MiB, 12);
      yield bytes(5 * MiB, 13);
      throw new Error("source broke");
    }
    await expect(store.put("put/broken.bin", source())).rejects.toThrow("source broke");
    expect(log.count("AbortMultipartUpload")).toBe(1);
    expect(await inProgressUploads("put/broken.bin")).toEqual([]);
    expect(await store.exists("put/broken.bin")).toBe(false);
    await store.close();
  });
});

describe("list and deleteMany", () => {
  it("pages ListObjectsV2 lazily, lists one level with CommonPrefixes, and deletes in batches of 1000", async () => {
    const { store, log } = await recordedStore();
    const keys = Array.from({ length: 1050 }, (_, i) => `many/k${String(i).padStart(5, "0")}`);
    const one = new Uint8Array([1]);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => store.put(k, one)));
    await store.put("many/sub/a", one);
    await store.put("many/sub/b", one);
    log.clear();

    const iterator = store.list("many/")[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.key).toBe("many/k00000");
    expect(log.count("ListObjectsV2")).toBe(1);
    await iterator.return?.();

    log.clear();
    const flat: ObjectMeta[] = [];
    for await (const meta of store.list("many/", { recursive: false })) flat.push(meta);
    expect(flat.length).toBe(1051);
    expect(flat.filter((m) => m.isPrefix)).toEqual([{ key: "many/sub/", size: 0, isPrefix: true }]);
    expect(log.requests.filter((r) => r.command === "ListObjectsV2").every((r) => r.input.Delimiter === "/")).toBe(true);
    expect(log.count("ListObjectsV2")).toBe(2);

    log.clear();
    expect(await store.deletePrefix("many/")).toBe(1052);
    const batches = log.requests.filter((r) => r.command === "DeleteObjects").map((r) => (r.input.Delete as { Objects: unknown[] }).Objects.length);
    expect(batches).toEqual([1000, 52]);
    expect(log.count("DeleteObject")).toBe(0);
    let left = 0;
    for await (const _ of store.list("many/")) left++;
    expect(left).toBe(0);
    await store.close();
  });
});

describe("configuration", () => {
  it("openStore('s3://bucket/prefix') reads AWS_ENDPOINT_URL, AWS_REGION and the credential chain from the environment", async () => {
    const store = await openStore(`s3://${BUCKET}/${RUN}env`);
    await store.put("x.txt", new TextEncoder().encode("env"));
    const direct = createS3Store({ ...connection(), bucket: BUCKET, prefix: `${RUN}env/` });
    expect(new TextDecoder().decode(await direct.get("x.txt"))).toBe("env");
    await store.close();
    await direct.close();
  });

  it("AWS_ENDPOINT_URL_S3 wins over AWS_ENDPOINT_URL", async () => {
    const saved = process.env.AWS_ENDPOINT_URL;
    process.env.AWS_ENDPOINT_URL = "http://127.0.0.1:9"; // nothing listens there
    process.env.AWS_ENDPOINT_URL_S3 = saved;
    try {
      const store = await openStore(`s3://${BUCKET}/${RUN}env`);
      expect(await store.exists("x.txt")).toBe(true);
      await store.close();
    } finally {
      process.env.AWS_ENDPOINT_URL = saved;
      delete process.env.AWS_ENDPOINT_URL_S3;
    }
  });
});

describe("errors", () => {
  it("a wrong secret key is BackendError E_AUTH, not retryable, and the secret appears nowhere", async () => {
    const secret = "WRONG-secret-9f3c1d7e5b2a4c6e8d0f1a3b5c7d9e1f";
    const store = createS3Store({
      ...connection(),
      credentials: { accessKeyId: connection().credentials.accessKeyId, secretAccessKey: secret },
      bucket: BUCKET,
      prefix: RUN,
      engine: { retry: { attempts: 1 } },
    });
    for (const attempt of [() => store.stat("count/small.bin"), () => store.get("count/small.bin"), () => store.put("auth.bin", new Uint8Array(10))]) {
      const error = await errorOf(attempt());
      expect(isRangeStoreError(error)).toBe(true);
      const e = error as Error & { code: string; retryable: boolean; cause: unknown };
      expect(e.name).toBe("BackendError");
      expect(e.code).toBe("E_AUTH");
      expect(e.retryable).toBe(false);
      for (const text of [e.message, String(e), e.stack ?? "", JSON.stringify(e.cause), inspect(e, { depth: 20, showHidden: true })]) {
        expect(text).not.toContain(secret);
        expect(text).not.toContain(secret.slice(0, 12));
      }
    }
    await store.close();
  });

  it("a missing bucket is NotFoundError E_NO_SUCH_BUCKET", async () => {
    const store = createS3Store({ ...connection(), bucket: "range-no-such-bucket" });
    const error = await errorOf(store.get("x"));
    expect((error as Error).name).toBe("NotFoundError");
    expect((error as { code: string }).code).toBe("E_NO_SUCH_BUCKET");
    await store.close();
  });

  it("a range past the end is InvalidRangeError", async () => {
    const store = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN });
    await store.put("range/ten.bin", new Uint8Array(10));
    expect(((await errorOf(store.getRange("range/ten.bin", 10, 1))) as Error).name).toBe("InvalidRangeError");
    expect(((await errorOf(store.getRange("range/ten.bin", 5, 6))) as Error).name).toBe("InvalidRangeError");
    await store.close();
  });
});
