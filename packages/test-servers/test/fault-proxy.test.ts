import { createServer, request, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startFaultProxy, type FaultProxy } from "../src/index.js";

const OBJECT = Buffer.from(Array.from({ length: 100_000 }, (_, i) => (i * 7 + (i >> 8)) & 0xff));

/** A tiny origin: GET/HEAD /obj with Range support, PUT /put answers the body length; records the Host header. */
let origin: Server;
let originUrl: string;
const hosts: (string | undefined)[] = [];
let originRequests = 0;

beforeAll(async () => {
  origin = createServer((req, res) => {
    originRequests++;
    hosts.push(req.headers.host);
    if (req.method === "PUT" && req.url === "/echo") {
      req.pipe(res);
      return;
    }
    if (req.method === "PUT") {
      let length = 0;
      req.on("data", (c: Buffer) => (length += c.length));
      req.on("end", () => res.end(String(length)));
      return;
    }
    const match = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    if (match) {
      const start = Number(match[1]);
      const end = Math.min(Number(match[2]), OBJECT.length - 1);
      res.writeHead(206, { "content-range": `bytes ${start}-${end}/${OBJECT.length}`, "content-length": end - start + 1 });
      res.end(OBJECT.subarray(start, end + 1));
      return;
    }
    res.writeHead(200, { "content-length": OBJECT.length });
    res.end(req.method === "HEAD" ? undefined : OBJECT);
  });
  await new Promise<void>((resolve) => origin.listen(0, "127.0.0.1", resolve));
  originUrl = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
});
afterAll(async () => {
  origin.closeAllConnections();
  await new Promise((resolve) => origin.close(resolve));
});

let proxy: FaultProxy;
beforeEach(async (context) => {
  proxy = await startFaultProxy({ target: originUrl });
  context.onTestFinished(() => proxy.close());
});

interface Outcome {
  status?: number;
  headers?: IncomingHttpHeaders;
  body: Buffer;
  error?: NodeJS.ErrnoException;
  timedOut?: boolean;
}

/** One request through the proxy on a fresh connection; never rejects: errors are part of the outcome. */
function send(path: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer; timeoutMs?: number } = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const outcome: Outcome = { body: Buffer.alloc(0) };
    const done = () => resolve({ ...outcome, body: Buffer.concat(chunks) });
    const req = request(`${proxy.endpoint}${path}`, { method: opts.method ?? "GET", headers: opts.headers, agent: false });
    const timer = setTimeout(() => {
      outcome.timedOut = true;
      req.destroy();
    }, opts.timeoutMs ?? 5_000);
    req.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      outcome.error ??= error;
      done();
    });
    req.on("response", (res) => {
      outcome.status = res.statusCode;
      outcome.headers = res.headers;
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("error", (error: NodeJS.ErrnoException) => (outcome.error ??= error));
      res.on("close", () => {
        clearTimeout(timer);
        if (!res.complete) outcome.error ??= Object.assign(new Error("incomplete body"), { code: "INCOMPLETE" });
        done();
      });
    });
    req.end(opts.body);
  });
}

