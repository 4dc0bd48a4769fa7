import { countFiles, opendalOperator } from "../lib/external.js";
import { httpRequestCounter } from "./http-counter.js";
import { missingPackage } from "./lazy.js";
import { s3dlioPeer } from "./local.js";
import type { BenchBackend, PeerImpl, PeerTools } from "./types.js";

const CONTAINER = "bench";

interface AzureConnection {
  connectionString: string;
  blobEndpoint: string;
  account: string;
  accountKey: string;
  container: string;
}

async function containerClient(c: AzureConnection) {
  const { BlobServiceClient } = await import("@azure/storage-blob");
  return BlobServiceClient.fromConnectionString(c.connectionString).getContainerClient(c.container);
}

async function readAll(stream: NodeJS.ReadableStream | undefined, size: number, firstByte?: () => void): Promise<Uint8Array> {
  const out = Buffer.allocUnsafeSlow(size);
  let at = 0;
  for await (const chunk of stream ?? []) {
    if (at === 0) firstByte?.();
    (chunk as Buffer).copy(out, at);
    at += (chunk as Buffer).length;
  }
  return out.subarray(0, at);
}

async function sdkPeer(c: AzureConnection, parallel: boolean): Promise<PeerImpl> {
  const container = await containerClient(c);
  const blob = (key: string) => container.getBlockBlobClient(key);
  if (parallel) {
    return {
      // The SDK's parallel helpers with their defaults.
      get: (key, size) => blob(key).downloadToBuffer(0, size),
      put: async (key, data) => void (await blob(key).uploadData(data)),
    };
  }
  return {
    async get(key, size, firstByte) {
      const response = await blob(key).download();
      return readAll(response.readableStreamBody, response.contentLength ?? size, firstByte);
    },
    async range(key, offset, length) {
      const response = await blob(key).download(offset, length);
      return readAll(response.readableStreamBody, length);
    },
    async *stream(key, firstByte) {
      const response = await blob(key).download();
      let first = true;
      for await (const chunk of response.readableStreamBody ?? []) {
        if (first) firstByte();
        first = false;
        yield chunk as Buffer;
      }
    },
    put: async (key, data) => void (await blob(key).upload(data, data.length)),
    async list(prefix) {
      let n = 0;
      for await (const _ of container.listBlobsFlat({ prefix })) n++;
      return n;
    },
  };
}

function opendalPeer(c: AzureConnection, tools: PeerTools): PeerImpl {
  const op = opendalOperator(tools, "azblob", { container: c.container, endpoint: c.blobEndpoint, account_name: c.account, account_key: c.accountKey, root: "/" });
  return {
    get: (key) => op.read(key),
    range: (key, offset, length) => op.read(key, { offset: BigInt(offset), size: BigInt(length) }),
    put: async (key, data) => void (await op.write(key, Buffer.from(data.buffer, data.byteOffset, data.length))),
    list: async (prefix) => countFiles(await op.list(prefix, { recursive: true })),
  };
}

/**
 * s3dlio's Azure backend takes no account key (Shared Key is not supported): it gets an account SAS made here from
 * Azurite's throwaway key, and the endpoint as `AZURE_BLOB_ENDPOINT_URL` without the account path (s3dlio adds the
 * account from the az://account/container/key URI).
 */
async function s3dlioAzureEnv(c: AzureConnection): Promise<Record<string, string>> {
  const { AccountSASPermissions, AccountSASResourceTypes, AccountSASServices, SASProtocol, StorageSharedKeyCredential, generateAccountSASQueryParameters } =
    await import("@azure/storage-blob");
  const sas = generateAccountSASQueryParameters(
    {
      expiresOn: new Date(Date.now() + 24 * 3600_000),
      permissions: AccountSASPermissions.parse("rwdlacup"),
      resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
      services: AccountSASServices.parse("b").toString(),
      protocol: SASProtocol.HttpsAndHttp,
    },
    new StorageSharedKeyCredential(c.account, c.accountKey),
  ).toString();
  return { AZURE_BLOB_ENDPOINT_URL: new URL(c.blobEndpoint).origin, S3DLIO_AZURE_CREDENTIAL: "sas", S3DLIO_AZURE_SAS_TOKEN: sas };
}

/** az:// on Azurite (from @range/test-servers), blobs on its disk store. */
export const azureBackend: BenchBackend = {
  name: "azure",
  title: "az:// (one local Azurite)",
  embedded: false,
  peers: [
    {
      id: "sdk",
      label: {
        get: "plain `download()` (one request, @azure/storage-blob)",
        range: "plain `download(offset, count)`",
        stream: "plain `download()` body stream",
        put: "plain `upload()` (one Put Blob)",
        list: "plain `listBlobsFlat` pages",
      },
      ops: ["get", "range", "stream", "put", "list"],
      baselineFor: ["get", "range", "stream", "put", "list"],
    },
    { id: "sdk-parallel", label: { get: "SDK parallel helper `downloadToBuffer` (defaults)", put: "SDK parallel helper `uploadData` (defaults)" }, ops: ["get", "put"] },
    {
      id: "opendal",
      label: { get: "OpenDAL `azblob` read", range: "OpenDAL `azblob` read { offset, size }", put: "OpenDAL `azblob` write", list: "OpenDAL `azblob` list { recursive }" },
      ops: ["get", "range", "put", "list"],
      needs: "opendal",
    },
    s3dlioPeer("az", ["get", "range", "put", "list"]),
  ],
  unavailable: () => missingPackage("@range/azure"),
  async start(ctx) {
    const { startAzurite } = await import("@range/test-servers");
    const { createAzureStore } = await import("@range/azure");
    ctx.log("azure: starting Azurite");
    const server = await startAzurite({ containers: [CONTAINER] });
    const connection: AzureConnection = {
      connectionString: server.connectionString,
      blobEndpoint: server.blobEndpoint,
      account: server.account,
      accountKey: server.accountKey,
      container: CONTAINER,
    };
    const store = createAzureStore({ container: CONTAINER, connectionString: server.connectionString });
    return {
      // serverPids: the worker reads their CPU time per round from /proc.
      connection: { ...connection, serverPids: [...server.pids] },
      description: `Azurite ${server.install.version} (one process, disk store) on loopback`,
      write: async (key, bytes) => void (await store.put(key, bytes)),
      async stop() {
        await store.close();
        await server.stop();
      },
    };
  },
  async connect(raw) {
    const c = raw as unknown as AzureConnection;
    const { createAzureStore } = await import("@range/azure");
    return {
      store: (engine) => createAzureStore({ container: c.container, connectionString: c.connectionString, ...(engine ? { engine } : {}) }),
      async peer(id, tools) {
        if (id === "sdk" || id === "sdk-parallel") return sdkPeer(c, id === "sdk-parallel");
        if (id === "opendal") return opendalPeer(c, tools);
        throw new Error(`no azure peer ${id}`);
      },
      requests: httpRequestCounter(["sdk", "sdk-parallel"]),
      external: { uri: (key) => `az://${c.account}/${c.container}/${key}`, env: await s3dlioAzureEnv(c) },
      close: async () => {},
    };
  },
};
