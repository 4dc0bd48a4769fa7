export { FileDriver, checkFileStoreOptions, createFileStore, localEngineOptions, shrankError, type FileStoreOptions } from "./file-store.js";
export { backend } from "./plugin.js";
