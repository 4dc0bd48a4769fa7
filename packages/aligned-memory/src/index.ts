export {
  addressOf,
  allocateAligned,
  allocatorKind,
  isAligned,
  type AllocateAlignedOptions,
  type AllocatorKind,
} from "./aligned-memory.js";
