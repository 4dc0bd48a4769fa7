import type { BucketCallOptions, BucketInfo, BucketManager } from "@range/core";
import { BackendError, RangeConfigError, abortErrorFrom, assertOptionsObject } from "@range/core";
import { mapGcsError } from "./errors.js";
import { createStorageClient, resolveGcsConnection, type GcsConnectionOptions } from "./gcs-store.js";

type Sdk = typeof import("@google-cloud/storage");

/** Options of bucket management: the connection part of the store options. Extra store options are ignored. */
export type GcsBucketOptions = GcsConnectionOptions;

async function client(options: GcsBucketOptions | undefined, needsProject: boolean) {
  const connection = resolveGcsConnection(pickConnection(options));
  if (needsProject && connection.projectId === undefined) {
    throw new RangeConfigError("gs: listing and creating buckets needs a project: pass `projectId` or set GOOGLE_CLOUD_PROJECT", { code: "E_NO_PROJECT" });
  }
  let sdk: Sdk;
  try {
    sdk = await import("@google-cloud/storage");
  } catch (error) {
    throw new RangeConfigError("@range/gcs needs @google-cloud/storage: install it with `pnpm add @google-cloud/storage`", { code: "E_BACKEND_LOAD", cause: error });
  }
  return createStorageClient(sdk, connection, pickConnection(options));
}

/** The connection settings out of a store's options (which may also hold engine, prefix, ...). */
function pickConnection(options: GcsBucketOptions | undefined): GcsConnectionOptions {
  if (options === undefined) return {};
  assertOptionsObject(options, "gs");
  const { projectId, apiEndpoint, credentials, keyFilename, useAuthWithCustomEndpoint, storageOptions } = options;
  return {
    ...(projectId !== undefined ? { projectId } : {}),
    ...(apiEndpoint !== undefined ? { apiEndpoint } : {}),
    ...(credentials !== undefined ? { credentials } : {}),
    ...(keyFilename !== undefined ? { keyFilename } : {}),
    ...(useAuthWithCustomEndpoint !== undefined ? { useAuthWithCustomEndpoint } : {}),
    ...(storageOptions !== undefined ? { storageOptions } : {}),
  };
}

function checkSignal(call: BucketCallOptions): void {
  if (call.signal?.aborted) throw abortErrorFrom(call.signal);
}

/**
 * `gs://` buckets for core's `listBuckets` / `createBucket` / `deleteBucket`: buckets.list (lazily, a page at a time),
 * buckets.insert (409 → `E_BUCKET_EXISTS`) and buckets.delete (409, or fake-gcs-server's 412, → `E_BUCKET_NOT_EMPTY`).
 */
export const gcsBuckets: BucketManager<GcsBucketOptions> = {
  async *list(options, call) {
    const storage = await client(options, true);
    let pageToken: string | undefined;
    do {
      checkSignal(call);
      let page: [{ name: string; metadata: { timeCreated?: string } }[], { pageToken?: string } | null];
      try {
        page = (await storage.getBuckets({ autoPaginate: false, maxResults: 1000, ...(pageToken !== undefined ? { pageToken } : {}) })) as unknown as typeof page;
      } catch (error) {
        throw mapGcsError(error, { operation: "buckets.list", bucket: "*", ...(call.signal ? { signal: call.signal } : {}) });
      }
      const [buckets, next] = page;
      pageToken = next?.pageToken || undefined;
      const infos: BucketInfo[] = buckets.map((b) => ({
        name: b.name,
        ...(b.metadata.timeCreated ? { created: new Date(b.metadata.timeCreated) } : {}),
      }));
      yield* infos;
    } while (pageToken !== undefined);
  },

  async create(name, options, call) {
    const storage = await client(options, true);
    checkSignal(call);
    try {
      await storage.createBucket(name);
    } catch (error) {
      if ((error as { code?: unknown }).code === 409) {
        throw new BackendError(`bucket gs://${name} already exists`, { code: "E_BUCKET_EXISTS" });
      }
      throw mapGcsError(error, { operation: "buckets.insert", bucket: name, ...(call.signal ? { signal: call.signal } : {}) });
    }
  },

  async delete(name, options, call) {
    const storage = await client(options, false);
    checkSignal(call);
    try {
      await storage.bucket(name).delete();
    } catch (error) {
      const status = (error as { code?: unknown }).code;
      if (status === 409 || status === 412) {
        throw new BackendError(`bucket gs://${name} is not empty: delete its objects first`, { code: "E_BUCKET_NOT_EMPTY" });
      }
      throw mapGcsError(error, { operation: "buckets.delete", bucket: name, ...(call.signal ? { signal: call.signal } : {}) });
    }
  },
};
