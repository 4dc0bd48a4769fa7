import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  installSeaweedFs,
  s3Request,
  seaweedFsGlobalSetup,
  startSeaweedFs,
  startSeaweedFsCluster,
  type S3Connection,
  type SeaweedFsServer,
} from "../src/index.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("installSeaweedFs", () => {
  it("finds or installs a weed binary that runs", async () => {
    const install = await installSeaweedFs();
    expect(existsSync(install.binary)).toBe(true);
    expect(install.version).toMatch(/\d+\.\d+/);
    // A second call is a cache hit.
    const again = await installSeaweedFs();
    expect(again.source === "cache" || again.source === "env").toBe(true);
    expect(again.binary).toBe(install.binary);
  });
});

describe("startSeaweedFs", () => {
  let server: SeaweedFsServer;
  beforeAll(async () => {
    server = await startSeaweedFs({ buckets: ["kit-bucket"] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("serves S3 on loopback with the configured identity", async () => {
    expect(new URL(server.endpoint).hostname).toBe("127.0.0.1");
    const put = await s3Request(server, { method: "PUT", path: "/kit-bucket/a/b.txt", body: Buffer.from("hello") });
    expect(put.status).toBe(200);
    const get = await s3Request(server, { method: "GET", path: "/kit-bucket/a/b.txt" });
    expect(get.status).toBe(200);
    expect(get.body.toString()).toBe("hello");
  });

  it("checks request signatures: a wrong secret and an anonymous request are refused", async () => {
    const wrong = await s3Request({ ...server, endpoint: server.endpoint, region: server.region, accessKeyId: server.accessKeyId, secretAccessKey: "not-the-secret" }, {
      method: "GET",
      path: "/kit-bucket/a/b.txt",
    });
    expect(wrong.status).toBe(403);
    expect(wrong.body.toString()).toContain("SignatureDoesNotMatch");
    const anonymous = await fetch(`${server.endpoint}/kit-bucket/a/b.txt`);
    expect(anonymous.status).toBe(403);
  });

  it("env() names the AWS variables", () => {
    expect(server.env()).toEqual({
      AWS_ENDPOINT_URL: server.endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: server.accessKeyId,
      AWS_SECRET_ACCESS_KEY: server.secretAccessKey,
    });
  });

  it("createBucket is idempotent", async () => {
    await server.createBucket("kit-second");
    await server.createBucket("kit-second");
    const list = await s3Request(server, { method: "GET", path: "/" });
    expect(list.body.toString()).toContain("<Name>kit-second</Name>");
  });
});

describe("stop", () => {
  it("kills the process group, removes the data dir, and is idempotent", async () => {
    const server = await startSeaweedFs();
    expect(server.pids.every(alive)).toBe(true);
    await server.stop();
    await server.stop();
    expect(server.pids.some(alive)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
  });
});

describe("startSeaweedFsCluster", () => {
  it("runs master, 3 volume servers, filer and S3 gateway as separate processes", async () => {
    await using cluster = await startSeaweedFsCluster({ volumes: 3, buckets: ["cluster-bucket"] });
    expect(cluster.processes.map((p) => p.name)).toEqual([
      "seaweedfs master",
      "seaweedfs volume-0",
      "seaweedfs volume-1",
      "seaweedfs volume-2",
      "seaweedfs filer",
      "seaweedfs s3",
    ]);
    expect(new Set(cluster.pids).size).toBe(6);
    const status = (await (await fetch(`${cluster.masterUrl}/dir/status`)).json()) as {
      Topology: { DataCenters: { Racks: { DataNodes: unknown[] }[] }[] };
    };
    const nodes = status.Topology.DataCenters.flatMap((dc) => dc.Racks.flatMap((r) => r.DataNodes));
    expect(nodes.length).toBe(3);
    // Several objects, so writes land on more than one volume server.
    for (let i = 0; i < 10; i++) {
      const body = Buffer.alloc(100_000, i);
      expect((await s3Request(cluster, { method: "PUT", path: `/cluster-bucket/o${i}`, body })).status).toBe(200);
    }
    for (let i = 0; i < 10; i++) {
      const got = await s3Request(cluster, { method: "GET", path: `/cluster-bucket/o${i}` });
      expect(got.body.equals(Buffer.alloc(100_000, i))).toBe(true);
    }
  });
});

describe("seaweedFsGlobalSetup", () => {
  it("provides the connection, sets the AWS variables, and its teardown stops the server and restores them", async () => {
    const provided = new Map<string, unknown>();
    const before = process.env.AWS_ENDPOINT_URL;
    const teardown = await seaweedFsGlobalSetup({ buckets: ["setup-bucket"] })({ provide: (k, v) => provided.set(k, v) });
    const connection = provided.get("s3") as S3Connection;
    expect(connection.buckets).toEqual(["setup-bucket"]);
    expect(process.env.AWS_ENDPOINT_URL).toBe(connection.endpoint);
    const put = await s3Request(connection, { method: "PUT", path: "/setup-bucket/x", body: Buffer.from("x") });
    expect(put.status).toBe(200);
    await teardown();
    expect(process.env.AWS_ENDPOINT_URL).toBe(before);
    await expect(fetch(connection.endpoint)).rejects.toThrow();
  });
});
