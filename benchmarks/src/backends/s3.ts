import { Agent } from "node:http";
import type { S3Client } from "@aws-sdk/client-s3";
import { countFiles, opendalOperator } from "../lib/external.js";
import { missingPackage } from "./lazy.js";
import { s3dlioPeer } from "./local.js";
import type { BenchBackend, PeerImpl, PeerTools, RequestCounter } from "./types.js";

const BUCKET = "bench";
const MiB = 1024 * 1024;

interface S3Connection {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  /** SeaweedFS's Prometheus endpoint: its S3 request counters count every client's requests (Node, Rust, Python). */
  metricsUrl: string;
}

/** Sum of SeaweedFS's `SeaweedFS_s3_request_total` for the bucket. */
async function seaweedRequests(metricsUrl: string, bucket: string): Promise<number> {
  const text = await (await fetch(metricsUrl)).text();
  let total = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith("SeaweedFS_s3_request_total{") && line.includes(`bucket="${bucket}"`)) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

async function sdkClient(c: S3Connection): Promise<S3Client> {
  const { S3Client } = await import("@aws-sdk/client-s3");
  return new S3Client({
    endpoint: c.endpoint,
    region: c.region,
    credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
    forcePathStyle: true,
    // As @range/s3 does: no CRC32 of every upload, no validation a ranged GET cannot do anyway.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: 64 }) },
  });
}

async function sdkPeer(c: S3Connection, id: string): Promise<PeerImpl> {
  const sdk = await import("@aws-sdk/client-s3");
  const client = await sdkClient(c);
  const close = async () => client.destroy();
  if (id === "upload") {
    const { Upload } = await import("@aws-sdk/lib-storage");
    return {
      put: async (key, data) => void (await new Upload({ client, params: { Bucket: c.bucket, Key: key, Body: data } }).done()),
      close,
    };
  }
  return {
    // The whole object in ONE GetObject, its body copied into a buffer of Content-Length as it arrives.
    async get(key, _size, firstByte) {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: c.bucket, Key: key }));
      const buffer = Buffer.allocUnsafeSlow(out.ContentLength ?? 0);
      let at = 0;
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        if (at === 0) firstByte();
        buffer.set(chunk, at);
        at += chunk.length;
      }
      return buffer.subarray(0, at);
    },
    async range(key, offset, length) {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: c.bucket, Key: key, Range: `bytes=${offset}-${offset + length - 1}` }));
      return out.Body!.transformToByteArray();
    },
    async *stream(key, firstByte) {
      const out = await client.send(new sdk.GetObjectCommand({ Bucket: c.bucket, Key: key }));
      let first = true;
      for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
        if (first) firstByte();
        first = false;
        yield chunk;
      }
    },
    put: async (key, data) => void (await client.send(new sdk.PutObjectCommand({ Bucket: c.bucket, Key: key, Body: data }))),
    async list(prefix) {
      let n = 0;
      for await (const page of sdk.paginateListObjectsV2({ client }, { Bucket: c.bucket, Prefix: prefix })) n += page.Contents?.length ?? 0;
      return n;
    },
    close,
  };
}

function opendalPeer(c: S3Connection, tools: PeerTools, concurrent: boolean): PeerImpl {
  const op = opendalOperator(tools, "s3", {
    bucket: c.bucket,
    root: "/",
    endpoint: c.endpoint,
    region: c.region,
    access_key_id: c.accessKeyId,
    secret_access_key: c.secretAccessKey,
  });
  if (concurrent) return { get: (key) => op.read(key, { concurrent: 32, chunk: 8 * MiB }) };
  return {
    get: (key) => op.read(key),
    range: (key, offset, length) => op.read(key, { offset: BigInt(offset), size: BigInt(length) }),
    // chunk + concurrent: a multipart upload of 8 MiB parts, 4 at a time, for objects above one chunk.
    put: async (key, data) => void (await op.write(key, Buffer.from(data.buffer, data.byteOffset, data.length), { chunk: BigInt(8 * MiB), concurrent: 4 })),
    list: async (prefix) => countFiles(await op.list(prefix, { recursive: true })),
  };
}

