import { RangeConfigError, type BackendPlugin } from "@range/core";
import { gcsBuckets } from "./buckets.js";
import { createGcsStore, type GcsStoreOptions } from "./gcs-store.js";

/**
 * `gs://bucket/optional/prefix`. Options are {@link GcsStoreOptions} without `bucket` and `prefix` (apiEndpoint,
 * projectId, credentials, engine, ...); unset ones come from STORAGE_EMULATOR_HOST, GOOGLE_CLOUD_PROJECT and the
 * SDK's Application Default Credentials. `buckets` lists, creates and deletes buckets with the same options.
 */
export const backend: BackendPlugin<Omit<GcsStoreOptions, "bucket" | "prefix">> = {
  scheme: "gs",
  create(url, options = {}) {
    const bucket = decodeURIComponent(url.host);
    if (bucket === "") {
      throw new RangeConfigError(`gs:// URIs name a bucket: gs://bucket/prefix, got ${JSON.stringify(url.href)}`, { code: "E_INVALID_URI" });
    }
    if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
      throw new RangeConfigError("gs:// URIs take no query, fragment or user info: pass settings as options", { code: "E_INVALID_URI" });
    }
    const prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "");
    return createGcsStore({ ...(options ?? {}), bucket, prefix });
  },
  buckets: gcsBuckets,
};
