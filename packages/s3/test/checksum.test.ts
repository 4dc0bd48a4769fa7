import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HeadObjectCommand, ListMultipartUploadsCommand, S3Client } from "@aws-sdk/client-s3";
import { runObjectStoreConformance } from "@range/conformance";
import { checksumBase64, downloadFile, openStore, type GetOptions, type ObjectStore, type RangeEngineOptions, type RangeStats } from "@range/core";
import { startFaultProxy, type FaultProxy, type FaultRule } from "@range/test-servers";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { CHECKSUM_ENV, createS3Store, mapS3Error, resolveS3Options, wholeObjectChecksum, type S3ChecksumAlgorithm, type S3StoreOptions } from "../src/index.js";
import { BUCKET, RUN, bytes, connection, equalBytes, recordedStore } from "./helpers.js";

const MiB = 1024 * 1024;
const KiB = 1024;

/** 1 MiB ranges above 1 MiB: a 12 MiB object is a head request plus 11 ranges. Short backoff, few tries. */
const ENGINE: RangeEngineOptions = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 4, rangeTimeoutMs: 5_000, retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 } };
/** 5 MiB parts from 5 MiB on: the large object is a 3-part upload. */
const UPLOAD = { multipartThreshold: 5 * MiB, partSize: 5 * MiB } as const;
const ALGORITHMS: S3ChecksumAlgorithm[] = ["crc32c", "crc32", "sha256"];
const SMALL = bytes(300 * KiB + 11, 951);
const LARGE = bytes(12 * MiB + 7, 952);

const stores: ObjectStore[] = [];
let raw: S3Client;
let proxy: FaultProxy;

function store(options: Partial<S3StoreOptions> = {}): ObjectStore {
  const s = createS3Store({ ...connection(), bucket: BUCKET, prefix: RUN, engine: ENGINE, ...UPLOAD, ...options });
  stores.push(s);
  return s;
}

/** A store that talks to SeaweedFS through the fault proxy; `maxAttempts: 1` leaves retries to the engine. */
function proxied(options: Partial<S3StoreOptions> = {}): ObjectStore {
  return store({ endpoint: proxy.endpoint, maxAttempts: 1, ...options });
}

/** What the server stores for `key`, asked directly (not through the code under test). */
async function head(key: string) {
  return raw.send(new HeadObjectCommand({ Bucket: BUCKET, Key: RUN + key, ChecksumMode: "ENABLED" }));
}

async function exists(key: string): Promise<boolean> {
  try {
    await head(key);
    return true;
  } catch (error) {
    if ((error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return false;
    throw error;
  }
}

async function inProgressUploads(key: string): Promise<unknown[]> {
  const out = await raw.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: RUN + key }));
  return out.Uploads ?? [];
}

/** The requests of one object's key, e.g. `keyRule("ck/a.bin", "GET")`. */
function keyRule(key: string, method: string): Pick<FaultRule, "method" | "path"> {
  return { method, path: new RegExp(`/${BUCKET}/${RUN}${key}`.replace(/[.]/g, "\\.")) };
}

async function outcome<T>(work: Promise<T>): Promise<{ value?: T; error?: { name: string; code: string; retryable: boolean; message: string } }> {
  try {
    return { value: await work };
  } catch (error) {
    return { error: error as { name: string; code: string; retryable: boolean; message: string } };
  }
}

beforeAll(async () => {
  raw = new S3Client({ ...connection(), forcePathStyle: true });
  proxy = await startFaultProxy({ target: connection().endpoint });
});
afterAll(async () => {
  for (const s of stores) await s.close();
  await proxy.close();
  await store().deletePrefix("ck/");
  for (const s of stores) await s.close();
  raw.destroy();
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.resetStats();
});

