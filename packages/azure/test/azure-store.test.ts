import { inspect } from "node:util";
import { ContainerSASPermissions, StorageSharedKeyCredential, generateBlobSASQueryParameters } from "@azure/storage-blob";
import { isRangeStoreError, openStore, type ObjectMeta } from "@range/core";
import { afterAll, describe, expect, it } from "vitest";
import { AzureDriver, createAzureStore } from "../src/index.js";
import { CONTAINER, RUN, bytes, connection, equalBytes, errorOf, recordedStore } from "./helpers.js";

const MiB = 1024 * 1024;

afterAll(async () => {
  const store = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN });
  await store.deletePrefix("");
  await store.close();
});

/** Every text a thrown error exposes: message, string form, stack, JSON of its cause, and a deep inspect. */
function errorTexts(error: unknown): string[] {
  const e = error as Error & { cause?: unknown };
  return [e.message, String(e), e.stack ?? "", JSON.stringify(e.cause ?? null), inspect(e, { depth: 20, showHidden: true })];
}

function sasFor(permissions: string, expiresInMs = 3_600_000): string {
  const c = connection();
  return generateBlobSASQueryParameters(
    { containerName: CONTAINER, permissions: ContainerSASPermissions.parse(permissions), expiresOn: new Date(Date.now() + expiresInMs) },
    new StorageSharedKeyCredential(c.account, c.accountKey),
  ).toString();
}

describe("reads: request counts", () => {
  it("a blob below minSplitSize is exactly ONE download (x-ms-range of minSplitSize bytes) and no getProperties", async () => {
    const { store, log, close } = await recordedStore();
    const data = bytes(1 * MiB + 3, 1);
    await store.put("count/small.bin", data);
    log.clear();
    const got = await store.get("count/small.bin");
    expect(equalBytes(got, data)).toBe(true);
    expect(log.requests.map((r) => r.operation)).toEqual(["Download"]);
    expect(log.requests[0]!.headers["x-ms-range"]).toBe(`bytes=0-${4 * MiB - 1}`);
    await close();
  });

  it("a large blob costs no getProperties: the size comes from the first range, later ranges carry If-Match", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 4 };
    const { store, log, close } = await recordedStore({ engine });
    const data = bytes(6 * MiB + 17, 2);
    const meta = await store.put("count/large.bin", data);
    log.clear();
    const got = await store.get("count/large.bin");
    expect(equalBytes(got, data)).toBe(true);
    expect(log.count("GetProperties")).toBe(0);
    // 1 head request for the first MiB, then the remaining 5 MiB + 17 bytes as 6 ranges.
    expect(log.count("Download")).toBe(1 + 6);
    const [head, ...ranges] = log.requests;
    expect(head!.headers["if-match"]).toBeUndefined();
    expect(head!.headers["x-ms-range"]).toBe(`bytes=0-${MiB - 1}`);
    for (const range of ranges) expect(range.headers["if-match"]).toBe(meta.etag);
    await close();
  });

  it("getStream of a large blob also starts without getProperties", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 2 };
    const { store, log, close } = await recordedStore({ engine });
    const data = bytes(3 * MiB, 3);
    await store.put("count/stream.bin", data);
    log.clear();
    const chunks: Uint8Array[] = [];
    for await (const chunk of store.getStream("count/stream.bin")) chunks.push(chunk);
    expect(equalBytes(Buffer.concat(chunks), data)).toBe(true);
    expect(log.count("GetProperties")).toBe(0);
    await close();
  });

  it("a missing key is one download that rejects NotFoundError with the key", async () => {
    const { store, log, close } = await recordedStore();
    const error = await errorOf(store.get("count/missing.bin"));
    expect(isRangeStoreError(error) && error.name).toBe("NotFoundError");
    expect((error as { key: string }).key).toBe("count/missing.bin");
    expect(log.requests.map((r) => r.operation)).toEqual(["Download"]);
    await close();
  });

  it("a 0-byte blob: the ranged download gets 416, one getProperties confirms the blob is empty", async () => {
    const { store, log, close } = await recordedStore();
    await store.put("count/empty.bin", new Uint8Array(0));
    log.clear();
    expect((await store.get("count/empty.bin")).length).toBe(0);
    expect(log.requests.map((r) => r.operation)).toEqual(["Download", "GetProperties"]);
    await close();
  });
});

