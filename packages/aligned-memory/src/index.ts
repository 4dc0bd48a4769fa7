export {
  addressOf,
  allocateAligned,
  allocateForParallelFill,
  prepareForFill,
  releaseReusableMemory,
  reuseStats,
  allocatorKind,
  hugePageStats,
  isAligned,
  type AllocateAlignedOptions,
  type AllocatorKind,
  type ParallelFillOptions,
} from "./aligned-memory.js";
