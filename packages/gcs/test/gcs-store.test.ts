import { Readable } from "node:stream";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGcsBucket } from "@range/test-servers";
import { IntegrityError, MiB, NotFoundError, openStore, type ObjectMeta, type RangeStats } from "@range/core";
import { backend } from "../src/index.js";
import { BUCKET, GcsProxy, RUN, bytes, endpoint, equalBytes, gcsStore } from "./helpers.js";

let proxy: GcsProxy;
beforeAll(async () => {
  proxy = await GcsProxy.start();
});
afterEach(() => {
  proxy.hooks = {};
  proxy.clear();
});
afterAll(async () => {
  await proxy.close();
});

/** Media GETs of the last operation, with their Range header and pinned generation. */
function mediaRequests() {
  return proxy.requests
    .filter((r) => r.kind === "media")
    .map((r) => ({ range: r.headers.range, generation: new URL(r.url, "http://x").searchParams.get("generation") }));
}

async function putDirect(key: string, data: Uint8Array): Promise<ObjectMeta> {
  const { store } = gcsStore();
  try {
    return await store.put(key, data);
  } finally {
    await store.close();
  }
}

describe("reads", () => {
  it("a small object is ONE media GET and no metadata call", async () => {
    const data = bytes(300_000, 1);
    await putDirect("small.bin", data);
    const { store } = gcsStore({ proxy });
    proxy.clear();
    expect(equalBytes(await store.get("small.bin"), data)).toBe(true);
    expect(proxy.requests.map((r) => r.kind)).toEqual(["media"]);
    expect(mediaRequests()).toEqual([{ range: `bytes=0-${4 * MiB - 1}`, generation: null }]);
    await store.close();
  });

  it("a large object: size from the first range, no metadata call, every later range pinned to its generation", async () => {
    const data = bytes(21 * MiB + 77, 2);
    const meta = await putDirect("large.bin", data);
    const { store } = gcsStore({ proxy, engine: { chunkSize: 4 * MiB, maxConcurrentRanges: 4 } });
    proxy.clear();
    let stats: RangeStats | undefined;
    const got = await store.get("large.bin", { onStats: (s) => (stats = s) });
    expect(equalBytes(got, data)).toBe(true);
    expect(proxy.count("json")).toBe(0);
    const media = mediaRequests();
    expect(media[0]).toEqual({ range: `bytes=0-${4 * MiB - 1}`, generation: null });
    expect(media.length).toBe(stats!.ranges);
    expect(media.length).toBeGreaterThan(4);
    for (const later of media.slice(1)) expect(later.generation).toBe(meta.etag);
    await store.close();
  });

  it("getStream and readTo return the same bytes", async () => {
    const data = bytes(9 * MiB + 5, 3);
    await putDirect("stream.bin", data);
    const { store } = gcsStore({ engine: { chunkSize: 2 * MiB, maxConcurrentRanges: 3 } });
    const chunks: Uint8Array[] = [];
    for await (const chunk of store.getStream("stream.bin")) chunks.push(chunk);
    expect(equalBytes(Buffer.concat(chunks), data)).toBe(true);
    const out = new Uint8Array(data.length);
    await store.readTo!("stream.bin", (offset, part) => out.set(part, offset));
    expect(equalBytes(out, data)).toBe(true);
    await store.close();
  });

  it("an overwrite during a slow download fails the read with E_OBJECT_CHANGED, never mixed bytes", async () => {
    const first = bytes(12 * MiB, 4);
    const second = bytes(12 * MiB, 5);
    await putDirect("overwritten.bin", first);
    const { store } = gcsStore({ proxy, engine: { chunkSize: 2 * MiB, maxConcurrentRanges: 1 } });
    // Hold the second range until the object has been replaced.
    proxy.hooks.before = async (request) => {
      if (request.kind === "media" && request.index === 1) await putDirect("overwritten.bin", second);
    };
    const error = await store.get("overwritten.bin").catch((e: unknown) => e);
    expect(IntegrityError.isInstance(error)).toBe(true);
    expect((error as IntegrityError).code).toBe("E_OBJECT_CHANGED");
    // The next read gets the new version, whole.
    proxy.hooks = {};
    expect(equalBytes(await store.get("overwritten.bin"), second)).toBe(true);
    await store.close();
  });

  it("with object versioning on, a read that started before an overwrite returns the old version, whole", async () => {
    const versioned = `range-gcs-versioned-${RUN.slice(4, 12)}`;
    await createGcsBucket(endpoint(), "range-test", versioned, { versioning: true });
    const first = bytes(10 * MiB, 6);
    const second = bytes(10 * MiB, 7);
    const { store: direct } = gcsStore({ bucket: versioned });
    await direct.put("v.bin", first);
    const { store } = gcsStore({ bucket: versioned, proxy, engine: { chunkSize: 2 * MiB, maxConcurrentRanges: 1 } });
    proxy.hooks.before = async (request) => {
      if (request.kind === "media" && request.index === 1) await direct.put("v.bin", second);
    };
    expect(equalBytes(await store.get("v.bin"), first)).toBe(true);
    proxy.hooks = {};
    expect(equalBytes(await store.get("v.bin"), second)).toBe(true);
    await store.close();
    await direct.close();
  });

  it("a 503 on one range is retried by the engine", async () => {
    const data = bytes(10 * MiB, 8);
    await putDirect("flaky.bin", data);
    const { store } = gcsStore({ proxy, engine: { chunkSize: 2 * MiB, maxConcurrentRanges: 2, retry: { baseDelayMs: 1 } } });
    proxy.hooks.before = (request) => (request.kind === "media" && request.index === 2 ? 503 : undefined);
    let stats: RangeStats | undefined;
    expect(equalBytes(await store.get("flaky.bin", { onStats: (s) => (stats = s) }), data)).toBe(true);
    expect(stats!.retries).toBe(1);
    await store.close();
  });

  it("missing objects and buckets are NotFoundError", async () => {
    const { store } = gcsStore();
    await expect(store.get("missing.bin")).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.getRange("missing.bin", 0, 10)).rejects.toBeInstanceOf(NotFoundError);
    await expect(store.stat("missing.bin")).rejects.toMatchObject({ name: "NotFoundError", key: "missing.bin" });
    const { store: noBucket } = gcsStore({ bucket: "range-no-such-bucket" });
    await expect(noBucket.get("x")).rejects.toBeInstanceOf(NotFoundError);
    await store.close();
    await noBucket.close();
  });
});

