import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import sirv from "sirv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openStore, registerBackend } from "@range/core";
import { runObjectStoreConformance } from "@range/conformance";
import { createHttpStore, httpBackend } from "../src/index.js";

let root: string;
let server: Server;
let baseUrl: string;
let requests = 0;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "range-http-"));
  // sirv: a maintained static file server that honours Range and answers ETag / Last-Modified.
  const serve = sirv(root, { dev: true, etag: true, dotfiles: true });
  server = createServer((req, res) => {
    requests++;
    serve(req, res, () => {
      res.statusCode = 404;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(root, { recursive: true, force: true });
});

/** Out-of-band writer for the read-only backend: puts the file where the server serves it from. */
async function seed(key: string, data: Uint8Array): Promise<void> {
  const path = join(root, ...key.split("/"));
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, data);
}

runObjectStoreConformance({
  name: "http (example third-party backend)",
  create: async () => createHttpStore({ baseUrl }),
  capabilities: { write: false, list: false },
  seed,
  // sirv decodes request paths with decodeURI, which leaves %3F and %23 encoded: it cannot serve a file whose name
  // contains "?" or "#". That is the test server's limit, not the backend's (it sends them percent-encoded).
  skip: [
    'key "plus+and&=?.txt" round-trips through put, stat, get and getRange',
    'key "hash#tag.bin" round-trips through put, stat, get and getRange',
  ],
});

describe("http backend specifics", () => {
  it("registers with registerBackend and opens http:// URIs", async () => {
    registerBackend(httpBackend, { replace: true });
    await seed("via-uri/a.bin", new Uint8Array([1, 2, 3]));
    const store = await openStore(`${baseUrl}via-uri/`);
    expect([...(await store.get("a.bin"))]).toEqual([1, 2, 3]);
  });

  it("reads a small object with ONE request and a large one as concurrent ranges", async () => {
    const store = createHttpStore({ baseUrl });
    await seed("sizes/small.bin", new Uint8Array(1000).fill(7));
    await seed("sizes/large.bin", new Uint8Array(6 * 1024 * 1024).fill(9));
    requests = 0;
    await store.get("sizes/small.bin");
    expect(requests).toBe(1);
    requests = 0;
    let ranges = 0;
    const data = await store.get("sizes/large.bin", { onStats: (s) => (ranges = s.ranges) });
    expect(data.every((b) => b === 9)).toBe(true);
    expect(ranges).toBeGreaterThan(1);
    expect(requests).toBe(ranges);
  });

  it("is read-only: writes are a typed error", async () => {
    const store = createHttpStore({ baseUrl });
    await expect(store.put("x", new Uint8Array(1))).rejects.toMatchObject({ code: "E_READ_ONLY" });
  });
});
