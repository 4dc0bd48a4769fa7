import { execFileSync } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BackendError,
  InvalidKeyError,
  NotFoundError,
  RangeConfigError,
  createMemoryStore,
  type ObjectStore,
  type OperationObserver,
} from "@range/core";
import { createFileStore } from "@range/file";
import { METHODS, OP_NAMES, createOpLog, readOpLog, withOpLog, zstdAvailable, type OpRecord } from "../src/index.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "range-oplog-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function readAll(path: string): Promise<OpRecord[]> {
  const records: OpRecord[] = [];
  for await (const record of readOpLog(path)) records.push(record);
  return records;
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

/** `store` with some methods replaced (the others bound to the store, whose private fields need the real receiver). */
function withOverrides(store: ObjectStore, overrides: Partial<ObjectStore>): ObjectStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property in overrides) return overrides[property as keyof ObjectStore];
      const value: unknown = Reflect.get(target, property, receiver);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
}

/** One of every operation against `store`, sequentially; returns the wall-clock window they ran in. */
async function everyOperation(store: ObjectStore): Promise<{ from: number; to: number }> {
  const from = Date.now();
  await store.put("data/a.bin", bytes(1000));
  await store.put("data/b.bin", (async function* () {
    yield bytes(300);
    yield bytes(200);
  })());
  await store.get("data/a.bin");
  await store.getRange("data/a.bin", 100, 50);
  for await (const _ of store.getStream("data/b.bin")) {
    // drained
  }
  await store.stat("data/a.bin");
  await store.exists("data/a.bin");
  await store.exists("data/nope.bin");
  await expect(store.get("data/nope.bin")).rejects.toThrow(NotFoundError);
  for await (const _ of store.list("data/")) {
    // drained
  }
  await store.delete("data/a.bin");
  await store.deletePrefix("data/");
  return { from, to: Date.now() };
}

function expectEveryOperation(records: OpRecord[], window: { from: number; to: number }): void {
  const summary = records.map((r) => [r.op, r.method, r.key, r.bytes, r.objects, r.offset ?? null, r.error]);
  expect(summary).toEqual([
    ["PUT", "put", "data/a.bin", 1000, 1, null, ""],
    ["PUT", "put", "data/b.bin", 500, 1, null, ""],
    ["GET", "get", "data/a.bin", 1000, 1, null, ""],
    ["GET", "getRange", "data/a.bin", 50, 1, 100, ""],
    ["GET", expect.stringMatching(/^(getStream|get)$/), "data/b.bin", 500, 1, null, ""],
    ["STAT", "stat", "data/a.bin", 1000, 1, null, ""],
    ["EXISTS", "exists", "data/a.bin", 0, 1, null, ""],
    ["EXISTS", "exists", "data/nope.bin", 0, 0, null, ""],
    ["GET", "get", "data/nope.bin", 0, 1, null, "E_NOT_FOUND"],
    ["LIST", "list", "data/", 0, 2, null, ""],
    ["DELETE", "delete", "data/a.bin", 0, 1, null, ""],
    ["DELETE_PREFIX", "deletePrefix", "data/", 0, 1, null, ""],
  ]);
  records.forEach((r, i) => {
    expect(r.idx).toBe(i);
    expect(r.durationNs).toBeGreaterThan(0);
    expect(Math.abs(r.end - r.start - r.durationNs / 1e6)).toBeLessThan(0.01);
    // performance.timeOrigin + now() against Date.now(): the same clock to within a few ms.
    expect(r.start).toBeGreaterThanOrEqual(window.from - 5);
    expect(r.end).toBeLessThanOrEqual(window.to + 5);
    if (i > 0) expect(r.start).toBeGreaterThanOrEqual(records[i - 1]!.end - 0.001); // sequential operations
  });
}

