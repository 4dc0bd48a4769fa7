import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  IntegrityError,
  KiB,
  MiB,
  OrderedVerifier,
  checksumBase64,
  createMemoryStore,
  createObjectStore,
  downloadFile,
  type ChecksumAlgorithm,
  type ExpectedChecksum,
  type StoreDriver,
} from "../src/index.js";
import { equalBytes, patternBytes } from "./helpers.js";

interface Options {
  algorithm?: ChecksumAlgorithm;
  /** Flip one byte of the range that covers this offset, in this many answers (Infinity: always). */
  corruptAt?: number;
  corruptTimes?: number;
  /** The digest arrives after this long (a promise, like S3's HeadObject alongside the first GET). */
  digestDelayMs?: number;
  /** The digest request fails. */
  digestFails?: boolean;
  /** Ranges at or after this offset answer only after this many ms (so later ranges finish first). */
  slowFirstRangeMs?: number;
}

/**
 * A driver over a memory store whose readHead returns the stored digest of the whole object (`checksum`), and whose
 * ranged reads can damage one byte: what a server with checksums and a flaky network look like to core.
 */
function checksummedDriver(options: Options = {}) {
  const backing = createMemoryStore();
  const algorithm = options.algorithm ?? "md5";
  const counts = { corrupted: 0, reads: 0 };
  const maybeCorrupt = (offset: number, bytes: Uint8Array): Uint8Array => {
    const at = options.corruptAt;
    if (at === undefined || at < offset || at >= offset + bytes.length) return bytes;
    if (counts.corrupted >= (options.corruptTimes ?? Infinity)) return bytes;
    counts.corrupted++;
    const copy = bytes.slice();
    copy[at - offset]! ^= 0xff;
    return copy;
  };
  const driver: StoreDriver = {
    scheme: "checksummed",
    stat: (key) => backing.stat(key),
    async read(key, offset, length) {
      counts.reads++;
      if (options.slowFirstRangeMs && offset === 256 * KiB) await new Promise((r) => setTimeout(r, options.slowFirstRangeMs));
      return maybeCorrupt(offset, await backing.getRange(key, offset, length));
    },
    async readHead(key, length) {
      const meta = await backing.stat(key);
      const whole = await backing.get(key);
      const expected: ExpectedChecksum = { algorithm, value: checksumBase64(algorithm, whole), what: `checksummed://${key}` };
      const checksum = options.digestFails
        ? Promise.reject(new IntegrityError("digest request failed", { code: "E_TEST" }))
        : options.digestDelayMs
          ? new Promise<ExpectedChecksum>((resolve) => setTimeout(() => resolve(expected), options.digestDelayMs))
          : expected;
      const head = maybeCorrupt(0, whole.subarray(0, Math.min(length, meta.size)));
      return { meta, data: head, checksum };
    },
    write: (key, data, opts) => backing.put(key, data, opts),
    list: (prefix, opts) => backing.list(prefix, opts),
    delete: (key) => backing.delete(key),
  };
  const engine = { minSplitSize: 256 * KiB, chunkSize: 256 * KiB, maxConcurrentRanges: 4, retry: { attempts: 2, baseDelayMs: 1, maxDelayMs: 2 } };
  return { store: createObjectStore(driver, { engine }), backing, counts };
}

