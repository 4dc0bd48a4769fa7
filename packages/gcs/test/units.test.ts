import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { BackendError, IntegrityError, InvalidRangeError, NotFoundError, RangeConfigError, crc32c, crcToBase64, verifyChecksum } from "@range/core";
import { crc32cFromHashHeader, createGcsStore, mapGcsError, redactGcsSecrets, resolveGcsOptions } from "../src/index.js";

const FAKE_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7SECRETKEYMATERIAL";
const FAKE_PEM = `-----BEGIN PRIVATE KEY-----\n${FAKE_KEY_BODY}\n-----END PRIVATE KEY-----\n`;

describe("options", () => {
  const saved = process.env.STORAGE_EMULATOR_HOST;
  afterEach(() => {
    process.env.STORAGE_EMULATOR_HOST = saved;
  });

  it("rejects bad options before any I/O", () => {
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ bucket: "Bad_Bucket!" }, /bucket must be a valid bucket name/],
      [{ bucket: "ok-bucket", nope: 1 }, /unknown option nope/],
      [{ bucket: "ok-bucket", resumableChunkSize: 300_000 }, /multiple of 256 KiB/],
      [{ bucket: "ok-bucket", listPageSize: 5000 }, /listPageSize must be an integer between 1 and 1000/],
      [{ bucket: "ok-bucket", apiEndpoint: "ftp://x" }, /apiEndpoint must be http/],
      [{ bucket: "ok-bucket", credentials: "secret" }, /credentials must be a service account key object/],
      [{ bucket: "ok-bucket", engine: { chunkSize: -1 } }, /chunkSize/],
      [{ bucket: "ok-bucket", verifyChecksums: "yes" }, /verifyChecksums must be a boolean/],
    ];
    for (const [options, message] of bad) {
      let error: unknown;
      try {
        createGcsStore(options as never);
      } catch (e) {
        error = e;
      }
      expect(RangeConfigError.isInstance(error), JSON.stringify(options)).toBe(true);
      expect((error as Error).message).toMatch(message);
    }
  });

  it("reads STORAGE_EMULATOR_HOST like the other Google SDKs (bare host:port is http; /storage/v1 is dropped)", () => {
    process.env.STORAGE_EMULATOR_HOST = "127.0.0.1:4443";
    expect(resolveGcsOptions({ bucket: "b-1" })).toMatchObject({ apiEndpoint: "http://127.0.0.1:4443", authenticate: false, projectId: "range-emulator" });
    process.env.STORAGE_EMULATOR_HOST = "http://localhost:9023/storage/v1/";
    expect(resolveGcsOptions({ bucket: "b-1" }).apiEndpoint).toBe("http://localhost:9023");
    // The option wins over the variable; authenticating a custom endpoint is opt-in.
    expect(resolveGcsOptions({ bucket: "b-1", apiEndpoint: "https://gcs.internal", useAuthWithCustomEndpoint: true })).toMatchObject({
      apiEndpoint: "https://gcs.internal",
      authenticate: true,
      projectId: undefined,
    });
    delete process.env.STORAGE_EMULATOR_HOST;
    expect(resolveGcsOptions({ bucket: "b-1", prefix: "/a/b" })).toMatchObject({ apiEndpoint: undefined, authenticate: true, prefix: "a/b/" });
  });
});

describe("CRC32C", () => {
  it("core's CRC32C encodes like GCS (base64 of the big-endian value); x-goog-hash is read", () => {
    const hello = new TextEncoder().encode("hello");
    expect(crcToBase64(crc32c(hello))).toBe("mnG7TA==");
    // Incremental: the CRC of a concatenation continues from the first part's (how uploads are checked).
    const world = new TextEncoder().encode(" world");
    expect(crcToBase64(crc32c(world, crc32c(hello)))).toBe(crcToBase64(crc32c(new TextEncoder().encode("hello world"))));
    expect(crc32cFromHashHeader("crc32c=mnG7TA==,md5=XUFAKrxLKna5cZ2REBfFkg==")).toBe("mnG7TA==");
    expect(crc32cFromHashHeader(["md5=XUFAKrxLKna5cZ2REBfFkg==", "crc32c=yZRlqg=="])).toBe("yZRlqg==");
    expect(crc32cFromHashHeader("md5=XUFAKrxLKna5cZ2REBfFkg==")).toBeUndefined();
    verifyChecksum("crc32c", hello, "mnG7TA==", "hello");
    expect(() => verifyChecksum("crc32c", hello, "AAAAAA==", "hello")).toThrow(expect.objectContaining({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true }));
  });
});

