import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { countFiles, opendalOperator } from "../lib/external.js";
import { httpRequestCounter } from "./http-counter.js";
import { missingPackage } from "./lazy.js";
import type { BenchBackend, PeerImpl, PeerTools } from "./types.js";

const BUCKET = "bench";

interface GcsConnection {
  endpoint: string;
  projectId: string;
  bucket: string;
}

async function sdkBucket(c: GcsConnection) {
  const { Storage } = await import("@google-cloud/storage");
  return new Storage({ apiEndpoint: c.endpoint, projectId: c.projectId }).bucket(c.bucket);
}

async function sdkPeer(c: GcsConnection): Promise<PeerImpl> {
  const bucket = await sdkBucket(c);
  return {
    // `download()` with the SDK's defaults (it validates the whole object's checksum, as our store does).
    get: async (key) => (await bucket.file(key).download())[0],
    range: async (key, offset, length) => (await bucket.file(key).download({ start: offset, end: offset + length - 1 }))[0],
    async *stream(key, firstByte) {
      let first = true;
      for await (const chunk of bucket.file(key).createReadStream()) {
        if (first) firstByte();
        first = false;
        yield chunk as Buffer;
      }
    },
    put: (key, data) => bucket.file(key).save(Buffer.from(data.buffer, data.byteOffset, data.length), { resumable: false }),
    async list(prefix) {
      const [files] = await bucket.getFiles({ prefix });
      return files.length;
    },
  };
}

/**
 * Why uploadFileInChunks cannot run against fake-gcs-server, added to its error: @google-cloud/storage 8.x sends the
 * XML multipart requests to `https://<bucket>.<hostname of apiEndpoint>/<name>` (scheme and port dropped) through
 * Google's auth client (real credentials), and fake-gcs-server implements no XML multipart API (`POST
 * /<bucket>/<name>?uploads` answers 404; fsouza/fake-gcs-server#852).
 */
const UPLOAD_IN_CHUNKS_ON_EMULATOR =
  "uploadFileInChunks uses the XML multipart API at https://<bucket>.<apiEndpoint host>/ (scheme and port dropped) with " +
  "Google credentials, and fake-gcs-server has no XML multipart API (POST ?uploads → 404, fsouza/fake-gcs-server#852)";

/**
 * TransferManager: downloadFileInChunks (parallel ranged GETs written to a local file, returned as one Buffer) and
 * uploadFileInChunks (an XML multipart upload of a local file, 32 MiB parts, 5 at a time).
 */