describe("options", () => {
  const saved = process.env[CHECKSUM_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[CHECKSUM_ENV];
    else process.env[CHECKSUM_ENV] = saved;
  });

  it("is off by default; RANGE_S3_CHECKSUM sets it, the option wins over it", () => {
    delete process.env[CHECKSUM_ENV];
    expect(resolveS3Options({ bucket: "bkt" }).checksum).toBe(false);
    process.env[CHECKSUM_ENV] = "SHA256";
    expect(resolveS3Options({ bucket: "bkt" }).checksum).toBe("sha256");
    expect(resolveS3Options({ bucket: "bkt", checksum: "crc32c" }).checksum).toBe("crc32c");
    expect(resolveS3Options({ bucket: "bkt", checksum: false }).checksum).toBe(false);
    process.env[CHECKSUM_ENV] = "off";
    expect(resolveS3Options({ bucket: "bkt" }).checksum).toBe(false);
  });

  it("rejects other values with RangeConfigError naming them, before any I/O", () => {
    for (const bad of ["md5", "CRC32C", true, 1, ""]) {
      expect(() => createS3Store({ bucket: "bkt", checksum: bad as never })).toThrow(expect.objectContaining({ name: "RangeConfigError", code: "E_INVALID_OPTION" }));
      expect(() => resolveS3Options({ bucket: "bkt", checksum: bad as never })).toThrow(bad === "" ? /got ""/ : new RegExp(`got "?${String(bad)}`));
    }
    process.env[CHECKSUM_ENV] = "crc64";
    expect(() => resolveS3Options({ bucket: "bkt" })).toThrow(/RANGE_S3_CHECKSUM must be crc32c, crc32, sha256 or off, got "crc64"/);
  });

  it("reads the whole-object checksum of a HeadObject, preferring the configured one, never a composite", () => {
    expect(wholeObjectChecksum({ ChecksumCRC32C: "4waSgw==", ChecksumSHA256: "x=" }, "sha256")).toEqual({ algorithm: "sha256", value: "x=" });
    expect(wholeObjectChecksum({ ChecksumCRC32C: "4waSgw==", ChecksumType: "FULL_OBJECT" }, "sha256")).toEqual({ algorithm: "crc32c", value: "4waSgw==" });
    expect(wholeObjectChecksum({ ChecksumCRC32C: "sozWKA==-2" }, "crc32c")).toBeUndefined();
    expect(wholeObjectChecksum({ ChecksumSHA256: "abc=", ChecksumType: "COMPOSITE" }, "sha256")).toBeUndefined();
    expect(wholeObjectChecksum({}, "crc32c")).toBeUndefined();
  });

  it("maps the server's BadDigest to a retryable IntegrityError E_CHECKSUM", () => {
    const sdkError = Object.assign(new Error("The Content-Md5 you specified did not match what we received."), { name: "BadDigest", $metadata: { httpStatusCode: 400 } });
    expect(mapS3Error(sdkError, { operation: "PutObject", bucket: "bkt", key: "k" })).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true });
  });
});

