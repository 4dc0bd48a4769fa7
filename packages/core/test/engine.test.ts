import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  BackendError,
  DEFAULT_ENGINE_OPTIONS,
  IntegrityError,
  InvalidRangeError,
  MiB,
  NotFoundError,
  RangeConfigError,
  RangeEngine,
  TimeoutError,
  planRanges,
  type RangeFetcher,
} from "../src/index.js";
import { abortableDelay, collect, countingFetcher, equalBytes, patternBytes, untilAbort } from "./helpers.js";

const fastRetry = { attempts: 3, baseDelayMs: 1, maxDelayMs: 2 };

describe("RangeEngine options", () => {
  it("defaults to the s3dlio values", () => {
    const engine = new RangeEngine();
    expect(engine.options).toEqual({
      chunkSize: 64 * MiB,
      maxConcurrentRanges: 32,
      minSplitSize: 4 * MiB,
      rangeTimeoutMs: 30_000,
      retry: { attempts: 4, baseDelayMs: 100, maxDelayMs: 5_000 },
      hedge: false,
    });
    expect(DEFAULT_ENGINE_OPTIONS.chunkSize).toBe(64 * MiB);
  });

  const bad: [string, unknown][] = [
    ["chunkSize 0", { chunkSize: 0 }],
    ["chunkSize negative", { chunkSize: -1 }],
    ["chunkSize NaN", { chunkSize: Number.NaN }],
    ["chunkSize fractional", { chunkSize: 1.5 }],
    ["chunkSize absurd", { chunkSize: 2 ** 40 }],
    ["chunkSize string", { chunkSize: "8MiB" }],
    ["maxConcurrentRanges 0", { maxConcurrentRanges: 0 }],
    ["maxConcurrentRanges absurd", { maxConcurrentRanges: 1e6 }],
    ["maxConcurrentRanges Infinity", { maxConcurrentRanges: Number.POSITIVE_INFINITY }],
    ["minSplitSize 0", { minSplitSize: 0 }],
    ["minSplitSize unsafe", { minSplitSize: Number.MAX_SAFE_INTEGER + 2 }],
    ["rangeTimeoutMs 0", { rangeTimeoutMs: 0 }],
    ["rangeTimeoutMs NaN", { rangeTimeoutMs: Number.NaN }],
    ["retry.attempts 0", { retry: { attempts: 0 } }],
    ["retry.baseDelayMs negative", { retry: { baseDelayMs: -5 } }],
    ["retry.maxDelayMs below base", { retry: { baseDelayMs: 100, maxDelayMs: 10 } }],
    ["retry not an object", { retry: 3 }],
    ["unknown option", { chunksize: 1024 }],
    ["options not an object", 42],
  ];
  it.each(bad)("rejects %s with RangeConfigError at construction", (_name, options) => {
    expect(() => new RangeEngine(options as never)).toThrow(RangeConfigError);
  });

  it("accepts Infinity as 'no stall timeout'", () => {
    expect(new RangeEngine({ rangeTimeoutMs: Number.POSITIVE_INFINITY }).options.rangeTimeoutMs).toBe(Infinity);
  });
});