/** s3:// on one local SeaweedFS (single process, from @range/test-servers), with its metrics port open. */
export const s3Backend: BenchBackend = {
  name: "s3",
  title: "s3:// (one local SeaweedFS)",
  embedded: false,
  peers: [
    {
      id: "sdk",
      label: {
        get: "plain `GetObject` (one request, @aws-sdk/client-s3)",
        range: "plain `GetObject` with `Range`",
        stream: "plain `GetObject` body stream",
        put: "plain `PutObject` (one request)",
        list: "plain `ListObjectsV2` pages",
      },
      ops: ["get", "range", "stream", "put", "list"],
      baselineFor: ["get", "range", "stream", "put", "list"],
    },
    { id: "upload", label: { put: "@aws-sdk/lib-storage `Upload` (defaults: 5 MiB parts, 4 at a time)" }, ops: ["put"] },
    {
      id: "opendal",
      label: { get: "OpenDAL `s3` read", range: "OpenDAL `s3` read { offset, size }", put: "OpenDAL `s3` write { chunk: 8 MiB, concurrent: 4 }", list: "OpenDAL `s3` list { recursive }" },
      ops: ["get", "range", "put", "list"],
      needs: "opendal",
    },
    { id: "opendal-concurrent", label: { get: "OpenDAL `s3` read { concurrent: 32, chunk: 8 MiB }" }, ops: ["get"], needs: "opendal" },
    s3dlioPeer("s3", ["get", "range", "put", "list"]),
  ],
  unavailable: () => missingPackage("@range/s3"),
  async start(ctx) {
    const { freePort, startSeaweedFs } = await import("@range/test-servers");
    const { createS3Store } = await import("@range/s3");
    const metricsPort = await freePort();
    ctx.log("s3: starting SeaweedFS");
    const server = await startSeaweedFs({ buckets: [BUCKET], extraArgs: [`-metricsPort=${metricsPort}`] });
    const connection: S3Connection = {
      endpoint: server.endpoint,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      bucket: BUCKET,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    };
    const store = createS3Store({
      bucket: BUCKET,
      endpoint: connection.endpoint,
      region: connection.region,
      credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
    });
    return {
      // serverPids: the worker reads their CPU time per round from /proc.
      connection: { ...connection, serverPids: [...server.pids] },
      description: `SeaweedFS ${server.install.version} (${server.kind}, one process) on loopback`,
      write: async (key, bytes) => void (await store.put(key, bytes)),
      async stop() {
        await store.close();
        await server.stop();
      },
    };
  },
  async connect(raw) {
    const c = raw as unknown as S3Connection;
    const { createS3Store } = await import("@range/s3");
    const requests: RequestCounter = {
      scope: "SeaweedFS server metrics (`SeaweedFS_s3_request_total`, every client)",
      read: () => seaweedRequests(c.metricsUrl, c.bucket),
      counts: () => true,
    };
    return {
      store: (engine) =>
        createS3Store({
          bucket: c.bucket,
          endpoint: c.endpoint,
          region: c.region,
          credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey },
          ...(engine ? { engine } : {}),
        }),
      async peer(id, tools) {
        if (id === "sdk" || id === "upload") return sdkPeer(c, id);
        if (id === "opendal" || id === "opendal-concurrent") return opendalPeer(c, tools, id === "opendal-concurrent");
        throw new Error(`no s3 peer ${id}`);
      },
      requests,
      external: {
        uri: (key) => `s3://${c.bucket}/${key}`,
        env: {
          AWS_ACCESS_KEY_ID: c.accessKeyId,
          AWS_SECRET_ACCESS_KEY: c.secretAccessKey,
          AWS_REGION: c.region,
          AWS_ENDPOINT_URL: c.endpoint,
        },
        metricsUrl: c.metricsUrl,
      },
      close: async () => {},
    };
  },
};
