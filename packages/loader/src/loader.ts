import {
  AbortError,
  RangeConfigError,
  abortErrorFrom,
  assertValidKey,
  assertValidPrefix,
  onAbort,
  resolveEngineOptions,
  type GetOptions,
  type ObjectMeta,
  type ObjectStore,
  type RangeEngineOptions,
} from "@range/core";
import { resolveLoaderConfig, type LoaderConfig, type ResolvedLoaderConfig } from "./config.js";
import { shard, shuffled } from "./order.js";

export interface LoaderItem {
  key: string;
  size: number;
  /** `transform(bytes, meta)`, or the bytes when there is no transform. */
  data: unknown;
}

export type Batch = LoaderItem[];

/**
 * One entry of the work list: the listing's metadata where it is used (a size the engine plans ranges from, or the
 * `meta` a transform gets), else just the key. A listed entry costs ~450 bytes of heap (etag, date) against ~80 for
 * its key: over 10,000 objects that was 3.6 MiB kept alive for the whole epoch, enough to lift a small process over
 * V8's threshold for incremental marking (file benchmark, 10,000 × 64 KiB: ~55 → ~13 ms of full GC per pass).
 */
type WorkItem = string | ObjectMeta;

/** Lists `prefix`, handing each object's entry to `add` as it arrives. */
async function listInto(
  store: ObjectStore,
  prefix: string,
  signal: AbortSignal,
  keepMeta: (meta: ObjectMeta) => boolean,
  add: (item: WorkItem) => void,
): Promise<void> {
  for await (const meta of store.list(prefix, { recursive: true, signal })) {
    if (!meta.isPrefix) add(keepMeta(meta) ? meta : meta.key);
  }
}

/**
 * Streams batches of objects from `store` for a training loop: up to `concurrency` objects in flight (large ones
 * through the range engine), at most `prefetch` batches ready ahead of the consumer, in key order or as ready,
 * shuffled and sharded per rank. Leaving the loop (`break`), aborting `signal`, or a failing item (unless
 * `errors: "skip"`) aborts every in-flight request before the iteration ends.
 *
 * With a prefix, sizes come from the listing, so no object needs a metadata request.
 */
export function createLoader(
  store: ObjectStore,
  keysOrPrefix: string[] | string,
  config: LoaderConfig = {},
): AsyncIterable<Batch> {
  const resolved = resolveLoaderConfig(config);
  if (typeof keysOrPrefix === "string") {
    assertValidPrefix(keysOrPrefix);
  } else if (Array.isArray(keysOrPrefix)) {
    keysOrPrefix.forEach((key) => assertValidKey(key));
  } else {
    throw new RangeConfigError("loader: keysOrPrefix must be a key list or a prefix string", { code: "E_INVALID_OPTION" });
  }
  if (typeof store?.get !== "function" || typeof store.list !== "function") {
    throw new RangeConfigError("loader: store must be an ObjectStore", { code: "E_INVALID_OPTION" });
  }
  return { [Symbol.asyncIterator]: () => runLoader(store, keysOrPrefix, resolved) };
}

/** Marks a ring slot whose item was skipped (`errors: "skip"`), so the ordered release can pass it. */
const SKIPPED = Symbol("skipped");

/**
 * Above this size a listed size is handed to the store (`knownMeta`): the engine splits such an object into ranges
 * that then all start at once, without waiting for the first response. Up to it (`minSplitSize`, 4 MiB by default),
 * a plain `get` reads the object in ONE request whose response tells the size; with `knownMeta` the same object would
 * go through the range engine — for exactly `minSplitSize` bytes as several ranges (4 × 1 MiB by default), and for a
 * small one at more CPU than the request itself (64 KiB on the memory store: 88 vs 53 µs per item).
 */
function knownMetaAbove(engine: RangeEngineOptions | false | undefined): number {
  if (engine === false) return Number.POSITIVE_INFINITY;
  return resolveEngineOptions(engine ?? {}).minSplitSize;
}

