import { describe, expect, it } from "vitest";
import {
  InvalidKeyError,
  NotFoundError,
  RangeConfigError,
  createMemoryStore,
  isAbortError,
  type ObservedOperation,
  type ObjectStore,
  type OperationObserver,
} from "../src/index.js";

interface Seen {
  token: number;
  operation: ObservedOperation;
  key: string;
  offset: number;
  bytes: number;
  start: number;
  duration: number;
  error?: unknown;
}

/** An observer that numbers its operations (the token) and keeps what it is told. */
function recorder() {
  const started: { token: number; operation: ObservedOperation; key: string; at: number }[] = [];
  const ended: Seen[] = [];
  let next = 0;
  const observer: OperationObserver<number> = {
    start(operation, key) {
      started.push({ token: next, operation, key, at: performance.now() });
      return next++;
    },
    done(token, operation, key, offset, bytes, start, duration) {
      ended.push({ token, operation, key, offset, bytes, start, duration });
    },
    failed(token, operation, key, offset, bytes, start, duration, error) {
      ended.push({ token, operation, key, offset, bytes, start, duration, error });
    },
  };
  return { observer, started, ended };
}

const bytes = (n: number, fill = 1) => new Uint8Array(n).fill(fill);

describe("withOperationObserver", () => {
  it("reports each get, getRange, stat and put of the view: operation, key, offset, bytes, start and duration", async () => {
    const store = createMemoryStore();
    const { observer, started, ended } = recorder();
    const view = store.withOperationObserver!(observer);
    const before = performance.now();
    expect((await view.put("a", bytes(1000))).size).toBe(1000);
    expect(
      (
        await view.put(
          "b",
          (async function* () {
            yield bytes(300);
            yield bytes(200);
          })(),
        )
      ).size,
    ).toBe(500);
    expect((await view.get("a")).length).toBe(1000);
    expect((await view.getRange("a", 100, 50)).length).toBe(50);
    expect((await view.getRange("a", 10, 0)).length).toBe(0);
    expect((await view.stat("b")).size).toBe(500);
    const into = new Uint8Array(2000);
    expect((await view.get("b", { into })).length).toBe(500);
    const after = performance.now();

    expect(ended.map(({ token, operation, key, offset, bytes, error }) => ({ token, operation, key, offset, bytes, error }))).toEqual([
      { token: 0, operation: "put", key: "a", offset: -1, bytes: 1000, error: undefined },
      { token: 1, operation: "put", key: "b", offset: -1, bytes: 500, error: undefined },
      { token: 2, operation: "get", key: "a", offset: -1, bytes: 1000, error: undefined },
      { token: 3, operation: "getRange", key: "a", offset: 100, bytes: 50, error: undefined },
      { token: 4, operation: "getRange", key: "a", offset: 10, bytes: 0, error: undefined },
      { token: 5, operation: "stat", key: "b", offset: -1, bytes: 500, error: undefined },
      { token: 6, operation: "get", key: "b", offset: -1, bytes: 500, error: undefined },
    ]);
    expect(started.map((s) => [s.token, s.operation, s.key])).toEqual(ended.map((e) => [e.token, e.operation, e.key]));
    let previousEnd = before;
    for (const e of ended) {
      // The start is the operation's own (read before `start` was called), in order, inside the window.
      expect(e.start).toBeGreaterThanOrEqual(previousEnd);
      expect(e.start).toBeLessThanOrEqual(started[e.token]!.at);
      expect(e.duration).toBeGreaterThanOrEqual(0);
      previousEnd = e.start + e.duration;
    }
    expect(previousEnd).toBeLessThanOrEqual(after);
  });

  it("reports nothing of the store itself, of another view, or of the operations it does not observe", async () => {
    const store = createMemoryStore();
    const one = recorder();
    const two = recorder();
    const view = store.withOperationObserver!(one.observer);
    const other = store.withOperationObserver!(two.observer);
    await store.put("k", bytes(10));
    await store.get("k");
    await store.stat("k");
    await other.get("k");
    // exists stats the object inside: that stat is not a `stat` of the caller.
    expect(await view.exists("k")).toBe(true);
    expect(await view.exists("nope")).toBe(false);
    for await (const _ of view.list("")) {
      // drained
    }
    for await (const _ of view.getStream("k")) {
      // drained
    }
    await view.delete("k");
    await view.deletePrefix("");
    expect(one.started).toEqual([]);
    expect(one.ended).toEqual([]);
    expect(two.ended.map((e) => [e.operation, e.key, e.bytes])).toEqual([["get", "k", 10]]);
    // The view reads and writes the same objects.
    await view.put("x", bytes(3));
    expect((await store.get("x")).length).toBe(3);
  });

  it("reports failures with the error the caller sees: bad input before I/O, not found, a failed put with its bytes", async () => {
    const store = createMemoryStore();
    await store.put("small", bytes(10));
    const { observer, ended } = recorder();
    const view = store.withOperationObserver!(observer);
    const requests = () => store.probe.readRequests + store.probe.statRequests;
    const before = requests();

    const rejections: unknown[] = [];
    const expectRejects = async (promise: Promise<unknown>) => {
      const error = await promise.then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(Error);
      rejections.push(error);
    };
    await expectRejects(view.get("/bad"));
    await expectRejects(view.get("missing"));
    await expectRejects(view.getRange("small", 8, 5));
    await expectRejects(view.getRange("small", -1, 5));
    await expectRejects(view.stat("missing"));
    await expectRejects(view.put("p", bytes(64), { contentType: 7 as unknown as string }));
    await expectRejects(
      view.put(
        "q",
        (async function* () {
          yield bytes(100);
          yield bytes(20);
          throw new Error("source broke");
        })(),
      ),
    );
    await expectRejects(view.put("r", 5 as unknown as Uint8Array));

    expect(ended.map(({ operation, key, offset, bytes }) => ({ operation, key, offset, bytes }))).toEqual([
      { operation: "get", key: "/bad", offset: -1, bytes: 0 },
      { operation: "get", key: "missing", offset: -1, bytes: 0 },
      { operation: "getRange", key: "small", offset: 8, bytes: 0 },
      { operation: "getRange", key: "small", offset: -1, bytes: 0 },
      { operation: "stat", key: "missing", offset: -1, bytes: 0 },
      { operation: "put", key: "p", offset: -1, bytes: 64 },
      { operation: "put", key: "q", offset: -1, bytes: 120 },
      { operation: "put", key: "r", offset: -1, bytes: 0 },
    ]);
    // Exactly the errors the callers got.
    expect(ended.map((e) => e.error)).toEqual(rejections);
    expect(ended[0]!.error).toBeInstanceOf(InvalidKeyError);
    expect(NotFoundError.isInstance(ended[1]!.error)).toBe(true);
    expect(NotFoundError.isInstance(ended[4]!.error)).toBe(true);
    expect((ended[6]!.error as Error).message).toBe("source broke");
    // Only the get, the range and the stat with good input reached the store: bad key and range were refused before I/O.
    expect(requests() - before).toBe(3);
    expect(await store.exists("p")).toBe(false);
    expect(await store.exists("q")).toBe(false);
  });

  it("an abort in flight is reported as the abort error, after the read stopped", async () => {
    const store = createMemoryStore({ latencyMs: 200 });
    await store.put("slow", bytes(100));
    const { observer, ended } = recorder();
    const view = store.withOperationObserver!(observer);
    const controller = new AbortController();
    const pending = view.get("slow", { signal: controller.signal });
    const range = view.getRange("slow", 0, 10, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    const [getError, rangeError] = await Promise.all([pending.catch((e: unknown) => e), range.catch((e: unknown) => e)]);
    expect(isAbortError(getError)).toBe(true);
    expect(isAbortError(rangeError)).toBe(true);
    // In the order they settled (the get also closes its reader).
    expect(new Map(ended.map((e) => [e.operation, e.error]))).toEqual(
      new Map<ObservedOperation, unknown>([
        ["get", getError],
        ["getRange", rangeError],
      ]),
    );
    for (const e of ended) {
      expect(e.duration).toBeGreaterThanOrEqual(15);
      expect(e.duration).toBeLessThan(190);
    }
    expect(store.probe.activeReads).toBe(0);
    // Already aborted: refused before any read, and reported.
    await expect(view.get("slow", { signal: AbortSignal.abort() })).rejects.toSatisfy(isAbortError);
    expect(ended).toHaveLength(3);
  });

  it("operations in flight together each get their own start and end, matched by token", async () => {
    const store = createMemoryStore({ latencyMs: 5 });
    for (let i = 0; i < 16; i++) await store.put(`k${i}`, bytes(i + 1));
    const { observer, started, ended } = recorder();
    const view = store.withOperationObserver!(observer);
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => view.get(`k${i % 16}`)));
    expect(results.map((r) => r.length)).toEqual(Array.from({ length: 64 }, (_, i) => (i % 16) + 1));
    expect(started).toHaveLength(64);
    expect(ended).toHaveLength(64);
    // All 64 started before the first ended (they overlap), and each end names its own start.
    expect(Math.min(...ended.map((e) => e.start + e.duration))).toBeGreaterThan(Math.max(...ended.map((e) => e.start)));
    for (const e of ended) {
      expect(e.key).toBe(started[e.token]!.key);
      expect(e.bytes).toBe(Number(e.key.slice(1)) + 1);
    }
    expect(new Set(ended.map((e) => e.token)).size).toBe(64);
  });

  it("shares the store's open state: closing the view closes the store, and the other way round", async () => {
    const store = createMemoryStore();
    await store.put("k", bytes(1));
    const { observer, ended } = recorder();
    const view = store.withOperationObserver!(observer);
    await view.close();
    await expect(store.get("k")).rejects.toMatchObject({ code: "E_CLOSED" });
    await expect(view.get("k")).rejects.toMatchObject({ code: "E_CLOSED" });
    await expect(view.stat("k")).rejects.toMatchObject({ code: "E_CLOSED" });
    expect(ended.map((e) => [e.operation, (e.error as { code?: string }).code])).toEqual([
      ["get", "E_CLOSED"],
      ["stat", "E_CLOSED"],
    ]);

    const second = createMemoryStore();
    const secondView = second.withOperationObserver!(recorder().observer);
    await second.close();
    await expect(secondView.put("k", bytes(1))).rejects.toMatchObject({ code: "E_CLOSED" });
  });

  it("refuses an observer without start, done and failed (RangeConfigError), and survives one that throws", async () => {
    const store = createMemoryStore();
    for (const bad of [undefined, null, 5, {}, { start() {}, done() {} }, { start: 1, done() {}, failed() {} }]) {
      let error: unknown;
      try {
        store.withOperationObserver!(bad as unknown as OperationObserver);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(RangeConfigError);
      expect(error).toMatchObject({ code: "E_INVALID_OPTION" });
    }

    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.prependListener("uncaughtException", onUncaught);
    try {
      const throwing: OperationObserver = {
        start() {
          throw new Error("start bug");
        },
        done() {
          throw new Error("done bug");
        },
        failed() {
          throw new Error("failed bug");
        },
      };
      const view: ObjectStore = store.withOperationObserver!(throwing);
      await view.put("k", bytes(4));
      expect((await view.get("k")).length).toBe(4);
      await expect(view.stat("missing")).rejects.toSatisfy((e: unknown) => NotFoundError.isInstance(e));
      await new Promise((resolve) => setTimeout(resolve, 10));
    } finally {
      process.off("uncaughtException", onUncaught);
    }
    expect(uncaught.map((e) => (e as Error).message)).toEqual([
      "start bug",
      "done bug",
      "start bug",
      "done bug",
      "start bug",
      "failed bug",
    ]);
  });
});