describe("planRanges", () => {
  const defaults = DEFAULT_ENGINE_OPTIONS;

  it("plans nothing for an empty object and one range below minSplitSize", () => {
    expect(planRanges(0, defaults)).toEqual([]);
    expect(planRanges(4 * MiB - 1, defaults)).toEqual([{ index: 0, offset: 0, length: 4 * MiB - 1 }]);
  });

  it("keeps 8-64 MiB objects parallel (s3dlio's fixed 64 MiB chunk would not)", () => {
    for (const size of [8 * MiB, 16 * MiB, 32 * MiB, 64 * MiB - 1, 64 * MiB]) {
      expect(planRanges(size, defaults).length).toBeGreaterThanOrEqual(8);
    }
  });

  it("uses one range per slot for mid sizes and chunkSize for huge objects", () => {
    expect(planRanges(256 * MiB, defaults)).toHaveLength(32);
    const huge = planRanges(10 * 1024 * MiB, defaults);
    expect(huge).toHaveLength(160);
    expect(huge.every((r) => r.length === 64 * MiB)).toBe(true);
  });

  it("covers [0, size) exactly, in order, within chunkSize", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 2 ** 40 }),
        fc.integer({ min: 1, max: 256 * MiB }),
        fc.integer({ min: 1, max: 128 }),
        fc.integer({ min: 1, max: 64 * MiB }),
        (size, chunkSize, maxConcurrentRanges, minSplitSize) => {
          const options = { chunkSize, maxConcurrentRanges, minSplitSize };
          if (size / Math.min(chunkSize, 1 * MiB) > 200_000) return; // keep plans small enough to enumerate
          const plan = planRanges(size, options);
          let next = 0;
          plan.forEach((range, i) => {
            expect(range.index).toBe(i);
            expect(range.offset).toBe(next);
            expect(range.length).toBeGreaterThan(0);
            if (size >= minSplitSize) expect(range.length).toBeLessThanOrEqual(chunkSize);
            next += range.length;
          });
          expect(next).toBe(size);
          if (size > 0 && size < minSplitSize) expect(plan).toHaveLength(1);
        },
      ),
    );
  });
});

