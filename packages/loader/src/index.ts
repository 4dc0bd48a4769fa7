export { createLoader, type Batch, type LoaderItem } from "./loader.js";
export { resolveLoaderConfig, type LoaderConfig, type ResolvedLoaderConfig } from "./config.js";
export { shard, shuffled } from "./order.js";