describe("round trips with each algorithm", () => {
  for (const algorithm of ALGORITHMS) {
    it(`${algorithm}: a one-request object — the server stores our checksum, get checks it with one HeadObject`, async () => {
      const { store: s, log } = await recordedStore({ engine: ENGINE, ...UPLOAD, checksum: algorithm });
      stores.push(s);
      const key = `ck/rt-${algorithm}-small.bin`;
      await s.put(key, SMALL);
      const put = log.requests.find((r) => r.command === "PutObject")!;
      expect(put.headers[`x-amz-checksum-${algorithm}`]).toBe(checksumBase64(algorithm, SMALL));
      const stored = await head(key);
      expect(stored[({ crc32c: "ChecksumCRC32C", crc32: "ChecksumCRC32", sha256: "ChecksumSHA256" } as const)[algorithm]]).toBe(checksumBase64(algorithm, SMALL));

      log.clear();
      const got = await s.get(key);
      expect(equalBytes(got, SMALL)).toBe(true);
      expect(log.count("GetObject")).toBe(1);
      expect(log.count("HeadObject")).toBe(1);
      expect(log.requests.find((r) => r.command === "HeadObject")!.input).toMatchObject({ ChecksumMode: "ENABLED" });
      // engine: false is one un-ranged GET, checked the same way.
      expect(equalBytes(await s.get(key, { engine: false }), SMALL)).toBe(true);
    });

    it(`${algorithm}: a multipart object — parts carry checksums; get assembles 12 ranges and checks the whole`, async () => {
      const { store: s, log } = await recordedStore({ engine: ENGINE, ...UPLOAD, checksum: algorithm });
      stores.push(s);
      const key = `ck/rt-${algorithm}-large.bin`;
      await s.put(key, LARGE);
      const parts = log.requests.filter((r) => r.command === "UploadPart");
      expect(parts).toHaveLength(3);
      const partBytes = [0, 1, 2].map((i) => LARGE.subarray(i * 5 * MiB, (i + 1) * 5 * MiB));
      parts.forEach((part, i) => expect(part.headers[`x-amz-checksum-${algorithm}`]).toBe(checksumBase64(algorithm, partBytes[i]!)));
      const complete = log.requests.find((r) => r.command === "CompleteMultipartUpload")!;
      expect((complete.input.MultipartUpload as { Parts: Record<string, unknown>[] }).Parts.every((p) => typeof Object.values(p).at(-1) === "string")).toBe(true);

      const stored = await head(key);
      if (algorithm === "sha256") {
        // A hash cannot be combined across parts: S3 stores the hash of the parts' hashes, "-3" for 3 parts.
        const composite = createHash("sha256");
        for (const part of partBytes) composite.update(createHash("sha256").update(part).digest());
        expect(stored.ChecksumType).toBe("COMPOSITE");
        expect(stored.ChecksumSHA256).toBe(`${composite.digest("base64")}-3`);
      } else {
        // A CRC combines: the object's checksum is the CRC of all its bytes, which a get can check.
        expect(stored.ChecksumType).toBe("FULL_OBJECT");
        expect(stored[algorithm === "crc32c" ? "ChecksumCRC32C" : "ChecksumCRC32"]).toBe(checksumBase64(algorithm, LARGE));
      }

      log.clear();
      let stats: RangeStats | undefined;
      const got = await s.get(key, { onStats: (x) => (stats = x) });
      expect(equalBytes(got, LARGE)).toBe(true);
      expect(stats!.ranges).toBe(13);
      expect(log.count("HeadObject")).toBe(1);
      // Into a caller's buffer too.
      const into = new Uint8Array(LARGE.length + 100);
      expect(equalBytes(await s.get(key, { into }), LARGE)).toBe(true);
    });
  }

  it("an object stored without a checksum reads as before (nothing to check against), as does a store with the option off", async () => {
    await store().put("ck/plain.bin", SMALL);
    expect((await head("ck/plain.bin")).ChecksumCRC32C).toBeUndefined();
    expect(equalBytes(await store({ checksum: "crc32c" }).get("ck/plain.bin"), SMALL)).toBe(true);
    const { store: off, log } = await recordedStore({ engine: ENGINE, ...UPLOAD });
    stores.push(off);
    await off.put("ck/off.bin", SMALL);
    expect(equalBytes(await off.get("ck/off.bin"), SMALL)).toBe(true);
    expect(log.count("HeadObject")).toBe(0);
    expect(Object.keys(log.requests.find((r) => r.command === "PutObject")!.headers).some((h) => h.startsWith("x-amz-checksum-"))).toBe(false);
  });

  it("streamed puts (a one-request and a multipart one) carry checksums too", async () => {
    async function* chunks(data: Uint8Array) {
      for (let i = 0; i < data.length; i += 700 * KiB) yield data.subarray(i, i + 700 * KiB);
    }
    const s = store({ checksum: "crc32c" });
    await s.put("ck/stream-small.bin", chunks(SMALL));
    await s.put("ck/stream-large.bin", chunks(LARGE));
    expect((await head("ck/stream-small.bin")).ChecksumCRC32C).toBe(checksumBase64("crc32c", SMALL));
    expect((await head("ck/stream-large.bin")).ChecksumCRC32C).toBe(checksumBase64("crc32c", LARGE));
    expect(equalBytes(await s.get("ck/stream-large.bin"), LARGE)).toBe(true);
  });
});