describe("RangeEngine.download", () => {
  it("fetches an object below minSplitSize with exactly one request", async () => {
    const source = patternBytes(4 * MiB - 1);
    const f = countingFetcher(source);
    const { data, stats } = await new RangeEngine().download(source.length, f.fetch);
    expect(f.calls).toHaveLength(1);
    expect(f.calls[0]).toMatchObject({ offset: 0, length: source.length });
    expect(equalBytes(data, source)).toBe(true);
    expect(stats).toMatchObject({ bytes: source.length, ranges: 1, retries: 0, maxInFlight: 1 });
  });

  it("makes no request for size 0", async () => {
    const f = countingFetcher(new Uint8Array(0));
    const { data, stats } = await new RangeEngine().download(0, f.fetch);
    expect(f.calls).toHaveLength(0);
    expect(data.length).toBe(0);
    expect(stats.ranges).toBe(0);
  });

  it("splits a large object and never exceeds maxConcurrentRanges in flight", async () => {
    const source = patternBytes(3 * MiB + 12_345);
    const f = countingFetcher(source, 3);
    const engine = new RangeEngine({ minSplitSize: 64 * 1024, chunkSize: 64 * 1024, maxConcurrentRanges: 5 });
    const { data, stats } = await engine.download(source.length, f.fetch);
    expect(f.calls.length).toBe(Math.ceil(source.length / (64 * 1024)));
    expect(f.maxActive()).toBe(5);
    expect(stats.maxInFlight).toBe(5);
    expect(stats.ranges).toBe(f.calls.length);
    expect(equalBytes(data, source)).toBe(true);
  });

  it("returns exact bytes for random sizes and option sets (property)", async () => {
    const source = patternBytes(2 * MiB + 777, 7);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: source.length }),
        fc.integer({ min: 1024, max: 300_000 }),
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.constantFrom<"download" | "into" | "stream" | "downloadTo">("download", "into", "stream", "downloadTo"),
        async (size, chunkSize, maxConcurrentRanges, minSplitSize, mode) => {
          const object = source.subarray(0, size);
          const f = countingFetcher(object);
          const engine = new RangeEngine({ chunkSize, maxConcurrentRanges, minSplitSize });
          let data: Uint8Array;
          if (mode === "download") data = (await engine.download(size, f.fetch)).data;
          else if (mode === "into") data = (await engine.download(size, f.fetch, { into: new Uint8Array(size + 3) })).data;
          else if (mode === "stream") data = await collect(engine.stream(size, f.fetch));
          else {
            data = new Uint8Array(size);
            const seen = new Set<number>();
            await engine.downloadTo(size, f.fetch, (offset, bytes) => {
              expect(seen.has(offset)).toBe(false);
              seen.add(offset);
              data.set(bytes, offset);
            });
          }
          expect(data.length).toBe(size);
          expect(equalBytes(data, object)).toBe(true);
          expect(f.maxActive()).toBeLessThanOrEqual(maxConcurrentRanges);
          expect(f.calls.length).toBe(engine.plan(size).length);
        },
      ),
      { numRuns: 150 },
    );
  });

  it("fills `into` in place and returns a view of exactly `size` bytes", async () => {
    const source = patternBytes(1 * MiB + 3);
    const into = new Uint8Array(source.length + 100).fill(0xee);
    const f = countingFetcher(source);
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 128 * 1024 });
    const { data } = await engine.download(source.length, f.fetch, { into });
    expect(data.buffer).toBe(into.buffer);
    expect(data.byteOffset).toBe(0);
    expect(data.length).toBe(source.length);
    expect(equalBytes(into.subarray(0, source.length), source)).toBe(true);
    expect(into.subarray(source.length).every((b) => b === 0xee)).toBe(true);
  });

  it("lets a fetcher read straight into the destination (context.target) with no copy", async () => {
    const source = patternBytes(1 * MiB);
    const into = new Uint8Array(source.length);
    let targets = 0;
    const fetch: RangeFetcher = async (offset, length, _signal, context) => {
      const target = context!.target!;
      expect(target.buffer).toBe(into.buffer);
      expect(target.byteOffset).toBe(offset);
      expect(target.length).toBe(length);
      target.set(source.subarray(offset, offset + length));
      targets++;
      return target;
    };
    const { data } = await new RangeEngine({ minSplitSize: 1, chunkSize: 64 * 1024 }).download(source.length, fetch, { into });
    expect(targets).toBe(16);
    expect(equalBytes(data, source)).toBe(true);
  });

  it("rejects bad input with a typed error before any fetch", async () => {
    const f = countingFetcher(new Uint8Array(10));
    const engine = new RangeEngine();
    for (const size of [-1, Number.NaN, 1.5, Number.MAX_SAFE_INTEGER + 1, Number.POSITIVE_INFINITY, "10"]) {
      await expect(engine.download(size as number, f.fetch)).rejects.toBeInstanceOf(InvalidRangeError);
      expect(() => engine.stream(size as number, f.fetch)).toThrow(InvalidRangeError);
      await expect(engine.downloadTo(size as number, f.fetch, () => {})).rejects.toBeInstanceOf(InvalidRangeError);
    }
    await expect(engine.download(10, f.fetch, { into: new Uint8Array(9) })).rejects.toBeInstanceOf(InvalidRangeError);
    await expect(engine.download(10, "nope" as never)).rejects.toBeInstanceOf(RangeConfigError);
    await expect(engine.downloadTo(10, f.fetch, null as never)).rejects.toBeInstanceOf(RangeConfigError);
    await expect(engine.download(10, f.fetch, { signal: {} as AbortSignal })).rejects.toBeInstanceOf(RangeConfigError);
    expect(f.calls).toHaveLength(0);
  });

  it("reports progress per range and stats", async () => {
    const source = patternBytes(10 * 64 * 1024);
    const f = countingFetcher(source, 1);
    const seen: number[] = [];
    const { stats } = await new RangeEngine({ minSplitSize: 1, chunkSize: 64 * 1024, maxConcurrentRanges: 3 }).download(
      source.length,
      f.fetch,
      { onProgress: (p) => seen.push(p.bytes) },
    );
    expect(seen).toHaveLength(10);
    expect(seen.at(-1)).toBe(source.length);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(stats.bytes).toBe(source.length);
    expect(stats.ranges).toBe(10);
    expect(stats.elapsedMs).toBeGreaterThan(0);
    expect(stats.firstByteMs).toBeGreaterThan(0);
    expect(stats.firstByteMs).toBeLessThanOrEqual(stats.elapsedMs);
    expect(stats.throughputBytesPerSec).toBeCloseTo((stats.bytes * 1000) / stats.elapsedMs, 3);
  });
});

