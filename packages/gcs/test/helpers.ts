import { randomBytes } from "node:crypto";
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes as fixtureRandomBytes } from "@range/conformance";
import { createObjectStore, type ObjectStore, type RangeEngineOptions } from "@range/core";
import { inject } from "vitest";
import { GcsDriver, type GcsStoreOptions } from "../src/index.js";

export const BUCKET = "range-gcs-test";

/** A fresh key prefix per test file run, so reruns against one server never collide. */
export const RUN = `run-${randomBytes(4).toString("hex")}/`;

export function endpoint(): string {
  return inject("gcs").endpoint;
}

/** Deterministic bytes, from the conformance kit. */
export function bytes(size: number, seed: number): Uint8Array {
  return fixtureRandomBytes(size, seed);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** One request the proxy saw. */
export interface SeenRequest {
  method: string;
  /** Path and query, e.g. `/storage/v1/b/x/o/y?alt=media&generation=1`. */
  url: string;
  headers: IncomingMessage["headers"];
  /** "media" (object bytes), "upload", "json" (metadata, list, delete, ...). */
  kind: "media" | "upload" | "json";
  /** 0-based index among requests of the same kind. */
  index: number;
}

export interface ProxyHooks {
  /** Runs before a request is forwarded; may delay it, or answer it itself by returning a status. */
  before?: (request: SeenRequest) => Promise<number | void> | number | void;
  /** Rewrites response headers (e.g. `x-goog-hash`) of a request. */
  responseHeaders?: (request: SeenRequest, headers: IncomingMessage["headers"]) => void;
  /** Flips the byte at this offset of a response body (counted per response), when it returns a number. */
  corruptResponse?: (request: SeenRequest) => number | undefined;
  /** Flips the byte at this offset of a request body (counted per request), when it returns a number. */
  corruptRequest?: (request: SeenRequest) => number | undefined;
}

/**
 * An HTTP proxy in front of fake-gcs-server that records every request and can delay, fail or corrupt one: the real
 * server and the real SDK stay in the loop, only the wire is tampered with.
 */
export class GcsProxy {
  readonly requests: SeenRequest[] = [];
  hooks: ProxyHooks = {};
  readonly #server: Server;
  readonly #target: URL;
  readonly #counts = new Map<string, number>();

  private constructor(target: string) {
    this.#target = new URL(target);
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  static async start(target = endpoint()): Promise<GcsProxy> {
    const proxy = new GcsProxy(target);
    await new Promise<void>((resolve) => proxy.#server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  count(kind: SeenRequest["kind"]): number {
    return this.requests.filter((r) => r.kind === kind).length;
  }

  clear(): void {
    this.requests.length = 0;
    this.#counts.clear();
  }

  async close(): Promise<void> {
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? "/";
    const kind: SeenRequest["kind"] = url.startsWith("/upload/") ? "upload" : /[?&]alt=media(&|$)/.test(url) ? "media" : "json";
    const index = this.#counts.get(kind) ?? 0;
    this.#counts.set(kind, index + 1);
    const seen: SeenRequest = { method: req.method ?? "GET", url, headers: req.headers, kind, index };
    this.requests.push(seen);
    try {
      const status = await this.hooks.before?.(seen);
      if (typeof status === "number") {
        req.resume();
        res.writeHead(status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: status, message: `injected by the test proxy (HTTP ${status})` } }));
        return;
      }
    } catch {
      res.destroy();
      return;
    }
    const headers = { ...req.headers, host: this.#target.host };
    const upstream = request(
      { hostname: this.#target.hostname, port: this.#target.port, path: url, method: req.method, headers },
      (response) => {
        const responseHeaders = { ...response.headers };
        // Resumable session URLs point at the server: send the client back through the proxy.
        if (typeof responseHeaders.location === "string") responseHeaders.location = responseHeaders.location.replace(this.#target.origin, this.endpoint);
        this.hooks.responseHeaders?.(seen, responseHeaders);
        res.writeHead(response.statusCode ?? 502, responseHeaders);
        const flipAt = this.hooks.corruptResponse?.(seen);
        pipeFlipping(response, res, flipAt);
      },
    );
    upstream.on("error", () => res.destroy());
    res.on("close", () => upstream.destroy());
    pipeFlipping(req, upstream, this.hooks.corruptRequest?.(seen));
  }
}

/** Pipes `from` into `to`, flipping the bits of the byte at `flipAt` (if any) on the way. */
function pipeFlipping(from: IncomingMessage, to: NodeJS.WritableStream & { destroy(): void }, flipAt: number | undefined): void {
  let position = 0;
  from.on("data", (chunk: Buffer) => {
    if (flipAt !== undefined && flipAt >= position && flipAt < position + chunk.length) {
      chunk = Buffer.from(chunk);
      chunk[flipAt - position] = chunk[flipAt - position]! ^ 0xff;
    }
    position += chunk.length;
    if (!to.write(chunk)) {
      from.pause();
      to.once("drain", () => from.resume());
    }
  });
  from.on("end", () => to.end());
  from.on("error", () => to.destroy());
  from.on("aborted", () => to.destroy());
}

/** A driver and store on the test bucket under this run's prefix, optionally through `proxy`. */
export function gcsStore(
  options: Partial<GcsStoreOptions> & { engine?: RangeEngineOptions; proxy?: GcsProxy } = {},
): { store: ObjectStore; driver: GcsDriver } {
  const { proxy, ...rest } = options;
  const driver = new GcsDriver({
    bucket: BUCKET,
    prefix: RUN,
    ...(proxy ? { apiEndpoint: proxy.endpoint } : {}),
    ...rest,
  });
  return { store: createObjectStore(driver, rest.engine ? { engine: rest.engine } : {}), driver };
}
