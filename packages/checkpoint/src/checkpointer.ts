import { createHash, type Hash } from "node:crypto";
import {
  IntegrityError,
  NotFoundError,
  RangeConfigError,
  TimeoutError,
  abortErrorFrom,
  onAbort,
  sleep,
  type ObjectStore,
  type RangeEngineOptions,
} from "@range/core";
import {
  LATEST_KEY,
  MANIFEST_NAME,
  STEPS_DIR,
  attemptDir,
  checkAttempt,
  checkShardName,
  checkStep,
  configError,
  manifestKey,
  markerKey,
  shardKey,
  stepDir,
  stepOfDir,
} from "./layout.js";
import {
  CHECKPOINT_FORMAT,
  encodeJson,
  parseLatest,
  parseManifest,
  parseMarker,
  type CheckpointManifest,
  type LatestPointer,
  type RankMarker,
  type ShardEntry,
} from "./manifest.js";

/** The bytes of one shard: a buffer, or a stream of chunks (uploaded as it is produced, multipart when large). */
export type ShardData = Uint8Array | AsyncIterable<Uint8Array>;

export interface CheckpointerOptions {
  /** Key prefix under which every checkpoint lives, e.g. "runs/llama-7b/ckpt/". Default "" (the store's root). */
  prefix?: string;
  /** This process's rank. Default 0. */
  rank?: number;
  /** Ranks taking part in each save. Default 1. */
  worldSize?: number;
  /** Keep the newest `keepLast` checkpoints; rank 0 deletes older ones after `latest` has moved. Default: keep all. */
  keepLast?: number;
  /** How long rank 0 waits for the other ranks' completion markers. Default 600000 (10 min). */
  timeoutMs?: number;
  /** How often rank 0 looks for markers that are still missing. Default 250 ms. */
  pollIntervalMs?: number;
  /** Shards written (per rank) or read at once. Default 4. */
  concurrency?: number;
}

export interface SaveOptions {
  /** JSON-serializable data stored in the manifest (epoch, loss, config, ...). */
  metadata?: Record<string, unknown>;
  /**
   * Names this try of saving `step`; every rank must pass the same value. Only needed when a save of the same step
   * can run again after a crash (e.g. pass the job's restart count): a new attempt writes to new keys, so a
   * completion marker left by the crashed try is never taken for the new one. Default 0.
   */
  attempt?: string | number;
  signal?: AbortSignal;
}

export interface SaveResult {
  step: number;
  rank: number;
  /** This rank's shards as written. */
  shards: ShardEntry[];
  /** Bytes this rank wrote (shards only). */
  bytes: number;
  elapsedMs: number;
  /** Rank 0: the manifest it wrote (the checkpoint is complete and `latest`). Other ranks: undefined. */
  manifest?: CheckpointManifest;
  /** Rank 0 with `keepLast`: the steps retention deleted. */
  deleted?: number[];
}

export interface LoadOptions {
  /** A step, or "latest" (default). */
  step?: number | "latest";
  /**
   * Whose shards: "own" (default; this rank's, which needs the same world size as the save), "all", or a list of
   * ranks (re-sharding: a new world size reads whichever ranks it needs).
   */
  ranks?: "own" | "all" | number[];
  /** Only shards with these names. Default all. */
  names?: string[];
  /** Check each shard's SHA-256 (IntegrityError on mismatch). Default true. */
  verify?: boolean;
  /** Range engine settings for the shard reads. */
  engine?: RangeEngineOptions;
  signal?: AbortSignal;
}

export interface LoadedShard extends ShardEntry {
  data: Uint8Array;
}

export interface LoadedCheckpoint {
  step: number;
  manifest: CheckpointManifest;
  shards: LoadedShard[];
  /** Bytes read (shards only). */
  bytes: number;
  elapsedMs: number;
  /** The bytes of shard `name` of `rank` (default: this rank); NotFoundError if it was not loaded. */
  shard(name: string, rank?: number): Uint8Array;
}

const DEFAULT_SHARD_NAME = "shard.bin";

