import { describe, expect, it } from "vitest";
import { MiB, RangeConfigError, RangeEngine, resolveEngineOptions, type RangeFetchContext, type RangeFetcher } from "../src/index.js";
import { abortableDelay, collect, equalBytes, patternBytes, untilAbort } from "./helpers.js";

const RANGE = MiB;

/**
 * Every request answers after `fastMs`, except the ones `isSlow` picks, which never answer unless aborted. With
 * `fastMs` 0 the others answer without a timer, within the microtasks of their start: no hedge timer can fire while one
 * of them runs, so only the picked ones can ever lag (on a loaded machine a 2 ms timer can come due after a hedge's,
 * and a download whose budget is one hedge would spend it on the wrong range and wait forever for the stuck one).
 */
function laggingFetcher(source: Uint8Array, isSlow: (index: number, call: number) => boolean, fastMs = 2) {
  const state = { calls: 0, running: 0, aborted: 0, targets: [] as Array<{ index: number; hadTarget: boolean }> };
  const fetch: RangeFetcher = async (offset, length, signal, context?: RangeFetchContext) => {
    const call = state.calls++;
    state.running++;
    state.targets.push({ index: context!.index, hadTarget: context!.target !== undefined });
    try {
      if (isSlow(context!.index, call)) await untilAbort(signal);
      if (fastMs > 0) await abortableDelay(fastMs, signal);
      const out = context!.target ?? new Uint8Array(length);
      out.set(source.subarray(offset, offset + length));
      return out;
    } catch (error) {
      if (signal.aborted) state.aborted++;
      throw error;
    } finally {
      state.running--;
    }
  };
  return { fetch, state };
}