describe("whole-object CRC32C", () => {
  it("correct objects pass, small and large (the check runs: a wrong x-goog-hash fails the same read)", async () => {
    for (const [key, size] of [
      ["crc-small.bin", 1000],
      ["crc-large.bin", 9 * MiB + 3],
    ] as const) {
      const data = bytes(size, 9);
      await putDirect(key, data);
      const { store } = gcsStore({ proxy, engine: { chunkSize: 2 * MiB } });
      expect(equalBytes(await store.get(key), data)).toBe(true);
      proxy.hooks.responseHeaders = (request, headers) => {
        if (request.kind === "media") headers["x-goog-hash"] = "crc32c=AAAAAA==,md5=AAAAAAAAAAAAAAAAAAAAAA==";
      };
      await expect(store.get(key)).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
      proxy.hooks = {};
      await store.close();
    }
  });

  it("a byte flipped on the wire: retried when it happens once, IntegrityError when it persists", async () => {
    const small = bytes(50_000, 10);
    const large = bytes(9 * MiB, 11);
    await putDirect("flip-small.bin", small);
    await putDirect("flip-large.bin", large);
    const { store } = gcsStore({ proxy, engine: { chunkSize: 2 * MiB, maxConcurrentRanges: 2, retry: { baseDelayMs: 1 } } });

    // Once: the whole-object check fails the first response, core reads the object again (pinned to its
    // generation, checked again) and returns the right bytes.
    proxy.hooks.corruptResponse = (request) => (request.kind === "media" && request.index === 0 ? 1234 : undefined);
    let stats: RangeStats | undefined;
    expect(equalBytes(await store.get("flip-small.bin", { onStats: (s) => (stats = s) }), small)).toBe(true);
    expect(stats!.retries).toBe(1);
    expect(mediaRequests()[1]!.generation).not.toBeNull();

    // Every time: the small object fails after the engine's retries.
    proxy.clear();
    proxy.hooks.corruptResponse = (request) => (request.kind === "media" ? 1234 : undefined);
    await expect(store.get("flip-small.bin")).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });

    // In a later range of a large object: only the assembled object can tell, so the get fails as a whole.
    proxy.clear();
    proxy.hooks.corruptResponse = (request) => (request.kind === "media" && request.index === 3 ? 777 : undefined);
    await expect(store.get("flip-large.bin")).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });

    // getRange of the whole object is checked too; a range of part of it cannot be.
    proxy.clear();
    proxy.hooks.corruptResponse = (request) => (request.kind === "media" ? 5 : undefined);
    await expect(store.getRange("flip-small.bin", 0, small.length)).rejects.toMatchObject({ code: "E_CHECKSUM" });
    expect((await store.getRange("flip-small.bin", 0, 100))[5]).toBe(small[5]! ^ 0xff);
    await store.close();

    // With the check off the flipped byte comes through: the proxy really corrupts, and the check is what catches it.
    const { store: unchecked } = gcsStore({ proxy, verifyChecksums: false });
    proxy.clear();
    proxy.hooks.corruptResponse = (request) => (request.kind === "media" && request.index === 0 ? 1234 : undefined);
    const got = await unchecked.get("flip-small.bin");
    expect(got[1234]).toBe(small[1234]! ^ 0xff);
    await unchecked.close();
  });
});