describe("cancellation", () => {
  it("abort rejects promptly with AbortError and every in-flight fetcher sees its signal aborted", async () => {
    const signals: AbortSignal[] = [];
    const fetch: RangeFetcher = (_o, _l, signal) => {
      signals.push(signal);
      return untilAbort(signal);
    };
    const controller = new AbortController();
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 1024, maxConcurrentRanges: 4 });
    const pending = engine.download(100 * 1024, fetch, { signal: controller.signal });
    await new Promise((r) => setTimeout(r, 20));
    expect(signals).toHaveLength(4);
    const abortedAt = performance.now();
    controller.abort();
    const error = await pending.catch((e: unknown) => e);
    expect(performance.now() - abortedAt).toBeLessThan(100);
    expect((error as Error).name).toBe("AbortError");
    expect(signals.every((s) => s.aborted)).toBe(true);
    expect(signals).toHaveLength(4); // nothing new started after the abort
  });

  it("does not wait for a fetcher that ignores its signal", async () => {
    const controller = new AbortController();
    const never: RangeFetcher = () => new Promise(() => {});
    const pending = new RangeEngine().download(10, never, { signal: controller.signal });
    setTimeout(() => controller.abort(new Error("user stop")), 10);
    const error = (await pending.catch((e: unknown) => e)) as Error;
    expect(error.name).toBe("AbortError");
    expect(error.message).toContain("user stop");
  });

  it("an already-aborted signal rejects without any fetch", async () => {
    const f = countingFetcher(new Uint8Array(10));
    const signal = AbortSignal.abort();
    await expect(new RangeEngine().download(10, f.fetch, { signal })).rejects.toMatchObject({ name: "AbortError" });
    expect(() => new RangeEngine().stream(10, f.fetch, { signal })).not.toThrow();
    await expect(collect(new RangeEngine().stream(10, f.fetch, { signal }))).rejects.toMatchObject({ name: "AbortError" });
    expect(f.calls).toHaveLength(0);
  });

  it("a failing range aborts its siblings and the first error wins", async () => {
    const signals: AbortSignal[] = [];
    const fetch: RangeFetcher = async (offset, _l, signal) => {
      signals.push(signal);
      if (offset === 0) {
        await abortableDelay(5, signal);
        throw new NotFoundError("gone");
      }
      return untilAbort(signal);
    };
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 1024, maxConcurrentRanges: 4, retry: fastRetry });
    await expect(engine.download(10 * 1024, fetch)).rejects.toBeInstanceOf(NotFoundError);
    expect(signals).toHaveLength(4);
    expect(signals.slice(1).every((s) => s.aborted)).toBe(true); // the siblings of range 0, which failed on its own
  });
});

