export { FileDriver, checkFileStoreOptions, createFileStore, type FileStoreOptions } from "./file-store.js";
export { backend } from "./plugin.js";
