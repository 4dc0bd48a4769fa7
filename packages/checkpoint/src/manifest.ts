import { IntegrityError } from "@range/core";

/** The format tag every manifest, marker and pointer carries; a reader refuses what it does not know. */
export const CHECKPOINT_FORMAT = "range-checkpoint/1";

/** One shard of a checkpoint: which rank wrote it, where it is, and how to check it. */
export interface ShardEntry {
  rank: number;
  /** The name the rank gave it, e.g. "model.bin". */
  name: string;
  /** Its key in the store, relative to the store's root (prefix included). */
  key: string;
  size: number;
  /** SHA-256 of its bytes, lowercase hex. */
  sha256: string;
}

/** Written last, by rank 0, once every rank's shards are durable: a checkpoint exists when its manifest does. */
export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  /** The save attempt the shards belong to (see `SaveOptions.attempt`). */
  attempt: string;
  worldSize: number;
  /** ISO time rank 0 wrote the manifest. */
  createdAt: string;
  /** What the caller passed as `metadata` (JSON). */
  metadata: Record<string, unknown>;
  totalBytes: number;
  /** Sorted by rank, then name. */
  shards: ShardEntry[];
}

/** A rank's completion marker: its shards are durable. */
export interface RankMarker {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  attempt: string;
  rank: number;
  worldSize: number;
  shards: ShardEntry[];
}

/** The `latest` pointer. */
export interface LatestPointer {
  format: typeof CHECKPOINT_FORMAT;
  step: number;
  manifest: string;
  updatedAt: string;
}

function corrupt(what: string, detail: string): IntegrityError {
  return new IntegrityError(`checkpoint: ${what} is not a valid ${CHECKPOINT_FORMAT} document: ${detail}`, { code: "E_BAD_MANIFEST" });
}

export function encodeJson(value: unknown): Uint8Array {
  return Buffer.from(`${JSON.stringify(value, null, 2)}\n`, "utf8");
}

function parse(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8"));
  } catch (error) {
    throw corrupt(what, (error as Error).message);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw corrupt(what, "not a JSON object");
  const record = value as Record<string, unknown>;
  if (record.format !== CHECKPOINT_FORMAT) throw corrupt(what, `format is ${JSON.stringify(record.format)}`);
  return record;
}

const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;

function checkShards(value: unknown, what: string): ShardEntry[] {
  if (!Array.isArray(value)) throw corrupt(what, "shards is not a list");
  return value.map((entry: unknown, i) => {
    const s = (entry ?? {}) as Record<string, unknown>;
    if (!isCount(s.rank) || typeof s.name !== "string" || typeof s.key !== "string" || !isCount(s.size) || typeof s.sha256 !== "string" || !/^[0-9a-f]{64}$/.test(s.sha256)) {
      throw corrupt(what, `shard ${i} is malformed`);
    }
    return { rank: s.rank, name: s.name, key: s.key, size: s.size, sha256: s.sha256 };
  });
}

export function parseManifest(bytes: Uint8Array, what: string): CheckpointManifest {
  const m = parse(bytes, what);
  if (!isCount(m.step) || typeof m.attempt !== "string" || !isCount(m.worldSize) || m.worldSize < 1 || typeof m.createdAt !== "string") {
    throw corrupt(what, "step, attempt, worldSize or createdAt is missing");
  }
  if (typeof m.metadata !== "object" || m.metadata === null || Array.isArray(m.metadata)) throw corrupt(what, "metadata is not an object");
  const shards = checkShards(m.shards, what);
  const totalBytes = shards.reduce((sum, s) => sum + s.size, 0);
  if (m.totalBytes !== totalBytes) throw corrupt(what, `totalBytes ${String(m.totalBytes)} is not the sum of the shard sizes (${totalBytes})`);
  return {
    format: CHECKPOINT_FORMAT,
    step: m.step,
    attempt: m.attempt,
    worldSize: m.worldSize,
    createdAt: m.createdAt,
    metadata: m.metadata as Record<string, unknown>,
    totalBytes,
    shards,
  };
}

export function parseMarker(bytes: Uint8Array, what: string): RankMarker {
  const m = parse(bytes, what);
  if (!isCount(m.step) || typeof m.attempt !== "string" || !isCount(m.rank) || !isCount(m.worldSize)) throw corrupt(what, "step, attempt, rank or worldSize is missing");
  return { format: CHECKPOINT_FORMAT, step: m.step, attempt: m.attempt, rank: m.rank, worldSize: m.worldSize, shards: checkShards(m.shards, what) };
}

export function parseLatest(bytes: Uint8Array, what: string): LatestPointer {
  const m = parse(bytes, what);
  if (!isCount(m.step) || typeof m.manifest !== "string" || typeof m.updatedAt !== "string") throw corrupt(what, "step or manifest is missing");
  return { format: CHECKPOINT_FORMAT, step: m.step, manifest: m.manifest, updatedAt: m.updatedAt };
}
