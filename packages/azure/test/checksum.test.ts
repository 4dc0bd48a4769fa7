import { createHash } from "node:crypto";
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { downloadFile, type ObjectStore, type RangeEngineOptions, type RangeStats } from "@range/core";
import { startFaultProxy, type FaultProxy, type FaultRule } from "@range/test-servers";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { AZURE_CHECKSUM_ENV, AzureDriver, createAzureStore, resolveAzureChecksum, resolveAzureOptions, type AzureStoreOptions } from "../src/index.js";
import { CONTAINER, RUN, bytes, connection, equalBytes } from "./helpers.js";

/** The `checksum` option: Content-MD5 on every upload request, the blob's MD5 stored and checked on whole reads. */

const MiB = 1024 * 1024;
const KiB = 1024;
const ENGINE: RangeEngineOptions = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 4, rangeTimeoutMs: 5_000, retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 50 } };
const STAGED = { blockUploadThreshold: 2 * MiB, blockSize: 1 * MiB, uploadConcurrency: 2 } as const;
const SMALL = bytes(300 * KiB + 11, 801);
const LARGE = bytes(6 * MiB + 7, 802);

const md5 = (data: Uint8Array) => createHash("md5").update(data).digest("base64");

let proxy: FaultProxy;
const stores: ObjectStore[] = [];
const drivers: AzureDriver[] = [];

function store(options: Partial<AzureStoreOptions> = {}): ObjectStore {
  const s = createAzureStore({ ...connection(), container: CONTAINER, prefix: RUN, engine: ENGINE, ...STAGED, ...options });
  stores.push(s);
  return s;
}

/** Through the fault proxy; `maxTries: 1` leaves retries to the engine. */
function proxied(options: Partial<AzureStoreOptions> = {}): ObjectStore {
  return store({ endpoint: proxy.endpoint + new URL(connection().endpoint).pathname, maxTries: 1, ...options });
}

/** What the service stores for `key`, asked directly (Get Blob Properties). */
async function stored(key: string): Promise<{ md5?: string; exists: boolean; uncommitted: number }> {
  const driver = new AzureDriver({ ...connection(), container: CONTAINER, prefix: RUN });
  drivers.push(driver);
  const blob = await driver.blobClient(key);
  const uncommitted = await blob.getBlockList("uncommitted").then(
    (list) => list.uncommittedBlocks?.length ?? 0,
    () => 0,
  );
  try {
    const props = await blob.getProperties();
    return { exists: true, uncommitted, ...(props.contentMD5 ? { md5: Buffer.from(props.contentMD5).toString("base64") } : {}) };
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return { exists: false, uncommitted };
    throw error;
  }
}

function keyRule(key: string, method: string): Pick<FaultRule, "method" | "path"> {
  return { method, path: new RegExp(`/${CONTAINER}/${RUN}${key}`.replace(/[.]/g, "\\.")) };
}

async function outcome<T>(work: Promise<T>): Promise<{ value?: T; error?: { name: string; code: string; retryable: boolean; message: string } }> {
  try {
    return { value: await work };
  } catch (error) {
    return { error: error as { name: string; code: string; retryable: boolean; message: string } };
  }
}

beforeAll(async () => {
  proxy = await startFaultProxy({ target: new URL(connection().endpoint).origin });
});
afterAll(async () => {
  await store().deletePrefix("ck/");
  for (const s of stores) await s.close();
  for (const d of drivers) await d.close();
  await proxy.close();
});
beforeEach(() => {
  proxy.setRules([]);
  proxy.resetStats();
});

describe("options", () => {
  const saved = process.env[AZURE_CHECKSUM_ENV];
  afterEach(() => {
    if (saved === undefined) delete process.env[AZURE_CHECKSUM_ENV];
    else process.env[AZURE_CHECKSUM_ENV] = saved;
  });

  it("is off by default; RANGE_AZURE_CHECKSUM sets it, the option wins over it; bad values are named", () => {
    delete process.env[AZURE_CHECKSUM_ENV];
    expect(resolveAzureOptions({ container: "abc" }).checksum).toBe(false);
    process.env[AZURE_CHECKSUM_ENV] = "md5";
    expect(resolveAzureOptions({ container: "abc" }).checksum).toBe(true);
    expect(resolveAzureOptions({ container: "abc", checksum: false }).checksum).toBe(false);
    process.env[AZURE_CHECKSUM_ENV] = "Off";
    expect(resolveAzureChecksum(undefined)).toBe(false);
    process.env[AZURE_CHECKSUM_ENV] = "sha1";
    expect(() => resolveAzureChecksum(undefined)).toThrow(/RANGE_AZURE_CHECKSUM must be md5, on or off, got "sha1"/);
    expect(() => resolveAzureOptions({ container: "abc", checksum: "md5" as unknown as boolean })).toThrow(/checksum must be a boolean, got "md5"/);
  });
});