describe("withOpLog records every operation", () => {
  it("TSV + gzip on a file store: warp's columns, gzip bytes, each operation's fields", async () => {
    const path = join(dir, "every.tsv.gz");
    const store = withOpLog(createFileStore({ root: join(dir, "every-root") }), { path });
    const window = await everyOperation(store);
    await store.close();
    const raw = await readFile(path);
    expect([raw[0], raw[1]]).toEqual([0x1f, 0x8b]);
    const lines = gunzipSync(raw).toString("utf8").split("\n");
    expect(lines[0]!.split("\t")).toEqual([
      "idx", "thread", "op", "client_id", "n_objects", "bytes", "endpoint", "file", "error", "start", "first_byte", "end", "duration_ns", "offset", "dst",
    ]);
    // Go's time.RFC3339Nano in UTC, nanosecond digits.
    expect(lines[1]!.split("\t")[9]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
    const records = await readAll(path);
    expectEveryOperation(records, window);
    expect(records[4]!.firstByte).toBeGreaterThanOrEqual(records[4]!.start); // getStream: time to the first chunk
    expect(store.stats()).toMatchObject({ recorded: 12, dropped: 0, written: 12, buffered: 0 });
    expect(store.stats().bytesWritten).toBe(raw.length);
  });

  it("JSON lines on the memory store keep the method (getStream, readTo) and read back the same", async () => {
    const path = join(dir, "every.jsonl");
    const store = withOpLog(createMemoryStore(), { path, clientId: "rank-3" });
    const window = await everyOperation(store);
    await store.put("x", bytes(10));
    await store.readTo!("x", () => {});
    await store.close();
    const lines = (await readFile(path, "utf8")).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines[4]).toMatchObject({ op: "GET", method: "getStream", file: "data/b.bin", bytes: 500, client_id: "rank-3" });
    expect(lines.at(-1)).toMatchObject({ op: "GET", method: "readTo", file: "x", bytes: 10 });
    const records = await readAll(path);
    expectEveryOperation(records.slice(0, 12), window);
    expect(records[4]!.method).toBe("getStream");
    expect(records.every((r) => r.clientId === "rank-3")).toBe(true);
  });

  it("format and compression follow the file name; zstd needs a Node that has it", async () => {
    for (const [name, gzip, json] of [
      ["a.tsv", false, false],
      ["a.jsonl.gz", true, true],
      ["a.ndjson", false, true],
      ["a.oplog", true, false],
    ] as const) {
      const path = join(dir, name);
      const store = withOpLog(createMemoryStore(), { path });
      await store.put("k", bytes(3));
      await store.close();
      const raw = await readFile(path);
      expect(raw[0] === 0x1f && raw[1] === 0x8b).toBe(gzip);
      const text = gzip ? gunzipSync(raw).toString() : raw.toString();
      expect(text.startsWith("{")).toBe(json);
      expect((await readAll(path)).map((r) => r.key)).toEqual(["k"]);
    }
    if (zstdAvailable()) {
      const store = withOpLog(createMemoryStore(), { path: join(dir, "a.tsv.zst") });
      await store.put("k", bytes(3));
      await store.close();
      expect((await readAll(join(dir, "a.tsv.zst"))).map((r) => r.key)).toEqual(["k"]);
    } else {
      expect(() => createOpLog(join(dir, "a.tsv.zst"))).toThrow(RangeConfigError);
    }
  });

  it("quotes keys with tabs, quotes and line breaks the way Go's csv reader expects, and reads them back", async () => {
    const path = join(dir, "quoted.tsv");
    const store = withOpLog(createMemoryStore(), { path, endpoint: "http://10.0.0.1:9000" });
    const keys = ['tab\there', 'quote"d', "line\nbreak", "plain"];
    for (const key of keys) await store.put(key, bytes(1));
    await store.close();
    const text = await readFile(path, "utf8");
    expect(text).toContain('\t"tab\there"\t');
    expect(text).toContain('\t"quote""d"\t');
    const records = await readAll(path);
    expect(records.map((r) => r.key)).toEqual(keys);
    expect(records.every((r) => r.endpoint === "http://10.0.0.1:9000")).toBe(true);
  });

  it("a key that is not a string (rejected by the store) is recorded as its String() and does not break the log", async () => {
    const path = join(dir, "symbol-key.tsv");
    const store = withOpLog(createMemoryStore(), { path });
    await store.put("a", bytes(3));
    await expect(store.get(Symbol("k") as unknown as string)).rejects.toThrow(InvalidKeyError);
    await expect(store.stat(42 as unknown as string)).rejects.toThrow(InvalidKeyError);
    await store.get("a");
    await store.close();
    const records = await readAll(path);
    expect(records.map((r) => [r.key, r.error])).toEqual([
      ["a", ""],
      ["Symbol(k)", "E_INVALID_KEY"],
      ["42", "E_INVALID_KEY"],
      ["a", ""],
    ]);
  });

  it("thread numbers are slots among the operations in flight; the endpoint can come from the store or a function", async () => {
    const memory = Object.assign(createMemoryStore({ latencyMs: 20 }), { endpoint: "memory-node-1" });
    const path = join(dir, "threads.tsv");
    const store = withOpLog(memory, { path });
    await memory.put("k", bytes(10));
    await Promise.all([0, 1, 2, 3].map(() => store.get("k")));
    await store.get("k");
    await store.flush();
    let served = 0;
    const byFunction = withOpLog(memory, { log: store.opLog, endpoint: () => `node-${++served}` });
    await byFunction.stat("k");
    await store.close();
    const records = await readAll(path);
    expect(new Set(records.slice(0, 4).map((r) => r.thread))).toEqual(new Set([0, 1, 2, 3]));
    expect(records[4]!.thread).toBeLessThan(4); // a free slot is reused
    expect(records.slice(0, 5).every((r) => r.endpoint === "memory-node-1")).toBe(true);
    expect(records[5]).toMatchObject({ op: "STAT", endpoint: "node-1" });
  });

  it("copy is recorded (and passed on) only when the store has it, with its destination", async () => {
    const memory = createMemoryStore();
    const copying = withOverrides(memory, {
      copy: async (srcKey: string, dstKey: string) => memory.put(dstKey, await memory.get(srcKey)),
    } as Partial<ObjectStore>);
    const path = join(dir, "copy.tsv");
    const store = withOpLog(copying, { path });
    expect(typeof (store as { copy?: unknown }).copy).toBe("function");
    const noCopy = withOverrides(memory, { copy: undefined });
    expect((withOpLog(noCopy, { log: store.opLog }) as { copy?: unknown }).copy).toBeUndefined();
    await memory.put("src", bytes(64));
    const copy = (store as unknown as { copy(a: string, b: string): Promise<{ size: number }> }).copy;
    expect((await copy("src", "dst\tcopy")).size).toBe(64);
    await expect(copy("missing", "x")).rejects.toThrow(NotFoundError);
    await store.close();
    const records = await readAll(path);
    expect(records.map((r) => [r.op, r.method, r.key, r.dst, r.bytes, r.error])).toEqual([
      ["COPY", "copy", "src", "dst\tcopy", 64, ""],
      ["COPY", "copy", "missing", "x", 0, "E_NOT_FOUND"],
    ]);
  });

  it("takes the endpoint from endpointStats() when the store lists exactly one (as an S3 store does)", async () => {
    const path = join(dir, "endpoint-stats.tsv");
    const one = withOverrides(createMemoryStore(), { endpointStats: () => [{ endpoint: "http://127.0.0.1:8333" }] } as Partial<ObjectStore>);
    const two = withOverrides(createMemoryStore(), { endpointStats: () => [{ endpoint: "http://a" }, { endpoint: "http://b" }] } as Partial<ObjectStore>);
    const a = withOpLog(one, { path });
    const b = withOpLog(two, { log: a.opLog });
    await a.exists("k");
    await b.exists("k");
    await a.close();
    expect((await readAll(path)).map((r) => r.endpoint)).toEqual(["http://127.0.0.1:8333", ""]);
  });

  it("getStream left early records the bytes read until then; list records the entries yielded", async () => {
    const memory = createMemoryStore();
    await memory.put("big", bytes(3 * 1024 * 1024));
    const path = join(dir, "partial.jsonl");
    const store = withOpLog(memory, { path });
    for await (const chunk of store.getStream("big", { engine: { chunkSize: 1024 * 1024, minSplitSize: 1024 * 1024 } })) {
      expect(chunk.length).toBeGreaterThan(0);
      break;
    }
    await store.close();
    const [record] = await readAll(path);
    expect(record!.bytes).toBeGreaterThan(0);
    expect(record!.bytes).toBeLessThan(3 * 1024 * 1024);
  });
});