describe("reads: into the caller's buffer", () => {
  it("driver.read copies the body into the target view it is given and returns that view", async () => {
    const driver = new AzureDriver({ ...connection(), container: CONTAINER, prefix: RUN });
    const store = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN });
    const data = bytes(2 * MiB, 20);
    await store.put("target/obj.bin", data);
    const backing = new Uint8Array(3 * MiB);
    const target = backing.subarray(MiB / 2, MiB / 2 + MiB);
    const got = await driver.read("target/obj.bin", 512, MiB, { target });
    expect(got).toBe(target);
    expect(equalBytes(backing.subarray(MiB / 2, MiB / 2 + MiB), data.subarray(512, 512 + MiB))).toBe(true);
    await driver.close();
    await store.close();
  });

  it("get with `into` through the engine fills the caller's buffer", async () => {
    const store = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN, engine: { minSplitSize: MiB, chunkSize: MiB } });
    const data = bytes(5 * MiB + 1, 21);
    await store.put("target/into.bin", data);
    const into = new Uint8Array(6 * MiB);
    const got = await store.get("target/into.bin", { into });
    expect(got.buffer).toBe(into.buffer);
    expect(equalBytes(got, data)).toBe(true);
    await store.close();
  });
});

describe("reads: version pinning", () => {
  it("an overwrite between ranges rejects IntegrityError E_OBJECT_CHANGED (If-Match → 412), never mixed bytes", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 1, retry: { attempts: 2, baseDelayMs: 1 } };
    const { store, log, close } = await recordedStore({ engine });
    const writer = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN });
    const first = bytes(4 * MiB, 4);
    const second = bytes(4 * MiB, 5);
    await store.put("pin/object.bin", first);
    log.clear();
    let overwrite: Promise<ObjectMeta> | undefined;
    // The first range request waits until the blob has been replaced: the head download saw version 1, every range
    // after it meets version 2.
    log.before = async (request) => {
      if (request.operation !== "Download" || request.headers["if-match"] === undefined) return;
      overwrite ??= writer.put("pin/object.bin", second);
      await overwrite;
    };
    const error = await errorOf(store.get("pin/object.bin"));
    expect(isRangeStoreError(error)).toBe(true);
    expect((error as Error).name).toBe("IntegrityError");
    expect((error as { code: string }).code).toBe("E_OBJECT_CHANGED");
    expect((error as { retryable: boolean }).retryable).toBe(false);
    // Not retried: a changed blob does not come back.
    expect(log.count("Download")).toBe(2);
    log.before = undefined;
    expect(equalBytes(await store.get("pin/object.bin"), second)).toBe(true);
    await close();
    await writer.close();
  });

  it("a blob overwritten mid-download (while ranges stream) is read whole from one version or rejects", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 2 * MiB, maxConcurrentRanges: 2 };
    const { store, close } = await recordedStore({ engine });
    const writer = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN });
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
    await close();
    await writer.close();
  });
});

