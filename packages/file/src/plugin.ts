import { fileURLToPath } from "node:url";
import { RangeConfigError, type BackendPlugin } from "@range/core";
import { createFileStore, type FileStoreOptions } from "./file-store.js";

/** `file:///absolute/root` (host empty or `localhost`). Options are {@link FileStoreOptions} without `root`. */
export const backend: BackendPlugin<Omit<FileStoreOptions, "root">> = {
  scheme: "file",
  create(url, options = {}) {
    if (url.host !== "" && url.host !== "localhost") {
      throw new RangeConfigError(`file:// URIs name a local path (file:///abs/root); got host ${JSON.stringify(url.host)}`, {
        code: "E_INVALID_URI",
      });
    }
    return createFileStore({ ...options, root: fileURLToPath(url) });
  },
};