async function transferManagerPeer(c: GcsConnection): Promise<PeerImpl> {
  const { TransferManager } = await import("@google-cloud/storage");
  const manager = new TransferManager(await sdkBucket(c));
  const dir = mkdtempSync(join(tmpdir(), "range-bench-gcs-tm-"));
  let n = 0;
  // uploadFileInChunks reads a file: the cell's bytes (the same on every put) are staged once, on the warm-up round.
  const upload = join(dir, "upload.bin");
  let staged: Uint8Array | undefined;
  return {
    async put(key, data) {
      if (staged !== data) {
        writeFileSync(upload, data);
        staged = data;
      }
      try {
        await manager.uploadFileInChunks(upload, { uploadName: key });
      } catch (error) {
        throw new Error(`TransferManager.uploadFileInChunks failed: ${(error as Error).message} — ${UPLOAD_IN_CHUNKS_ON_EMULATOR}`);
      }
    },
    async get(key) {
      const destination = join(dir, `download-${n++}`);
      const response = await manager.downloadFileInChunks(key, { destination });
      rmSync(destination, { force: true });
      if (!response) throw new Error("downloadFileInChunks returned no data");
      return response[0];
    },
    close: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

function opendalPeer(c: GcsConnection, tools: PeerTools): PeerImpl {
  const op = opendalOperator(tools, "gcs", {
    bucket: c.bucket,
    endpoint: c.endpoint,
    root: "/",
    allow_anonymous: "true",
    disable_vm_metadata: "true",
    disable_config_load: "true",
  });
  return {
    get: (key) => op.read(key),
    range: (key, offset, length) => op.read(key, { offset: BigInt(offset), size: BigInt(length) }),
    put: async (key, data) => void (await op.write(key, Buffer.from(data.buffer, data.byteOffset, data.length))),
    list: async (prefix) => countFiles(await op.list(prefix, { recursive: true })),
  };
}

/** gs:// on fake-gcs-server (from @range/test-servers), objects in its memory. */
export const gcsBackend: BenchBackend = {
  name: "gcs",
  title: "gs:// (one local fake-gcs-server)",
  embedded: false,
  peers: [
    {
      id: "sdk",
      label: {
        get: "plain `file.download()` (one request, @google-cloud/storage)",
        range: "plain `file.download({ start, end })`",
        stream: "plain `file.createReadStream()`",
        put: "plain `file.save(data, { resumable: false })` (one request)",
        list: "plain `bucket.getFiles({ prefix })`",
      },
      ops: ["get", "range", "stream", "put", "list"],
      baselineFor: ["get", "range", "stream", "put", "list"],
    },
    {
      id: "transfer-manager",
      label: {
        get: "SDK parallel helper `TransferManager.downloadFileInChunks` (defaults; via a temp file)",
        put: "SDK parallel helper `TransferManager.uploadFileInChunks` (defaults: 32 MiB parts, 5 at a time; from a temp file)",
      },
      ops: ["get", "put"],
    },
    {
      id: "opendal",
      label: { get: "OpenDAL `gcs` read", range: "OpenDAL `gcs` read { offset, size }", put: "OpenDAL `gcs` write", list: "OpenDAL `gcs` list { recursive }" },
      ops: ["get", "range", "put", "list"],
      needs: "opendal",
    },
  ],
  unavailable: () => missingPackage("@range/gcs"),
  async start(ctx) {
    const { startFakeGcsServer } = await import("@range/test-servers");
    const { createGcsStore } = await import("@range/gcs");
    ctx.log("gcs: starting fake-gcs-server");
    const server = await startFakeGcsServer({ buckets: [BUCKET] });
    const connection: GcsConnection = { endpoint: server.endpoint, projectId: server.projectId, bucket: BUCKET };
    const store = createGcsStore({ bucket: BUCKET, apiEndpoint: server.endpoint, projectId: server.projectId });
    return {
      // serverPids: the worker reads their CPU time per round from /proc.
      connection: { ...connection, serverPids: [...server.pids] },
      description: `fake-gcs-server ${server.install.version} (one process, memory backend) on loopback`,
      write: async (key, bytes) => void (await store.put(key, bytes)),
      async stop() {
        await store.close();
        await server.stop();
      },
    };
  },
  async connect(raw) {
    const c = raw as unknown as GcsConnection;
    const { createGcsStore } = await import("@range/gcs");
    // With 16 ranged downloads in flight, the SDK's HTTP layer (teeny-request's pipeline) puts more than 10 error and
    // close listeners on one PassThrough and Node prints a MaxListenersExceededWarning per request: only the warning
    // threshold is raised, in this worker.
    const { EventEmitter } = await import("node:events");
    EventEmitter.defaultMaxListeners = Math.max(EventEmitter.defaultMaxListeners, 64);
    return {
      store: (engine) => createGcsStore({ bucket: c.bucket, apiEndpoint: c.endpoint, projectId: c.projectId, ...(engine ? { engine } : {}) }),
      async peer(id, tools) {
        if (id === "sdk") return sdkPeer(c);
        if (id === "transfer-manager") return transferManagerPeer(c);
        if (id === "opendal") return opendalPeer(c, tools);
        throw new Error(`no gcs peer ${id}`);
      },
      requests: httpRequestCounter(["sdk", "transfer-manager"]),
      close: async () => {},
    };
  },
};
