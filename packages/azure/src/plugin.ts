import { BackendError, RangeConfigError, type BackendPlugin, type BucketInfo, type BucketManager } from "@range/core";
import { AzureAccount } from "./account.js";
import { createAzureStore, isValidContainerName, resolveAzureOptions, type AzureStoreOptions } from "./azure-store.js";
import { azureErrorCode } from "./errors.js";

/** What `openStore("az://...")` and the container manager take: {@link AzureStoreOptions} without container and prefix. */
export type AzureBackendOptions = Omit<AzureStoreOptions, "container" | "prefix">;

function uriError(message: string): RangeConfigError {
  return new RangeConfigError(message, { code: "E_INVALID_URI" });
}

/** A client for container calls, sized like a store's (the options are validated the same way). */
function accountFor(options: AzureBackendOptions | undefined): AzureAccount {
  const { engine: _engine, allocate: _allocate, ...rest } = options ?? {};
  const resolved = resolveAzureOptions({ ...(options ?? {}), container: "range-validate" });
  return new AzureAccount({ ...rest, maxSockets: 4, maxTries: resolved.maxTries, pipelineOptions: rest.pipelineOptions });
}

function checkContainer(name: string): void {
  if (!isValidContainerName(name)) {
    throw new RangeConfigError(`invalid Azure container name ${JSON.stringify(name)}: 3-63 characters of a-z, 0-9 and single "-"`, { code: "E_INVALID_URI" });
  }
}

async function withAccount<T>(options: AzureBackendOptions | undefined, run: (account: AzureAccount) => Promise<T>): Promise<T> {
  const account = accountFor(options);
  try {
    return await run(account);
  } finally {
    account.close();
  }
}

/**
 * Containers as buckets: list (lazily, a page at a time), create (`E_BUCKET_EXISTS` when taken), and delete of an empty
 * container (`E_BUCKET_NOT_EMPTY` otherwise; `NotFoundError` when missing). Azure itself deletes a container with its
 * blobs, so emptiness is checked first with a one-blob listing: a blob written between that check and the delete is
 * deleted with the container.
 */
export const containerManager: BucketManager<AzureBackendOptions> = {
  async *list(options, call) {
    const account = accountFor(options);
    try {
      const service = await account.service();
      const pages = service.listContainers(call.signal ? { abortSignal: call.signal } : {}).byPage();
      const ctx = { operation: "ListContainers", container: "*", signal: call.signal };
      for (;;) {
        const next = await account.call(ctx, () => pages.next());
        if (next.done) return;
        for (const item of next.value.containerItems ?? []) {
          const info: BucketInfo = { name: item.name };
          yield info;
        }
      }
    } finally {
      account.close();
    }
  },

  async create(name, options, call) {
    checkContainer(name);
    await withAccount(options, async (account) => {
      const container = (await account.service()).getContainerClient(name);
      await account.call({ operation: "CreateContainer", container: name, signal: call.signal }, async () => {
        try {
          await container.create(call.signal ? { abortSignal: call.signal } : {});
        } catch (error) {
          if (azureErrorCode(error) !== "ContainerAlreadyExists") throw error;
          throw new BackendError(`container ${JSON.stringify(name)} already exists`, { code: "E_BUCKET_EXISTS" });
        }
      });
    });
  },

  async delete(name, options, call) {
    checkContainer(name);
    await withAccount(options, async (account) => {
      const container = (await account.service()).getContainerClient(name);
      const ctx = { operation: "DeleteContainer", container: name, signal: call.signal };
      const first = await account.call(ctx, () =>
        container.listBlobsFlat(call.signal ? { abortSignal: call.signal } : {}).byPage({ maxPageSize: 1 }).next(),
      );
      const blobs = first.done ? 0 : (first.value.segment.blobItems?.length ?? 0);
      if (blobs > 0) throw new BackendError(`container ${JSON.stringify(name)} is not empty`, { code: "E_BUCKET_NOT_EMPTY" });
      await account.call(ctx, () => container.delete(call.signal ? { abortSignal: call.signal } : {}));
    });
  },
};

/**
 * `az://container/optional/prefix`. Options are {@link AzureBackendOptions} (connectionString, or account with
 * accountKey / sasToken / credential, endpoint, engine, ...); unset ones come from `AZURE_STORAGE_CONNECTION_STRING`
 * (or `AZURE_STORAGE_ACCOUNT` with `AZURE_STORAGE_KEY` / `AZURE_STORAGE_SAS_TOKEN`).
 */
export const backend: BackendPlugin<AzureBackendOptions> = {
  scheme: "az",
  create(url, options = {}) {
    const container = decodeURIComponent(url.host);
    if (container === "") throw uriError(`az:// URIs name a container: az://container/prefix, got ${JSON.stringify(url.href)}`);
    if (url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
      // A SAS token pasted into the URI would end up in logs and error messages: settings go in options.
      throw uriError("az:// URIs take no query, fragment or user info: pass settings (sasToken, ...) as options");
    }
    checkContainer(container);
    const prefix = decodeURIComponent(url.pathname).replace(/^\/+/, "");
    return createAzureStore({ ...(options ?? {}), container, prefix });
  },
  buckets: containerManager,
};