describe("the HTTP agent", () => {
  it("has keep-alive sockets for twice the engine's concurrency, and ranges run that concurrently through it", async () => {
    const engine = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 8 };
    const { store, driver, log, close } = await recordedStore({ engine });
    const agent = driver.agent;
    expect((agent as unknown as { keepAlive: boolean }).keepAlive).toBe(true);
    expect(agent.maxSockets).toBe(16);
    expect(driver.options.maxSockets).toBe(16);
    await store.put("agent/obj.bin", bytes(16 * MiB, 8));
    log.clear();
    // The proxy holds the first ranged requests until 8 are waiting at once (or 5 s passed): on a busy machine a range
    // could otherwise finish before the next one arrives, and the count would measure scheduling, not concurrency.
    let held: (() => void)[] | undefined = [];
    log.before = (request) => {
      if (held === undefined || request.operation !== "Download" || request.headers["if-match"] === undefined) return;
      const queue = held;
      return new Promise<void>((resolve) => {
        queue.push(resolve);
        const release = () => {
          if (held === queue) held = undefined;
          for (const r of queue) r();
        };
        if (queue.length >= 8) release();
        else setTimeout(release, 5_000);
      });
    };
    let maxInFlight = 0;
    await store.get("agent/obj.bin", { onStats: (s) => (maxInFlight = s.maxInFlight) });
    expect(maxInFlight).toBe(8);
    expect(log.maxInFlight.get("Download")).toBeGreaterThanOrEqual(8);
    // The requests went through this agent, and their sockets stay open for the next read.
    const free = Object.values(agent.freeSockets).reduce((n, list) => n + (list?.length ?? 0), 0);
    expect(free).toBeGreaterThanOrEqual(8);
    await close();
  });
});

