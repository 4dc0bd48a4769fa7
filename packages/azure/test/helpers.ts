import { randomBytes } from "node:crypto";
import { Agent, createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes as fixtureRandomBytes } from "@range/conformance";
import { createObjectStore, type ObjectStore, type RangeEngineOptions } from "@range/core";
import { inject } from "vitest";
import { AzureDriver, type AzureStoreOptions } from "../src/index.js";

export const CONTAINER = "range-azure-test";

/** A fresh key prefix per test file run, so reruns against one server never collide. */
export const RUN = `run-${randomBytes(4).toString("hex")}/`;

export function connection() {
  const azure = inject("azure");
  return { endpoint: azure.blobEndpoint, account: azure.account, accountKey: azure.accountKey };
}

/** The operation a Blob service request performs, from its method and query (as the REST API names them). */
function operationOf(method: string, url: URL): string {
  const comp = url.searchParams.get("comp");
  const container = url.searchParams.get("restype") === "container";
  if (method === "POST" && comp === "batch") return "BlobBatch";
  if (container) {
    if (comp === "list") return "ListBlobs";
    return `${method} container`;
  }
  if (method === "GET" && comp === "list") return "ListContainers";
  if (method === "HEAD") return "GetProperties";
  if (method === "GET" && comp === "blocklist") return "GetBlockList";
  if (method === "GET") return "Download";
  if (method === "PUT" && comp === "block") return "StageBlock";
  if (method === "PUT" && comp === "blocklist") return "CommitBlockList";
  if (method === "PUT" && comp === null) return "Upload";
  if (method === "DELETE") return "Delete";
  return `${method} ${comp ?? ""}`.trim();
}

/** A response the proxy sends instead of forwarding (e.g. a 503 with Retry-After). */
export interface ProxyReply {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

export interface RecordedRequest {
  operation: string;
  method: string;
  url: URL;
  headers: IncomingHttpHeaders;
}

/**
 * A tiny HTTP proxy in front of Azurite that records every request a store sends (on the wire, so the SDK is not
 * mocked or patched) and how many of each operation ran at once. `before` may hold a request back.
 */
export class RecordingProxy {
  readonly requests: RecordedRequest[] = [];
  readonly maxInFlight = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  /** Runs before a request is forwarded: may delay it, or answer it instead of Azurite by returning a response. */
  before: ((request: RecordedRequest) => Promise<ProxyReply | void> | ProxyReply | void) | undefined;
  readonly #server: Server;
  readonly #upstream: URL;
  readonly #agent = new Agent({ keepAlive: true });

  private constructor(server: Server, upstream: URL) {
    this.#server = server;
    this.#upstream = upstream;
  }

  /** Proxies to the origin of `blobEndpoint`. */
  static async start(blobEndpoint: string): Promise<RecordingProxy> {
    const server = createServer();
    const proxy = new RecordingProxy(server, new URL(blobEndpoint));
    server.on("request", (req, res) => void proxy.#handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  /** The blob endpoint to give a store: this proxy's origin with the account path. */
  get endpoint(): string {
    const { port } = this.#server.address() as AddressInfo;
    return `http://127.0.0.1:${port}${this.#upstream.pathname}`;
  }

  count(operation: string): number {
    return this.requests.filter((r) => r.operation === operation).length;
  }

  of(operation: string): RecordedRequest[] {
    return this.requests.filter((r) => r.operation === operation);
  }

  clear(): void {
    this.requests.length = 0;
    this.maxInFlight.clear();
  }

  async #handle(req: import("node:http").IncomingMessage, res: import("node:http").ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://proxy");
    const recorded: RecordedRequest = { operation: operationOf(req.method ?? "GET", url), method: req.method ?? "GET", url, headers: { ...req.headers } };
    this.requests.push(recorded);
    const { operation } = recorded;
    const n = (this.#inFlight.get(operation) ?? 0) + 1;
    this.#inFlight.set(operation, n);
    this.maxInFlight.set(operation, Math.max(n, this.maxInFlight.get(operation) ?? 0));
    res.once("close", () => this.#inFlight.set(operation, (this.#inFlight.get(operation) ?? 1) - 1));
    let reply: ProxyReply | void;
    try {
      reply = await this.before?.(recorded);
    } catch {
      res.destroy();
      return;
    }
    if (reply) {
      req.resume();
      res.writeHead(reply.status, { "content-type": "application/xml", ...reply.headers });
      res.end(reply.body ?? "");
      return;
    }
    const upstream = request(
      { host: this.#upstream.hostname, port: this.#upstream.port, method: req.method, path: req.url, headers: req.headers, agent: this.#agent },
      (upstreamRes) => {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.headers);
        upstreamRes.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    res.once("close", () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#agent.destroy();
  }
}

/** A store (and its driver) whose requests go through a {@link RecordingProxy}. */
export async function recordedStore(
  options: Partial<AzureStoreOptions> & { engine?: RangeEngineOptions } = {},
): Promise<{ store: ObjectStore; driver: AzureDriver; log: RecordingProxy; close: () => Promise<void> }> {
  const log = await RecordingProxy.start(connection().endpoint);
  const driver = new AzureDriver({ ...connection(), endpoint: log.endpoint, container: CONTAINER, prefix: RUN, ...options });
  const store = createObjectStore(driver, options.engine ? { engine: options.engine } : {});
  return {
    store,
    driver,
    log,
    close: async () => {
      await store.close();
      await log.close();
    },
  };
}

/** Deterministic bytes, from the conformance kit. */
export function bytes(size: number, seed: number): Uint8Array {
  return fixtureRandomBytes(size, seed);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

export function errorOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}