describe("writes", () => {
  function uploadTypes(): string[] {
    return proxy.requests
      .filter((r) => r.kind === "upload" && r.method === "POST")
      .map((r) => new URL(r.url, "http://x").searchParams.get("uploadType") ?? "?");
  }

  it("a simple upload below the threshold, a resumable one above it; buffers and streams alike", async () => {
    const { store } = gcsStore({ proxy, resumableThreshold: 2 * MiB });
    const small = bytes(2 * MiB - 1, 12);
    const large = bytes(5 * MiB + 9, 13);
    const metaSmall = await store.put("w/small.bin", small, { contentType: "text/plain" });
    const metaLarge = await store.put("w/large.bin", large);
    await store.put("w/small-stream.bin", Readable.from([small.subarray(0, 1000), small.subarray(1000)]));
    await store.put("w/large-stream.bin", Readable.from([large.subarray(0, 3 * MiB), large.subarray(3 * MiB)]));
    expect(uploadTypes()).toEqual(["multipart", "resumable", "multipart", "resumable"]);
    expect(metaSmall.size).toBe(small.length);
    expect(metaLarge.size).toBe(large.length);
    expect(metaLarge.etag).toBe((await store.stat("w/large.bin")).etag);
    expect(equalBytes(await store.get("w/large-stream.bin"), large)).toBe(true);
    expect(equalBytes(await store.get("w/small-stream.bin"), small)).toBe(true);
    await store.close();
  });

  it("resumable uploads in chunks (resumableChunkSize) arrive whole", async () => {
    const { store } = gcsStore({ proxy, resumableThreshold: 1 * MiB, resumableChunkSize: 1 * MiB });
    const data = bytes(3 * MiB + 100, 14);
    await store.put("w/chunked.bin", data);
    const puts = proxy.requests.filter((r) => r.kind === "upload" && r.method === "PUT");
    expect(puts.length).toBe(4);
    expect(equalBytes(await store.get("w/chunked.bin"), data)).toBe(true);
    await store.close();
  });

  it("a failed upload leaves no object, and an overwrite that fails leaves the old version", async () => {
    const { store } = gcsStore({ resumableThreshold: 1 * MiB });
    async function* failing(): AsyncIterable<Uint8Array> {
      yield bytes(1 * MiB, 15);
      yield bytes(1 * MiB, 16);
      throw new Error("source broke");
    }
    await expect(store.put("w/failed.bin", failing())).rejects.toThrow("source broke");
    expect(await store.exists("w/failed.bin")).toBe(false);

    const old = bytes(100, 17);
    await store.put("w/kept.bin", old);
    await expect(store.put("w/kept.bin", failing())).rejects.toThrow("source broke");
    expect(equalBytes(await store.get("w/kept.bin"), old)).toBe(true);
    await store.close();
  });

  it("an aborted upload leaves no object and cancels its resumable session", async () => {
    const { store } = gcsStore({ proxy, resumableThreshold: 1 * MiB });
    const controller = new AbortController();
    async function* slow(): AsyncIterable<Uint8Array> {
      yield bytes(1 * MiB, 18);
      yield bytes(1 * MiB, 19);
      // Let the resumable session be created and its upload start, so there is one to cancel.
      while (!proxy.requests.some((r) => r.kind === "upload" && r.method === "PUT")) await new Promise((r) => setTimeout(r, 10));
      controller.abort();
      await new Promise((r) => setTimeout(r, 50));
      yield bytes(1 * MiB, 20);
    }
    await expect(store.put("w/aborted.bin", slow(), { signal: controller.signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(await store.exists("w/aborted.bin")).toBe(false);
    expect(proxy.requests.some((r) => r.kind === "upload" && r.method === "DELETE")).toBe(true);
    await store.close();
  });

  it("bytes corrupted on the way up are caught by the CRC32C check and the bad version is removed", async () => {
    const { store } = gcsStore({ proxy, resumableThreshold: 1 * MiB });
    proxy.hooks.corruptRequest = (request) => (request.kind === "upload" && request.method === "PUT" ? 4096 : undefined);
    await expect(store.put("w/corrupt-up.bin", bytes(2 * MiB, 21))).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    proxy.hooks = {};
    expect(await store.exists("w/corrupt-up.bin")).toBe(false);
    await store.close();
  });
});

describe("listing", () => {
  it("is lazy: one objects.list page (maxResults) at a time", async () => {
    const { store: writer } = gcsStore();
    for (let i = 0; i < 7; i++) await writer.put(`l/${i}.bin`, bytes(10, i));
    await writer.close();
    const { store } = gcsStore({ proxy, listPageSize: 3 });
    for await (const meta of store.list("l/")) {
      expect(meta.key).toBe("l/0.bin");
      break;
    }
    expect(proxy.count("json")).toBe(1);
    expect(new URL(proxy.requests[0]!.url, "http://x").searchParams.get("maxResults")).toBe("3");
    proxy.clear();
    const keys: string[] = [];
    for await (const meta of store.list("l/")) keys.push(meta.key);
    expect(keys).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `l/${i}.bin`));
    expect(proxy.count("json")).toBe(3);
    await store.close();
  });

  it("one level: sub-prefixes in name order, each once, across pages", async () => {
    const { store } = gcsStore({ listPageSize: 2 });
    for (const key of ["o/a.bin", "o/b/1.bin", "o/b/2.bin", "o/c.bin", "o/d/1.bin", "o/e.bin", "o/f.bin"]) await store.put(key, bytes(3, 1));
    const entries: ObjectMeta[] = [];
    for await (const meta of store.list("o/", { recursive: false })) entries.push(meta);
    expect(entries.map((e) => `${e.key}${e.isPrefix ? " (prefix)" : ""}`)).toEqual([
      "o/a.bin",
      "o/b/ (prefix)",
      "o/c.bin",
      "o/d/ (prefix)",
      "o/e.bin",
      "o/f.bin",
    ]);
    await store.close();
  });
});

describe("openStore and options", () => {
  it("gs://bucket/prefix through the registry, configured by STORAGE_EMULATOR_HOST alone", async () => {
    const store = await openStore(`gs://${BUCKET}/${RUN}via-uri`);
    await store.put("x/y.txt", new TextEncoder().encode("hello"));
    expect(new TextDecoder().decode(await store.get("x/y.txt"))).toBe("hello");
    const { store: root } = gcsStore({ prefix: "" });
    expect((await root.stat(`${RUN}via-uri/x/y.txt`)).size).toBe(5);
    await store.close();
    await root.close();
    expect(backend.scheme).toBe("gs");
  });

  it("STORAGE_EMULATOR_HOST works with the SDK's JSON API calls too (its base URL bug is worked around)", async () => {
    // Listing and stat go through the SDK; with the variable set, the SDK alone would call /b/... (no /storage/v1).
    const { store } = gcsStore();
    await store.put("env/a.bin", bytes(10, 1));
    expect((await store.stat("env/a.bin")).size).toBe(10);
    const keys: string[] = [];
    for await (const meta of store.list("env/")) keys.push(meta.key);
    expect(keys).toEqual(["env/a.bin"]);
    await store.close();
  });
});