describe("lifecycle, sharing and failures", () => {
  it("flush makes what was recorded readable while the log stays open (gzip without its trailer)", async () => {
    const path = join(dir, "live.tsv.gz");
    const store = withOpLog(createMemoryStore(), { path });
    await store.put("a", bytes(5));
    await store.get("a");
    await store.flush();
    expect((await readAll(path)).map((r) => r.method)).toEqual(["put", "get"]);
    await store.get("a");
    await store.close();
    expect((await readAll(path)).map((r) => r.method)).toEqual(["put", "get", "get"]);
  });

  it("a partly filled batch reaches the file after flushIntervalMs without flush()", async () => {
    const path = join(dir, "interval.tsv.gz");
    const store = withOpLog(createMemoryStore(), { path, flushIntervalMs: 50 });
    await store.put("a", bytes(5));
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect((await readAll(path)).map((r) => r.key)).toEqual(["a"]);
    await store.close();
  });

  it("a shared log outlives the stores; the owner's close ends it, and the wrapped store is closed", async () => {
    const path = join(dir, "shared.jsonl");
    const log = createOpLog(path);
    let innerClosed = 0;
    const inner = withOverrides(createMemoryStore(), { close: async () => void innerClosed++ });
    const a = withOpLog(inner, { log });
    const b = withOpLog(createMemoryStore(), { log });
    await a.put("from-a", bytes(1));
    await a.close();
    expect(innerClosed).toBe(1);
    await b.put("from-b", bytes(1)); // still recorded: closing a did not close the log
    await b.close();
    await log.close();
    await log.close(); // idempotent
    expect((await readAll(path)).map((r) => r.key)).toEqual(["from-a", "from-b"]);
  });

  it("a process that exits without close() still leaves a complete file", async () => {
    const path = join(dir, "exit.tsv.gz");
    const script = `
      const { createMemoryStore } = await import(${JSON.stringify(new URL("../../core/dist/index.js", import.meta.url).href)});
      const { withOpLog } = await import(${JSON.stringify(new URL("../dist/index.js", import.meta.url).href)});
      const store = withOpLog(createMemoryStore(), { path: ${JSON.stringify(path)} });
      for (let i = 0; i < 10; i++) await store.put("k" + i, new Uint8Array(i));
    `;
    execFileSync(process.execPath, ["--input-type=module", "-e", script]);
    const records = await readAll(path);
    expect(records.map((r) => r.bytes)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    // gzip trailer present: the stream was ended properly.
    expect(() => gunzipSync(readFileSyncBuffer(path))).not.toThrow();
  });

  it("a failing disk never fails the storage operations: they go on, the log counts its losses, flush reports it", async () => {
    const store = withOpLog(createMemoryStore(), { path: "/dev/full", compression: "none", batchSize: 1 });
    for (let i = 0; i < 20; i++) await store.put(`k${i}`, bytes(1000));
    await new Promise((resolve) => setTimeout(resolve, 200));
    for (let i = 0; i < 20; i++) expect((await store.get(`k${i}`)).length).toBe(1000);
    const error = await store.flush().catch((e: unknown) => e);
    expect(BackendError.isInstance(error)).toBe(true);
    expect((error as BackendError).code).toBe("E_OPLOG_WRITE");
    expect(store.stats().dropped).toBeGreaterThan(0);
    await expect(store.close()).rejects.toThrow(/E_OPLOG_WRITE|writing failed/);
  });

  it("bad options and unwritable paths are RangeConfigErrors, before any operation", () => {
    expect(() => createOpLog("")).toThrow(RangeConfigError);
    expect(() => createOpLog(join(dir, "no-such-dir", "x.tsv"))).toThrow(RangeConfigError);
    expect(() => createOpLog(join(dir, "x.tsv"), { format: "csv" as never })).toThrow(RangeConfigError);
    expect(() => createOpLog(join(dir, "x.tsv"), { compression: "lz4" as never })).toThrow(RangeConfigError);
    expect(() => createOpLog(join(dir, "x.tsv"), { maxBufferedOps: 0 })).toThrow(RangeConfigError);
    expect(() => createOpLog(join(dir, "x.tsv"), { onOverflow: "wait" as never })).toThrow(RangeConfigError);
  });
});

describe("bounded buffer", () => {
  // A memory store answers in microtasks: a tight loop never yields to the event loop, the harshest case for a
  // writer on another thread.
  const OPS = 20_000;
  async function hammer(store: ObjectStore): Promise<void> {
    for (let i = 0; i < OPS; i++) await store.exists(`k${i % 10}`);
  }

  it('"drop": operations never wait; what did not fit is counted, in stats and at the end of the file', async () => {
    const path = join(dir, "drop.tsv");
    const store = withOpLog(createMemoryStore(), { path, maxBufferedOps: 64, batchSize: 16 });
    await hammer(store);
    await store.close();
    const { recorded, dropped } = store.stats();
    expect(recorded + dropped).toBe(OPS);
    expect(dropped).toBeGreaterThan(0);
    expect((await readAll(path)).length).toBe(recorded);
    expect(await readFile(path, "utf8")).toContain(`# range-oplog: ${dropped} operations dropped (buffer full)`);
  });

  it('"block": nothing is lost, the operations wait for room instead', async () => {
    const path = join(dir, "block.tsv.gz");
    const store = withOpLog(createMemoryStore(), { path, maxBufferedOps: 64, batchSize: 16, onOverflow: "block" });
    await hammer(store);
    await store.close();
    expect(store.stats()).toMatchObject({ recorded: OPS, dropped: 0, written: OPS });
    const records = await readAll(path);
    expect(records.length).toBe(OPS);
    expect(records.map((r) => r.idx)).toEqual(Array.from({ length: OPS }, (_, i) => i));
  });
});

describe("stores made by createObjectStore: recorded from inside the operation (withOperationObserver)", () => {
  /** Counts the views `withOpLog` asks `store` for, and the operations their observers are told of. */
  function countViews<T extends ObjectStore>(store: T): { store: T; views: () => number; observed: () => number } {
    let views = 0;
    let observed = 0;
    const make = store.withOperationObserver!.bind(store);
    store.withOperationObserver = (observer: OperationObserver) => {
      views++;
      return make({
        start: (operation, key) => observer.start(operation, key),
        done: (...args) => {
          observed++;
          observer.done(...args);
        },
        failed: (...args) => {
          observed++;
          observer.failed(...args);
        },
      });
    };
    return { store, views: () => views, observed: () => observed };
  }

  /** get / getRange / stat / put, good and bad, aborted, and 16 in flight. */
  async function hotOperations(store: ObjectStore): Promise<void> {
    await store.put("a", bytes(100));
    await store.put("s", (async function* () {
      yield bytes(30);
      yield bytes(20);
    })());
    await store.get("a");
    await store.getRange("a", 10, 20);
    await store.getRange("a", 3, 0);
    await store.stat("s");
    const into = new Uint8Array(500);
    await store.get("s", { into });
    await expect(store.getRange("a", 95, 10)).rejects.toThrow();
    // Offsets core rejects: recorded (offset 0) like any failed read, never thrown at the log.
    await expect(store.getRange("a", 5n as unknown as number, 10)).rejects.toThrow();
    await expect(store.getRange("a", Symbol("offset") as unknown as number, 10)).rejects.toThrow();
    await expect(store.get("missing")).rejects.toThrow(NotFoundError);
    await expect(store.stat("missing")).rejects.toThrow(NotFoundError);
    await expect(store.get("/bad")).rejects.toThrow(InvalidKeyError);
    await expect(store.put("p", bytes(8), { contentType: 7 as unknown as string })).rejects.toThrow(RangeConfigError);
    await expect(
      store.put("q", (async function* () {
        yield bytes(12);
        throw new Error("source broke");
      })()),
    ).rejects.toThrow("source broke");
    await expect(store.get("a", { signal: AbortSignal.abort() })).rejects.toThrow();
    await Promise.all(Array.from({ length: 16 }, (_, i) => store.get(i % 2 === 0 ? "a" : "s")));
  }

  const fields = (r: OpRecord) => [r.op, r.method, r.key, r.bytes, r.objects, r.offset ?? null, r.error, r.endpoint, r.thread];

  it("records exactly what the wrapper path records: fields, errors, aborts, threads of operations in flight", async () => {
    const observedPath = join(dir, "observed.jsonl");
    const wrappedPath = join(dir, "wrapped.jsonl");
    const { store: memory, views, observed: observedCount } = countViews(createMemoryStore());
    const observed = withOpLog(memory, { path: observedPath });
    expect(views()).toBe(1);
    // A Proxy (as any wrapper of the store would be) hides the store's own methods: the wrapper path.
    const proxied = countViews(createMemoryStore());
    const wrapped = withOpLog(withOverrides(proxied.store, {}), { path: wrappedPath });
    const from = Date.now();
    await hotOperations(observed);
    await hotOperations(wrapped);
    const to = Date.now();
    await observed.close();
    await wrapped.close();
    // Every operation went through the observer; the proxied store's view was asked for and not used (its methods
    // are not the proxy's).
    expect(views()).toBe(1);
    expect(observedCount()).toBe(32);
    expect(proxied.views()).toBe(1);
    expect(proxied.observed()).toBe(0);

    const records = await readAll(observedPath);
    expect(records.map(fields)).toEqual((await readAll(wrappedPath)).map(fields));
    expect(records.slice(0, 17).map((r) => [r.op, r.method, r.key, r.bytes, r.offset ?? null, r.error])).toEqual([
      ["PUT", "put", "a", 100, null, ""],
      ["PUT", "put", "s", 50, null, ""],
      ["GET", "get", "a", 100, null, ""],
      ["GET", "getRange", "a", 20, 10, ""],
      ["GET", "getRange", "a", 0, 3, ""],
      ["STAT", "stat", "s", 50, null, ""],
      ["GET", "get", "s", 50, null, ""],
      ["GET", "getRange", "a", 0, 95, "E_INVALID_RANGE"],
      ["GET", "getRange", "a", 0, 0, "E_INVALID_RANGE"],
      ["GET", "getRange", "a", 0, 0, "E_INVALID_RANGE"],
      ["GET", "get", "missing", 0, null, "E_NOT_FOUND"],
      ["STAT", "stat", "missing", 0, null, "E_NOT_FOUND"],
      ["GET", "get", "/bad", 0, null, expect.stringMatching(/^E_/)],
      ["PUT", "put", "p", 8, null, "E_INVALID_OPTION"],
      ["PUT", "put", "q", 12, null, expect.any(String)],
      ["GET", "get", "a", 0, null, expect.stringMatching(/ABORT/)],
      ["GET", "get", "a", 100, null, ""],
    ]);
    expect(records[14]!.error).not.toBe("");
    expect(records).toHaveLength(32);
    // 16 in flight: slots 0..15, each taken once.
    expect(new Set(records.slice(14).map((r) => r.thread))).toEqual(new Set(Array.from({ length: 16 }, (_, i) => i)));
    records.forEach((r, i) => {
      expect(r.idx).toBe(i);
      expect(r.durationNs).toBeGreaterThan(0);
      expect(r.start).toBeGreaterThanOrEqual(from - 5);
      expect(r.end).toBeLessThanOrEqual(to + 5);
      if (i > 0 && i < 14) expect(r.start).toBeGreaterThanOrEqual(records[i - 1]!.end - 0.001); // sequential
    });
  });

  it("only the operations made through withOpLog are recorded, not those on the wrapped store itself", async () => {
    const path = join(dir, "through.tsv");
    const memory = createMemoryStore();
    const store = withOpLog(memory, { path });
    await memory.put("direct", bytes(5));
    await memory.get("direct");
    await store.get("direct");
    await memory.stat("direct");
    await store.close();
    expect((await readAll(path)).map((r) => [r.op, r.key, r.bytes])).toEqual([["GET", "direct", 5]]);
    await expect(memory.get("direct")).rejects.toMatchObject({ code: "E_CLOSED" }); // close() closed the wrapped store
  });

  it('"block" keeps the wrapper path (an operation may have to wait for room); "drop" counts what did not fit', async () => {
    const blocking = countViews(createMemoryStore());
    const blockPath = join(dir, "observed-block.tsv");
    const block = withOpLog(blocking.store, { path: blockPath, maxBufferedOps: 64, batchSize: 16, onOverflow: "block" });
    expect(blocking.views()).toBe(0);
    const dropping = countViews(createMemoryStore());
    const dropPath = join(dir, "observed-drop.tsv");
    const drop = withOpLog(dropping.store, { path: dropPath, maxBufferedOps: 64, batchSize: 16 });
    expect(dropping.views()).toBe(1);
    for (const store of [block, drop]) {
      await store.put("k", bytes(7));
      for (let i = 0; i < 5000; i++) await store.get("k");
      await store.close();
    }
    expect(block.stats()).toMatchObject({ recorded: 5001, dropped: 0 });
    expect((await readAll(blockPath)).length).toBe(5001);
    const { recorded, dropped } = drop.stats();
    expect(recorded + dropped).toBe(5001);
    expect(dropped).toBeGreaterThan(0);
    const records = await readAll(dropPath);
    expect(records.length).toBe(recorded);
    expect(records.every((r) => r.key === "k" && r.bytes === 7)).toBe(true);
  });
});

describe("keys", () => {
  it("reach the file exactly: through the shared character ring (wrapping around), or in the batch message when too long or the ring is full", async () => {
    // maxBufferedOps 8 → a ring of 256 key characters: 100-character keys fill it after two, a 5000-character key
    // never fits, and 3000 operations wrap it around many times.
    const store = withOverrides(createMemoryStore(), { get: (key: string) => Promise.resolve(bytes(key.length % 7)) });
    const kinds = [
      (i: number) => `k${i}`,
      (i: number) => `${"x".repeat(95)}${String(i).padStart(5, "0")}`,
      (i: number) => `é/日本/😀/${i}`,
      (i: number) => `${"long/".repeat(1000)}${i}`,
      (i: number) => `tab\t"${i}"`,
      (i: number) => `\uFEFFbom-first/${i}`,
    ];
    const expected: string[] = [];
    for (const format of ["tsv", "jsonl"] as const) {
      const path = join(dir, `keys.${format}.gz`);
      const logged = withOpLog(store, { path, maxBufferedOps: 8, batchSize: 4, onOverflow: "block" });
      expected.length = 0;
      for (let i = 0; i < 3000; i += 6) {
        // Six at a time: several batches in flight at the writer.
        const keys = Array.from({ length: 6 }, (_, j) => kinds[(i + j) % kinds.length]!(i + j));
        expected.push(...keys);
        await Promise.all(keys.map((key) => logged.get(key)));
      }
      await logged.close();
      expect(logged.stats()).toMatchObject({ recorded: 3000, dropped: 0, written: 3000 });
      // Sorted: with "block", an operation that waited for room can be written after one that came later.
      const records = await readAll(path);
      expect(records.map((r) => r.key).sort()).toEqual([...expected].sort());
      expect(records.filter((r) => r.bytes !== r.key.length % 7)).toEqual([]);
    }
  });
});

describe("the writer's bytes", () => {
  // The writer encodes lines byte by byte (no strings). The oracle here is the plain string way: Go csv quoting (TSV)
  // or JSON.stringify (JSON lines), encoded as UTF-8 by Buffer, with warp's RFC 3339 nanosecond times.
  const origin = performance.timeOrigin;
  const originInt = Math.floor(origin);
  const stamp = (sinceOrigin: number): string => {
    const t = sinceOrigin + (origin - originInt);
    let ms = Math.floor(t);
    let nanos = Math.round((t - ms) * 1e6);
    if (nanos >= 1e6) {
      ms += 1;
      nanos -= 1e6;
    }
    const epochMs = originInt + ms;
    const second = Math.floor(epochMs / 1000);
    const fraction = String(((epochMs - second * 1000) * 1e6 + nanos) | 0).padStart(9, "0");
    return `${new Date(second * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
  };
  const quote = (s: string) => (/["\t\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  const awkward = [
    // 8 × 32 characters: exactly the ring's length, so a key starts right at the wrap.
    ...Array.from({ length: 8 }, (_, i) => `${i}`.padStart(32, "k")),
    "plain/key",
    'quote"d',
    "tab\there",
    "line\nbreak",
    "cr\rhere",
    "back\\slash",
    "\u0000\u0001\u0008\u000b\u000c\u001f\u007f",
    "é/ß/\u07ff/\u0800/日本/\uffff/\u2028\u2029",
    "😀/𝄞",
    "lone high at end \ud800",
    "lone high \ud83d in the middle",
    "lone low \udc00 first",
    "reversed \udc00\ud800 pair",
    "\ufeffbom first",
    "",
    "x".repeat(5000), // too long for the character ring: travels in the batch message
  ];
  interface Entry {
    op: number;
    key: string;
    bytes: number;
    objects: number;
    offset: number;
    start: number;
    duration: number;
    firstByte: number;
    error: string;
    endpoint: string;
    destination: string;
  }
  const entries: Entry[] = awkward.map((key, i) => ({
    op: i % 11,
    key,
    // Not finite: never measured, but JSON.stringify's `null` must still come out (TSV: as String() prints it).
    bytes: [0, 1, 9, 10, 1023, 2 ** 31 - 1, 2 ** 31, 2 ** 40 + 7, 0.5, Number.NaN][i % 10]!,
    objects: i % 3,
    offset: i % 4 === 0 ? -1 : [0, 7, 2 ** 33, Number.POSITIVE_INFINITY][(i >> 2) % 4]!,
    start: 1234.5678901 + i * 1000.000999,
    duration: [0, 0.000001, 0.0004999, 12.3456789, 999.9999996][i % 5]!,
    firstByte: i % 2 === 0 ? -1 : 1234.6 + i,
    error: ["", 'E_"odd"\tcode', "E_TIMEOUT", "é\ud800"][i % 4]!,
    endpoint: ["http://127.0.0.1:8333", "http://[::1]:9000", 'odd "endpoint"\t'][i % 3]!,
    destination: i % 5 === 0 ? `dst\t${i}` : "",
  }));
  const opNames = [...OP_NAMES];
  const expectedLine = (e: Entry, idx: number, format: "tsv" | "jsonl"): string => {
    const end = stamp(e.start + e.duration);
    const first = e.firstByte >= 0 ? stamp(e.firstByte) : "";
    const ns = Math.round(e.duration * 1e6);
    if (format === "tsv") {
      return (
        `${idx}\t${idx}\t${opNames[e.op]}\t${quote("client\t1")}\t${e.objects}\t${e.bytes}\t${quote(e.endpoint)}\t${quote(e.key)}\t${quote(e.error)}\t` +
        `${stamp(e.start)}\t${first}\t${end}\t${ns}\t${e.offset >= 0 ? e.offset : ""}\t${quote(e.destination)}\n`
      );
    }
    const record: Record<string, unknown> = {
      idx,
      thread: idx,
      op: opNames[e.op],
      method: METHODS[e.op],
      client_id: "client\t1",
      n_objects: e.objects,
      bytes: e.bytes,
      endpoint: e.endpoint,
      file: e.key,
      error: e.error,
      start: stamp(e.start),
      end,
      duration_ns: ns,
    };
    if (e.offset >= 0) record.offset = e.offset;
    if (e.destination !== "") record.dst = e.destination;
    if (e.firstByte >= 0) record.first_byte = first;
    return `${JSON.stringify(record)}\n`;
  };

  for (const format of ["tsv", "jsonl"] as const) {
    it(`${format}: every field byte for byte as the string way writes it, also across the character ring's wrap`, async () => {
      const path = join(dir, `bytes.${format}`);
      // A ring of 8 × 32 key characters: the keys wrap around it several times; batches of 3 keep several in flight.
      const log = createOpLog(path, { clientId: "client\t1", maxBufferedOps: 8, batchSize: 3, onOverflow: "block" });
      let expected = format === "tsv" ? "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns\toffset\tdst\n" : "";
      let idx = 0;
      for (let round = 0; round < 3; round++) {
        for (const e of entries) {
          // The thread column is whatever number the caller passes (here the entry's index).
          await log.add(e.op, e.key, e.bytes, e.objects, e.offset, e.start, e.duration, e.firstByte, idx, e.error, e.endpoint, e.destination);
          expected += expectedLine(e, idx, format);
          idx++;
          // The first two batches written: the third (keys 7, 8 and 9) then finds the ring free, and its key 9 starts at 0.
          if (idx === 6) await log.flush();
        }
      }
      await log.close();
      expect(log.stats()).toMatchObject({ recorded: idx, dropped: 0 });
      const written = await readFile(path);
      expect(written.toString("latin1")).toBe(Buffer.from(expected).toString("latin1"));
    });
  }

  it("a value of the wrong type (an unknown op code, a number as endpoint, error or destination) costs a field, not the log", async () => {
    for (const format of ["tsv", "jsonl"] as const) {
      const path = join(dir, `wrong-types.${format}`);
      const log = createOpLog(path);
      const odd = 42 as unknown as string;
      await log.add(99, "k1", 1, 1, -1, 1, 1, -1, 0, odd, odd, odd);
      await log.add(0, "k2", 2, 1, -1, 1, 1, -1, 0, "", "e");
      await log.close();
      expect(log.stats()).toMatchObject({ recorded: 2, dropped: 0 });
      const records = await readAll(path);
      expect(records.map((r) => [r.key, r.bytes, r.endpoint])).toEqual([
        ["k1", 1, "42"],
        ["k2", 2, "e"],
      ]);
      expect(records[0]!.error).toBe("42");
    }
  });

  it("a batch bigger than the writer's first buffer (1 MiB) grows it and loses nothing", async () => {
    for (const format of ["tsv", "jsonl"] as const) {
      const path = join(dir, `big-batch.${format}`);
      // 300 entries of ~8 KB each in one batch: ~2.4 MB of lines, some keys in the ring, the rest in the message.
      const log = createOpLog(path, { clientId: "client\t1", maxBufferedOps: 512, batchSize: 300 });
      let expected = format === "tsv" ? "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns\toffset\tdst\n" : "";
      for (let idx = 0; idx < 300; idx++) {
        const e = { ...entries[idx % entries.length]!, key: `k${idx}/${"é".repeat(4000)}` };
        await log.add(e.op, e.key, e.bytes, e.objects, e.offset, e.start, e.duration, e.firstByte, idx, e.error, e.endpoint, e.destination);
        expected += expectedLine(e, idx, format);
      }
      await log.close();
      expect(log.stats()).toMatchObject({ recorded: 300, dropped: 0 });
      const written = await readFile(path);
      expect(written.length).toBeGreaterThan(2 * 1024 * 1024);
      expect(written.equals(Buffer.from(expected))).toBe(true);
    }
  });
});

