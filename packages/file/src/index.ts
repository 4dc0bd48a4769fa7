export { FileDriver, checkFileStoreOptions, createFileStore, shrankError, type FileStoreOptions } from "./file-store.js";
export { backend } from "./plugin.js";
