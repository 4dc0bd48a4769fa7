export {
  addressOf,
  allocateAligned,
  allocatorKind,
  type AllocateAlignedOptions,
  type AllocatorKind,
} from "./aligned-memory.js";