describe("stall timeout and retries", () => {
  it("aborts a stalled range and retries it to success", async () => {
    const source = patternBytes(4096);
    let attempts = 0;
    const fetch: RangeFetcher = async (offset, length, signal) => {
      attempts++;
      if (attempts === 1) return untilAbort(signal); // stalls: no bytes, ever
      return source.slice(offset, offset + length);
    };
    const engine = new RangeEngine({ rangeTimeoutMs: 50, retry: fastRetry });
    const { data, stats } = await engine.download(source.length, fetch);
    expect(attempts).toBe(2);
    expect(stats.retries).toBe(1);
    expect(equalBytes(data, source)).toBe(true);
  });

  it("a stalled fetcher that ignores its signal is timed out anyway: its signal carries the TimeoutError, a late answer is dropped", async () => {
    const source = patternBytes(4096);
    const signals: AbortSignal[] = [];
    let releaseStalled: ((bytes: Uint8Array) => void) | undefined;
    const fetch: RangeFetcher = (offset, length, signal) => {
      signals.push(signal);
      // The first try never looks at its signal and answers (wrong bytes) only after the retry has finished.
      if (signals.length === 1) return new Promise((resolve) => (releaseStalled = resolve));
      return Promise.resolve(source.slice(offset, offset + length));
    };
    const { data, stats } = await new RangeEngine({ rangeTimeoutMs: 30, retry: fastRetry }).download(source.length, fetch);
    releaseStalled?.(new Uint8Array(source.length));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(stats.retries).toBe(1);
    expect(equalBytes(data, source)).toBe(true);
    expect(signals[0]!.reason).toBeInstanceOf(TimeoutError);
    // A try that completed is never aborted afterwards, not even when the download ends.
    expect(signals[1]!.aborted).toBe(false);
  });

  it("does not kill a slow range that keeps making progress", async () => {
    const source = patternBytes(4096);
    let attempts = 0;
    const fetch: RangeFetcher = async (offset, length, signal, context) => {
      attempts++;
      for (let i = 0; i < 10; i++) {
        await abortableDelay(25, signal); // 250 ms in all, 2.5x the stall timeout
        context?.progress();
      }
      return source.slice(offset, offset + length);
    };
    const { stats } = await new RangeEngine({ rangeTimeoutMs: 100, retry: fastRetry }).download(source.length, fetch);
    expect(attempts).toBe(1);
    expect(stats.retries).toBe(0);
  });

  it("a range that always stalls fails with TimeoutError after the configured attempts", async () => {
    let attempts = 0;
    const fetch: RangeFetcher = (_o, _l, signal) => {
      attempts++;
      return untilAbort(signal);
    };
    const error = await new RangeEngine({ rangeTimeoutMs: 20, retry: fastRetry }).download(100, fetch).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TimeoutError);
    expect((error as TimeoutError).retryable).toBe(true);
    expect(attempts).toBe(3);
  });

  it("persistent failure → BackendError after exactly `attempts` tries, with the cause", async () => {
    let attempts = 0;
    const cause = Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
    const fetch: RangeFetcher = async () => {
      attempts++;
      throw cause;
    };
    const error = await new RangeEngine({ retry: { attempts: 5, baseDelayMs: 1, maxDelayMs: 2 } })
      .download(100, fetch)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackendError);
    expect((error as BackendError).cause).toBe(cause);
    expect((error as BackendError).message).toContain("5 attempts");
    expect(attempts).toBe(5);
  });

  it("does not retry an error that says it is not retryable", async () => {
    let attempts = 0;
    const fetch: RangeFetcher = async () => {
      attempts++;
      throw new NotFoundError("no such object");
    };
    await expect(new RangeEngine({ retry: fastRetry }).download(100, fetch)).rejects.toBeInstanceOf(NotFoundError);
    expect(attempts).toBe(1);
  });

  it("recovers from transient errors and counts the retries", async () => {
    const source = patternBytes(8 * 1024);
    const failuresLeft = new Map<number, number>([[0, 2], [4096, 1]]);
    const fetch: RangeFetcher = async (offset, length) => {
      const left = failuresLeft.get(offset) ?? 0;
      if (left > 0) {
        failuresLeft.set(offset, left - 1);
        throw new Error("503 SlowDown");
      }
      return source.slice(offset, offset + length);
    };
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 4096, retry: fastRetry });
    const { data, stats } = await engine.download(source.length, fetch);
    expect(equalBytes(data, source)).toBe(true);
    expect(stats.retries).toBe(3);
  });

  it("a fetcher returning the wrong length is retried, then an IntegrityError — never silent corruption", async () => {
    let attempts = 0;
    const short: RangeFetcher = async (_o, length) => {
      attempts++;
      return new Uint8Array(length - 1);
    };
    const error = await new RangeEngine({ retry: fastRetry }).download(100, short).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect((error as IntegrityError).code).toBe("E_LENGTH_MISMATCH");
    expect(attempts).toBe(3);

    const source = patternBytes(100);
    let calls = 0;
    const onceLong: RangeFetcher = async (offset, length) => {
      calls++;
      return calls === 1 ? new Uint8Array(length + 5) : source.slice(offset, offset + length);
    };
    const { data, stats } = await new RangeEngine({ retry: fastRetry }).download(100, onceLong);
    expect(equalBytes(data, source)).toBe(true);
    expect(stats.retries).toBe(1);

    const notBytes: RangeFetcher = async () => "hello" as unknown as Uint8Array;
    await expect(new RangeEngine({ retry: fastRetry }).download(5, notBytes)).rejects.toBeInstanceOf(IntegrityError);
  });

  it("a synchronous throw from a fetcher is handled like a rejection", async () => {
    const fetch = (() => {
      throw new Error("boom");
    }) as unknown as RangeFetcher;
    await expect(new RangeEngine({ retry: fastRetry }).download(10, fetch)).rejects.toBeInstanceOf(BackendError);
  });
});

