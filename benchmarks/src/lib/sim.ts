import {
  sleep,
  type DriverHead,
  type DriverListOptions,
  type DriverReadOptions,
  type ObjectMeta,
  type ObjectStore,
  type RangeFetcher,
  type StoreDriver,
} from "@range/core";

/**
 * A simulated object-store connection: every request costs `latencyMs` (the round trip, charged by the memory store's
 * own `latencyMs`) plus `length / perStreamBytesPerSec` (one connection is bandwidth-limited; parallel connections
 * add up, with no aggregate cap). This is how S3, GCS and Azure behave from one client up to its NIC limit.
 */
export interface NetworkModel {
  latencyMs: number;
  perStreamBytesPerSec: number;
}

/** Requests made through a simulated connection. */
export interface RequestCounter {
  requests: number;
}

/** How long one request of `length` bytes takes in the model. */
export function modelRequestMs(model: NetworkModel, length: number): number {
  return model.latencyMs + (length / model.perStreamBytesPerSec) * 1000;
}

/**
 * The model's time for `lengths` (in plan order) fetched by `concurrency` workers, each taking the next range when
 * it is free: what the engine and the bench executor do. A lower bound for the measured time.
 */
export function modelMakespanMs(model: NetworkModel, lengths: number[], concurrency: number): number {
  const free = new Array<number>(Math.min(concurrency, Math.max(1, lengths.length))).fill(0);
  for (const length of lengths) {
    let slot = 0;
    for (let i = 1; i < free.length; i++) if (free[i]! < free[slot]!) slot = i;
    free[slot]! += modelRequestMs(model, length);
  }
  return Math.max(...free);
}

/**
 * Completes a request at `startedAt + latency + length / bandwidth`. The memory store already slept `latencyMs`;
 * waiting for the deadline (rather than a further `length / bandwidth`) keeps timer overshoot (~1 ms per timer in
 * Node) from being charged twice per request, which would unfairly penalise small ranges.
 */
async function waitForTransfer(model: NetworkModel, startedAt: number, length: number, signal?: AbortSignal): Promise<void> {
  const remaining = startedAt + modelRequestMs(model, length) - performance.now();
  if (remaining > 0) await sleep(remaining, signal);
}

/**
 * A {@link RangeFetcher} over `store.getRange` (a memory store created with `latencyMs: model.latencyMs`) that adds
 * the per-connection transfer time. Abortable like a real request.
 */
export function throttledFetcher(store: ObjectStore, key: string, model: NetworkModel, counter: RequestCounter): RangeFetcher {
  return async (offset, length, signal) => {
    counter.requests++;
    const startedAt = performance.now();
    const bytes = await store.getRange(key, offset, length, { signal });
    await waitForTransfer(model, startedAt, length, signal);
    return bytes;
  };
}

/**
 * The same simulation as a {@link StoreDriver}, so `createObjectStore(driver).get(key)` can be measured end to end,
 * head request included. `readHead` answers from metadata learned once by {@link SimulatedNetworkDriver.prime}
 * (an S3 ranged GET learns the size from `Content-Range` in the same request), so it costs one request, like S3.
 */
export class SimulatedNetworkDriver implements StoreDriver {
  readonly scheme = "simnet";
  readonly #meta = new Map<string, ObjectMeta>();

  constructor(
    private readonly inner: ObjectStore,
    private readonly model: NetworkModel,
    readonly counter: RequestCounter = { requests: 0 },
  ) {}

  /** Learns an object's metadata outside any measurement. */
  async prime(key: string): Promise<void> {
    this.#meta.set(key, await this.inner.stat(key));
  }

  stat(key: string): Promise<ObjectMeta> {
    this.counter.requests++;
    return this.inner.stat(key);
  }

  async read(key: string, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
    this.counter.requests++;
    const startedAt = performance.now();
    const bytes = await this.inner.getRange(key, offset, length, opts.signal ? { signal: opts.signal } : {});
    await waitForTransfer(this.model, startedAt, length, opts.signal);
    opts.progress?.();
    if (!opts.target) return bytes;
    opts.target.set(bytes);
    return opts.target;
  }

  async readHead(key: string, length: number, opts: { signal?: AbortSignal }): Promise<DriverHead> {
    const meta = this.#meta.get(key);
    if (!meta) throw new Error(`SimulatedNetworkDriver: prime(${JSON.stringify(key)}) first`);
    this.counter.requests++;
    const startedAt = performance.now();
    const n = Math.min(length, meta.size);
    const data = n === 0 ? new Uint8Array(0) : await this.inner.getRange(key, 0, n, opts.signal ? { signal: opts.signal } : {});
    await waitForTransfer(this.model, startedAt, n, opts.signal);
    return { data, meta };
  }

  write(key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts: { signal?: AbortSignal; contentType?: string }): Promise<ObjectMeta> {
    return this.inner.put(key, data, opts);
  }

  list(prefix: string, opts: DriverListOptions): AsyncIterable<ObjectMeta> {
    return this.inner.list(prefix, opts);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
}