describe("writes", () => {
  it("below blockUploadThreshold: one Put Blob, from a Uint8Array and from a stream, with the content type", async () => {
    const { store, driver, log, close } = await recordedStore({ blockUploadThreshold: 6 * MiB, blockSize: 2 * MiB });
    const data = bytes(6 * MiB - 1, 9);
    await store.put("put/single.bin", data, { contentType: "application/x-test" });
    expect(log.requests.map((r) => r.operation)).toEqual(["Upload"]);
    expect((await (await driver.blobClient("put/single.bin")).getProperties()).contentType).toBe("application/x-test");
    async function* chunks() {
      for (let i = 0; i < data.length; i += MiB) yield data.subarray(i, i + MiB);
    }
    log.clear();
    await store.put("put/single-stream.bin", chunks());
    expect(log.requests.map((r) => r.operation)).toEqual(["Upload"]);
    expect(equalBytes(await store.get("put/single-stream.bin"), data)).toBe(true);
    await close();
  });

  it("at or above it: staged blocks, a bounded number at once, then one commit; from a Uint8Array and a stream", async () => {
    const { store, driver, log, close } = await recordedStore({ blockUploadThreshold: 4 * MiB, blockSize: 2 * MiB, uploadConcurrency: 3 });
    const data = bytes(11 * MiB + 5, 10);
    const meta = await store.put("put/blocks.bin", data, { contentType: "application/x-blocks" });
    expect(log.count("StageBlock")).toBe(6);
    expect(log.count("CommitBlockList")).toBe(1);
    expect(log.count("Upload")).toBe(0);
    expect(log.maxInFlight.get("StageBlock")).toBeGreaterThanOrEqual(2);
    expect(log.maxInFlight.get("StageBlock")).toBeLessThanOrEqual(3);
    // The commit comes after every block.
    expect(log.requests.at(-1)!.operation).toBe("CommitBlockList");
    expect(meta.size).toBe(data.length);
    expect(equalBytes(await store.get("put/blocks.bin"), data)).toBe(true);
    const props = await (await driver.blobClient("put/blocks.bin")).getProperties();
    expect(props.etag).toBe(meta.etag);
    expect(props.contentType).toBe("application/x-blocks");
    const committed = await (await driver.blobClient("put/blocks.bin")).getBlockList("committed");
    expect(committed.committedBlocks?.map((b) => b.size)).toEqual([...Array(5).fill(2 * MiB), MiB + 5]);

    log.clear();
    async function* chunks() {
      // Odd chunk sizes, so blocks are cut across chunk boundaries.
      for (let i = 0; i < data.length; i += 777_777) yield data.subarray(i, i + 777_777);
    }
    await store.put("put/blocks-stream.bin", chunks());
    expect(log.of("StageBlock").map((r) => r.headers["content-length"])).toEqual([...Array(5).fill(String(2 * MiB)), String(MiB + 5)]);
    expect(log.count("CommitBlockList")).toBe(1);
    expect(equalBytes(await store.get("put/blocks-stream.bin"), data)).toBe(true);
    await close();
  });

  it("an aborted block upload commits nothing: the blob is absent, its staged blocks stay uncommitted", async () => {
    const { store, driver, log, close } = await recordedStore({ blockUploadThreshold: 2 * MiB, blockSize: 2 * MiB, uploadConcurrency: 2 });
    const controller = new AbortController();
    const block = bytes(2 * MiB, 11);
    let yielded = 0;
    async function* source() {
      for (;;) {
        yield block;
        yielded++;
        // Two blocks are on their way: abort once the service holds both, while the source stalls for the third.
        if (yielded === 2) {
          const blob = await driver.blobClient("put/aborted.bin");
          const deadline = Date.now() + 30_000;
          while (((await blob.getBlockList("uncommitted").catch(() => undefined))?.uncommittedBlocks?.length ?? 0) < 2 && Date.now() < deadline) {
            await new Promise((r) => setTimeout(r, 20));
          }
          controller.abort();
          await new Promise((r) => setTimeout(r, 5_000));
        }
      }
    }
    const error = await errorOf(store.put("put/aborted.bin", source(), { signal: controller.signal }));
    expect((error as Error).name).toBe("AbortError");
    expect(log.count("StageBlock")).toBeGreaterThanOrEqual(2);
    expect(log.count("CommitBlockList")).toBe(0);
    expect(await store.exists("put/aborted.bin")).toBe(false);
    // The staged blocks stay uncommitted: invisible to reads and listings, dropped by the service with the blob's next
    // commit or after a week (Azure has no call to delete them).
    const blocks = await (await driver.blobClient("put/aborted.bin")).getBlockList("all");
    expect(blocks.committedBlocks ?? []).toEqual([]);
    expect(blocks.uncommittedBlocks?.length).toBeGreaterThanOrEqual(2);
    expect(blocks.uncommittedBlocks?.every((b) => b.size === 2 * MiB)).toBe(true);
    const listed: string[] = [];
    for await (const meta of store.list("put/")) listed.push(meta.key);
    expect(listed).not.toContain("put/aborted.bin");
    await close();
  });

  it("a source that throws mid-way rejects with its error and commits nothing; an existing blob keeps its content", async () => {
    const { store, log, close } = await recordedStore({ blockUploadThreshold: 2 * MiB, blockSize: 2 * MiB });
    const old = bytes(1000, 14);
    await store.put("put/broken.bin", old);
    log.clear();
    async function* source() {
      yield bytes(2 * MiB, 12);
      yield bytes(2 * MiB, 13);
      throw new Error("source broke");
    }
    await expect(store.put("put/broken.bin", source())).rejects.toThrow("source broke");
    expect(log.count("CommitBlockList")).toBe(0);
    expect(equalBytes(await store.get("put/broken.bin"), old)).toBe(true);
    async function* fresh() {
      yield bytes(2 * MiB, 15);
      throw new Error("source broke again");
    }
    await expect(store.put("put/broken-new.bin", fresh())).rejects.toThrow("source broke again");
    expect(await store.exists("put/broken-new.bin")).toBe(false);
    await close();
  });

  it("a failed stageBlock (HTTP 500 from the service) rejects retryable BackendError and commits nothing", async () => {
    const { store, log, close } = await recordedStore({ blockUploadThreshold: 2 * MiB, blockSize: 2 * MiB, maxTries: 1 });
    log.before = (request) =>
      request.operation === "StageBlock" && log.count("StageBlock") === 2
        ? { status: 500, headers: { "x-ms-error-code": "InternalError" }, body: "<Error><Code>InternalError</Code><Message>boom</Message></Error>" }
        : undefined;
    const error = await errorOf(store.put("put/server-error.bin", bytes(6 * MiB, 16)));
    expect((error as Error).name).toBe("BackendError");
    expect((error as { code: string }).code).toBe("E_SERVER");
    expect((error as { retryable: boolean }).retryable).toBe(true);
    expect(log.count("CommitBlockList")).toBe(0);
    log.before = undefined;
    expect(await store.exists("put/server-error.bin")).toBe(false);
    await close();
  });
});