describe("readOpLog reads other tools' files", () => {
  it("warp's TSV (14 columns with cat, # comments) and s3dlio's integer-nanosecond times", async () => {
    const warp = [
      "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns\tcat",
      "0\t3\tGET\tabc\t1\t4096\thttp://127.0.0.1:9000\tbench/obj-1\t\t2025-10-01T12:34:56.789000001Z\t2025-10-01T12:34:56.790Z\t2025-10-01T12:34:56.892Z\t102999999\t0",
      "1\t4\tPUT\tabc\t1\t1024\thttp://127.0.0.1:9000\tbench/obj-2\t\"connection reset, \"\"retry\"\"\"\t2025-10-01T12:34:57Z\t\t2025-10-01T12:34:57.5Z\t500000000\t0",
      "# warp command line: warp mixed",
    ].join("\n");
    await writeFile(join(dir, "warp.csv"), warp);
    const records = await readAll(join(dir, "warp.csv"));
    expect(records).toHaveLength(2);
    expect(records[0]).toMatchObject({ op: "GET", method: "get", key: "bench/obj-1", bytes: 4096, thread: 3, endpoint: "http://127.0.0.1:9000", durationNs: 102999999 });
    expect(records[0]!.start).toBeCloseTo(Date.parse("2025-10-01T12:34:56.789Z") + 0.000001, 6);
    expect(records[0]!.firstByte).toBe(Date.parse("2025-10-01T12:34:56.790Z"));
    expect(records[1]).toMatchObject({ op: "PUT", method: "put", error: 'connection reset, "retry"' });

    const s3dlio = [
      "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns",
      "0\t1\tHEAD\tclient-1\t1\t0\ts3://\tbucket/a\t\t1000000000\t\t1001000000\t1000000",
    ].join("\n");
    await writeFile(join(dir, "s3dlio.tsv"), s3dlio);
    const [head] = await readAll(join(dir, "s3dlio.tsv"));
    expect(head).toMatchObject({ method: "stat", start: 1000, end: 1001, durationNs: 1000000 });
  });

  it("a missing file is NotFoundError; a file that is not an op-log is RangeConfigError", async () => {
    await expect(readAll(join(dir, "none.tsv"))).rejects.toThrow(NotFoundError);
    await writeFile(join(dir, "other.tsv"), "a\tb\tc\n1\t2\t3\n");
    await expect(readAll(join(dir, "other.tsv"))).rejects.toThrow(RangeConfigError);
  });
});

