import {
  AbortError,
  RangeConfigError,
  abortErrorFrom,
  assertValidKey,
  assertValidPrefix,
  onAbort,
  type GetOptions,
  type ObjectMeta,
  type ObjectStore,
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

/** One entry of the work list: a key, and its metadata when a listing already told us (then no stat is needed). */
interface WorkItem {
  key: string;
  meta: ObjectMeta | undefined;
}

/** What a finished fetch left for the consumer: an item, or nothing (skipped). */
type Outcome = { item: LoaderItem } | { item: undefined };

async function workList(store: ObjectStore, keysOrPrefix: string[] | string, signal: AbortSignal): Promise<WorkItem[]> {
  if (typeof keysOrPrefix !== "string") return keysOrPrefix.map((key) => ({ key, meta: undefined }));
  const items: WorkItem[] = [];
  for await (const meta of store.list(keysOrPrefix, { recursive: true, signal })) {
    if (!meta.isPrefix) items.push({ key: meta.key, meta });
  }
  return items;
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

async function* runLoader(store: ObjectStore, source: string[] | string, config: ResolvedLoaderConfig): AsyncGenerator<Batch> {
  const controller = new AbortController();
  const parent = config.signal;
  if (parent?.aborted) throw abortErrorFrom(parent);
  const stopWatchingParent = parent ? onAbort(parent, () => controller.abort(abortErrorFrom(parent))) : () => {};

  const inFlight = new Set<Promise<void>>();
  let fatal: { error: unknown } | undefined;
  let wake: () => void = () => {};
  const failWith = (error: unknown) => {
    fatal ??= { error };
    controller.abort(error);
    wake();
  };
  controller.signal.addEventListener("abort", () => {
    fatal ??= { error: controller.signal.reason };
    wake();
  }, { once: true });

  try {
    const listed = await workList(store, source, controller.signal);
    const ordered = config.shuffle ? shuffled(listed, config.seed, config.epoch) : listed;
    const work = shard(ordered, config.rank, config.worldSize);

    const { batchSize, concurrency, prefetch } = config;
    // Items launched but not yet handed out (in flight, ready, or waiting for an earlier key): at most one batch
    // being filled, `prefetch` ready batches and what is in flight. This bounds memory in both orderings.
    const window = concurrency + (prefetch + 1) * batchSize;
    const finished = new Map<number, Outcome>(); // ordered: by position; unordered: by arrival
    let arrival = 0;
    let launched = 0;
    let released = 0; // items handed to a batch or skipped
    let current: Batch = [];
    const ready: Batch[] = [];
    const getOptions: GetOptions = {
      signal: controller.signal,
      ...(config.engine !== undefined ? { engine: config.engine } : {}),
    };

    const fetchOne = async (position: number, { key, meta }: WorkItem): Promise<void> => {
      let outcome: Outcome;
      try {
        const bytes = await store.get(key, meta ? { ...getOptions, knownMeta: meta } : getOptions);
        const data = config.transform ? await config.transform(bytes, meta ?? { key, size: bytes.length }) : bytes;
        outcome = { item: { key, size: bytes.length, data } };
      } catch (error) {
        if (controller.signal.aborted) return;
        if (config.errors === "fail") return failWith(error);
        config.onSkip?.(error, key);
        outcome = { item: undefined };
      }
      finished.set(config.ordering === "ordered" ? position : arrival++, outcome);
      collect();
    };

    /** Moves finished items into batches: in position order, or in arrival order. */
    const collect = () => {
      while (finished.has(released)) {
        const outcome = finished.get(released)!;
        finished.delete(released);
        released++;
        if (!outcome.item) continue;
        current.push(outcome.item);
        if (current.length === batchSize) {
          ready.push(current);
          current = [];
        }
      }
    };

    /** Starts fetches while the pool and the window allow; runs on every completion, not only when the consumer pulls. */
    const pump = () => {
      while (
        !fatal &&
        launched < work.length &&
        inFlight.size < concurrency &&
        launched - released < window &&
        ready.length < Math.max(1, prefetch)
      ) {
        const position = launched++;
        const task: Promise<void> = fetchOne(position, work[position]!).finally(() => {
          inFlight.delete(task);
          pump();
          wake(); // the consumer may be waiting for the pool to drain
        });
        inFlight.add(task);
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
      if (launched === work.length && inFlight.size === 0 && finished.size === 0) {
        if (current.length > 0 && !(config.dropLast && current.length < batchSize)) yield current;
        return;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
      });
    }
  } finally {
    stopWatchingParent();
    if (!controller.signal.aborted) controller.abort(new AbortError("loader closed"));
    // Nothing may still run once the loop is over: wait for every aborted request to settle.
    await Promise.allSettled([...inFlight]);
  }
}