describe("listing and deletePrefix with more than one page (> 5000 blobs)", () => {
  it("pages lazily, flat and by hierarchy, and deletes with Blob Batch (256 per request)", { timeout: 300_000 }, async () => {
    const { store, log, close } = await recordedStore();
    const count = 5_050;
    const keys = Array.from({ length: count }, (_, i) => `many/k${String(i).padStart(5, "0")}`);
    const one = new Uint8Array([1]);
    let next = 0;
    // Bounded concurrency: 32 puts in flight.
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < keys.length) await store.put(keys[next++]!, one);
      }),
    );
    await store.put("many/sub/a", one);
    await store.put("many/sub/b", one);
    log.clear();

    // Lazy: the first entry costs one page request.
    const iterator = store.list("many/")[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.value?.key).toBe("many/k00000");
    expect(log.count("ListBlobs")).toBe(1);
    await iterator.return?.();

    log.clear();
    let flat = 0;
    const seen = new Set<string>();
    for await (const meta of store.list("many/")) {
      seen.add(meta.key);
      flat++;
    }
    expect(flat).toBe(count + 2);
    expect(seen.size).toBe(count + 2);
    expect(log.count("ListBlobs")).toBe(2);
    expect(log.of("ListBlobs").every((r) => r.url.searchParams.get("delimiter") === null)).toBe(true);

    log.clear();
    const oneLevel: ObjectMeta[] = [];
    for await (const meta of store.list("many/", { recursive: false })) oneLevel.push(meta);
    expect(oneLevel.length).toBe(count + 1);
    expect(oneLevel.filter((m) => m.isPrefix)).toEqual([{ key: "many/sub/", size: 0, isPrefix: true }]);
    expect(log.count("ListBlobs")).toBe(2);
    expect(log.of("ListBlobs").every((r) => r.url.searchParams.get("delimiter") === "/")).toBe(true);

    log.clear();
    expect(await store.deletePrefix("many/")).toBe(count + 2);
    // deletePrefix hands keys over in batches of 1000: each becomes 4 Blob Batch requests (256 + 256 + 256 + 232).
    expect(log.count("BlobBatch")).toBe(Math.ceil(1000 / 256) * 5 + 1);
    expect(log.count("Delete")).toBe(0);
    let left = 0;
    for await (const _ of store.list("many/")) left++;
    expect(left).toBe(0);
    await close();
  });
});