function readFileSyncBuffer(path: string): Buffer {
  return execFileSync("cat", [path]);
}

describe("stores that report their requests (onRequest)", () => {
  /** A memory-backed store whose driver sends every read through a two-endpoint pool, which reports each request. */
  async function pooledStore() {
    const { EndpointPool, RequestEvents, createObjectStore } = await import("@range/core");
    const memory = createMemoryStore();
    const events = new RequestEvents();
    const pool = new EndpointPool(["http://node-a", "http://node-b"], { requestEvents: events });
    const store = createObjectStore(
      {
        scheme: "pooled",
        requestEvents: events,
        async stat(key) {
          const lease = pool.acquire(undefined, "HEAD", key);
          try {
            const meta = await memory.stat(key);
            lease.release("ok");
            return meta;
          } catch (error) {
            lease.release("ok", error);
            throw error;
          }
        },
        async read(key, offset, length) {
          const lease = pool.acquire(undefined, "GET", key);
          const bytes = await memory.getRange(key, offset, length);
          lease.addBytes(bytes.length);
          lease.release("ok");
          return bytes;
        },
        write: (key, data) => memory.put(key, data),
        list: (prefix, opts) => memory.list(prefix, opts),
        delete: (key) => memory.delete(key),
      },
      { engine: { minSplitSize: 1024, chunkSize: 1024, maxConcurrentRanges: 2 } },
    );
    return { store, pool };
  }

  it("records the endpoints that served each operation; requests: true adds a line per request, JSON lines mark them", async () => {
    const { store: pooled, pool } = await pooledStore();
    const path = join(dir, "requests.jsonl");
    const store = withOpLog(pooled, { path, requests: true });
    await store.put("big.bin", bytes(4096)); // not through the pool: no request, so no endpoint
    await store.get("big.bin"); // a stat, then 4 ranges, round-robin over both endpoints
    await store.getRange("big.bin", 10, 20);
    await expect(store.stat("nope")).rejects.toThrow(NotFoundError);
    await store.close();
    const records = await readAll(path);
    const operations = records.filter((r) => r.method !== undefined);
    const requests = records.filter((r) => r.method === undefined);
    expect(operations.map((r) => [r.op, r.endpoint])).toEqual([
      ["PUT", ""],
      ["GET", "http://node-a,http://node-b"],
      ["GET", expect.stringMatching(/^http:\/\/node-[ab]$/)],
      ["STAT", expect.stringMatching(/^http:\/\/node-[ab]$/)],
    ]);
    expect(requests.length).toBe(pool.stats().reduce((n, s) => n + s.requests, 0));
    for (const s of pool.stats()) expect(requests.filter((r) => r.endpoint === s.endpoint).length).toBe(s.requests);
    expect(requests.filter((r) => r.op === "GET" && r.key === "big.bin").reduce((n, r) => n + r.bytes, 0)).toBe(4096 + 20);
    expect(requests.find((r) => r.op === "HEAD" && r.key === "nope")).toMatchObject({ error: "E_NOT_FOUND", thread: operations[3]!.thread });
    const raw = (await readFile(path, "utf8")).trim().split("\n").map((line) => JSON.parse(line) as { method: string; op: string });
    expect(raw.filter((r) => r.method === "request").length).toBe(requests.length);
  });

  it("an explicit endpoint option wins over the reported endpoints", async () => {
    const { store: pooled } = await pooledStore();
    const path = join(dir, "requests-fixed.tsv");
    const store = withOpLog(pooled, { path, endpoint: "fixed" });
    await store.put("a.bin", bytes(100));
    await store.get("a.bin");
    await store.close();
    expect((await readAll(path)).map((r) => r.endpoint)).toEqual(["fixed", "fixed"]);
  });
});
