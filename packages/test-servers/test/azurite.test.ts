import { existsSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { azureBlobRequest, azuriteGlobalSetup, installAzurite, startAzurite, type AzureConnection, type AzuriteServer } from "../src/index.js";

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("installAzurite", () => {
  // The first run installs Azurite from npm (~360 MB of packages): give it the install's time, not a test's.
  it("finds or installs an azurite-blob script that runs, then hits the cache", { timeout: 900_000 }, async () => {
    const install = await installAzurite();
    expect(existsSync(install.script)).toBe(true);
    expect(install.version).toMatch(/^\d+\.\d+\.\d+$/);
    const again = await installAzurite();
    expect(again.source === "cache" || again.source === "env").toBe(true);
    expect(again.script).toBe(install.script);
  });
});

describe("startAzurite", () => {
  let server: AzuriteServer;
  beforeAll(async () => {
    server = await startAzurite({ containers: ["kit-container"] });
  });
  afterAll(async () => {
    await server?.stop();
  });

  it("serves the blob API on loopback for its account, with SharedKey auth", async () => {
    expect(new URL(server.endpoint).hostname).toBe("127.0.0.1");
    expect(server.endpoint).toBe(`${new URL(server.endpoint).origin}/${server.account}`);
    const put = await azureBlobRequest(server, {
      method: "PUT",
      path: "/kit-container/a dir/b.txt",
      headers: { "x-ms-blob-type": "BlockBlob", "content-type": "text/plain" },
      body: Buffer.from("hello"),
    });
    expect(put.status).toBe(201);
    const get = await azureBlobRequest(server, { method: "GET", path: "/kit-container/a dir/b.txt" });
    expect(get.status).toBe(200);
    expect(get.body.toString()).toBe("hello");
  });

  it("checks signatures: a wrong key and an anonymous request are refused, and devstoreaccount1 is off", async () => {
    const wrong = await azureBlobRequest({ ...server, accountKey: Buffer.from("not-the-key").toString("base64") }, { method: "GET", path: "/kit-container/a dir/b.txt" });
    expect(wrong.status).toBe(403);
    const anonymous = await fetch(`${server.endpoint}/kit-container/a%20dir/b.txt`);
    expect(anonymous.status).toBe(403);
    const wellKnown = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
    const devstore = await azureBlobRequest(
      { blobEndpoint: `${new URL(server.endpoint).origin}/devstoreaccount1`, account: "devstoreaccount1", accountKey: wellKnown },
      { method: "GET", path: "", query: { comp: "list" } },
    );
    expect(devstore.status).not.toBe(200);
  });

  it("env() and the connection string name the endpoint, account and key", () => {
    expect(server.env()).toEqual({ AZURE_STORAGE_CONNECTION_STRING: server.connectionString });
    expect(server.connectionString).toBe(
      `DefaultEndpointsProtocol=http;AccountName=${server.account};AccountKey=${server.accountKey};BlobEndpoint=${server.blobEndpoint};`,
    );
  });

  it("createContainer is idempotent", async () => {
    await server.createContainer("kit-second");
    await server.createContainer("kit-second");
    const list = await azureBlobRequest(server, { method: "GET", path: "", query: { comp: "list" } });
    expect(list.body.toString()).toContain("<Name>kit-second</Name>");
  });
});

describe("stop", () => {
  it("kills the process and removes the data dir; stop() is idempotent", async () => {
    const server = await startAzurite({ inMemory: true });
    expect(alive(server.pids[0]!)).toBe(true);
    expect(existsSync(server.dataDir)).toBe(true);
    await Promise.all([server.stop(), server.stop()]);
    expect(alive(server.pids[0]!)).toBe(false);
    expect(existsSync(server.dataDir)).toBe(false);
    await expect(fetch(server.endpoint, { signal: AbortSignal.timeout(2_000) })).rejects.toThrow();
  });
});

describe("azuriteGlobalSetup", () => {
  it("provides the connection, sets AZURE_STORAGE_CONNECTION_STRING, and the teardown restores it", async () => {
    const provided = new Map<string, unknown>();
    const before = process.env.AZURE_STORAGE_CONNECTION_STRING;
    const teardown = await azuriteGlobalSetup({ containers: ["kit-global"] })({ provide: (k, v) => provided.set(k, v) });
    const connection = provided.get("azure") as AzureConnection;
    expect(connection.containers).toEqual(["kit-global"]);
    expect(process.env.AZURE_STORAGE_CONNECTION_STRING).toBe(connection.connectionString);
    const list = await azureBlobRequest(connection, { method: "GET", path: "", query: { comp: "list" } });
    expect(list.body.toString()).toContain("<Name>kit-global</Name>");
    await teardown();
    expect(process.env.AZURE_STORAGE_CONNECTION_STRING).toBe(before);
  });
});