describe("configuration", () => {
  it("openStore('az://container/prefix') reads AZURE_STORAGE_CONNECTION_STRING", async () => {
    const store = await openStore(`az://${CONTAINER}/${RUN}env`);
    await store.put("x.txt", new TextEncoder().encode("env"));
    const direct = createAzureStore({ ...connection(), container: CONTAINER, prefix: `${RUN}env/` });
    expect(new TextDecoder().decode(await direct.get("x.txt"))).toBe("env");
    await store.close();
    await direct.close();
  });

  it("AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY work when there is no connection string (with an endpoint option)", async () => {
    const saved = process.env.AZURE_STORAGE_CONNECTION_STRING;
    delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    process.env.AZURE_STORAGE_ACCOUNT = connection().account;
    process.env.AZURE_STORAGE_KEY = connection().accountKey;
    try {
      // The environment names the account; the emulator's endpoint still has to come from somewhere.
      const store = createAzureStore({ ...connection(), container: CONTAINER, prefix: `${RUN}env/` });
      expect(await store.exists("x.txt")).toBe(true);
      await store.close();
    } finally {
      process.env.AZURE_STORAGE_CONNECTION_STRING = saved;
      delete process.env.AZURE_STORAGE_ACCOUNT;
      delete process.env.AZURE_STORAGE_KEY;
    }
  });

  it("a SAS token works as an option, inside the endpoint URL, and in a SAS connection string", async () => {
    const sas = sasFor("racwdl");
    const { endpoint } = connection();
    const stores = [
      createAzureStore({ endpoint, sasToken: sas, container: CONTAINER, prefix: `${RUN}sas/` }),
      createAzureStore({ endpoint: `${endpoint}?${sas}`, container: CONTAINER, prefix: `${RUN}sas/` }),
      createAzureStore({ connectionString: `BlobEndpoint=${endpoint};SharedAccessSignature=${sas}`, container: CONTAINER, prefix: `${RUN}sas/` }),
    ];
    for (const [i, store] of stores.entries()) {
      const data = bytes(1000 + i, 30 + i);
      await store.put(`f${i}.bin`, data);
      expect(equalBytes(await store.get(`f${i}.bin`), data)).toBe(true);
      const listed: string[] = [];
      for await (const meta of store.list("")) listed.push(meta.key);
      expect(listed).toContain(`f${i}.bin`);
      await store.close();
    }
  });

  it("with nothing configured, RangeConfigError E_NO_CREDENTIALS names the options and variables, before any I/O", () => {
    const saved = process.env.AZURE_STORAGE_CONNECTION_STRING;
    delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    try {
      let error: unknown;
      try {
        createAzureStore({ container: CONTAINER });
      } catch (e) {
        error = e;
      }
      expect((error as Error).name).toBe("RangeConfigError");
      expect((error as { code: string }).code).toBe("E_NO_CREDENTIALS");
      expect((error as Error).message).toContain("AZURE_STORAGE_CONNECTION_STRING");
      expect((error as Error).message).toContain("connectionString");
    } finally {
      process.env.AZURE_STORAGE_CONNECTION_STRING = saved;
    }
  });
});

describe("errors never contain secrets", () => {
  it("a wrong account key is BackendError E_AUTH, not retryable, and neither key appears anywhere", async () => {
    const wrongKey = Buffer.from("WRONG-key-9f3c1d7e5b2a4c6e8d0f1a3b5c7d9e1f-0123456789abcdef").toString("base64");
    const store = createAzureStore({ ...connection(), accountKey: wrongKey, container: CONTAINER, prefix: RUN, engine: { retry: { attempts: 1 } } });
    for (const attempt of [() => store.stat("count/small.bin"), () => store.get("count/small.bin"), () => store.put("auth.bin", new Uint8Array(10))]) {
      const error = await errorOf(attempt());
      expect(isRangeStoreError(error)).toBe(true);
      const e = error as Error & { code: string; retryable: boolean };
      expect(e.name).toBe("BackendError");
      expect(e.code).toBe("E_AUTH");
      expect(e.retryable).toBe(false);
      for (const text of errorTexts(error)) {
        expect(text).not.toContain(wrongKey);
        expect(text).not.toContain(wrongKey.slice(0, 16));
        expect(text).not.toContain(connection().accountKey.slice(0, 16));
      }
    }
    await store.close();
  });

  it("a SAS token with a bad signature, or without write permission, is E_AUTH and its signature appears nowhere", async () => {
    const good = sasFor("rl");
    const sig = decodeURIComponent(/(?:^|&)sig=([^&]+)/.exec(good)![1]!);
    const forged = good.replace(/sig=[^&]+/, `sig=${encodeURIComponent(Buffer.from("forged-signature-0123456789abcdef").toString("base64"))}`);
    const forgedSig = decodeURIComponent(/(?:^|&)sig=([^&]+)/.exec(forged)![1]!);
    const { endpoint } = connection();
    const readOnly = createAzureStore({ endpoint, sasToken: good, container: CONTAINER, prefix: RUN, engine: { retry: { attempts: 1 } } });
    const bad = createAzureStore({ endpoint, sasToken: forged, container: CONTAINER, prefix: RUN, engine: { retry: { attempts: 1 } } });
    const attempts = [() => readOnly.put("sas-denied.bin", new Uint8Array(3)), () => bad.get("count/small.bin"), () => bad.stat("count/small.bin")];
    for (const attempt of attempts) {
      const error = await errorOf(attempt());
      expect((error as { code: string }).code).toBe("E_AUTH");
      for (const text of errorTexts(error)) {
        for (const secret of [sig, forgedSig, encodeURIComponent(sig), encodeURIComponent(forgedSig)]) expect(text).not.toContain(secret);
      }
    }
    await readOnly.close();
    await bad.close();
  });

  it("a malformed connection string or key is a RangeConfigError that does not echo it", () => {
    const key = "not base64 !!! secret-value-123";
    for (const make of [
      () => createAzureStore({ connectionString: `AccountName=abc;AccountKey=${key}`, container: CONTAINER }),
      () => createAzureStore({ account: "abc", accountKey: key, container: CONTAINER }),
      () => createAzureStore({ connectionString: `garbage-${key}`, container: CONTAINER }),
    ]) {
      let error: unknown;
      try {
        make();
      } catch (e) {
        error = e;
      }
      expect((error as Error).name).toBe("RangeConfigError");
      for (const text of errorTexts(error)) expect(text).not.toContain("secret-value-123");
    }
  });
});

