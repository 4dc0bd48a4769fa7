import { RangeConfigError, type BackendPlugin } from "@range/core";
import { s3BucketManager } from "./buckets.js";
import { createS3Store, type S3StoreOptions } from "./s3-store.js";

/**
 * `s3://bucket/optional/prefix`. Options are {@link S3StoreOptions} without `bucket` and `prefix` (endpoint, region,
 * credentials, engine, ...); unset ones come from the AWS environment variables and the SDK's default chains.
 */
export const backend: BackendPlugin<Omit<S3StoreOptions, "bucket" | "prefix">> = {
  scheme: "s3",
  create(url, options = {}) {
    const bucket = decodeURIComponent(url.host);
    if (bucket === "") {
      throw new RangeConfigError(`s3:// URIs name a bucket: s3://bucket/prefix, got ${JSON.stringify(url.href)}`, { code: "E_INVALID_URI" });
    }
    if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
      throw new RangeConfigError("s3:// URIs take no query, fragment or user info: pass settings as options", { code: "E_INVALID_URI" });
    }
    const prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "");
    return createS3Store({ ...(options ?? {}), bucket, prefix });
  },
  buckets: s3BucketManager,
};