describe("RangeEngine.stream", () => {
  it("yields in order and holds at most maxConcurrentRanges + 1 chunks", async () => {
    const source = patternBytes(40 * 1024);
    const f = countingFetcher(source, 1);
    const limit = 3;
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 1024, maxConcurrentRanges: limit });
    let consumed = 0;
    let maxHeld = 0;
    const parts: Uint8Array[] = [];
    for await (const chunk of engine.stream(source.length, f.fetch)) {
      // Chunks fetched (or being fetched) but not yet handed back: the engine's memory.
      maxHeld = Math.max(maxHeld, f.calls.length - consumed);
      parts.push(chunk);
      await new Promise((r) => setTimeout(r, 3)); // slow consumer: the engine must not run ahead
      consumed++;
    }
    expect(equalBytes(Buffer.concat(parts), source)).toBe(true);
    expect(maxHeld).toBeLessThanOrEqual(limit + 1);
    expect(maxHeld).toBeGreaterThanOrEqual(limit);
    expect(f.maxActive()).toBeLessThanOrEqual(limit);
  });

  it("break stops all fetching and aborts what is in flight", async () => {
    const source = patternBytes(100 * 1024);
    const f = countingFetcher(source, 5);
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 1024, maxConcurrentRanges: 4 });
    for await (const _chunk of engine.stream(source.length, f.fetch)) break;
    const started = f.calls.length;
    expect(started).toBeLessThanOrEqual(5);
    expect(f.calls.every((c) => c.signal.aborted || f.active() === 0)).toBe(true);
    await new Promise((r) => setTimeout(r, 30));
    expect(f.calls.length).toBe(started);
    expect(f.active()).toBe(0);
  });

  it("a failing range ends the stream with its error", async () => {
    const fetch: RangeFetcher = async (offset, length) => {
      if (offset >= 2048) throw new NotFoundError("vanished");
      return new Uint8Array(length);
    };
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 1024, maxConcurrentRanges: 2, retry: fastRetry });
    await expect(collect(engine.stream(4096, fetch))).rejects.toBeInstanceOf(NotFoundError);
  });

  it("hands out nothing after an abort, even ranges that had already arrived", async () => {
    const source = patternBytes(64 * 1024);
    const f = countingFetcher(source); // instant: every launched range is ready before the consumer asks
    const controller = new AbortController();
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 1024, maxConcurrentRanges: 8 });
    let afterAbort = 0;
    const error = await (async () => {
      for await (const _chunk of engine.stream(source.length, f.fetch, { signal: controller.signal })) {
        if (controller.signal.aborted) afterAbort++;
        await new Promise((r) => setTimeout(r, 5));
        controller.abort();
      }
    })().catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    expect(afterAbort).toBe(0);
  });

  it("aborting the signal mid-stream rejects with AbortError", async () => {
    const source = patternBytes(64 * 1024);
    const f = countingFetcher(source, 5);
    const controller = new AbortController();
    const engine = new RangeEngine({ minSplitSize: 1, chunkSize: 1024, maxConcurrentRanges: 2 });
    const error = await (async () => {
      for await (const _chunk of engine.stream(source.length, f.fetch, { signal: controller.signal })) controller.abort();
    })().catch((e: unknown) => e);
    expect((error as Error).name).toBe("AbortError");
    expect(f.active()).toBe(0);
  });
});