describe("error mapping", () => {
  const ctx = { operation: "GET media", bucket: "b", key: "p/k", relativeKey: "k" };

  it("maps statuses and network failures to typed, correctly retryable errors", () => {
    const cases: [unknown, string, string, boolean][] = [
      [{ code: 404, message: "No such object: b/p/k" }, "NotFoundError", "E_NOT_FOUND", false],
      [{ code: 412, message: "conditionNotMet" }, "IntegrityError", "E_OBJECT_CHANGED", false],
      [{ code: 416, message: "range" }, "InvalidRangeError", "E_INVALID_RANGE", false],
      [{ code: 401, message: "Invalid Credentials" }, "BackendError", "E_AUTH", false],
      [{ code: 403, message: "forbidden" }, "BackendError", "E_AUTH", false],
      [{ code: 429, message: "rateLimitExceeded" }, "BackendError", "E_THROTTLED", true],
      [{ code: 408, message: "timeout" }, "BackendError", "E_SERVER", true],
      [{ code: 500, message: "backendError" }, "BackendError", "E_SERVER", true],
      [{ code: 503, message: "unavailable" }, "BackendError", "E_THROTTLED", true],
      [Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }), "BackendError", "E_NETWORK", true],
      [Object.assign(new Error("socket hang up"), {}), "BackendError", "E_NETWORK", true],
      [{ code: 400, message: "bad request" }, "BackendError", "E_GCS", false],
      // A resumable upload's chunk failure carries the status only in its message.
      [new Error("Retry limit exceeded - status: 500"), "BackendError", "E_SERVER", true],
      [new Error("Retry limit exceeded - status: 403"), "BackendError", "E_AUTH", false],
    ];
    for (const [error, name, code, retryable] of cases) {
      const mapped = mapGcsError(error, ctx) as BackendError;
      expect({ name: mapped.name, code: mapped.code, retryable: mapped.retryable }, JSON.stringify(error)).toEqual({ name, code, retryable });
    }
    expect((mapGcsError({ code: 404 }, ctx) as NotFoundError).key).toBe("k");
    // A read pinned to a generation that is gone: the object changed, it is not "not found".
    expect(IntegrityError.isInstance(mapGcsError({ code: 404 }, { ...ctx, generation: "17" }))).toBe(true);
    expect(InvalidRangeError.isInstance(mapGcsError({ code: 416 }, ctx))).toBe(true);
  });

  it("never lets private keys or tokens through, in messages or causes", () => {
    const leaky = Object.assign(
      new Error(`failed with Authorization: Bearer ya29.a0AfH6SMBsecrettoken and key ${FAKE_PEM} {"private_key":"${FAKE_KEY_BODY}"}`),
      { code: 401, config: { headers: { Authorization: "Bearer ya29.a0AfH6SMBsecrettoken" } } },
    );
    const mapped = mapGcsError(leaky, ctx);
    const text = `${mapped.message} ${(mapped.cause as Error).message} ${JSON.stringify(mapped.cause)}`;
    expect(text).not.toContain("secrettoken");
    expect(text).not.toContain("SECRETKEYMATERIAL");
    expect(text).toContain("[REDACTED]");
    expect(redactGcsSecrets("refresh_token=1//0gSECRETREFRESHTOKENVALUE1234 x")).not.toContain("SECRETREFRESH");
  });
});

describe("credentials", () => {
  // Every store here sends its requests (if it ever got that far) to a closed loopback port.
  const closedPort = { apiEndpoint: "http://127.0.0.1:9", useAuthWithCustomEndpoint: true };
  const saved = { home: process.env.HOME, config: process.env.CLOUDSDK_CONFIG };
  let dir: string | undefined;
  afterEach(async () => {
    process.env.HOME = saved.home;
    if (saved.config === undefined) delete process.env.CLOUDSDK_CONFIG;
    else process.env.CLOUDSDK_CONFIG = saved.config;
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it("no Application Default Credentials anywhere: a RangeConfigError that says where credentials come from", async () => {
    dir = await mkdtemp(join(tmpdir(), "range-gcs-noadc-"));
    process.env.HOME = dir;
    process.env.CLOUDSDK_CONFIG = dir;
    const store = createGcsStore({ bucket: "b-1", ...closedPort });
    const error = await store.get("k").catch((e: unknown) => e);
    expect(RangeConfigError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: "E_CREDENTIALS" });
    expect((error as Error).message).toMatch(/GOOGLE_APPLICATION_CREDENTIALS/);
    expect((error as Error).message).toMatch(/STORAGE_EMULATOR_HOST/);
    // Metadata and listing calls fail the same way.
    await expect(store.stat("k")).rejects.toMatchObject({ name: "RangeConfigError", code: "E_CREDENTIALS" });
    await store.close();
  });

  it("a missing key file and a malformed key are RangeConfigErrors without the key in them", async () => {
    const missing = createGcsStore({ bucket: "b-1", ...closedPort, keyFilename: join(tmpdir(), "no-such-dir", "key.json") });
    await expect(missing.get("k")).rejects.toMatchObject({ name: "RangeConfigError", code: "E_CREDENTIALS" });
    await missing.close();

    const malformed = createGcsStore({
      bucket: "b-1",
      ...closedPort,
      credentials: { client_email: "range-test@example.iam.gserviceaccount.com", private_key: FAKE_PEM },
    });
    const error = await malformed.get("k").catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "RangeConfigError", code: "E_CREDENTIALS" });
    const text = `${(error as Error).message} ${String((error as Error).cause)} ${JSON.stringify(error)}`;
    expect(text).not.toContain(FAKE_KEY_BODY);
    expect(text).not.toContain("SECRETKEYMATERIAL");
    await malformed.close();
  });
});