describe("hedged requests", () => {
  const size = 16 * RANGE + 123;
  const source = patternBytes(size, 7);
  const engine = (hedge: unknown) =>
    new RangeEngine({ chunkSize: RANGE, maxConcurrentRanges: 4, minSplitSize: RANGE, rangeTimeoutMs: Infinity, hedge: hedge as never });

  it("re-issues a range that lags behind its siblings; the twin's answer wins and the stuck request is aborted", async () => {
    // The first request for range 5 never answers: without hedging this download would hang until the test times out.
    let slowCalls = 0;
    // Budget: one hedge (a tenth of 17 ranges); the others answer without a timer, so it can only go to range 5.
    const { fetch, state } = laggingFetcher(source, (index) => index === 5 && slowCalls++ === 0, 0);
    const { data, stats } = await engine({ minDelayMs: 50 }).download(size, fetch);
    expect(equalBytes(data, source)).toBe(true);
    expect(stats.hedges).toBe(1);
    expect(stats.retries).toBe(0);
    expect(state.running).toBe(0);
    expect(state.aborted).toBe(1);
    // The original request of range 5 writes into the result; its twin gets its own memory.
    const range5 = state.targets.filter((t) => t.index === 5);
    expect(range5).toEqual([
      { index: 5, hadTarget: true },
      { index: 5, hadTarget: false },
    ]);
  });

  it("hedges a twin that straggles as well", async () => {
    let slowCalls = 0;
    const { fetch, state } = laggingFetcher(source, (index) => index === 6 && slowCalls++ < 2);
    const { data, stats } = await engine({ minDelayMs: 50, maxFraction: 0.5 }).download(size, fetch);
    expect(equalBytes(data, source)).toBe(true);
    expect(state.targets.filter((t) => t.index === 6)).toHaveLength(3);
    // A loaded machine may make another range lag past the threshold too: at least range 6's two twins.
    expect(stats.hedges).toBeGreaterThanOrEqual(2);
    expect(stats.hedgeWins).toBeGreaterThanOrEqual(1);
    expect(state.aborted).toBeGreaterThanOrEqual(2);
    expect(state.running).toBe(0);
  });

  it("works for streams too, and keeps the order", async () => {
    let slowCalls = 0;
    const { fetch, state } = laggingFetcher(source, (index) => index === 9 && slowCalls++ === 0, 0);
    const bytes = await collect(engine(true).stream(size, fetch));
    expect(equalBytes(bytes, source)).toBe(true);
    expect(state.running).toBe(0);
  });

  it("stays within the budget: past it, a lagging range just waits", async () => {
    // Two stuck ranges, budget one hedge (maxFraction 1/17 of 17 ranges). Which of the two lags past the threshold
    // first depends on timers under load, so both wait for the test's release (or their signal): the hedged one
    // finishes through its twin, the other just waits for the release.
    const release = new AbortController();
    let slowCalls = 0;
    const stuck = new Set<number>();
    const fetch: RangeFetcher = async (offset, length, signal, context) => {
      const index = context!.index;
      if ((index === 3 || index === 11) && !stuck.has(index)) {
        stuck.add(index);
        slowCalls++;
        await Promise.race([untilAbort(signal), new Promise((r) => release.signal.addEventListener("abort", r))]);
        signal.throwIfAborted();
      }
      await abortableDelay(1, signal);
      return source.slice(offset, offset + length);
    };
    const started = performance.now();
    const run = engine({ minDelayMs: 50, maxFraction: 1 / 17 }).download(size, fetch);
    setTimeout(() => release.abort(), 300);
    const { data, stats } = await run;
    expect(equalBytes(data, source)).toBe(true);
    expect(stats.hedges).toBe(1);
    expect(slowCalls).toBe(2);
    // The range past the budget got no twin: it waited for the release.
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
  });

  it("falls back to the original request when the twin fails, and fails only when both did", async () => {
    let calls5 = 0;
    const slowButFine: RangeFetcher = async (offset, length, signal, context) => {
      if (context!.index === 5) {
        const call = calls5++;
        if (call === 0) await abortableDelay(1000, signal);
        else throw Object.assign(new Error("twin broke"), { retryable: false });
      }
      await abortableDelay(1, signal);
      return source.slice(offset, offset + length);
    };
    const { data, stats } = await engine({ minDelayMs: 50, maxFraction: 0.5 }).download(size, slowButFine);
    expect(equalBytes(data, source)).toBe(true);
    expect(calls5).toBe(2);
    expect(stats.hedges).toBeGreaterThanOrEqual(1);

    let calls7 = 0;
    const bothFail: RangeFetcher = async (offset, length, signal, context) => {
      if (context!.index === 7) {
        const call = calls7++;
        if (call === 0) await abortableDelay(1000, signal);
        throw Object.assign(new Error(`range 7 broke (${call})`), { retryable: false });
      }
      await abortableDelay(1, signal);
      return source.slice(offset, offset + length);
    };
    // The twin fails first; the download still waits for the original, and fails only once it failed too.
    await expect(engine({ minDelayMs: 50, maxFraction: 0.5 }).download(size, bothFail)).rejects.toThrow(/range 7 broke \(1\)/);
    expect(calls7).toBe(2);
  });

  it("is off by default and for a single range", async () => {
    let calls = 0;
    const fetch: RangeFetcher = async (offset, length, signal) => {
      calls++;
      await abortableDelay(calls === 1 ? 60 : 1, signal);
      return source.slice(offset, offset + length);
    };
    const { stats } = await engine(undefined).download(size, fetch);
    expect(stats.hedges).toBe(0);
    expect(calls).toBe(17);
    const one = await engine({ minDelayMs: 0, minSamples: 1 }).download(RANGE, fetch);
    expect(one.stats.hedges).toBe(0);
  });

  it("validates its options before any I/O", () => {
    expect(resolveEngineOptions({ hedge: true }).hedge).toMatchObject({ percentile: 0.9, multiplier: 1.5 });
    expect(resolveEngineOptions({}).hedge).toBe(false);
    for (const bad of [{ percentile: 0 }, { percentile: 1.5 }, { multiplier: 0.5 }, { minSamples: 0 }, { minDelayMs: -1 }, { maxFraction: 0 }, { nope: 1 }, "yes", 1]) {
      expect(() => new RangeEngine({ hedge: bad as never })).toThrow(RangeConfigError);
    }
    expect(() => new RangeEngine({ hedge: { percentile: Number.NaN } })).toThrow(/hedge\.percentile.*NaN/);
  });
});