async function streamAll(iterable: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of iterable) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const DATA = patternBytes(3 * MiB + 4321, 7);
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "range-stream-checksum-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("whole-object checksum from DriverHead.checksum", () => {
  for (const algorithm of ["md5", "crc32c", "crc32", "sha256"] as const) {
    it(`${algorithm}: get, getStream and readTo of an intact object return its bytes`, async () => {
      const { store, backing } = checksummedDriver({ algorithm });
      await backing.put("k", DATA);
      expect(equalBytes(await store.get("k"), DATA)).toBe(true);
      expect(equalBytes(await streamAll(store.getStream("k")), DATA)).toBe(true);
      const out = new Uint8Array(DATA.length);
      await store.readTo!("k", (offset, bytes) => void out.set(bytes, offset));
      expect(equalBytes(out, DATA)).toBe(true);
    });
  }

  it("get: a damaged range → IntegrityError E_CHECKSUM naming the object and the algorithm", async () => {
    const { store, backing, counts } = checksummedDriver({ corruptAt: 2 * MiB + 5 });
    await backing.put("k", DATA);
    const error = await store.get("k").catch((e: unknown) => e);
    expect(IntegrityError.isInstance(error)).toBe(true);
    expect(error).toMatchObject({ code: "E_CHECKSUM" });
    expect(String((error as Error).message)).toMatch(/checksummed:\/\/k: MD5 of the 3150049 bytes read is/);
    expect(counts.corrupted).toBe(1);
  });

  it("getStream: hands out every byte, then errors with E_CHECKSUM at the end", async () => {
    const { store, backing } = checksummedDriver({ corruptAt: 1 * MiB + 1 });
    await backing.put("k", DATA);
    let received = 0;
    const error = await (async () => {
      for await (const chunk of store.getStream("k")) received += chunk.length;
    })().catch((e: unknown) => e);
    expect(error).toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    // The mismatch is only known once the last byte was hashed.
    expect(received).toBe(DATA.length);
  });

  it("getStream: a damaged head (first response) is caught too", async () => {
    const { store, backing } = checksummedDriver({ corruptAt: 10 });
    await backing.put("k", DATA);
    await expect(streamAll(store.getStream("k"))).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
  });

  it("readTo: ranges reach the sink out of order and are hashed in order", async () => {
    // The first range after the head is slow: the ones after it finish first and are held for the digest.
    const { store, backing } = checksummedDriver({ slowFirstRangeMs: 80 });
    await backing.put("k", DATA);
    const order: number[] = [];
    const out = new Uint8Array(DATA.length);
    await store.readTo!("k", (offset, bytes) => {
      order.push(offset);
      out.set(bytes, offset);
    });
    expect(equalBytes(out, DATA)).toBe(true);
    const sorted = [...order].sort((a, b) => a - b);
    expect(order).not.toEqual(sorted);
  });

  it("readTo: a damaged range → E_CHECKSUM after the sink saw every range", async () => {
    const { store, backing } = checksummedDriver({ corruptAt: 3 * MiB });
    await backing.put("k", DATA);
    let written = 0;
    await expect(store.readTo!("k", (_offset, bytes) => void (written += bytes.length))).rejects.toMatchObject({
      name: "IntegrityError",
      code: "E_CHECKSUM",
    });
    expect(written).toBe(DATA.length);
  });

  it("downloadFile: a mismatch leaves no file and no temporary file; an intact object lands whole", async () => {
    const bad = checksummedDriver({ corruptAt: 700 * KiB });
    await bad.backing.put("k", DATA);
    const target = join(dir, "bad", "k.bin");
    await expect(downloadFile(bad.store, "k", target)).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
    expect(await readdir(join(dir, "bad"))).toEqual([]);

    const good = checksummedDriver();
    await good.backing.put("k", DATA);
    const ok = join(dir, "good", "k.bin");
    await downloadFile(good.store, "k", ok);
    expect(equalBytes(new Uint8Array(await readFile(ok)), DATA)).toBe(true);
    expect(await readdir(join(dir, "good"))).toEqual(["k.bin"]);
  });

  it("a digest that arrives after the first bytes is waited for (getStream, readTo, get)", async () => {
    const { store, backing } = checksummedDriver({ digestDelayMs: 50 });
    await backing.put("k", DATA);
    expect(equalBytes(await streamAll(store.getStream("k")), DATA)).toBe(true);
    const out = new Uint8Array(DATA.length);
    await store.readTo!("k", (offset, bytes) => void out.set(bytes, offset));
    expect(equalBytes(out, DATA)).toBe(true);
    expect(equalBytes(await store.get("k"), DATA)).toBe(true);

    const late = checksummedDriver({ digestDelayMs: 50, corruptAt: 2 * MiB });
    await late.backing.put("k", DATA);
    await expect(streamAll(late.store.getStream("k"))).rejects.toMatchObject({ code: "E_CHECKSUM" });
  });

  it("a digest request that fails fails the read with its error; a small object never waits for it", async () => {
    const { store, backing } = checksummedDriver({ digestFails: true });
    await backing.put("k", DATA);
    await backing.put("small", DATA.subarray(0, 1000));
    await expect(streamAll(store.getStream("k"))).rejects.toMatchObject({ code: "E_TEST" });
    await expect(store.readTo!("k", () => {})).rejects.toMatchObject({ code: "E_TEST" });
    await expect(store.get("k")).rejects.toMatchObject({ code: "E_TEST" });
    // The head is the whole object: the driver checks that itself; core leaves the (failed) digest alone.
    expect((await store.get("small")).length).toBe(1000);
  });

  it("a driver without checksum is read as before (no digest, no hold-back)", async () => {
    const backing = createMemoryStore();
    await backing.put("k", DATA);
    const store = createObjectStore(
      {
        scheme: "plain",
        stat: (key) => backing.stat(key),
        read: (key, offset, length) => backing.getRange(key, offset, length),
        readHead: async (key, length) => {
          const meta = await backing.stat(key);
          return { meta, data: await backing.getRange(key, 0, Math.min(length, meta.size)) };
        },
        write: (key, data) => backing.put(key, data),
        list: (prefix, opts) => backing.list(prefix, opts),
        delete: (key) => backing.delete(key),
      },
      { engine: { minSplitSize: 256 * KiB, chunkSize: 256 * KiB } },
    );
    expect(equalBytes(await streamAll(store.getStream("k")), DATA)).toBe(true);
  });
});

describe("OrderedVerifier", () => {
  it("holds at most maxHeld ranges that ran ahead: the next add waits until the point moves", async () => {
    const bytes = patternBytes(40, 3);
    const controller = new AbortController();
    const verifier = new OrderedVerifier({ algorithm: "crc32c", value: checksumBase64("crc32c", bytes), what: "t" }, { maxHeld: 2, signal: controller.signal });
    await verifier.add(10, bytes.subarray(10, 20));
    await verifier.add(20, bytes.subarray(20, 30));
    let third = false;
    const pending = verifier.add(30, bytes.subarray(30, 40)).then(() => (third = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(third).toBe(false);
    await verifier.add(0, bytes.subarray(0, 10));
    await pending;
    expect(third).toBe(true);
    await verifier.finish(40);
  });

  it("an abort ends a wait; a range that never arrived fails finish", async () => {
    const bytes = patternBytes(30, 4);
    const controller = new AbortController();
    const verifier = new OrderedVerifier({ algorithm: "md5", value: checksumBase64("md5", bytes), what: "t" }, { maxHeld: 1, signal: controller.signal });
    await verifier.add(10, bytes.subarray(10, 20));
    const waiting = verifier.add(20, bytes.subarray(20, 30));
    controller.abort(new Error("stop"));
    await expect(waiting).rejects.toThrow();
    const other = new OrderedVerifier({ algorithm: "md5", value: "x", what: "t" }, { maxHeld: 4, signal: new AbortController().signal });
    await other.add(5, bytes.subarray(5, 10));
    await expect(other.finish(10)).rejects.toMatchObject({ code: "E_LENGTH_MISMATCH" });
  });
});
