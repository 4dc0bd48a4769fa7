import { randomBytes } from "node:crypto";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from "node:net";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { BackendError, HttpGetClient, IntegrityError, RangeConfigError, TimeoutError, isAbortError } from "../src/index.js";

const MiB = 1024 * 1024;
const BODY = randomBytes(3 * MiB + 17);

/** Connections the node:http server accepted, and those still open. */
let accepted = 0;
const openSockets = new Set<Socket>();
let httpServer: HttpServer;
let httpPort: number;

beforeAll(async () => {
  httpServer = createHttpServer((req, res) => {
    const url = new URL(req.url!, "http://x");
    switch (url.pathname) {
      case "/body": {
        const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
        if (range) {
          const [start, end] = [Number(range[1]), Math.min(Number(range[2]), BODY.length - 1)];
          res.writeHead(206, { "content-length": String(end - start + 1), "content-range": `bytes ${start}-${end}/${BODY.length}` });
          res.end(BODY.subarray(start, end + 1));
        } else {
          res.writeHead(200, { "content-length": String(BODY.length), etag: '"v1"' });
          res.end(BODY);
        }
        return;
      }
      case "/chunked-error":
        // No Content-Length: node:http sends Transfer-Encoding: chunked, one chunk per write.
        res.writeHead(503, { "content-type": "application/xml", "retry-after": "2" });
        res.write("<Error><Code>SlowDown</Code>");
        setTimeout(() => res.end("<Message>Please reduce your request rate.</Message></Error>"), 20);
        return;
      case "/long-error":
        res.writeHead(500, { "content-length": String(256 * 1024) });
        res.end(Buffer.alloc(256 * 1024, 65));
        return;
      case "/not-found":
        res.writeHead(404, { "content-length": "9" });
        res.end("NoSuchKey");
        return;
      case "/chunked-ok":
        res.writeHead(200);
        res.write("partial");
        res.end("rest");
        return;
      case "/close":
        res.writeHead(200, { "content-length": "5", connection: "close" });
        res.end("hello");
        return;
      case "/empty":
        res.writeHead(200, { "content-length": "0" });
        res.end();
        return;
      case "/half-then-close":
        res.writeHead(200, { "content-length": String(MiB) });
        res.write(BODY.subarray(0, MiB / 2), () => setTimeout(() => res.destroy(), 10));
        return;
      case "/half-then-stall":
        res.writeHead(200, { "content-length": String(MiB) });
        res.write(BODY.subarray(0, MiB / 2));
        return;
      case "/stall-headers":
        return;
      default:
        res.writeHead(400, { "content-length": "0" });
        res.end();
    }
  });
  httpServer.on("connection", (socket) => {
    accepted++;
    openSockets.add(socket);
    socket.on("close", () => openSockets.delete(socket));
  });
  await new Promise<void>((resolve) => httpServer.listen(0, "127.0.0.1", resolve));
  httpPort = (httpServer.address() as AddressInfo).port;
});
afterAll(async () => {
  httpServer.closeAllConnections();
  await new Promise<void>((resolve) => httpServer.close(() => resolve()));
});

const clients: HttpGetClient[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.close();
});

function client(options: ConstructorParameters<typeof HttpGetClient>[0] = {}): HttpGetClient {
  const c = new HttpGetClient(options);
  clients.push(c);
  return c;
}

function get(c: HttpGetClient, path: string, headers: Record<string, string> = {}, signal?: AbortSignal) {
  return c.get({ host: "127.0.0.1", port: httpPort, path, headers, signal });
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: Error) => error,
  );
}

async function until(condition: () => boolean, ms = 2_000): Promise<void> {
  const end = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > end) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A raw TCP server answering each request with what `reply` writes (a real socket, byte-exact control). */
async function rawServer(reply: (socket: Socket, request: string, index: number) => void): Promise<{ port: number; server: NetServer; connections: number }> {
  const state = { port: 0, server: undefined as unknown as NetServer, connections: 0 };
  state.server = createNetServer((socket) => {
    state.connections++;
    let text = "";
    let index = 0;
    socket.on("data", (data) => {
      text += data.toString("latin1");
      let end: number;
      while ((end = text.indexOf("\r\n\r\n")) >= 0) {
        const request = text.slice(0, end);
        text = text.slice(end + 4);
        reply(socket, request, index++);
      }
    });
    socket.on("error", () => {});
  });
  await new Promise<void>((resolve) => state.server.listen(0, "127.0.0.1", resolve));
  state.port = (state.server.address() as AddressInfo).port;
  return state;
}

