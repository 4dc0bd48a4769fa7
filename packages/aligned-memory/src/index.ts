export {
  addressOf,
  allocateAligned,
  allocateForParallelFill,
  prepareForFill,
  allocatorKind,
  hugePageStats,
  isAligned,
  type AllocateAlignedOptions,
  type AllocatorKind,
} from "./aligned-memory.js";