describe("put", () => {
  it("stores the whole content's MD5 as the blob's Content-MD5: one Put Blob, and staged blocks (commitBlockList)", async () => {
    const s = store({ checksum: true });
    await s.put("ck/up-small.bin", SMALL);
    await s.put("ck/up-large.bin", LARGE);
    async function* chunks() {
      for (let offset = 0; offset < LARGE.length; offset += 700 * KiB) yield LARGE.subarray(offset, offset + 700 * KiB);
    }
    await s.put("ck/up-stream.bin", chunks(), { contentType: "application/x-test" });
    expect((await stored("ck/up-small.bin")).md5).toBe(md5(SMALL));
    expect((await stored("ck/up-large.bin")).md5).toBe(md5(LARGE));
    expect((await stored("ck/up-stream.bin")).md5).toBe(md5(LARGE));
    // Without the option a blob committed from blocks has no MD5 at all: nothing a read could check.
    await store().put("ck/up-large-plain.bin", LARGE);
    expect((await stored("ck/up-large-plain.bin")).md5).toBeUndefined();
  });

  it("a Put Blob body damaged on the way up: the service refuses it (Content-MD5) → IntegrityError E_CHECKSUM, no blob", async () => {
    proxy.setRules([{ ...keyRule("ck/up-bad.bin", "PUT"), nth: 1, fault: { kind: "corrupt", during: "request", at: 1234 } }]);
    const result = await outcome(proxied({ checksum: true }).put("ck/up-bad.bin", SMALL));
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true });
    expect((await stored("ck/up-bad.bin")).exists).toBe(false);
  });

  it("without the option the damaged upload is stored unnoticed (why the option exists)", async () => {
    proxy.setRules([{ ...keyRule("ck/up-unchecked.bin", "PUT"), nth: 1, fault: { kind: "corrupt", during: "request", at: 1234 } }]);
    await proxied().put("ck/up-unchecked.bin", SMALL);
    const got = await store().get("ck/up-unchecked.bin");
    expect(got[1234]).toBe(SMALL[1234]! ^ 0xff);
  });

  it("a StageBlock body damaged on the way up: E_CHECKSUM, nothing committed, no blob", async () => {
    proxy.setRules([{ ...keyRule("ck/up-bad-block.bin", "PUT"), path: /ck\/up-bad-block\.bin\?.*comp=block(&|$)/, nth: 3, fault: { kind: "corrupt", during: "request", at: 5 } }]);
    const result = await outcome(proxied({ checksum: true }).put("ck/up-bad-block.bin", LARGE));
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    expect(proxy.count({ method: "PUT", path: /comp=blocklist/ })).toBe(0);
    expect((await stored("ck/up-bad-block.bin")).exists).toBe(false);
  });
});