function checkInteger(name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw configError(`${name} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

function isAsyncIterable(value: unknown): value is AsyncIterable<Uint8Array> {
  return typeof (value as AsyncIterable<Uint8Array> | null)?.[Symbol.asyncIterator] === "function";
}

/** Runs `work` for each item, `concurrency` at a time; the first failure stops new work and is thrown. */
async function inParallel<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (!failed && next < items.length) {
        const i = next++;
        try {
          results[i] = await work(items[i]!);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    }),
  );
  return results;
}

/** Hashes and counts the chunks of a stream as the store takes them. */
async function* hashed(source: AsyncIterable<Uint8Array>, hash: Hash, count: { bytes: number }): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    hash.update(chunk);
    count.bytes += chunk.length;
    yield chunk;
  }
}

function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Saves and loads sharded checkpoints in an {@link ObjectStore}. Every rank of a job makes one with its `rank` and
 * the job's `worldSize` over the same store and prefix, and calls {@link Checkpointer.save} with its shards:
 *
 * 1. each rank writes its shards in parallel (large ones as multipart uploads: that is the store's `put`), then a
 *    completion marker listing them with sizes and SHA-256;
 * 2. rank 0 waits for every rank's marker (polling the store, up to `timeoutMs`), then writes the manifest;
 * 3. only then does rank 0 point `latest.json` at the new step, and only after that delete checkpoints beyond
 *    `keepLast`.
 *
 * A crash at any point leaves the previous checkpoint, and `latest`, untouched: a checkpoint exists when its
 * manifest does, and `put` never exposes a partly written object (temp file + rename, multipart completion).
 */
export class Checkpointer {
  readonly store: ObjectStore;
  readonly prefix: string;
  readonly rank: number;
  readonly worldSize: number;
  readonly keepLast: number | undefined;
  readonly timeoutMs: number;
  readonly pollIntervalMs: number;
  readonly concurrency: number;

  constructor(store: ObjectStore, options: CheckpointerOptions = {}) {
    if (typeof store !== "object" || store === null || typeof store.put !== "function" || typeof store.get !== "function") {
      throw configError("the first argument must be an ObjectStore (from openStore or a backend's create function)");
    }
    if (typeof options !== "object" || options === null) throw configError("options must be an object");
    let prefix = options.prefix ?? "";
    if (typeof prefix !== "string") throw configError("prefix must be a string");
    prefix = prefix.replace(/^\/+/, "");
    if (prefix !== "" && !prefix.endsWith("/")) prefix += "/";
    this.store = store;
    this.prefix = prefix;
    this.worldSize = checkInteger("worldSize", options.worldSize ?? 1, 1, 1_000_000);
    this.rank = checkInteger("rank", options.rank ?? 0, 0, this.worldSize - 1);
    this.keepLast = options.keepLast === undefined ? undefined : checkInteger("keepLast", options.keepLast, 1, 1_000_000);
    this.timeoutMs = checkInteger("timeoutMs", options.timeoutMs ?? 600_000, 1, 2_147_483_647);
    this.pollIntervalMs = checkInteger("pollIntervalMs", options.pollIntervalMs ?? 250, 1, 600_000);
    this.concurrency = checkInteger("concurrency", options.concurrency ?? 4, 1, 256);
  }

  #key(relative: string): string {
    return this.prefix + relative;
  }

  /** A JSON document, or undefined when it does not exist. */
  async #readJson<T>(key: string, parse: (bytes: Uint8Array, what: string) => T, signal?: AbortSignal): Promise<T | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await this.store.get(key, signal ? { signal } : {});
    } catch (error) {
      if (NotFoundError.isInstance(error)) return undefined;
      throw error;
    }
    return parse(bytes, JSON.stringify(key));
  }

  /**
   * Saves this rank's part of checkpoint `step`: `shards` is one buffer or stream (named "shard.bin") or an object
   * of named ones. Resolves on rank 0 once the checkpoint is complete and `latest`; on the other ranks once their
   * shards and marker are durable (use {@link waitForCheckpoint} to wait for the whole checkpoint there).
   */
  async save(step: number, shards: ShardData | Record<string, ShardData>, opts: SaveOptions = {}): Promise<SaveResult> {
    const started = performance.now();
    checkStep(step);
    if (typeof opts !== "object" || opts === null) throw configError("save options must be an object");
    const attempt = checkAttempt(opts.attempt ?? 0);
    const named: [string, ShardData][] =
      shards instanceof Uint8Array || isAsyncIterable(shards)
        ? [[DEFAULT_SHARD_NAME, shards]]
        : typeof shards === "object" && shards !== null
          ? Object.entries(shards)
          : [];
    if (named.length === 0) throw configError("save needs at least one shard: a Uint8Array, a stream, or { name: data }");
    for (const [name, data] of named) {
      checkShardName(name);
      if (!(data instanceof Uint8Array) && !isAsyncIterable(data)) throw configError(`shard ${JSON.stringify(name)} must be a Uint8Array or an AsyncIterable<Uint8Array>`);
    }
    const metadata = opts.metadata ?? {};
    if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) throw configError("metadata must be a plain object");
    let metadataJson: Record<string, unknown>;
    try {
      metadataJson = JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>;
    } catch (error) {
      throw configError(`metadata must be JSON-serializable: ${(error as Error).message}`);
    }
    const { signal } = opts;
    if (signal?.aborted) throw abortErrorFrom(signal);

    // Never write into a step that is already a checkpoint under the same attempt: its shards would change under its
    // manifest. A new attempt writes beside it and replaces the manifest when complete.
    const existing = await this.#readJson(this.#key(manifestKey(step)), parseManifest, signal);
    if (existing && existing.attempt === attempt) {
      throw new RangeConfigError(`checkpoint: step ${step} is already saved (attempt ${attempt}); pass another attempt to replace it`, {
        code: "E_CHECKPOINT_EXISTS",
      });
    }

    // The first shard that fails stops the others (and the caller's abort stops them all).
    const uploads = new AbortController();
    const stopLink = signal ? onAbort(signal, () => uploads.abort(signal.reason)) : () => {};
    let written: ShardEntry[];
    try {
      written = await inParallel(named, this.concurrency, async ([name, data]): Promise<ShardEntry> => {
        const key = this.#key(shardKey(step, attempt, this.rank, name));
        const putOpts = { contentType: "application/octet-stream", signal: uploads.signal };
        try {
          if (data instanceof Uint8Array) {
            const digest = sha256(data);
            await this.store.put(key, data, putOpts);
            return { rank: this.rank, name, key, size: data.length, sha256: digest };
          }
          const hash = createHash("sha256");
          const count = { bytes: 0 };
          await this.store.put(key, hashed(data, hash, count), putOpts);
          return { rank: this.rank, name, key, size: count.bytes, sha256: hash.digest("hex") };
        } catch (error) {
          uploads.abort(error);
          throw signal?.aborted ? abortErrorFrom(signal) : error;
        }
      });
    } finally {
      stopLink();
    }
    written.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const marker: RankMarker = { format: CHECKPOINT_FORMAT, step, attempt, rank: this.rank, worldSize: this.worldSize, shards: written };
    // The marker goes last: when it exists, every shard it lists is complete in the store.
    await this.store.put(this.#key(markerKey(step, attempt, this.rank)), encodeJson(marker), { contentType: "application/json", ...(signal ? { signal } : {}) });
    const bytes = written.reduce((sum, s) => sum + s.size, 0);
    const result: SaveResult = { step, rank: this.rank, shards: written, bytes, elapsedMs: 0 };
    if (this.rank !== 0) return { ...result, elapsedMs: performance.now() - started };

    const markers = await this.#collectMarkers(step, attempt, marker, signal);
    const all = markers.flatMap((m) => m.shards).sort((a, b) => a.rank - b.rank || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    const manifest: CheckpointManifest = {
      format: CHECKPOINT_FORMAT,
      step,
      attempt,
      worldSize: this.worldSize,
      createdAt: new Date().toISOString(),
      metadata: metadataJson,
      totalBytes: all.reduce((sum, s) => sum + s.size, 0),
      shards: all,
    };
    await this.store.put(this.#key(manifestKey(step)), encodeJson(manifest), { contentType: "application/json", ...(signal ? { signal } : {}) });
    const pointer: LatestPointer = { format: CHECKPOINT_FORMAT, step, manifest: this.#key(manifestKey(step)), updatedAt: manifest.createdAt };
    await this.store.put(this.#key(LATEST_KEY), encodeJson(pointer), { contentType: "application/json", ...(signal ? { signal } : {}) });

    // Housekeeping, only now that `latest` names the new checkpoint: other attempts of this step, then retention.
    await this.#deleteOtherAttempts(step, attempt);
    const deleted = this.keepLast === undefined ? undefined : await this.prune(this.keepLast);
    return { ...result, manifest, ...(deleted ? { deleted } : {}), elapsedMs: performance.now() - started };
  }

  /** Rank 0: every rank's marker for this save, polling until all are there or `timeoutMs` passes. */
  async #collectMarkers(step: number, attempt: string, own: RankMarker, signal: AbortSignal | undefined): Promise<RankMarker[]> {
    const markers: (RankMarker | undefined)[] = new Array(this.worldSize);
    markers[0] = own;
    const deadline = performance.now() + this.timeoutMs;
    let interval = this.pollIntervalMs;
    for (;;) {
      const missing = [...markers.keys()].filter((rank) => markers[rank] === undefined);
      const found = await inParallel(missing, 16, (rank) => this.#readJson(this.#key(markerKey(step, attempt, rank)), parseMarker, signal));
      missing.forEach((rank, i) => {
        const marker = found[i];
        if (marker === undefined) return;
        if (marker.step !== step || marker.attempt !== attempt || marker.rank !== rank || marker.worldSize !== this.worldSize) {
          throw new IntegrityError(
            `checkpoint: rank ${rank}'s marker for step ${step} says step ${marker.step}, attempt ${marker.attempt}, rank ${marker.rank}, world size ${marker.worldSize} (expected attempt ${attempt}, world size ${this.worldSize})`,
            { code: "E_CHECKPOINT_MISMATCH" },
          );
        }
        markers[rank] = marker;
      });
      const still = [...markers.keys()].filter((rank) => markers[rank] === undefined);
      if (still.length === 0) return markers as RankMarker[];
      const left = deadline - performance.now();
      if (left <= 0) {
        const list = still.length > 10 ? `${still.slice(0, 10).join(", ")} and ${still.length - 10} more` : still.join(", ");
        throw new TimeoutError(`checkpoint: step ${step}: rank(s) ${list} did not finish within ${this.timeoutMs} ms; latest is unchanged`, {
          code: "E_CHECKPOINT_TIMEOUT",
          retryable: false,
        });
      }
      await sleep(Math.min(interval, left), signal);
      // Slow ranks (a big shard) get polled less often as the wait grows: at most every 2 s, or the given interval.
      interval = Math.min(Math.max(this.pollIntervalMs, 2_000), Math.ceil(interval * 1.5));
    }
  }

  /** Leftovers of crashed tries of `step` under other attempts. */
  async #deleteOtherAttempts(step: number, attempt: string): Promise<void> {
    const keep = attemptDir(step, attempt);
    for await (const entry of this.store.list(this.#key(stepDir(step)), { recursive: false })) {
      const relative = entry.key.slice(this.prefix.length);
      if (entry.isPrefix && relative !== keep && relative.startsWith(`${stepDir(step)}attempt-`)) await this.store.deletePrefix(entry.key);
    }
  }

  /** The step `latest.json` names, or undefined when no checkpoint was completed yet. */
  async latest(signal?: AbortSignal): Promise<number | undefined> {
    return (await this.#readJson(this.#key(LATEST_KEY), parseLatest, signal))?.step;
  }

  /** Every step with a step directory, complete or not, ascending. */
  async #stepDirs(): Promise<number[]> {
    const steps: number[] = [];
    for await (const entry of this.store.list(this.#key(STEPS_DIR), { recursive: false })) {
      if (!entry.isPrefix) continue;
      const step = stepOfDir(entry.key.slice(this.prefix.length));
      if (step !== undefined) steps.push(step);
    }
    return steps.sort((a, b) => a - b);
  }

  /** The steps that are complete checkpoints (their manifest exists), ascending. */
  async steps(): Promise<number[]> {
    const all = await this.#stepDirs();
    const complete = await inParallel(all, 16, (step) => this.store.exists(this.#key(manifestKey(step))));
    return all.filter((_, i) => complete[i]);
  }

  /** The manifest of `step` (default: latest). NotFoundError (code `E_NO_CHECKPOINT`) when there is none. */
  async manifest(step: number | "latest" = "latest", signal?: AbortSignal): Promise<CheckpointManifest> {
    let resolved: number;
    if (step === "latest") {
      const latest = await this.latest(signal);
      if (latest === undefined) {
        throw new NotFoundError(`checkpoint: no checkpoint under ${JSON.stringify(this.prefix)} yet (no ${LATEST_KEY})`, { code: "E_NO_CHECKPOINT" });
      }
      resolved = latest;
    } else resolved = checkStep(step);
    const manifest = await this.#readJson(this.#key(manifestKey(resolved)), parseManifest, signal);
    if (manifest === undefined) {
      throw new NotFoundError(`checkpoint: step ${resolved} has no ${MANIFEST_NAME} under ${JSON.stringify(this.prefix)}: it was never completed`, {
        code: "E_NO_CHECKPOINT",
      });
    }
    if (manifest.step !== resolved) {
      throw new IntegrityError(`checkpoint: the manifest of step ${resolved} says step ${manifest.step}`, { code: "E_BAD_MANIFEST" });
    }
    return manifest;
  }

  /**
   * Loads a checkpoint's shards (default: this rank's, of the latest step) with the store's range engine, checking
   * each one's size and SHA-256 ({@link IntegrityError} `E_CHECKSUM_MISMATCH`).
   */
  async load(opts: LoadOptions = {}): Promise<LoadedCheckpoint> {
    const started = performance.now();
    if (typeof opts !== "object" || opts === null) throw configError("load options must be an object");
    const step = opts.step ?? "latest";
    if (step !== "latest") checkStep(step);
    const ranks = opts.ranks ?? "own";
    if (ranks !== "own" && ranks !== "all" && !(Array.isArray(ranks) && ranks.every((r) => Number.isSafeInteger(r) && r >= 0))) {
      throw configError(`ranks must be "own", "all" or a list of ranks, got ${JSON.stringify(ranks)}`);
    }
    if (opts.names !== undefined && !(Array.isArray(opts.names) && opts.names.every((n) => typeof n === "string"))) {
      throw configError("names must be a list of shard names");
    }
    const { signal } = opts;
    if (signal?.aborted) throw abortErrorFrom(signal);

    const manifest = await this.manifest(step, signal);
    if (ranks === "own" && manifest.worldSize !== this.worldSize) {
      throw new RangeConfigError(
        `checkpoint: step ${manifest.step} was saved by ${manifest.worldSize} ranks, this job has ${this.worldSize}: load with ranks "all" or a list of ranks`,
        { code: "E_WORLD_SIZE" },
      );
    }
    const wantRanks = ranks === "own" ? [this.rank] : ranks === "all" ? undefined : ranks;
    for (const r of wantRanks ?? []) {
      if (r >= manifest.worldSize) throw configError(`rank ${r} is not in step ${manifest.step} (world size ${manifest.worldSize})`);
    }
    const selected = manifest.shards.filter((s) => (wantRanks === undefined || wantRanks.includes(s.rank)) && (opts.names === undefined || opts.names.includes(s.name)));
    for (const name of opts.names ?? []) {
      if (!selected.some((s) => s.name === name)) {
        throw new NotFoundError(`checkpoint: step ${manifest.step} has no shard ${JSON.stringify(name)} for the ranks asked`, { code: "E_NO_SHARD" });
      }
    }

    const verify = opts.verify ?? true;
    const shards = await inParallel(selected, this.concurrency, async (entry): Promise<LoadedShard> => {
      // The size is known from the manifest: the engine plans its ranges at once, with no probing request.
      const getOpts = { knownMeta: { size: entry.size }, ...(opts.engine ? { engine: opts.engine } : {}), ...(signal ? { signal } : {}) };
      const data = await this.store.get(entry.key, getOpts);
      // Hashing after the read (not range by range as ranges arrive, which measured slower: an extra copy per range
      // and no direct reads into the result); with several shards, one is hashed while the others still download.
      const digest = verify ? sha256(data) : undefined;
      if (data.length !== entry.size) {
        throw new IntegrityError(`checkpoint: shard ${entry.key} has ${data.length} bytes, the manifest says ${entry.size}`, { code: "E_CHECKSUM_MISMATCH" });
      }
      if (digest !== undefined && digest !== entry.sha256) {
        throw new IntegrityError(`checkpoint: shard ${entry.key} does not match its SHA-256 (got ${digest}, manifest ${entry.sha256})`, {
          code: "E_CHECKSUM_MISMATCH",
        });
      }
      return { ...entry, data };
    });
    const bytes = shards.reduce((sum, s) => sum + s.size, 0);
    const rank = this.rank;
    return {
      step: manifest.step,
      manifest,
      shards,
      bytes,
      elapsedMs: performance.now() - started,
      shard(name: string, ofRank = rank): Uint8Array {
        const found = shards.find((s) => s.name === name && s.rank === ofRank);
        if (!found) throw new NotFoundError(`checkpoint: shard ${JSON.stringify(name)} of rank ${ofRank} was not loaded`, { code: "E_NO_SHARD" });
        return found.data;
      },
    };
  }

  /** Waits (polling) until checkpoint `step` is complete, e.g. on a rank other than 0 after its `save`. */
  async waitForCheckpoint(step: number, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<CheckpointManifest> {
    checkStep(step);
    const timeoutMs = checkInteger("timeoutMs", opts.timeoutMs ?? this.timeoutMs, 1, 2_147_483_647);
    const deadline = performance.now() + timeoutMs;
    let interval = this.pollIntervalMs;
    for (;;) {
      const manifest = await this.#readJson(this.#key(manifestKey(step)), parseManifest, opts.signal);
      if (manifest) return manifest;
      const left = deadline - performance.now();
      if (left <= 0) {
        throw new TimeoutError(`checkpoint: step ${step} was not completed within ${timeoutMs} ms`, { code: "E_CHECKPOINT_TIMEOUT", retryable: false });
      }
      await sleep(Math.min(interval, left), opts.signal);
      interval = Math.min(Math.max(this.pollIntervalMs, 2_000), Math.ceil(interval * 1.5));
    }
  }

  /**
   * Deletes every checkpoint except the newest `keepLast` and the one `latest` names, plus the leftovers of saves that
   * never completed (step directories without a manifest, older than `latest`). A checkpoint's manifest is deleted
   * before its shards, so a half-deleted checkpoint is never mistaken for a complete one. Returns the steps deleted.
   */
  async prune(keepLast: number): Promise<number[]> {
    checkInteger("keepLast", keepLast, 1, 1_000_000);
    const latest = await this.latest();
    const all = await this.#stepDirs();
    const complete = await inParallel(all, 16, (step) => this.store.exists(this.#key(manifestKey(step))));
    const completeSteps = all.filter((_, i) => complete[i]);
    const keep = new Set(completeSteps.slice(-keepLast));
    if (latest !== undefined) keep.add(latest);
    const deleted: number[] = [];
    for (const [i, step] of all.entries()) {
      if (keep.has(step)) continue;
      if (complete[i]) {
        await this.store.delete(this.#key(manifestKey(step)));
        await this.store.deletePrefix(this.#key(stepDir(step)));
        deleted.push(step);
      } else if (latest !== undefined && step < latest) {
        // Some stores (SeaweedFS) list a directory emptied by an earlier prune: only count what held objects.
        if ((await this.store.deletePrefix(this.#key(stepDir(step)))) > 0) deleted.push(step);
      }
    }
    return deleted;
  }
}

/** A {@link Checkpointer} over `store`. */
export function createCheckpointer(store: ObjectStore, options: CheckpointerOptions = {}): Checkpointer {
  return new Checkpointer(store, options);
}
