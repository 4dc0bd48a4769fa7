import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RangeConfigError, createMemoryStore, isAbortError, type ObjectStore } from "@range/core";
import { SyntheticDataset } from "@range/datagen";
import { createFileStore } from "@range/file";
import { replayOpLog, withOpLog, type OpRecord, type ReplayedOperation } from "../src/index.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "range-replay-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A record as readOpLog would give it: `at` ms after a fixed epoch. */
function record(at: number, method: OpRecord["method"], key: string, extra: Partial<OpRecord> = {}): OpRecord {
  const start = 1_700_000_000_000 + at;
  return { idx: 0, thread: 0, op: "GET", method, clientId: "", objects: 1, bytes: 0, endpoint: "", key, error: "", start, end: start + 1, durationNs: 1e6, ...extra };
}

/** Counts operations in flight around a real store. */
function counting(store: ObjectStore) {
  const stats = { inFlight: 0, max: 0 };
  const track = <T>(p: Promise<T>) => {
    stats.inFlight++;
    stats.max = Math.max(stats.max, stats.inFlight);
    return p.finally(() => stats.inFlight--);
  };
  const wrapped = new Proxy(store, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (property === "get" || property === "exists" || property === "stat") return (...args: unknown[]) => track((value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  return { store: wrapped, stats };
}

describe("replayOpLog on the file backend", () => {
  it("replays a recorded workload: missing objects are reported, --prepare creates them, recorded misses stay misses", async () => {
    const source = createFileStore({ root: join(dir, "source") });
    const path = join(dir, "workload.tsv.gz");
    await source.put("seen/y.bin", new SyntheticDataset({ size: 777 }).object()); // exists before the recording
    const store = withOpLog(source, { path });
    await store.put("x.bin", new Uint8Array(1000).fill(1));
    await store.get("x.bin");
    await store.getRange("x.bin", 10, 20);
    await store.stat("seen/y.bin");
    await store.getRange("seen/y.bin", 700, 77);
    await expect(store.get("never.bin")).rejects.toThrow();
    for await (const _ of store.list("")) {
      // drained
    }
    await store.delete("x.bin");
    await store.close();

    const bare = createFileStore({ root: join(dir, "bare") });
    const unprepared = await replayOpLog(path, bare);
    expect(unprepared).toMatchObject({ ops: 8, ok: 5, errors: 2, reproducedErrors: 1, skipped: 0, prepared: { objects: 0, bytes: 0 } });
    expect(unprepared.missing).toEqual({ count: 2, keys: ["seen/y.bin", "seen/y.bin"] });
    expect(unprepared.errorCodes).toEqual({ E_NOT_FOUND: 2 });
    expect(await bare.exists("x.bin")).toBe(false); // the replayed delete ran

    const target = createFileStore({ root: join(dir, "prepared") });
    const operations: ReplayedOperation[] = [];
    const prepared = await replayOpLog(path, target, { prepare: true, onOperation: (op) => operations.push(op) });
    expect(prepared).toMatchObject({ ops: 8, ok: 7, errors: 0, reproducedErrors: 1, missing: { count: 0, keys: [] }, prepared: { objects: 1, bytes: 777 } });
    expect(prepared.sizeMismatches).toBe(0);
    expect((await target.stat("seen/y.bin")).size).toBe(777);
    expect(operations.map((o) => o.record.method)).toEqual(["put", "get", "getRange", "stat", "getRange", "get", "list", "delete"]);
    expect(prepared.byMethod.getRange).toMatchObject({ count: 2, errors: 0, bytes: 97 });
    expect(prepared.latency.p50Ms).toBeGreaterThan(0);
    expect(prepared.latency.p99Ms).toBeGreaterThanOrEqual(prepared.latency.p50Ms);
    // Prepared objects that are already there (at that size or larger) are left alone.
    const again = await replayOpLog(path, target, { prepare: true });
    expect(again.prepared.objects).toBe(0);
    await Promise.all([bare.close(), target.close()]);
  });

  it("replays COPY with the store's copy, or by reading and writing when the store has none", async () => {
    const records = [
      record(0, "put", "a.bin", { op: "PUT", bytes: 300 }),
      record(1, "copy", "a.bin", { op: "COPY", dst: "b.bin", bytes: 300 }),
      record(2, "get", "b.bin", { bytes: 300 }),
    ];
    const target = createFileStore({ root: join(dir, "copy-target") });
    const summary = await replayOpLog(records, target);
    expect(summary).toMatchObject({ ok: 3, errors: 0, sizeMismatches: 0 });
    expect(Buffer.from(await target.get("b.bin")).equals(await target.get("a.bin"))).toBe(true);
    const memory = createMemoryStore();
    const noCopy = new Proxy(memory, {
      get: (target, property) => {
        if (property === "copy") return undefined;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    expect(await replayOpLog(records, noCopy)).toMatchObject({ ok: 3, errors: 0 });
    expect(Buffer.from(await memory.get("b.bin")).equals(await memory.get("a.bin"))).toBe(true);
    await target.close();
  });

  it("replays under keyPrefix", async () => {
    const target = createFileStore({ root: join(dir, "prefixed") });
    const summary = await replayOpLog([record(0, "put", "a.bin", { op: "PUT", bytes: 123 })], target, { keyPrefix: "run-1/" });
    expect(summary.ok).toBe(1);
    expect((await target.stat("run-1/a.bin")).size).toBe(123);
    await target.close();
  });
});

describe("timing", () => {
  const spaced = (gapMs: number, n: number) => Array.from({ length: n }, (_, i) => record(i * gapMs, "exists", `k${i}`, { op: "EXISTS" }));

  it.each([1, 2, 4])("keeps the recorded inter-arrival times divided by speed %d", async (speed) => {
    const issued: number[] = [];
    const started = performance.now();
    const summary = await replayOpLog(spaced(200, 4), createMemoryStore(), { speed, onOperation: () => issued.push(performance.now() - started) });
    expect(summary.ops).toBe(4);
    const gap = 200 / speed;
    for (let i = 0; i < issued.length; i++) {
      // Never early (2 ms: operations due within 1 ms go at once, and timers round to the millisecond); late only
      // by scheduling noise on a busy machine.
      expect(issued[i]!).toBeGreaterThanOrEqual(i * gap - 2);
      expect(issued[i]!).toBeLessThan(i * gap + 300);
    }
    expect(summary.seconds).toBeGreaterThanOrEqual((3 * gap - 1) / 1000);
    expect(summary.recordedSeconds).toBeCloseTo(0.601, 3);
  });

  it("issues operations in start order whatever the file order (records are written as operations finish)", async () => {
    const records = spaced(5, 6).reverse();
    const order: string[] = [];
    await replayOpLog(records, createMemoryStore(), { onOperation: (op) => order.push(op.record.key) });
    expect(order).toEqual(["k0", "k1", "k2", "k3", "k4", "k5"]);
  });

  it("is an open loop: overlapping operations overlap again, up to maxInFlight", async () => {
    const memory = createMemoryStore({ latencyMs: 100 });
    const together = Array.from({ length: 12 }, (_, i) => record(0, "exists", `k${i}`, { op: "EXISTS", thread: i }));
    const open = counting(memory);
    const first = await replayOpLog(together, open.store);
    expect(open.stats.max).toBe(12);
    expect(first.seconds).toBeLessThan(0.8); // 12 × 100 ms one after the other would be 1.2 s

    const capped = counting(memory);
    const second = await replayOpLog(together, capped.store, { maxInFlight: 3 });
    expect(capped.stats.max).toBe(3);
    expect(second.seconds).toBeGreaterThanOrEqual(0.39); // four rounds of 100 ms
    expect(second.lag.maxMs).toBeGreaterThanOrEqual(290); // the last ones waited three rounds for a slot
  });

  it("keeps each thread's operations in order when the replay's store is slower than the recorded one", async () => {
    const records = [record(0, "put", "k", { op: "PUT", bytes: 10 }), record(0.2, "get", "k", { bytes: 10 })];
    const slowPuts = () => {
      const memory = createMemoryStore();
      return new Proxy(memory, {
        get(target, property) {
          if (property === "put") return async (...args: Parameters<ObjectStore["put"]>) => {
            await new Promise((resolve) => setTimeout(resolve, 30));
            return target.put(...args);
          };
          const value: unknown = Reflect.get(target, property, target);
          return typeof value === "function" ? value.bind(target) : value;
        },
      });
    };
    const ordered = await replayOpLog(records, slowPuts());
    expect(ordered).toMatchObject({ ok: 2, errors: 0 });
    expect(ordered.lag.maxMs).toBeGreaterThanOrEqual(25); // the get waited for the put
    const openLoop = await replayOpLog(records, slowPuts(), { sequentialThreads: false });
    expect(openLoop).toMatchObject({ ok: 1, errors: 1, missing: { count: 1, keys: ["k"] } });
  });

  it("stops on abort with an abort error", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    const error = await replayOpLog(spaced(200, 10), createMemoryStore(), { signal: controller.signal }).catch((e: unknown) => e);
    expect(isAbortError(error)).toBe(true);
  });
});

describe("odd input", () => {
  it("counts ops replay cannot issue as skipped", async () => {
    const summary = await replayOpLog([record(0, undefined, "x", { op: "MULTIPART_COMPLETE" }), record(1, "exists", "y", { op: "EXISTS" })], createMemoryStore());
    expect(summary).toMatchObject({ ops: 1, ok: 1, skipped: 1 });
  });

  it("bad options are RangeConfigErrors", async () => {
    for (const options of [{ speed: 0 }, { speed: -2 }, { speed: Number.NaN }, { maxInFlight: 0 }, { reorderWindow: 1.5 }]) {
      await expect(replayOpLog([], createMemoryStore(), options)).rejects.toThrow(RangeConfigError);
    }
  });
});
