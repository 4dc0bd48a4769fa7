import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { NotFoundError, type RequestEvent } from "@range/core";
import { createS3Store, type S3Store, type S3StoreOptions } from "@range/s3";
import { startSeaweedFsCluster, type SeaweedFsServer } from "@range/test-servers";
import { readOpLog, withOpLog, type OpRecord } from "../src/index.js";

// A real SeaweedFS cluster: 1 master, 1 volume server, 1 filer and THREE S3 gateways serving the same buckets.
const BUCKET = "range-oplog-endpoints";
const KiB = 1024;
const MiB = 1024 * KiB;

let cluster: SeaweedFsServer;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "range-oplog-s3-"));
  cluster = await startSeaweedFsCluster({ volumes: 1, s3Gateways: 3, buckets: [BUCKET] });
}, 180_000);

afterAll(async () => {
  await cluster?.stop();
  await rm(dir, { recursive: true, force: true });
});

function open(prefix: string, options: Partial<S3StoreOptions> = {}): S3Store {
  return createS3Store({
    bucket: BUCKET,
    prefix,
    region: cluster.region,
    credentials: { accessKeyId: cluster.accessKeyId, secretAccessKey: cluster.secretAccessKey },
    endpoints: [...cluster.endpoints],
    // Small ranges, so one large get is split over several requests (and so over several gateways).
    engine: { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 4 },
    multipartThreshold: 4 * MiB,
    partSize: 5 * MiB,
    ...options,
  });
}

async function readAll(path: string): Promise<OpRecord[]> {
  const records: OpRecord[] = [];
  for await (const record of readOpLog(path)) records.push(record);
  return records;
}

const payload = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

/** A mixed workload: puts, gets (one split into ranges), ranged reads, stats, a miss, a listing, a prefix delete. */
async function workload(store: ReturnType<typeof withOpLog>): Promise<void> {
  const keys = Array.from({ length: 12 }, (_, i) => `obj-${i}.bin`);
  await Promise.all(keys.map((key, i) => store.put(key, payload(4 * KiB + i, i))));
  await store.put("large.bin", payload(5 * MiB, 7));
  for (let round = 0; round < 2; round++) await Promise.all(keys.map((key) => store.get(key)));
  expect((await store.get("large.bin")).length).toBe(5 * MiB);
  await Promise.all(keys.map((key) => store.getRange(key, 100, 200)));
  await Promise.all(keys.slice(0, 4).map((key) => store.stat(key)));
  await expect(store.get("missing.bin")).rejects.toBeInstanceOf(NotFoundError);
  let listed = 0;
  for await (const _ of store.list("")) listed++;
  expect(listed).toBe(13);
  expect(await store.deletePrefix("")).toBe(13);
}

describe("op-log on a multi-endpoint S3 store (SeaweedFS, 3 gateways)", () => {
  it("names the endpoint of every operation, and with requests: true logs one line per request whose counts match endpointStats()", async () => {
    const s3 = open("multi/");
    const events: RequestEvent[] = [];
    const unsubscribe = s3.onRequest!((event) => events.push(event));
    const path = join(dir, "multi.tsv.gz");
    const store = withOpLog(s3, { path, requests: true });
    await workload(store);
    const stats = s3.endpointStats();
    unsubscribe();
    await store.close();

    const records = await readAll(path);
    const requests = records.filter((r) => r.method === undefined);
    const operations = records.filter((r) => r.method !== undefined);
    const endpoints = [...cluster.endpoints];

    // One request line per request the store sent, per endpoint exactly as many as the pool counted.
    const perEndpoint = (list: { endpoint: string }[]) => Object.fromEntries(endpoints.map((e) => [e, list.filter((r) => r.endpoint === e).length]));
    const expected = Object.fromEntries(stats.map((s) => [s.endpoint, s.requests]));
    expect(perEndpoint(requests)).toEqual(expected);
    expect(requests.length).toBe(stats.reduce((n, s) => n + s.requests, 0));
    // The listener saw the same requests as the file.
    expect(perEndpoint(events)).toEqual(expected);
    // Round-robin over three gateways: every one of them served requests.
    for (const endpoint of endpoints) expect(expected[endpoint]).toBeGreaterThan(5);
    // Named as S3 names them; the 5 MiB put (multipart threshold 4 MiB here) went out in parts.
    const known = ["PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "GetObject", "HeadObject", "ListObjectsV2", "DeleteObjects"];
    for (const r of requests) expect(known).toContain(r.op);
    for (const op of ["PutObject", "UploadPart", "GetObject", "ListObjectsV2", "DeleteObjects"]) expect(requests.some((r) => r.op === op), op).toBe(true);
    // The miss is a request that was answered (outcome ok) with an error.
    expect(requests.find((r) => r.key === "missing.bin")?.error).toBe("E_NOT_FOUND");
    // Request bytes add up to what the pool counted.
    for (const s of stats) {
      expect(requests.filter((r) => r.endpoint === s.endpoint).reduce((n, r) => n + r.bytes, 0)).toBe(s.bytes);
    }

    // Every operation line names the endpoint(s) that served it; together they cover all three gateways.
    const keyed = operations.filter((r) => r.op !== "DELETE_PREFIX");
    for (const r of keyed) {
      expect(r.endpoint, `${r.op} ${r.key}`).not.toBe("");
      for (const endpoint of r.endpoint.split(",")) expect(endpoints).toContain(endpoint);
    }
    expect(new Set(keyed.flatMap((r) => r.endpoint.split(",")))).toEqual(new Set(endpoints));
    // The 5 MiB get went out as several ranges, round-robin: more than one gateway served it.
    const large = operations.find((r) => r.op === "GET" && r.key === "large.bin")!;
    expect(large.endpoint.split(",").length).toBeGreaterThan(1);
    // A request line carries the thread of the operation it belongs to.
    const smallGet = operations.find((r) => r.method === "get" && r.key === "obj-3.bin")!;
    expect(requests.some((r) => r.op === "GetObject" && r.key === "obj-3.bin" && r.thread === smallGet.thread)).toBe(true);
  }, 120_000);

  it("without requests: true the file holds only operations, each with its endpoint; a single-endpoint store records its one endpoint", async () => {
    const path = join(dir, "ops.jsonl");
    const multi = withOpLog(open("ops/"), { path });
    await workload(multi);
    await multi.close();
    const records = await readAll(path);
    expect(records.every((r) => r.method !== undefined)).toBe(true);
    expect(new Set(records.filter((r) => r.op !== "DELETE_PREFIX").flatMap((r) => r.endpoint.split(",")))).toEqual(new Set(cluster.endpoints));

    const single = cluster.endpoints[1]!;
    const onePath = join(dir, "single.tsv");
    const one = withOpLog(open("single/", { endpoints: [single] }), { path: onePath });
    await one.put("a.bin", payload(1000, 1));
    await one.get("a.bin");
    await one.stat("a.bin");
    await one.deletePrefix("");
    await one.close();
    const singleRecords = await readAll(onePath);
    expect(singleRecords.map((r) => [r.op, r.endpoint])).toEqual([
      ["PUT", single],
      ["GET", single],
      ["STAT", single],
      ["DELETE_PREFIX", single],
    ]);
  }, 120_000);
});
