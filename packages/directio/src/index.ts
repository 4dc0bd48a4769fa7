export { DirectIoDriver, createDirectIoStore, type DirectIoStoreOptions } from "./directio-store.js";
export { backend } from "./plugin.js";