describe("put: bytes damaged on the way up", () => {
  it("SeaweedFS refuses a damaged PutObject body (BadDigest) → IntegrityError E_CHECKSUM, and no object", async () => {
    proxy.setRules([{ ...keyRule("ck/up-small.bin", "PUT"), nth: 1, fault: { kind: "corrupt", during: "request", at: 1234 } }]);
    const result = await outcome(proxied({ checksum: "crc32c" }).put("ck/up-small.bin", SMALL));
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true });
    expect(result.error!.message).toMatch(/BadDigest \(HTTP 400\)/);
    expect(await exists("ck/up-small.bin")).toBe(false);
    // Sending the same bytes again works: the caller's bytes were intact.
    await proxied({ checksum: "crc32c" }).put("ck/up-small.bin", SMALL);
    expect((await head("ck/up-small.bin")).ChecksumCRC32C).toBe(checksumBase64("crc32c", SMALL));
  });

  it("a damaged part fails the multipart upload the same way: no object, no upload left in progress", async () => {
    proxy.setRules([{ ...keyRule("ck/up-large.bin", "PUT"), path: /partNumber=2/, fault: { kind: "corrupt", during: "request", at: 3 * MiB } }]);
    const result = await outcome(proxied({ checksum: "sha256" }).put("ck/up-large.bin", LARGE));
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    // The server refused the part (without the part's checksum it would have stored it and echoed its own SHA256,
    // which the driver also catches: "the server stored SHA256 …").
    expect(result.error!.message).toMatch(/UploadPart .* failed: BadDigest \(HTTP 400\)/);
    expect(await exists("ck/up-large.bin")).toBe(false);
    expect(await inProgressUploads("ck/up-large.bin")).toEqual([]);
  });

  it("without the option SeaweedFS stores the damaged bytes silently (it does not check x-amz-content-sha256)", async () => {
    proxy.setRules([{ ...keyRule("ck/up-unchecked.bin", "PUT"), nth: 1, fault: { kind: "corrupt", during: "request", at: 1234 } }]);
    await proxied().put("ck/up-unchecked.bin", SMALL);
    const stored = await store().get("ck/up-unchecked.bin");
    expect(stored.length).toBe(SMALL.length);
    expect(equalBytes(stored, SMALL)).toBe(false);
    expect(stored[1234]).toBe(SMALL[1234]! ^ 0xff);
  });

  it("a server that stores another checksum than the one sent: the put fails and the new object is deleted", async () => {
    // As a server that does not check would answer: the response names a checksum of other bytes.
    proxy.setRules([{ ...keyRule("ck/up-echo.bin", "PUT"), nth: 1, fault: { kind: "header", set: { "x-amz-checksum-crc32c": "AAAAAA==" } } }]);
    const result = await outcome(proxied({ checksum: "crc32c" }).put("ck/up-echo.bin", SMALL));
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    expect(result.error!.message).toMatch(/the server stored CRC32C AAAAAA==, the 307211 bytes sent have /);
    expect(await exists("ck/up-echo.bin")).toBe(false);
  });
});

