export {
  Checkpointer,
  createCheckpointer,
  type CheckpointerOptions,
  type LoadOptions,
  type LoadedCheckpoint,
  type LoadedShard,
  type SaveOptions,
  type SaveResult,
  type ShardData,
} from "./checkpointer.js";
export { CHECKPOINT_FORMAT, type CheckpointManifest, type LatestPointer, type RankMarker, type ShardEntry } from "./manifest.js";
export { LATEST_KEY, MANIFEST_NAME, STEPS_DIR, manifestKey, markerKey, shardKey, stepDir } from "./layout.js";
