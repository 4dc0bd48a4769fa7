import type { S3Client } from "@aws-sdk/client-s3";
import { BackendError, type BucketCallOptions, type BucketInfo, type BucketManager } from "@range/core";
import { mapS3Error, sanitizedCause } from "./errors.js";
import { S3Driver, type S3StoreOptions } from "./s3-store.js";

/** What the bucket calls take: the store's options without the bucket and prefix (endpoint, region, credentials, ...). */
export type S3BucketOptions = Omit<S3StoreOptions, "bucket" | "prefix">;

type Sdk = typeof import("@aws-sdk/client-s3");

/**
 * ListBuckets names no bucket, but the store's options are validated with one: this placeholder is never sent.
 * Reusing S3Driver keeps one place that turns options and environment into a client (endpoint, region, path style,
 * credentials, agents).
 */
const NO_BUCKET = "range-no-bucket";

/** The S3 error code (`BucketNotEmpty`, ...) whether the SDK modelled the exception or not. */
function codeOf(error: unknown): string | undefined {
  const e = error as { Code?: unknown; name?: unknown } | null;
  if (typeof e?.Code === "string") return e.Code;
  return typeof e?.name === "string" ? e.name : undefined;
}

/** Runs `work` with a client configured exactly like a store's, closing it afterwards. */
async function withClient<T>(bucket: string, options: S3BucketOptions | undefined, work: (client: S3Client, sdk: Sdk) => Promise<T>): Promise<T> {
  // Validates every option (and the bucket name) before any request: RangeConfigError.
  const driver = new S3Driver({ ...(options ?? {}), bucket });
  try {
    const client = await driver.client();
    return await work(client, await import("@aws-sdk/client-s3"));
  } finally {
    await driver.close();
  }
}

function send<T>(client: S3Client, command: object, call: BucketCallOptions): Promise<T> {
  return client.send(command as never, call.signal ? { abortSignal: call.signal } : {}) as Promise<T>;
}

function notEmpty(operation: string, bucket: string, cause?: Error): BackendError {
  return new BackendError(`${operation} s3://${bucket} failed: the bucket is not empty`, { code: "E_BUCKET_NOT_EMPTY", ...(cause ? { cause } : {}) });
}

/** Core's typed errors for a bucket call; mapS3Error passes those through, so they can be thrown inside the call. */
function bucketError(operation: string, bucket: string, error: unknown, call: BucketCallOptions): Error {
  const code = codeOf(error);
  if (!call.signal?.aborted) {
    if (code === "BucketAlreadyOwnedByYou" || code === "BucketAlreadyExists") {
      const whose = code === "BucketAlreadyOwnedByYou" ? "you already own it" : "the name is taken";
      return new BackendError(`${operation} s3://${bucket} failed: the bucket already exists (${whose})`, {
        code: "E_BUCKET_EXISTS",
        cause: sanitizedCause(error),
      });
    }
    if (code === "BucketNotEmpty") return notEmpty(operation, bucket, sanitizedCause(error));
  }
  return mapS3Error(error, { operation, bucket, ...(call.signal ? { signal: call.signal } : {}) });
}

/** `listBuckets("s3")`, `createBucket("s3://name")`, `deleteBucket("s3://name")` through @range/core. */
export const s3BucketManager: BucketManager<S3BucketOptions> = {
  async *list(options, call) {
    yield* await withClient(NO_BUCKET, options, async (client, sdk) => {
      const buckets: BucketInfo[] = [];
      let token: string | undefined;
      do {
        let page: { Buckets?: { Name?: string; CreationDate?: Date }[]; ContinuationToken?: string };
        try {
          page = await send(client, new sdk.ListBucketsCommand(token !== undefined ? { ContinuationToken: token } : {}), call);
        } catch (error) {
          throw mapS3Error(error, { operation: "ListBuckets", bucket: "*", ...(call.signal ? { signal: call.signal } : {}) });
        }
        for (const bucket of page.Buckets ?? []) {
          if (bucket.Name) buckets.push({ name: bucket.Name, ...(bucket.CreationDate ? { created: bucket.CreationDate } : {}) });
        }
        // Servers without ListBuckets pagination return no token; one that repeats a token would loop forever.
        token = page.ContinuationToken && page.ContinuationToken !== token ? page.ContinuationToken : undefined;
      } while (token !== undefined);
      return buckets;
    });
  },

  async create(name, options, call) {
    await withClient(name, options, async (client, sdk) => {
      const region = await client.config.region();
      // Outside us-east-1 AWS wants the region as the location; us-east-1 itself is refused as an explicit constraint.
      const location = region && region !== "us-east-1" ? { CreateBucketConfiguration: { LocationConstraint: region as never } } : {};
      try {
        await send(client, new sdk.CreateBucketCommand({ Bucket: name, ...location }), call);
      } catch (error) {
        throw bucketError("CreateBucket", name, error, call);
      }
    });
  },

  async delete(name, options, call) {
    await withClient(name, options, async (client, sdk) => {
      try {
        // S3 refuses to delete a bucket with objects, but some S3-compatible servers (SeaweedFS) delete them all with
        // it: look first, so "delete an empty bucket" never loses data anywhere.
        const page = await send<{ KeyCount?: number; Contents?: unknown[] }>(client, new sdk.ListObjectsV2Command({ Bucket: name, MaxKeys: 1 }), call);
        if ((page.KeyCount ?? 0) > 0 || (page.Contents?.length ?? 0) > 0) throw notEmpty("DeleteBucket", name);
        await send(client, new sdk.DeleteBucketCommand({ Bucket: name }), call);
      } catch (error) {
        throw bucketError("DeleteBucket", name, error, call);
      }
    });
  },
};