describe("error mapping against the service", () => {
  it("a missing container is NotFoundError E_NO_SUCH_BUCKET", async () => {
    const store = createAzureStore({ ...connection(), container: "range-no-such-container" });
    for (const attempt of [() => store.get("x"), () => store.stat("x")]) {
      const error = await errorOf(attempt());
      expect((error as Error).name).toBe("NotFoundError");
      expect((error as { code: string }).code).toBe("E_NO_SUCH_BUCKET");
    }
    await store.close();
  });

  it("a range past the end is InvalidRangeError", async () => {
    const store = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN });
    await store.put("range/ten.bin", new Uint8Array(10));
    expect(((await errorOf(store.getRange("range/ten.bin", 10, 1))) as Error).name).toBe("InvalidRangeError");
    expect(((await errorOf(store.getRange("range/ten.bin", 5, 6))) as Error).name).toBe("InvalidRangeError");
    await store.close();
  });

  it("503 ServerBusy with Retry-After is retryable E_THROTTLED with retryAfterMs; 500 and 408 are retryable E_SERVER", async () => {
    // One attempt each (SDK and core): the test is about the mapping.
    const { store, log, close } = await recordedStore({ maxTries: 1, engine: { retry: { attempts: 1 } } });
    const cases = [
      { status: 503, code: "ServerBusy", expected: "E_THROTTLED", retryAfter: "3" },
      { status: 429, code: "TooManyRequests", expected: "E_THROTTLED", retryAfter: undefined },
      { status: 500, code: "InternalError", expected: "E_SERVER", retryAfter: undefined },
      { status: 408, code: "OperationTimedOut", expected: "E_SERVER", retryAfter: undefined },
    ];
    for (const c of cases) {
      log.before = () => ({
        status: c.status,
        headers: { "x-ms-error-code": c.code, ...(c.retryAfter ? { "retry-after": c.retryAfter } : {}) },
        body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${c.code}</Code><Message>busy</Message></Error>`,
      });
      log.clear();
      const error = await errorOf(store.stat("whatever.bin"));
      expect(log.count("GetProperties")).toBe(1);
      expect((error as Error).name).toBe("BackendError");
      expect((error as { code: string }).code).toBe(c.expected);
      expect((error as { retryable: boolean }).retryable).toBe(true);
      if (c.retryAfter) expect((error as { retryAfterMs?: number }).retryAfterMs).toBe(3000);
    }
    log.before = undefined;
    await close();
  });

  it("a refused connection is retryable BackendError E_NETWORK", async () => {
    const store = createAzureStore({ ...connection(), endpoint: `http://127.0.0.1:9/${connection().account}`, container: CONTAINER, maxTries: 1, engine: { retry: { attempts: 1 } } });
    const error = await errorOf(store.stat("x"));
    expect((error as Error).name).toBe("BackendError");
    expect((error as { code: string }).code).toBe("E_NETWORK");
    expect((error as { retryable: boolean }).retryable).toBe(true);
    await store.close();
  });
});
