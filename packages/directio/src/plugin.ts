import { fileURLToPath } from "node:url";
import { RangeConfigError, type BackendPlugin } from "@range/core";
import { createDirectIoStore, type DirectIoStoreOptions } from "./directio-store.js";

/** `directio:///absolute/root`. Options are {@link DirectIoStoreOptions} without `root`. */
export const backend: BackendPlugin<Omit<DirectIoStoreOptions, "root">> = {
  scheme: "directio",
  create(url, options = {}) {
    if (url.host !== "" && url.host !== "localhost") {
      throw new RangeConfigError(`directio:// URIs name a local path (directio:///abs/root); got host ${JSON.stringify(url.host)}`, {
        code: "E_INVALID_URI",
      });
    }
    return createDirectIoStore({ ...options, root: fileURLToPath(new URL(`file://${url.pathname}`)) });
  },
};
