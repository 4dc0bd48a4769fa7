import { describe, expect, it } from "vitest";
import {
  AbortError,
  EndpointPool,
  NotFoundError,
  RangeConfigError,
  RequestEvents,
  createMemoryStore,
  createObjectStore,
  isAbortError,
  memoryBucket,
  type DriverDeleteOptions,
  type ObjectMeta,
  type RequestEvent,
  type StoreDriver,
} from "../src/index.js";

describe("RequestEvents and EndpointPool leases", () => {
  it("a lease reports its request when released: operation, key, endpoint, bytes, duration, outcome", async () => {
    const events = new RequestEvents();
    const pool = new EndpointPool(["http://a", "http://b"], { requestEvents: events });
    const seen: RequestEvent[] = [];
    const off = events.on((e) => seen.push(e));
    const first = pool.acquire(undefined, "GetObject", "k1");
    first.addBytes(100);
    first.addBytes(23);
    await new Promise((resolve) => setTimeout(resolve, 15));
    first.release("ok");
    first.release("failed"); // ignored, as for the pool
    const failure = new Error("connection refused");
    pool.acquire(undefined, "PutObject", "k2").release("failed", failure);
    expect(seen).toHaveLength(2);
    expect(seen[0]).toMatchObject({ operation: "GetObject", key: "k1", endpoint: "http://a", bytes: 123, outcome: "ok" });
    expect(seen[0]!.durationMs).toBeGreaterThanOrEqual(10);
    expect(seen[0]!.start).toBeLessThanOrEqual(performance.now());
    expect(seen[0]).not.toHaveProperty("error");
    expect(seen[1]).toMatchObject({ operation: "PutObject", key: "k2", endpoint: "http://b", bytes: 0, outcome: "failed", error: failure });
    // Event counts per endpoint are the pool's request counts.
    expect(pool.stats().map((s) => s.requests)).toEqual([1, 1]);

    off();
    off();
    pool.acquire().release("ok");
    expect(seen).toHaveLength(2);
    expect(events.listening).toBe(false);
  });

  it("a request that started while nobody listened is not reported (its start is unknown)", () => {
    const events = new RequestEvents();
    const pool = new EndpointPool(["http://a"], { requestEvents: events });
    const early = pool.acquire(undefined, "GetObject", "x");
    const seen: RequestEvent[] = [];
    events.on((e) => seen.push(e));
    early.release("ok");
    pool.acquire(undefined, "HeadObject", "y").release("aborted");
    expect(seen.map((e) => [e.operation, e.outcome])).toEqual([["HeadObject", "aborted"]]);
  });

  it("several listeners each get every event; a listener that throws does not fail the request", async () => {
    const events = new RequestEvents();
    const a: string[] = [];
    const b: string[] = [];
    events.on((e) => a.push(e.key));
    events.on(() => {
      throw new Error("listener bug");
    });
    events.on((e) => b.push(e.key));
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.prependListener("uncaughtException", onUncaught);
    try {
      const pool = new EndpointPool(["http://a"], { requestEvents: events });
      expect(() => pool.acquire(undefined, "GetObject", "k").release("ok")).not.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(a).toEqual(["k"]);
    expect(b).toEqual(["k"]);
    expect(uncaught.map((e) => (e as Error).message)).toEqual(["listener bug"]);
    expect(() => events.on("nope" as never)).toThrow(TypeError);
  });

  it("createObjectStore gives the store onRequest only when the driver reports requests", async () => {
    const plain = createMemoryStore();
    expect(plain.onRequest).toBeUndefined();

    const events = new RequestEvents();
    const pool = new EndpointPool(["node-1", "node-2"], { requestEvents: events });
    const objects = new Map<string, Uint8Array>([["a", new Uint8Array([1, 2, 3])]]);
    const driver: StoreDriver = {
      scheme: "pooled",
      requestEvents: events,
      async stat(key) {
        const lease = pool.acquire(undefined, "stat", key);
        const data = objects.get(key);
        lease.release("ok", data ? undefined : new NotFoundError(key));
        if (!data) throw new NotFoundError(`no ${key}`);
        return { key, size: data.length };
      },
      async read(key, offset, length) {
        const lease = pool.acquire(undefined, "read", key);
        const bytes = objects.get(key)!.subarray(offset, offset + length);
        lease.addBytes(bytes.length);
        lease.release("ok");
        return bytes;
      },
      async write(key, data) {
        if (!(data instanceof Uint8Array)) throw new Error("buffers only");
        objects.set(key, data);
        return { key, size: data.length };
      },
      async *list() {},
      async delete(key) {
        objects.delete(key);
      },
    };
    const store = createObjectStore(driver);
    const seen: RequestEvent[] = [];
    const off = store.onRequest!((e) => seen.push(e));
    expect(Array.from(await store.get("a"))).toEqual([1, 2, 3]);
    await expect(store.stat("b")).rejects.toBeInstanceOf(NotFoundError);
    off();
    await store.stat("a");
    expect(seen.map((e) => [e.operation, e.key, e.endpoint, e.bytes, e.outcome, e.error === undefined])).toEqual([
      ["stat", "a", "node-1", 0, "ok", true],
      ["read", "a", "node-2", 3, "ok", true],
      ["stat", "b", "node-1", 0, "ok", false],
    ]);
  });
});

describe("deletePrefix({ signal })", () => {
  /** A memory-backed driver whose deletes take `delayMs`, counted; optionally with a batch delete. */
  function slowDriver(delayMs: number, batch: boolean) {
    const bucket = memoryBucket(`slow-delete-${Math.random()}`);
    const memory = createMemoryStore({ bucket });
    const calls = { deletes: 0, batches: 0, signals: 0 };
    const sleep = (signal: AbortSignal | undefined) =>
      new Promise<void>((resolve, reject) => {
        const onAbort = () => {
          clearTimeout(timer);
          reject(signal!.reason);
        };
        const timer = setTimeout(() => {
          signal?.removeEventListener("abort", onAbort);
          resolve();
        }, delayMs);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    const driver: StoreDriver = {
      scheme: "slow",
      stat: (key) => memory.stat(key),
      read: (key, offset, length) => memory.getRange(key, offset, length),
      write: (key, data) => memory.put(key, data),
      list: (prefix, opts) => memory.list(prefix, opts),
      async delete(key, opts?: DriverDeleteOptions) {
        if (opts?.signal) calls.signals++;
        await sleep(opts?.signal);
        calls.deletes++;
        await memory.delete(key);
      },
      ...(batch
        ? {
            async deleteMany(keys: string[], opts?: DriverDeleteOptions) {
              if (opts?.signal) calls.signals++;
              await sleep(opts?.signal);
              calls.batches++;
              for (const key of keys) await memory.delete(key);
            },
          }
        : {}),
    };
    return { store: createObjectStore(driver), memory, calls };
  }

  async function fill(memory: ReturnType<typeof createMemoryStore>, n: number): Promise<void> {
    for (let i = 0; i < n; i++) await memory.put(`p/${String(i).padStart(5, "0")}`, new Uint8Array([i & 0xff]));
    await memory.put("other/keep", new Uint8Array([9]));
  }

  async function remaining(memory: ReturnType<typeof createMemoryStore>, prefix: string): Promise<ObjectMeta[]> {
    const out: ObjectMeta[] = [];
    for await (const meta of memory.list(prefix)) out.push(meta);
    return out;
  }

  it("per-key deletes: an abort mid-way rejects promptly with the abort error; the rest stay, whole", async () => {
    const { store, memory, calls } = slowDriver(5, false);
    await fill(memory, 400);
    const controller = new AbortController();
    const done = store.deletePrefix("p/", { signal: controller.signal });
    while (calls.deletes < 50) await new Promise((resolve) => setTimeout(resolve, 2));
    const abortedAt = performance.now();
    controller.abort();
    const error = await done.catch((e: unknown) => e);
    expect(performance.now() - abortedAt).toBeLessThan(200);
    expect(isAbortError(error)).toBe(true);
    const settledDeletes = calls.deletes;
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls.deletes).toBe(settledDeletes); // nothing goes on after the rejection
    const left = await remaining(memory, "p/");
    expect(left.length).toBe(400 - calls.deletes);
    expect(left.length).toBeGreaterThan(200);
    for (const meta of left) expect(Array.from(await memory.get(meta.key))).toEqual([Number(meta.key.slice(2)) & 0xff]);
    expect(await memory.exists("other/keep")).toBe(true);
    expect(calls.signals).toBeGreaterThan(0);
  });

  it("batch deletes: checked between batches and passed to the batch in flight", async () => {
    const { store, memory, calls } = slowDriver(30, true);
    await fill(memory, 2500); // three batches of at most 1000
    const controller = new AbortController();
    const done = store.deletePrefix("p/", { signal: controller.signal });
    while (calls.batches < 1) await new Promise((resolve) => setTimeout(resolve, 2));
    controller.abort(new AbortError("stop"));
    const error = await done.catch((e: unknown) => e);
    expect(isAbortError(error)).toBe(true);
    expect(calls.batches).toBe(1);
    expect((await remaining(memory, "p/")).length).toBe(1500);
  });

  it("an already aborted signal deletes nothing; a bad signal is a RangeConfigError before any I/O", async () => {
    const { store, memory, calls } = slowDriver(1, false);
    await fill(memory, 10);
    const controller = new AbortController();
    controller.abort();
    await expect(store.deletePrefix("p/", { signal: controller.signal })).rejects.toSatisfy(isAbortError);
    await expect(store.deletePrefix("p/", { signal: "soon" as never })).rejects.toBeInstanceOf(RangeConfigError);
    await expect(store.deletePrefix("p/", null as never)).rejects.toBeInstanceOf(RangeConfigError);
    expect(calls.deletes).toBe(0);
    expect(await store.deletePrefix("p/", {})).toBe(10);
  });

  it("the memory store honours it too", async () => {
    const store = createMemoryStore();
    for (let i = 0; i < 3000; i++) await store.put(`m/${i}`, new Uint8Array(1));
    const controller = new AbortController();
    controller.abort();
    await expect(store.deletePrefix("m/", { signal: controller.signal })).rejects.toSatisfy(isAbortError);
    let left = 0;
    for await (const _ of store.list("m/")) left++;
    expect(left).toBe(3000);
  });
});
