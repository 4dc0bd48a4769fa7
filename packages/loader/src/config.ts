import { RangeConfigError, integerOption, resolveEngineOptions, type ObjectMeta, type RangeEngineOptions } from "@range/core";

export interface LoaderConfig {
  /** Items per batch. Default 32. */
  batchSize?: number;
  /** Complete batches kept ready ahead of the consumer. Default 2. */
  prefetch?: number;
  /** Objects fetched at once. Default 16. */
  concurrency?: number;
  /** `"ordered"` (default): key order, with a bounded reordering window. `"unordered"`: each item as soon as it is ready. */
  ordering?: "ordered" | "unordered";
  /** Shuffle the key list (the same permutation on every rank, so shards stay disjoint). Default false. */
  shuffle?: boolean;
  /** Shuffle seed (an unsigned 32-bit integer). Default 0. */
  seed?: number;
  /** Mixed into the shuffle seed: a new epoch gives a new, still reproducible, order. Default 0. */
  epoch?: number;
  /** This worker's index in [0, worldSize). Default 0. */
  rank?: number;
  /** Number of workers sharing the key list; each gets a disjoint share. Default 1. */
  worldSize?: number;
  /** Drop a last batch smaller than `batchSize`. Default false. */
  dropLast?: boolean;
  /** Aborting stops the loader: every in-flight request is aborted and the iteration rejects with AbortError. */
  signal?: AbortSignal;
  /** Decodes each object; may be async. `LoaderItem.data` is its result (the bytes when absent). */
  transform?: (bytes: Uint8Array, meta: ObjectMeta) => unknown;
  /** A failing item (fetch or transform): `"fail"` (default) ends the loader with its error; `"skip"` reports it to `onSkip` and goes on. */
  errors?: "fail" | "skip";
  onSkip?: (error: unknown, key: string) => void;
  /** Engine settings for each object's read (large objects are fetched as concurrent ranges); `false`: one request each. */
  engine?: RangeEngineOptions | false;
}

export interface ResolvedLoaderConfig {
  batchSize: number;
  prefetch: number;
  concurrency: number;
  ordering: "ordered" | "unordered";
  shuffle: boolean;
  seed: number;
  epoch: number;
  rank: number;
  worldSize: number;
  dropLast: boolean;
  signal: AbortSignal | undefined;
  transform: LoaderConfig["transform"];
  errors: "fail" | "skip";
  onSkip: LoaderConfig["onSkip"];
  engine: RangeEngineOptions | false | undefined;
}

const KNOWN = new Set([
  "batchSize", "prefetch", "concurrency", "ordering", "shuffle", "seed", "epoch", "rank", "worldSize", "dropLast",
  "signal", "transform", "errors", "onSkip", "engine",
]);

function fail(message: string): never {
  throw new RangeConfigError(`loader: ${message}`, { code: "E_INVALID_OPTION" });
}

function integer(name: string, value: unknown, fallback: number, min: number, max: number): number {
  return value === undefined ? fallback : integerOption("loader", name, value, min, max);
}

function flag(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") fail(`${name} must be a boolean, got ${typeof value}`);
  return value;
}

/** Validates a loader configuration before any I/O and fills in the defaults. */
export function resolveLoaderConfig(config: LoaderConfig): ResolvedLoaderConfig {
  if (typeof config !== "object" || config === null) fail("config must be an object");
  for (const key of Object.keys(config)) if (!KNOWN.has(key)) fail(`unknown option ${key}`);
  const worldSize = integer("worldSize", config.worldSize, 1, 1, 1_000_000);
  const rank = integer("rank", config.rank, 0, 0, worldSize - 1);
  const ordering = config.ordering ?? "ordered";
  if (ordering !== "ordered" && ordering !== "unordered") fail(`ordering must be "ordered" or "unordered", got ${String(ordering)}`);
  const errors = config.errors ?? "fail";
  if (errors !== "fail" && errors !== "skip") fail(`errors must be "fail" or "skip", got ${String(errors)}`);
  for (const name of ["transform", "onSkip"] as const) {
    if (config[name] !== undefined && typeof config[name] !== "function") fail(`${name} must be a function`);
  }
  const signal = config.signal;
  if (signal !== undefined && (typeof signal !== "object" || signal === null || typeof signal.aborted !== "boolean")) {
    fail("signal must be an AbortSignal");
  }
  if (config.engine !== undefined && config.engine !== false) resolveEngineOptions(config.engine);
  return {
    batchSize: integer("batchSize", config.batchSize, 32, 1, 1_000_000),
    prefetch: integer("prefetch", config.prefetch, 2, 0, 100_000),
    concurrency: integer("concurrency", config.concurrency, 16, 1, 4096),
    ordering,
    shuffle: flag("shuffle", config.shuffle, false),
    seed: integer("seed", config.seed, 0, 0, 2 ** 32 - 1),
    epoch: integer("epoch", config.epoch, 0, 0, Number.MAX_SAFE_INTEGER),
    rank,
    worldSize,
    dropLast: flag("dropLast", config.dropLast, false),
    signal,
    transform: config.transform,
    errors,
    onSkip: config.onSkip,
    engine: config.engine,
  };
}