async function* runLoader(store: ObjectStore, source: string[] | string, config: ResolvedLoaderConfig): AsyncGenerator<Batch> {
  const controller = new AbortController();
  const signal = controller.signal;
  const parent = config.signal;
  if (parent?.aborted) throw abortErrorFrom(parent);
  const stopWatchingParent = parent ? onAbort(parent, () => controller.abort(abortErrorFrom(parent))) : () => {};

  let active = 0; // fetches started and not yet settled
  let fatal: { error: unknown } | undefined;
  let wake: (() => void) | undefined; // the consumer, waiting for a batch, an error or the end
  let drained: (() => void) | undefined; // the closing loader, waiting for the last fetch to settle
  const notify = () => {
    const resume = wake;
    wake = undefined;
    resume?.();
  };
  const failWith = (error: unknown) => {
    fatal ??= { error };
    controller.abort(error);
    notify();
  };
  signal.addEventListener("abort", () => {
    fatal ??= { error: signal.reason };
    notify();
  }, { once: true });

  let listing: Promise<void> | undefined; // a prefix listed while the first objects are already being fetched
  try {
    const { transform, rank, worldSize } = config;
    const oneRequestUpTo = knownMetaAbove(config.engine);
    const keepMeta = (meta: ObjectMeta) => transform !== undefined || meta.size > oneRequestUpTo;
    let work: WorkItem[];
    let listed = true; // the work list is complete
    if (typeof source !== "string") {
      work = shard(config.shuffle ? shuffled(source, config.seed, config.epoch) : source, rank, worldSize);
    } else if (config.shuffle) {
      // A shuffle needs every key first.
      const all: WorkItem[] = [];
      await listInto(store, source, signal, keepMeta, (item) => all.push(item));
      work = shard(shuffled(all, config.seed, config.epoch), rank, worldSize);
    } else {
      // Key order is listing order: fetching starts with the first page, not after the last (the same share per
      // rank as `shard`: every worldSize-th object from rank on).
      work = [];
      listed = false;
      let index = 0;
      listing = listInto(store, source, signal, keepMeta, (item) => {
        if (index++ % worldSize !== rank) return;
        work.push(item);
        pump();
      }).then(
        () => {
          listed = true;
          pump();
          notify();
        },
        (error: unknown) => {
          if (!signal.aborted) failWith(error);
        },
      );
    }

    const { batchSize, concurrency, prefetch, dropLast } = config;
    const inOrder = config.ordering === "ordered";
    // Items launched but not yet handed out (in flight, ready, or waiting for an earlier key): at most one batch
    // being filled, `prefetch` ready batches and what is in flight. This bounds memory in both orderings, and sizes
    // the ring that reorders items: position p waits in slot p % window.
    const window = concurrency + (prefetch + 1) * batchSize;
    const slots: (LoaderItem | typeof SKIPPED | undefined)[] = inOrder
      ? new Array(listed ? Math.min(window, work.length) : window).fill(undefined)
      : [];
    const maxReady = Math.max(1, prefetch);
    let launched = 0;
    let released = 0; // items handed to a batch or skipped
    let current: Batch = [];
    const ready: Batch[] = []; // complete batches not yet yielded: a few at most

    const engine = config.engine;
    const plain: GetOptions = engine !== undefined ? { signal, engine } : { signal };
    const optionsFor = (meta: ObjectMeta | undefined): GetOptions =>
      meta !== undefined && meta.size > oneRequestUpTo ? (engine !== undefined ? { signal, engine, knownMeta: meta } : { signal, knownMeta: meta }) : plain;

    const add = (item: LoaderItem) => {
      current.push(item);
      if (current.length === batchSize) {
        ready.push(current);
        current = [];
      }
    };
    /** Hands a finished item (or a skip) on: at its position in key order, or at once. */
    const settle = (position: number, item: LoaderItem | typeof SKIPPED) => {
      if (!inOrder) {
        released++;
        if (item !== SKIPPED) add(item);
        return;
      }
      slots[position % slots.length] = item;
      for (;;) {
        const slot = released % slots.length;
        const next = slots[slot];
        if (next === undefined) return;
        slots[slot] = undefined;
        released++;
        if (next !== SKIPPED) add(next);
      }
    };

    const fetchOne = async (position: number, entry: WorkItem): Promise<void> => {
      const meta = typeof entry === "string" ? undefined : entry;
      const key = typeof entry === "string" ? entry : entry.key;
      try {
        const bytes = await store.get(key, optionsFor(meta));
        const data = transform ? await transform(bytes, meta ?? { key, size: bytes.length }) : bytes;
        if (!signal.aborted) settle(position, { key, size: bytes.length, data });
      } catch (error) {
        if (signal.aborted) return;
        if (config.errors === "fail") return failWith(error);
        try {
          config.onSkip?.(error, key);
          settle(position, SKIPPED);
        } catch (thrown) {
          failWith(thrown);
        }
      } finally {
        active--;
        if (active === 0) drained?.();
        pump();
        // Wake the consumer only for what it waits for: a batch, an error, or the end.
        if (ready.length > 0 || fatal || (active === 0 && listed && launched === work.length)) notify();
      }
    };

    /** Starts fetches while the pool, the window and the ready batches allow; runs on every completion too. */
    const pump = () => {
      while (
        fatal === undefined &&
        launched < work.length &&
        active < concurrency &&
        launched - released < window &&
        ready.length < maxReady
      ) {
        active++;
        const position = launched++;
        void fetchOne(position, work[position]!);
      }
    };

    pump();
    for (;;) {
      if (fatal) throw fatal.error;
      if (ready.length > 0) {
        yield ready.shift()!;
        pump();
        continue;
      }
      if (listed && launched === work.length && active === 0) {
        if (current.length > 0 && !(dropLast && current.length < batchSize)) yield current;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stopWatchingParent();
    if (!signal.aborted) controller.abort(new AbortError("loader closed"));
    // Nothing may still run once the loop is over: wait for every aborted request to settle.
    if (active > 0) {
      await new Promise<void>((resolve) => {
        drained = resolve;
      });
    }
    await listing;
  }
}