describe("HttpGetClient: bodies", () => {
  it("reads a 200 body into the target and reuses the connection for the next requests", async () => {
    const c = client();
    for (let i = 0; i < 4; i++) {
      const response = await get(c, "/body");
      expect(response.status).toBe(200);
      expect(response.contentLength).toBe(BODY.length);
      expect(response.headers.etag).toBe('"v1"');
      const target = new Uint8Array(BODY.length);
      let progress = 0;
      expect(await response.readInto(target, { progress: () => progress++ })).toBe(BODY.length);
      expect(Buffer.from(target).equals(BODY)).toBe(true);
      expect(progress).toBeGreaterThan(0);
    }
    expect(c.connectionStats()).toMatchObject({ opened: 1, open: 1, idle: 1 });
  });

  it("reads a 206 range into a view of a larger buffer (its place in the result)", async () => {
    const c = client();
    const result = new Uint8Array(BODY.length);
    const ranges = [
      [0, MiB],
      [MiB, 2 * MiB],
      [2 * MiB, BODY.length],
    ] as const;
    await Promise.all(
      ranges.map(async ([start, end]) => {
        const response = await get(c, "/body", { range: `bytes=${start}-${end - 1}` });
        expect(response.status).toBe(206);
        expect(response.headers["content-range"]).toBe(`bytes ${start}-${end - 1}/${BODY.length}`);
        expect(await response.readInto(result.subarray(start, end))).toBe(end - start);
      }),
    );
    expect(Buffer.from(result).equals(BODY)).toBe(true);
    expect(c.connectionStats().opened).toBe(3);
  });

  it("a zero-length body resolves at once and frees the connection", async () => {
    const c = client();
    const response = await get(c, "/empty");
    expect(response.contentLength).toBe(0);
    expect(c.connectionStats().idle).toBe(1);
    expect(await response.readInto(new Uint8Array(0))).toBe(0);
  });

  it("Connection: close — the body is read, the connection is not reused", async () => {
    const c = client();
    for (let i = 0; i < 2; i++) {
      const response = await get(c, "/close");
      const target = new Uint8Array(5);
      expect(await response.readInto(target)).toBe(5);
      expect(Buffer.from(target).toString()).toBe("hello");
    }
    expect(c.connectionStats()).toMatchObject({ opened: 2, idle: 0 });
  });

  it("maxSockets: more concurrent requests than sockets wait for one, then reuse it", async () => {
    const c = client({ maxSockets: 2 });
    const reads = Array.from({ length: 6 }, async (_, i) => {
      const response = await get(c, "/body", { range: `bytes=${i * 1000}-${i * 1000 + 99_999}` });
      const target = new Uint8Array(100_000);
      await response.readInto(target);
      expect(Buffer.from(target).equals(BODY.subarray(i * 1000, i * 1000 + 100_000))).toBe(true);
    });
    await Promise.all(reads);
    expect(c.connectionStats()).toMatchObject({ opened: 2, queued: 0 });
  });

  it("a body longer than the target is an IntegrityError, or with allowMore cut at the target (connection closed)", async () => {
    const c = client();
    const error = await rejection((await get(c, "/body")).readInto(new Uint8Array(1000)));
    expect(IntegrityError.isInstance(error) && error.code).toBe("E_LENGTH_MISMATCH");
    const target = new Uint8Array(1000);
    expect(await (await get(c, "/body")).readInto(target, { allowMore: true })).toBe(1000);
    expect(Buffer.from(target).equals(BODY.subarray(0, 1000))).toBe(true);
    await until(() => c.connectionStats().open === 0);
  });
});

describe("HttpGetClient: error responses", () => {
  it("a chunked error body is decoded (headers kept) and the connection reused", async () => {
    const c = client();
    const response = await get(c, "/chunked-error");
    expect(response.status).toBe(503);
    expect(response.headers["transfer-encoding"]).toBe("chunked");
    expect(response.headers["retry-after"]).toBe("2");
    expect(response.errorBody!.toString()).toBe("<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>");
    await expect(response.readInto(new Uint8Array(10))).rejects.toThrow(/503/);
    const next = await get(c, "/not-found");
    expect(next.status).toBe(404);
    expect(next.errorBody!.toString()).toBe("NoSuchKey");
    expect(c.connectionStats()).toMatchObject({ opened: 1, idle: 1 });
  });

  it("an error body above errorBodyLimit is cut there and its connection closed", async () => {
    const c = client({ errorBodyLimit: 1000 });
    const response = await get(c, "/long-error");
    expect(response.status).toBe(500);
    expect(response.errorBody!.length).toBe(1000);
    await until(() => c.connectionStats().open === 0);
  });

  it("a 2xx without Content-Length (chunked) is a retryable E_NETWORK error and the connection is destroyed", async () => {
    const c = client();
    const error = await rejection(get(c, "/chunked-ok"));
    expect(BackendError.isInstance(error) && [error.code, error.retryable]).toEqual(["E_NETWORK", true]);
    expect(error.message).toMatch(/without Content-Length/);
    expect(c.connectionStats().open).toBe(0);
  });
});