describe("fault proxy", () => {
  it("forwards untouched requests byte for byte, with the client's Host header", async () => {
    hosts.length = 0;
    const whole = await send("/obj");
    expect(whole.status).toBe(200);
    expect(whole.body.equals(OBJECT)).toBe(true);
    const ranged = await send("/obj", { headers: { range: "bytes=10-19" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers?.["content-range"]).toBe(`bytes 10-19/${OBJECT.length}`);
    expect(ranged.body.equals(OBJECT.subarray(10, 20))).toBe(true);
    const put = await send("/put", { method: "PUT", body: Buffer.alloc(300_000, 1) });
    expect(put.body.toString()).toBe("300000");
    // What a signature covers: the Host the client used, i.e. the proxy's address, not the origin's.
    expect(hosts).toEqual([new URL(proxy.endpoint).host, new URL(proxy.endpoint).host, new URL(proxy.endpoint).host]);
    expect(proxy.stats()).toMatchObject({ requests: 3, faults: 0 });
  });

  it("reset: the connection is reset after some body bytes", async () => {
    proxy.setRules([{ fault: { kind: "reset", afterBytes: 1000 } }]);
    const out = await send("/obj");
    expect(out.status).toBe(200);
    expect(out.error).toBeDefined();
    expect(out.body.length).toBeLessThan(OBJECT.length);
    expect(out.body.equals(OBJECT.subarray(0, out.body.length))).toBe(true);
    expect(proxy.stats().byKind.reset).toBe(1);
  });

  it("reset during the request: no response at all, and the origin never completes the request", async () => {
    proxy.setRules([{ method: "PUT", fault: { kind: "reset", during: "request", afterBytes: 10_000 } }]);
    const out = await send("/put", { method: "PUT", body: Buffer.alloc(1_000_000, 1) });
    expect(out.status).toBeUndefined();
    expect(out.error?.code).toMatch(/ECONNRESET|EPIPE/);
  });

  it("reset during the headers: the origin answered the whole request, the client gets no answer", async () => {
    proxy.setRules([{ method: "PUT", fault: { kind: "reset", during: "headers" } }]);
    const before = originRequests;
    const out = await send("/put", { method: "PUT", body: Buffer.alloc(100_000, 1) });
    expect(out.status).toBeUndefined();
    expect(out.error?.code).toMatch(/ECONNRESET|EPIPE/);
    expect(originRequests).toBe(before + 1);
    expect(proxy.stats().byKind.reset).toBe(1);
  });

  it("stall: headers and N bytes, then silence until the client gives up", async () => {
    proxy.setRules([{ fault: { kind: "stall", afterBytes: 5000 } }]);
    const started = performance.now();
    const out = await send("/obj", { timeoutMs: 600 });
    expect(out.timedOut).toBe(true);
    expect(performance.now() - started).toBeGreaterThanOrEqual(550);
    expect(out.status).toBe(200);
    expect(out.body.length).toBe(5000);
    const headers = await send("/obj", { timeoutMs: 300 }); // the rule fires every time: the next request stalls too
    expect(headers.timedOut).toBe(true);
    proxy.setRules([{ fault: { kind: "stall", during: "headers" } }]);
    const none = await send("/obj", { timeoutMs: 300 });
    expect(none.timedOut).toBe(true);
    expect(none.status).toBeUndefined();
  });

  it("status: 503 SlowDown with Retry-After, 500, 429, without reaching the origin", async () => {
    const before = originRequests;
    proxy.setRules([
      { nth: 1, fault: { kind: "status", status: 503, retryAfter: 2 } },
      { nth: 1, fault: { kind: "status", status: 500 } },
      { nth: 1, fault: { kind: "status", status: 429, retryAfter: "1" } },
    ]);
    const a = await send("/obj");
    expect(a.status).toBe(503);
    expect(a.headers?.["retry-after"]).toBe("2");
    expect(a.body.toString()).toContain("<Code>SlowDown</Code>");
    // Rule 1 already fired, so the second request reaches rule 2 (its first match), and so on.
    const b = await send("/obj");
    expect(b.status).toBe(500);
    expect(b.body.toString()).toContain("<Code>InternalError</Code>");
    const c = await send("/obj");
    expect(c.status).toBe(429);
    expect(c.headers?.["retry-after"]).toBe("1");
    expect(originRequests).toBe(before);
    const d = await send("/obj");
    expect(d.status).toBe(200);
    expect(proxy.stats()).toMatchObject({ requests: 4, faults: 3, byKind: { status: 3 } });
  });

  it("truncate: a body cut short (FIN), or a well-formed response with a short Content-Length", async () => {
    proxy.setRules([{ nth: 1, fault: { kind: "truncate", bytes: 777 } }]);
    const closed = await send("/obj");
    expect(closed.status).toBe(200);
    expect(closed.headers?.["content-length"]).toBe(String(OBJECT.length));
    expect(closed.error).toBeDefined();
    expect(closed.body.equals(OBJECT.subarray(0, 777))).toBe(true);

    proxy.setRules([{ nth: 1, fault: { kind: "truncate", bytes: 777, mode: "content-length" } }]);
    const short = await send("/obj");
    expect(short.error).toBeUndefined();
    expect(short.headers?.["content-length"]).toBe("777");
    expect(short.body.equals(OBJECT.subarray(0, 777))).toBe(true);
  });

  it("content-range: shifts the range or changes the total; the body is untouched", async () => {
    proxy.setRules([{ nth: 1, range: true, fault: { kind: "content-range", shift: 5 } }]);
    const shifted = await send("/obj", { headers: { range: "bytes=0-9" } });
    expect(shifted.headers?.["content-range"]).toBe(`bytes 5-14/${OBJECT.length}`);
    expect(shifted.body.equals(OBJECT.subarray(0, 10))).toBe(true);
    proxy.setRules([{ range: true, fault: { kind: "content-range", totalDelta: -50_000 } }]);
    const total = await send("/obj", { headers: { range: "bytes=0-9" } });
    expect(total.headers?.["content-range"]).toBe("bytes 0-9/50000");
    // No Content-Range to rewrite: passes untouched and counts as no fault.
    await send("/obj");
    expect(proxy.count({ fault: "content-range" })).toBe(2);
    expect(proxy.count({ fault: false })).toBe(1);
  });

  it("latency: the answer comes later, intact", async () => {
    proxy.setRules([{ fault: { kind: "latency", ms: 300 } }]);
    const started = performance.now();
    const out = await send("/obj");
    expect(performance.now() - started).toBeGreaterThanOrEqual(290);
    expect(out.body.equals(OBJECT)).toBe(true);
  });

  it("corrupt: one byte of the response (or request) body flipped, length and headers unchanged", async () => {
    proxy.setRules([{ nth: 1, fault: { kind: "corrupt", at: 70_000 } }]);
    const damaged = await send("/obj");
    expect(damaged.error).toBeUndefined();
    expect(damaged.headers?.["content-length"]).toBe(String(OBJECT.length));
    expect(damaged.body.length).toBe(OBJECT.length);
    const differing = [...damaged.body.keys()].filter((i) => damaged.body[i] !== OBJECT[i]);
    expect(differing).toEqual([70_000]);
    expect(damaged.body[70_000]).toBe(OBJECT[70_000]! ^ 0xff);
    // Past the end of a short body: its last byte.
    proxy.setRules([{ nth: 1, fault: { kind: "corrupt", at: 1_000_000 } }]);
    const last = await send("/obj", { headers: { range: "bytes=0-9" } });
    expect(last.body.subarray(0, 9).equals(OBJECT.subarray(0, 9))).toBe(true);
    expect(last.body[9]).toBe(OBJECT[9]! ^ 0xff);

    const sent = Buffer.from(Array.from({ length: 200_000 }, (_, i) => i & 0xff));
    proxy.setRules([{ method: "PUT", fault: { kind: "corrupt", during: "request", at: 123_456 } }]);
    const echoed = await send("/echo", { method: "PUT", body: sent });
    expect(echoed.body.length).toBe(sent.length);
    expect([...echoed.body.keys()].filter((i) => echoed.body[i] !== sent[i])).toEqual([123_456]);
    expect(proxy.count({ fault: "corrupt" })).toBe(3);
  });

  it("header: sets, replaces and removes response headers; the body is untouched", async () => {
    proxy.setRules([{ fault: { kind: "header", set: { "X-Amz-Checksum-Crc32c": "AAAAAA==", etag: '"x"' }, remove: ["Content-Range"] } }]);
    const out = await send("/obj", { headers: { range: "bytes=0-9" } });
    expect(out.status).toBe(206);
    expect(out.headers?.["x-amz-checksum-crc32c"]).toBe("AAAAAA==");
    expect(out.headers?.etag).toBe('"x"');
    expect(out.headers?.["content-range"]).toBeUndefined();
    expect(out.body.equals(OBJECT.subarray(0, 10))).toBe(true);
    expect(proxy.stats().byKind.header).toBe(1);
    expect(() => proxy.setRules([{ fault: { kind: "header" } }])).toThrow(/header needs set or remove/);
  });

  it("selects by method, path, range, nth, times and seeded probability", async () => {
    proxy.setRules([{ name: "third-ranged", method: "GET", path: /^\/obj/, range: /^bytes=0-/, nth: [3], fault: { kind: "status", status: 500 } }]);
    const statuses: (number | undefined)[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await send("/obj", { headers: { range: "bytes=0-9" } })).status);
    await send("/obj"); // no Range: not a match
    expect(statuses).toEqual([206, 206, 500, 206]);
    expect(proxy.stats().byRule).toEqual({ "third-ranged": 1 });

    const pattern = async () => {
      proxy.setRules([{ probability: 0.5, times: 6, fault: { kind: "status", status: 503 } }]);
      const seen: (number | undefined)[] = [];
      for (let i = 0; i < 20; i++) seen.push((await send("/obj", { headers: { range: "bytes=0-0" } })).status);
      return seen;
    };
    const first = await pattern();
    proxy.resetStats();
    const second = await pattern();
    expect(second).toEqual(first); // same seed, same order: same faults
    expect(first.filter((s) => s === 503).length).toBe(6); // `times` caps it
    expect(() => proxy.setRules([{ probability: 2, fault: { kind: "latency", ms: 1 } }])).toThrow(/probability/);
    expect(() => proxy.setRules([{ fault: { kind: "nope" } as never }])).toThrow(/unknown fault kind/);
  });

  it("close() cuts stalled connections", async () => {
    proxy.setRules([{ fault: { kind: "stall", during: "headers" } }]);
    const pending = send("/obj", { timeoutMs: 10_000 });
    while (proxy.openConnections === 0) await new Promise((r) => setTimeout(r, 10));
    await proxy.close();
    const out = await pending;
    expect(out.timedOut).toBeUndefined();
    expect(out.error).toBeDefined();
    expect(proxy.openConnections).toBe(0);
  });
});
