export {
  OpLog,
  createOpLog,
  opLogFileType,
  zstdAvailable,
  type OpLogCompression,
  type OpLogFormat,
  type OpLogOptions,
  type OpLogStats,
  type OverflowPolicy,
} from "./op-log.js";
export { withOpLog, type OpLogStoreOptions, type OpLoggedStore, type WithOpLogOptions } from "./with-op-log.js";
export { parseTimestamp, readOpLog, type OpRecord } from "./reader.js";
export {
  byStartTime,
  replayOpLog,
  type LatencySummary,
  type ReplayOpSummary,
  type ReplayOptions,
  type ReplaySummary,
  type ReplayedOperation,
} from "./replay.js";
export { METHODS, OP_NAMES, errorCode, methodOf, type OpMethod } from "./ops.js";