describe("HttpGetClient: bytes as they come", () => {
  it("a head split over several reads, and body bytes in the same packet as the head", async () => {
    const body = randomBytes(200_000);
    const raw = await rawServer((socket, _request, index) => {
      const head = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nX-Index: ${index}\r\nETag: "e"\r\n\r\n`;
      if (index === 0) {
        // The head in three pieces, the last one carrying the first body bytes.
        socket.write(head.slice(0, 9));
        setTimeout(() => socket.write(head.slice(9, 30)), 15);
        setTimeout(() => socket.write(Buffer.concat([Buffer.from(head.slice(30), "latin1"), body.subarray(0, 1000)])), 30);
        setTimeout(() => socket.write(body.subarray(1000)), 45);
      } else {
        // Head and the whole body in one write.
        socket.write(Buffer.concat([Buffer.from(head, "latin1"), body]));
      }
    });
    try {
      const c = client();
      for (let i = 0; i < 3; i++) {
        const response = await c.get({ host: "127.0.0.1", port: raw.port, path: "/x", headers: {} });
        expect(response.headers["x-index"]).toBe(String(i));
        expect(response.headers.etag).toBe('"e"');
        const target = new Uint8Array(body.length);
        expect(await response.readInto(target)).toBe(body.length);
        expect(Buffer.from(target).equals(body)).toBe(true);
      }
      expect(raw.connections).toBe(1);
    } finally {
      raw.server.close();
    }
  });

  it("a whole response in the head's packet, then the server closes: readInto later still gets the body", async () => {
    const raw = await rawServer((socket, _request, index) => {
      const close = index % 2 === 0 ? "Connection: close\r\n" : "";
      socket.end(`HTTP/1.1 200 OK\r\n${close}Content-Length: 5\r\n\r\nhello`);
    });
    try {
      const c = client();
      for (let i = 0; i < 2; i++) {
        const response = await c.get({ host: "127.0.0.1", port: raw.port, path: "/x", headers: {} });
        // Long enough for the server's close to arrive before the body is asked for.
        await new Promise((r) => setTimeout(r, 50));
        const target = new Uint8Array(5);
        expect(await response.readInto(target)).toBe(5);
        expect(Buffer.from(target).toString()).toBe("hello");
      }
      expect(c.connectionStats().open).toBe(0);
    } finally {
      raw.server.close();
    }
  });

  it("a 100 Continue before the response is skipped", async () => {
    const raw = await rawServer((socket) => socket.write("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"));
    try {
      const response = await client().get({ host: "127.0.0.1", port: raw.port, path: "/x", headers: {} });
      const target = new Uint8Array(3);
      await response.readInto(target);
      expect(Buffer.from(target).toString()).toBe("abc");
    } finally {
      raw.server.close();
    }
  });

  it("a bad status line, a bad Content-Length, two framings: retryable E_NETWORK, connection destroyed", async () => {
    const replies = [
      "HTTX/1.1 200 OK\r\nContent-Length: 1\r\n\r\na",
      "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\na",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\na",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\n\r\n",
      "HTTP/1.1 200 OK\r\n folded: header\r\nContent-Length: 1\r\n\r\na",
    ];
    let next = 0;
    const raw = await rawServer((socket) => socket.write(replies[next++]!));
    try {
      const c = client();
      for (const reply of replies) {
        const error = await rejection(c.get({ host: "127.0.0.1", port: raw.port, path: "/x", headers: {} }));
        expect(BackendError.isInstance(error) && [error.code, error.retryable], reply).toEqual(["E_NETWORK", true]);
      }
      expect(c.connectionStats().open).toBe(0);
    } finally {
      raw.server.close();
    }
  });

  it("a body cut short (Content-Length mismatch, then close) rejects retryably", async () => {
    const c = client();
    const response = await get(c, "/half-then-close");
    const error = await rejection(response.readInto(new Uint8Array(MiB)));
    expect(BackendError.isInstance(error) && [error.code, error.retryable]).toEqual(["E_NETWORK", true]);
    expect(error.message).toMatch(/after 524288 of 1048576 body bytes|closed/);
    expect(c.connectionStats().open).toBe(0);
  });

  it("a keep-alive connection the server dropped while idle: the request is sent again on a new one", async () => {
    const raw = await rawServer((socket, _request, index) => {
      // The second request on a connection finds it closed (as a server's idle timeout races a new request).
      if (index === 1) socket.destroy();
      else socket.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    try {
      const c = client();
      for (let i = 0; i < 3; i++) {
        const response = await c.get({ host: "127.0.0.1", port: raw.port, path: "/x", headers: {} });
        expect(await response.readInto(new Uint8Array(2))).toBe(2);
      }
      // Requests 2 and 3 each met a dropped connection (the second request on it) and were sent again on a new one.
      expect(raw.connections).toBe(3);
    } finally {
      raw.server.close();
    }
  });

  it("a refused connection is a retryable E_NETWORK error", async () => {
    const raw = await rawServer(() => {});
    const port = raw.port;
    await new Promise((r) => raw.server.close(r));
    const error = await rejection(client().get({ host: "127.0.0.1", port, path: "/x", headers: {} }));
    expect(BackendError.isInstance(error) && [error.code, error.retryable]).toEqual(["E_NETWORK", true]);
    expect(error.message).toMatch(/ECONNREFUSED/);
  });
});

describe("HttpGetClient: abort and stalls", () => {
  it("an abort mid-body rejects AbortError at once and closes the connection (the server sees it go)", async () => {
    const c = client();
    const controller = new AbortController();
    const before = accepted;
    const response = await get(c, "/half-then-stall", {}, controller.signal);
    const reading = response.readInto(new Uint8Array(MiB), {
      progress: () => {
        if (!controller.signal.aborted) setTimeout(() => controller.abort(), 20);
      },
    });
    const error = await rejection(reading);
    expect(isAbortError(error)).toBe(true);
    expect(c.connectionStats().open).toBe(0);
    expect(accepted).toBe(before + 1);
    await until(() => openSockets.size === 0);
  });

  it("an abort while waiting for the head, and a signal already aborted", async () => {
    const c = client();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 30);
    expect(isAbortError(await rejection(get(c, "/stall-headers", {}, controller.signal)))).toBe(true);
    expect(isAbortError(await rejection(get(c, "/body", {}, controller.signal)))).toBe(true);
    expect(c.connectionStats().open).toBe(0);
    await until(() => openSockets.size === 0);
  });

  it("one signal shared by many requests, queued and sent: one listener on it, no MaxListenersExceededWarning, and an abort reaches all", async () => {
    const warnings: Error[] = [];
    const onWarning = (warning: Error) => warnings.push(warning);
    process.on("warning", onWarning);
    try {
      const c = client({ maxSockets: 4 });
      const controller = new AbortController();
      // 24 requests: 4 waiting for their heads, 20 queued for a connection, all on one signal.
      const requests = Array.from({ length: 24 }, () => rejection(get(c, "/stall-headers", {}, controller.signal)));
      await until(() => c.connectionStats().queued === 20);
      controller.abort();
      for (const error of await Promise.all(requests)) expect(isAbortError(error)).toBe(true);
      await new Promise((r) => setImmediate(r));
      expect(warnings.filter((w) => w.name === "MaxListenersExceededWarning")).toEqual([]);
      expect(c.connectionStats()).toMatchObject({ open: 0, queued: 0 });
    } finally {
      process.off("warning", onWarning);
    }
  });

  it("no bytes for idleTimeoutMs: TimeoutError (head and body)", async () => {
    const c = client({ idleTimeoutMs: 150 });
    const started = performance.now();
    expect(TimeoutError.isInstance(await rejection(get(c, "/stall-headers")))).toBe(true);
    const response = await get(c, "/half-then-stall");
    expect(TimeoutError.isInstance(await rejection(response.readInto(new Uint8Array(MiB))))).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);
    expect(c.connectionStats().open).toBe(0);
  });

  it("bad requests are refused before any I/O", async () => {
    const c = client();
    await expect(c.get({ host: "127.0.0.1", port: httpPort, path: "/a b", headers: {} })).rejects.toBeInstanceOf(RangeConfigError);
    await expect(c.get({ host: "127.0.0.1", port: httpPort, path: "/x", headers: { "x-bad": "a\r\nb" } })).rejects.toBeInstanceOf(RangeConfigError);
    await expect(c.get({ host: "127.0.0.1", port: 0, path: "/x", headers: {} })).rejects.toBeInstanceOf(RangeConfigError);
    expect(() => new HttpGetClient({ maxSockets: 0 })).toThrow(RangeConfigError);
    expect(c.connectionStats().opened).toBe(0);
  });
});
