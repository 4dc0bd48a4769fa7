import { inspect } from "node:util";
import { isRangeStoreError, parseRetryAfter, redactSecrets } from "@range/core";
import { describe, expect, it } from "vitest";
import {
  MAX_BLOCKS,
  MAX_BLOCK_SIZE,
  backend,
  blockSizeForLength,
  createAzureStore,
  isValidContainerName,
  mapAzureError,
  maxStreamSize,
  parseConnectionString,
  resolveAzureConnection,
  resolveAzureOptions,
  sanitizedCause,
  streamBlockSize,
} from "../src/index.js";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;
const KEY = Buffer.from("an-account-key-that-must-stay-secret-0123456789").toString("base64");
const SAS = "sv=2024-11-04&ss=b&srt=sco&sp=rl&se=2030-01-01T00%3A00%3A00Z&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D";

const ENV_NAMES = ["AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY", "AZURE_STORAGE_SAS_TOKEN"];

function withEnv<T>(vars: Record<string, string | undefined>, fn: () => T): T {
  const names = [...new Set([...ENV_NAMES, ...Object.keys(vars)])];
  const saved = Object.fromEntries(names.map((k) => [k, process.env[k]]));
  for (const k of names) {
    const v = vars[k];
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

function thrown(fn: () => unknown): Error & { code?: string } {
  try {
    fn();
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected a throw");
}

describe("parseConnectionString", () => {
  it("reads an account-key connection string, deriving the endpoint from protocol, account and suffix", () => {
    const s = parseConnectionString(`DefaultEndpointsProtocol=https;AccountName=acct1;AccountKey=${KEY};EndpointSuffix=core.chinacloudapi.cn`, "x");
    expect(s.serviceUrl).toBe("https://acct1.blob.core.chinacloudapi.cn");
    expect(s.account).toBe("acct1");
    expect(s.auth).toEqual({ kind: "sharedKey", account: "acct1", accountKey: KEY });
    expect(parseConnectionString(`AccountName=acct1;AccountKey=${KEY}`, "x").serviceUrl).toBe("https://acct1.blob.core.windows.net");
  });

  it("prefers BlobEndpoint (emulator, path style) and takes the account from it when AccountName is missing", () => {
    const s = parseConnectionString(`BlobEndpoint=http://127.0.0.1:10000/acct2/;AccountKey=${KEY};QueueEndpoint=http://127.0.0.1:10001/acct2`, "x");
    expect(s.serviceUrl).toBe("http://127.0.0.1:10000/acct2");
    expect(s.auth).toEqual({ kind: "sharedKey", account: "acct2", accountKey: KEY });
  });

  it("reads SAS connection strings, with or without the leading ?", () => {
    for (const sas of [SAS, `?${SAS}`]) {
      const s = parseConnectionString(`BlobEndpoint=https://acct3.blob.core.windows.net;SharedAccessSignature=${sas}`, "x");
      expect(s.auth).toEqual({ kind: "sas", sasToken: SAS });
      expect(s.account).toBe("acct3");
    }
  });

  it("UseDevelopmentStorage=true is Azurite's well-known account on 127.0.0.1:10000", () => {
    const s = parseConnectionString("UseDevelopmentStorage=true", "x");
    expect(s.serviceUrl).toBe("http://127.0.0.1:10000/devstoreaccount1");
    expect(s.auth.kind).toBe("sharedKey");
  });

  it("is case-insensitive in names and an endpoint alone is anonymous", () => {
    expect(parseConnectionString("blobendpoint=https://pub.blob.core.windows.net", "x").auth).toEqual({ kind: "anonymous" });
  });

  it("rejects malformed strings with RangeConfigError that names the field, never the value", () => {
    for (const bad of [
      "just-a-secret-value-abc123",
      `AccountKey=${KEY}`,
      "AccountName=ACCT;AccountKey=abc",
      `AccountName=acct;AccountKey=${KEY};SharedAccessSignature=${SAS}`,
      "AccountName=acct;AccountKey=not base64 secret-value-abc123",
      "BlobEndpoint=ftp://x/acct;SharedAccessSignature=sig=abc",
      "BlobEndpoint=https://x.blob.core.windows.net;SharedAccessSignature=secret-value-abc123",
      "UseDevelopmentStorage=true;DevelopmentStorageProxyUri=http://proxy",
    ]) {
      const error = thrown(() => parseConnectionString(bad, "AZURE_STORAGE_CONNECTION_STRING"));
      expect(error.name).toBe("RangeConfigError");
      expect(error.message).toContain("AZURE_STORAGE_CONNECTION_STRING");
      expect(error.message).not.toContain("secret-value-abc123");
      expect(error.message).not.toContain(KEY);
    }
  });
});

describe("resolveAzureConnection", () => {
  it("options win over the environment; the connection string option over parts", () => {
    withEnv({ AZURE_STORAGE_CONNECTION_STRING: `AccountName=envacct;AccountKey=${KEY}` }, () => {
      expect(resolveAzureConnection({ account: "optacct", accountKey: KEY })).toMatchObject({ account: "optacct", source: "options" });
      expect(resolveAzureConnection({ connectionString: `AccountName=csacct;AccountKey=${KEY}` })).toMatchObject({
        account: "csacct",
        source: "the connectionString option",
      });
      expect(resolveAzureConnection({})).toMatchObject({ account: "envacct", source: "AZURE_STORAGE_CONNECTION_STRING" });
    });
  });

  it("falls back to AZURE_STORAGE_ACCOUNT with AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN", () => {
    withEnv({ AZURE_STORAGE_ACCOUNT: "envacct", AZURE_STORAGE_KEY: KEY }, () => {
      expect(resolveAzureConnection({})).toMatchObject({ serviceUrl: "https://envacct.blob.core.windows.net", auth: { kind: "sharedKey" } });
    });
    withEnv({ AZURE_STORAGE_ACCOUNT: "envacct", AZURE_STORAGE_SAS_TOKEN: `?${SAS}` }, () => {
      expect(resolveAzureConnection({}).auth).toEqual({ kind: "sas", sasToken: SAS });
    });
  });

  it("account + sasToken, endpoint with a SAS query, endpoint + credential, endpoint alone", () => {
    withEnv({}, () => {
      expect(resolveAzureConnection({ account: "acct", sasToken: SAS })).toMatchObject({ serviceUrl: "https://acct.blob.core.windows.net", auth: { kind: "sas", sasToken: SAS } });
      expect(resolveAzureConnection({ endpoint: `http://127.0.0.1:1/acct?${SAS}` })).toMatchObject({
        serviceUrl: "http://127.0.0.1:1/acct",
        account: "acct",
        auth: { kind: "sas", sasToken: SAS },
      });
      const credential = { getToken: async () => null };
      expect(resolveAzureConnection({ serviceUrl: "https://acct.blob.core.windows.net", credential }).auth).toEqual({ kind: "token", credential });
      expect(resolveAzureConnection({ endpoint: "https://pub.blob.core.windows.net/" })).toMatchObject({
        serviceUrl: "https://pub.blob.core.windows.net",
        auth: { kind: "anonymous" },
      });
    });
  });

  it("nothing configured: E_NO_CREDENTIALS naming every way to configure it", () => {
    withEnv({}, () => {
      const error = thrown(() => resolveAzureConnection({}));
      expect(error.code).toBe("E_NO_CREDENTIALS");
      for (const name of ["connectionString", "accountKey", "sasToken", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGE_ACCOUNT"]) expect(error.message).toContain(name);
    });
  });

  it("conflicting or malformed settings are RangeConfigError without the secret", () => {
    withEnv({}, () => {
      for (const bad of [
        { connectionString: `AccountName=acct;AccountKey=${KEY}`, accountKey: KEY },
        { account: "acct", accountKey: KEY, sasToken: SAS },
        { accountKey: KEY },
        { account: "acct", sasToken: "no-signature-here" },
        { endpoint: "not a url", accountKey: KEY },
        { endpoint: `http://127.0.0.1:1/acct?${SAS}`, sasToken: SAS },
        { endpoint: "http://127.0.0.1:1/", accountKey: KEY },
        { endpoint: "http://a/acct", serviceUrl: "http://b/acct" },
        { account: "acct", credential: { notGetToken: true } as never },
        { account: "" },
      ]) {
        const error = thrown(() => resolveAzureConnection(bad));
        expect(error.name).toBe("RangeConfigError");
        expect(error.message).not.toContain(KEY);
        expect(error.message).not.toContain("c2VjcmV0LXNpZ25hdHVyZQ");
      }
    });
  });
});

describe("resolveAzureOptions", () => {
  it("normalizes the prefix and sizes the socket pool from the engine's concurrency", () => {
    expect(resolveAzureOptions({ container: "abc", prefix: "/a/b" }).prefix).toBe("a/b/");
    expect(resolveAzureOptions({ container: "abc" }).maxSockets).toBe(64);
    expect(resolveAzureOptions({ container: "abc", engine: { maxConcurrentRanges: 48 } }).maxSockets).toBe(96);
    expect(resolveAzureOptions({ container: "abc", uploadConcurrency: 40, engine: { maxConcurrentRanges: 8 } }).maxSockets).toBe(80);
    expect(resolveAzureOptions({ container: "abc", maxSockets: 10 }).maxSockets).toBe(10);
  });

  it("rejects bad options with RangeConfigError before any I/O", () => {
    for (const bad of [
      { container: "AB" },
      { container: "has--double" },
      { container: "-leading" },
      { container: "abc", blockSize: 1000 },
      { container: "abc", blockSize: 5000 * MiB },
      { container: "abc", uploadConcurrency: 0 },
      { container: "abc", blockUploadThreshold: 1.5 },
      { container: "abc", maxTries: 0 },
      { container: "abc", engine: { maxConcurrentRanges: -1 } },
      { container: "abc", bogus: 1 } as never,
    ]) {
      expect(thrown(() => resolveAzureOptions(bad)).name).toBe("RangeConfigError");
    }
    expect(isValidContainerName("range-conformance")).toBe(true);
    expect(isValidContainerName("$root")).toBe(true);
    expect(isValidContainerName("a".repeat(64))).toBe(false);
  });

  it("createAzureStore validates allocate too", () => {
    withEnv({}, () => {
      expect(thrown(() => createAzureStore({ container: "abc", account: "acct", accountKey: KEY, allocate: 3 as never })).name).toBe("RangeConfigError");
    });
  });
});

describe("blocks", () => {
  it("keeps the configured block size until 50,000 blocks would not suffice", () => {
    expect(blockSizeForLength(100 * MiB, 8 * MiB)).toBe(8 * MiB);
    expect(blockSizeForLength(50_000 * 8 * MiB, 8 * MiB)).toBe(8 * MiB);
    const big = blockSizeForLength(1 * TiB, 8 * MiB);
    expect(Math.ceil(TiB / big)).toBeLessThanOrEqual(MAX_BLOCKS);
    expect(big % MiB).toBe(0);
    expect(blockSizeForLength(190 * TiB, 8 * MiB)).toBe(3985 * MiB);
    expect(blockSizeForLength(191 * TiB, 8 * MiB)).toBe(MAX_BLOCK_SIZE);
  });

  it("a stream's blocks double every 5,000 blocks, reaching ~38 TiB from 8 MiB blocks", () => {
    expect(streamBlockSize(0, 8 * MiB)).toBe(8 * MiB);
    expect(streamBlockSize(4_999, 8 * MiB)).toBe(8 * MiB);
    expect(streamBlockSize(5_000, 8 * MiB)).toBe(16 * MiB);
    expect(streamBlockSize(49_999, 8 * MiB)).toBe(MAX_BLOCK_SIZE);
    expect(maxStreamSize(8 * MiB)).toBeGreaterThan(38 * TiB);
  });
});

describe("URIs", () => {
  it("az://container/prefix opens a store; bad URIs fail with E_INVALID_URI", () => {
    withEnv({ AZURE_STORAGE_CONNECTION_STRING: `AccountName=acct;AccountKey=${KEY}` }, () => {
      const store = backend.create(new URL("az://my-container/some/prefix")) as { scheme: string };
      expect(store.scheme).toBe("az");
      for (const uri of ["az:///prefix", "az://Bad_Container/x", `az://cont/x?${SAS}`, "az://user:pw@cont/x"]) {
        const error = thrown(() => backend.create(new URL(uri)));
        expect(error.code).toBe("E_INVALID_URI");
        expect(error.message).not.toContain("c2VjcmV0LXNpZ25hdHVyZQ");
      }
    });
  });
});

describe("error mapping", () => {
  const ctx = { operation: "Download", container: "cont", blob: "p/key", relativeKey: "key" };
  /** The shape of the SDK's RestError, as the pipeline builds it (with the request that carried the secrets). */
  function restError(statusCode: number | undefined, errorCode: string | undefined, extra: Record<string, unknown> = {}) {
    return Object.assign(new Error(`The service said no.\nRequestId:1234\nTime:2030`), {
      name: "RestError",
      statusCode,
      ...(errorCode ? { code: errorCode, details: { errorCode } } : {}),
      request: {
        url: `https://acct.blob.core.windows.net/cont/p/key?${SAS}`,
        headers: { authorization: `SharedKey acct:c2lnbmF0dXJlLXNlY3JldA==`, "x-ms-date": "now" },
      },
      ...extra,
    });
  }

  it("maps status and service codes to typed errors", () => {
    const cases: [unknown, string, string, boolean][] = [
      [restError(404, "BlobNotFound"), "NotFoundError", "E_NOT_FOUND", false],
      [restError(404, "ContainerNotFound"), "NotFoundError", "E_NO_SUCH_BUCKET", false],
      [restError(412, "ConditionNotMet"), "IntegrityError", "E_OBJECT_CHANGED", false],
      [restError(416, "InvalidRange"), "InvalidRangeError", "E_INVALID_RANGE", false],
      [restError(403, "AuthenticationFailed"), "BackendError", "E_AUTH", false],
      [restError(403, "AuthorizationPermissionMismatch"), "BackendError", "E_AUTH", false],
      [restError(503, "ServerBusy"), "BackendError", "E_THROTTLED", true],
      [restError(429, undefined), "BackendError", "E_THROTTLED", true],
      [restError(500, "InternalError"), "BackendError", "E_SERVER", true],
      [restError(408, undefined), "BackendError", "E_SERVER", true],
      [restError(409, "ContainerBeingDeleted"), "BackendError", "E_SERVER", true],
      [restError(400, "OutOfRangeInput"), "InvalidKeyError", "E_INVALID_KEY", false],
      [restError(400, "InvalidHeaderValue"), "BackendError", "E_AZURE", false],
      [Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { name: "RestError", code: "ECONNREFUSED" }), "BackendError", "E_NETWORK", true],
      [Object.assign(new Error("Data corruption failure: received less data than required"), {}), "BackendError", "E_NETWORK", true],
    ];
    for (const [error, name, code, retryable] of cases) {
      const mapped = mapAzureError(error, ctx);
      expect(isRangeStoreError(mapped)).toBe(true);
      const typed = mapped as unknown as { code: string; retryable: boolean };
      expect([mapped.name, typed.code, typed.retryable]).toEqual([name, code, retryable]);
    }
    expect((mapAzureError(restError(404, "BlobNotFound"), ctx) as { key?: string }).key).toBe("key");
  });

  it("a HEAD error (no body) still maps by its x-ms-error-code (details.errorCode)", () => {
    const head = Object.assign(new Error(""), { name: "RestError", statusCode: 404, details: { errorCode: "ContainerNotFound" } });
    expect((mapAzureError(head, ctx) as unknown as { code: string }).code).toBe("E_NO_SUCH_BUCKET");
  });

  it("takes Retry-After from the response", () => {
    const error = restError(503, "ServerBusy", { response: { headers: { get: (n: string) => (n === "retry-after" ? "2" : undefined) } } });
    expect((mapAzureError(error, ctx) as { retryAfterMs?: number }).retryAfterMs).toBe(2000);
    expect(parseRetryAfter("1.5")).toBe(1500);
    expect(parseRetryAfter(new Date(Date.now() + 10_000).toUTCString())).toBeGreaterThan(8_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
  });

  it("an aborted signal wins over the SDK's error", () => {
    const controller = new AbortController();
    controller.abort();
    expect(mapAzureError(restError(500, "InternalError"), { ...ctx, signal: controller.signal }).name).toBe("AbortError");
  });

  it("the SDK's own AbortError (a connection closed mid-body) with our signal live is a retryable network failure", () => {
    const sdkAbort = Object.assign(new Error("The operation was aborted."), { name: "AbortError" });
    for (const signal of [undefined, new AbortController().signal]) {
      const mapped = mapAzureError(sdkAbort, { ...ctx, signal });
      expect(mapped).toMatchObject({ name: "BackendError", code: "E_NETWORK", retryable: true });
    }
  });

  it("neither the message nor the cause carries the request (SAS, SharedKey signature) or the raw response", () => {
    const error = restError(403, "AuthenticationFailed", { message: `Server failed to authenticate https://acct.blob.core.windows.net/c?${SAS}` });
    const mapped = mapAzureError(error, ctx);
    const cause = sanitizedCause(error);
    for (const text of [mapped.message, String(mapped), mapped.stack ?? "", JSON.stringify(cause), inspect(mapped, { depth: 20, showHidden: true })]) {
      expect(text).not.toContain("c2VjcmV0LXNpZ25hdHVyZQ");
      expect(text).not.toContain("c2lnbmF0dXJlLXNlY3JldA");
    }
    expect(cause).toMatchObject({ code: "AuthenticationFailed", statusCode: 403 });
    expect(Object.keys(cause)).not.toContain("request");
  });

  it("core's redactSecrets removes SAS signatures, account keys and SharedKey signatures in any form", () => {
    const secrets = ["c2VjcmV0LXNpZ25hdHVyZQ", "S3cr3tK3y", "U2lnbmF0dXJl"];
    for (const text of [
      `https://a.blob.core.windows.net/c/b?${SAS}`,
      `sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D&sv=2024`,
      `DefaultEndpointsProtocol=https;AccountName=a;AccountKey=S3cr3tK3y==;EndpointSuffix=core.windows.net`,
      `SharedAccessSignature=sv=1&sig=c2VjcmV0LXNpZ25hdHVyZQ`,
      `Authorization: SharedKey acct:U2lnbmF0dXJl=`,
      JSON.stringify({ headers: { authorization: "SharedKey acct:U2lnbmF0dXJl=" } }),
      inspect({ accountKey: "S3cr3tK3y==", sasToken: "sv=1&sig=c2VjcmV0LXNpZ25hdHVyZQ" }),
      JSON.stringify({ accountKey: "S3cr3tK3y==" }),
    ]) {
      const redacted = redactSecrets(text);
      for (const secret of secrets) expect(redacted).not.toContain(secret);
    }
  });
});