describe("get: bytes damaged on the way down", () => {
  beforeAll(async () => {
    const s = store({ checksum: true });
    await s.put("ck/down-small.bin", SMALL);
    await s.put("ck/down-large.bin", LARGE);
  });

  const getOutcome = (s: ObjectStore, key: string) => {
    let stats: RangeStats | undefined;
    return outcome(s.get(key, { onStats: (x) => (stats = x) })).then((o) => ({ ...o, stats }));
  };

  it("small blob, one damaged response: core reads it again, checked again → exact bytes, one retry", async () => {
    proxy.setRules([{ ...keyRule("ck/down-small.bin", "GET"), nth: 1, fault: { kind: "corrupt", at: 100 * KiB } }]);
    const result = await getOutcome(proxied({ checksum: true }), "ck/down-small.bin");
    expect(result.error).toBeUndefined();
    expect(equalBytes(result.value!, SMALL)).toBe(true);
    expect(result.stats!.retries).toBe(1);
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
  });

  it("small blob damaged on every response: IntegrityError E_CHECKSUM after the engine's 3 attempts (get, getStream, engine: false)", async () => {
    proxy.setRules([{ ...keyRule("ck/down-small.bin", "GET"), fault: { kind: "corrupt", at: 7 } }]);
    const s = proxied({ checksum: true });
    const result = await getOutcome(s, "ck/down-small.bin");
    expect(result.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true });
    expect(result.error!.message).toMatch(/az:\/\/range-azure-test\/.*ck\/down-small\.bin: MD5 of the 307211 bytes read is .+, the server reports /);
    expect(proxy.count({ fault: "corrupt" })).toBe(3);
    await expect((async () => { for await (const _ of s.getStream("ck/down-small.bin")); })()).rejects.toMatchObject({ code: "E_CHECKSUM" });
    await expect(s.get("ck/down-small.bin", { engine: false })).rejects.toMatchObject({ code: "E_CHECKSUM" });
    await expect(s.get("ck/down-small.bin", { knownMeta: { size: SMALL.length } })).rejects.toMatchObject({ code: "E_CHECKSUM" });
  });

  it("without the option the damaged bytes come back unnoticed", async () => {
    proxy.setRules([{ ...keyRule("ck/down-small.bin", "GET"), nth: 1, fault: { kind: "corrupt", at: 7 } }]);
    const got = await proxied().get("ck/down-small.bin");
    expect(got[7]).toBe(SMALL[7]! ^ 0xff);
  });

  it("large blob, one damaged range: get, getStream and downloadFile fail E_CHECKSUM (no file); undamaged they are exact", async () => {
    const s = proxied({ checksum: true });
    expect(equalBytes(await s.get("ck/down-large.bin"), LARGE)).toBe(true);

    proxy.setRules([{ ...keyRule("ck/down-large.bin", "GET"), nth: 5, fault: { kind: "corrupt", at: 4321 } }]);
    const got = await getOutcome(s, "ck/down-large.bin");
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(got.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", retryable: true });
    expect(got.error!.message).toContain(`MD5 of the ${LARGE.length} bytes read`);

    proxy.resetStats();
    proxy.setRules([{ ...keyRule("ck/down-large.bin", "GET"), nth: 3, fault: { kind: "corrupt", at: 10 } }]);
    let received = 0;
    const streamed = await outcome((async () => { for await (const chunk of s.getStream("ck/down-large.bin")) received += chunk.length; })());
    expect(proxy.count({ fault: "corrupt" })).toBe(1);
    expect(streamed.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    expect(received).toBe(LARGE.length);

    const dir = await mkdtemp(join(tmpdir(), "range-az-ck-"));
    try {
      proxy.resetStats();
      proxy.setRules([{ ...keyRule("ck/down-large.bin", "GET"), nth: 6, fault: { kind: "corrupt", at: 99 } }]);
      const file = await outcome(downloadFile(s, "ck/down-large.bin", join(dir, "large.bin")));
      expect(proxy.count({ fault: "corrupt" })).toBe(1);
      expect(file.error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
      expect(await readdir(dir)).toEqual([]);
      proxy.setRules([]);
      const chunks: Uint8Array[] = [];
      for await (const chunk of s.getStream("ck/down-large.bin")) chunks.push(chunk);
      expect(equalBytes(Buffer.concat(chunks), LARGE)).toBe(true);
      await downloadFile(s, "ck/down-large.bin", join(dir, "large.bin"));
      expect(equalBytes(new Uint8Array(await readFile(join(dir, "large.bin"))), LARGE)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("a stored MD5 that does not match the bytes (header rewritten): small and large reads fail", async () => {
    const wrong = Buffer.alloc(16, 1).toString("base64");
    proxy.setRules([{ method: "GET", path: /ck\/down-/, fault: { kind: "header", set: { "x-ms-blob-content-md5": wrong } } }]);
    const s = proxied({ checksum: true });
    await expect(s.get("ck/down-small.bin")).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    await expect(s.get("ck/down-large.bin")).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM", message: expect.stringContaining(`the server reports ${wrong}`) });
  });

  it("a blob with no stored MD5 (committed from blocks without the option) is read unchecked", async () => {
    await store().put("ck/down-no-md5.bin", LARGE);
    expect((await stored("ck/down-no-md5.bin")).md5).toBeUndefined();
    expect(equalBytes(await store({ checksum: true }).get("ck/down-no-md5.bin"), LARGE)).toBe(true);
  });
});