describe("get: bytes damaged on the way down", () => {
  beforeAll(async () => {
    const s = store({ checksum: "crc32c" });
    await s.put("ck/down-small.bin", SMALL);
    await s.put("ck/down-large.bin", LARGE);
  });

  const getOutcome = (s: ObjectStore, key: string, opts: GetOptions = {}) => {
    let stats: RangeStats | undefined;
    return outcome(s.get(key, { ...opts, onStats: (x) => (stats = x) })).then((o) => ({ ...o, stats }));
  };

  it("small object, one damaged response: core reads it again, checked again → exact bytes, one retry", async () => {
    proxy.setRules([{ ...keyRule("ck/down-small.bin", "GET"), nth: 1, fault: { kind: "corrupt", at: 100 * KiB } }]);
    const result = await getOutcome(proxied({ checksum: "crc32c" }), "ck/down-small.bin");
    expect(result.error).toBeUndefined();
    expect(equalBytes(result.value!, SMALL)).toBe(true);
    expect(result.stats!.retries).toBe(1);
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(proxy.count({ method: "HEAD" })).toBeGreaterThanOrEqual(2);
  });

  it("small object damaged on every response: IntegrityError E_CHECKSUM after the engine's 3 attempts", async () => {
    proxy.setRules([{ ...keyRule("ck/down-small.bin", "GET"), fault: { kind: "corrupt", at: 7 } }]);
    const s = proxied({ checksum: "crc32c" });
    const result = await getOutcome(s, "ck/down-small.bin");
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true });
    expect(result.error!.message).toMatch(/CRC32C of the 307211 bytes read is .+, the server reports /);
    expect(proxy.count({ fault: "corrupt" })).toBe(3);
    // A stream of a small object is its one checked response too; so is engine: false.
    await expect((async () => { for await (const _ of s.getStream("ck/down-small.bin")); })()).rejects.toMatchObject({ code: "E_CHECKSUM" });
    await expect(s.get("ck/down-small.bin", { engine: false })).rejects.toMatchObject({ code: "E_CHECKSUM" });
    // With a known size there is no head request: the engine's one range is the whole object, checked in `read`.
    await expect(s.get("ck/down-small.bin", { knownMeta: { size: SMALL.length } })).rejects.toMatchObject({ code: "E_CHECKSUM" });
  });

  it("without the option the damaged bytes come back unnoticed (why the option exists)", async () => {
    proxy.setRules([{ ...keyRule("ck/down-small.bin", "GET"), nth: 1, fault: { kind: "corrupt", at: 7 } }]);
    const got = await proxied().get("ck/down-small.bin");
    expect(got[7]).toBe(SMALL[7]! ^ 0xff);
  });

  it("large object, one damaged range: the assembled object fails its check → IntegrityError (core does not refetch it)", async () => {
    proxy.setRules([{ ...keyRule("ck/down-large.bin", "GET"), nth: 5, fault: { kind: "corrupt", at: 4321 } }]);
    const result = await getOutcome(proxied({ checksum: "crc32c" }), "ck/down-large.bin");
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true });
    expect(result.error!.message).toContain(`CRC32C of the ${LARGE.length} bytes read`);
  });

  it("large object, getStream and downloadFile: hashed in order as the bytes arrive; one damaged range → E_CHECKSUM, no file", async () => {
    const s = proxied({ checksum: "crc32c" });
    const streamed: Uint8Array[] = [];
    for await (const chunk of s.getStream("ck/down-large.bin")) streamed.push(chunk);
    expect(equalBytes(Buffer.concat(streamed), LARGE)).toBe(true);

    proxy.setRules([{ ...keyRule("ck/down-large.bin", "GET"), nth: 4, fault: { kind: "corrupt", at: 999 } }]);
    let received = 0;
    const streamError = await outcome((async () => { for await (const chunk of s.getStream("ck/down-large.bin")) received += chunk.length; })());
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(streamError.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    expect(received).toBe(LARGE.length);

    const dir = await mkdtemp(join(tmpdir(), "range-s3-ck-"));
    try {
      proxy.resetStats();
      proxy.setRules([{ ...keyRule("ck/down-large.bin", "GET"), nth: 6, fault: { kind: "corrupt", at: 5 } }]);
      const fileError = await outcome(downloadFile(s, "ck/down-large.bin", join(dir, "large.bin")));
      expect(proxy.count({ fault: "corrupt" })).toBe(1);
      expect(fileError.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
      expect(await readdir(dir)).toEqual([]);
      proxy.setRules([]);
      await downloadFile(s, "ck/down-large.bin", join(dir, "large.bin"));
      expect(equalBytes(new Uint8Array(await readFile(join(dir, "large.bin"))), LARGE)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a stored checksum that does not match the bytes (HeadObject rewritten): small and large gets fail", async () => {
    proxy.setRules([{ method: "HEAD", path: /ck\/down-/, fault: { kind: "header", set: { "x-amz-checksum-crc32c": "AAAAAA==" } } }]);
    const s = proxied({ checksum: "crc32c" });
    await expect(s.get("ck/down-small.bin")).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    await expect(s.get("ck/down-large.bin")).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", message: expect.stringContaining("the server reports AAAAAA==") });
  });

  it("HeadObject sees a newer version than the GET did: asked again pinned to the version read → E_OBJECT_CHANGED", async () => {
    const key = "ck/down-race.bin";
    const direct = store({ checksum: "crc32c" });
    await direct.put(key, SMALL);
    // The HeadObject that runs alongside the GET is held back until the object has been overwritten.
    proxy.setRules([{ ...keyRule(key, "HEAD"), nth: 1, fault: { kind: "latency", ms: 1_500 } }]);
    const reading = getOutcome(proxied({ checksum: "crc32c" }), key);
    const started = performance.now();
    while (!proxy.log.some((r) => r.method === "GET" && r.status !== undefined) && performance.now() - started < 1_000) await new Promise((r) => setTimeout(r, 10));
    await direct.put(key, bytes(SMALL.length, 953));
    const result = await reading;
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_OBJECT_CHANGED" });
    expect(proxy.count({ method: "HEAD" })).toBe(2);
  });
});

// Every edge of the contract (0 and 1 bytes, the split threshold ±1, odd sizes, streams, random ranges, multipart
// puts, aborts) with checksums on, through openStore's options.
runObjectStoreConformance({
  name: "s3 (SeaweedFS, checksum crc32c)",
  create: () => openStore("s3://range-conformance/checksum-crc32c", { checksum: "crc32c" }),
});
