import type { RangeFetchContext, RangeFetcher } from "../src/index.js";

/** Deterministic bytes: byte i of a pattern seeded by `seed`, so any slice can be recomputed. */
export function patternBytes(size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export interface FetchCall {
  offset: number;
  length: number;
  signal: AbortSignal;
  context: RangeFetchContext | undefined;
}

export interface CountingFetcher {
  fetch: RangeFetcher;
  calls: FetchCall[];
  /** Fetches currently running. */
  active: () => number;
  /** Most fetches ever running at once. */
  maxActive: () => number;
}

/** A fetcher over `source` that waits `delayMs` (abortable) per request and counts what it does. */
export function countingFetcher(source: Uint8Array, delayMs = 0): CountingFetcher {
  const calls: FetchCall[] = [];
  let active = 0;
  let maxActive = 0;
  const fetch: RangeFetcher = async (offset, length, signal, context) => {
    calls.push({ offset, length, signal, context });
    active++;
    maxActive = Math.max(maxActive, active);
    try {
      if (delayMs > 0) await abortableDelay(delayMs, signal);
      return source.slice(offset, offset + length);
    } finally {
      active--;
    }
  };
  return { fetch, calls, active: () => active, maxActive: () => maxActive };
}

export function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Resolves when the signal aborts; never otherwise. */
export function untilAbort(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

export async function collect(iterable: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const part of iterable) parts.push(part);
  return Buffer.concat(parts);
}
