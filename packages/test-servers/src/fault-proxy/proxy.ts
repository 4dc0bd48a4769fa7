import { Agent, createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { Transform } from "node:stream";
import { LOOPBACK } from "../ports.js";
import {
  ArmedRule,
  FAULT_KINDS,
  rewriteContentRange,
  s3ErrorBody,
  seededRandom,
  type Fault,
  type FaultKind,
  type FaultRule,
  type RequestFacts,
} from "./rules.js";

export interface FaultProxyOptions {
  /** The server to forward to, e.g. a test server's `endpoint` (`http://127.0.0.1:port`). */
  target: string;
  /** Tried in order for each request; the first that fires applies, later ones do not see that request. */
  rules?: FaultRule[];
  /** Seed of the generator behind `probability` rules. Default 1. */
  seed?: number;
  /** Port to listen on (loopback). Default: a free one. */
  port?: number;
}

/** One request the proxy saw. */
export interface ProxiedRequest {
  method: string;
  path: string;
  range: string | undefined;
  /** The rule that fired for it. */
  rule?: string;
  /** The fault applied (absent when none was, e.g. a content-range rule on a response without Content-Range). */
  fault?: FaultKind;
  /** The status the client got, when it got a response head. */
  status?: number;
}

export interface FaultProxyStats {
  requests: number;
  /** Requests a fault was applied to. */
  faults: number;
  byKind: Record<FaultKind, number>;
  /** Times each rule fired, by name. */
  byRule: Record<string, number>;
}

export interface RequestFilter {
  method?: string;
  path?: RegExp;
  /** `true`: requests a fault was applied to; a kind: that kind only; `false`: untouched requests. */
  fault?: boolean | FaultKind;
  rule?: string;
}

/** An HTTP proxy on loopback that forwards requests untouched except where a rule injects a fault. */
export interface FaultProxy extends AsyncDisposable {
  /** Point clients here instead of at the target, e.g. `http://127.0.0.1:41001`. */
  readonly endpoint: string;
  readonly target: string;
  /** Every request seen since the start or the last `resetStats()`, in arrival order. */
  readonly log: readonly ProxiedRequest[];
  /** Client connections open now (stalled ones included). */
  readonly openConnections: number;
  /** Replaces the rules (their counters start at zero). */
  setRules(rules: FaultRule[]): void;
  addRule(rule: FaultRule): void;
  stats(): FaultProxyStats;
  /** Requests in the log that match `filter`. */
  count(filter?: RequestFilter): number;
  /** Clears the log and the rules' counters (the rules stay). */
  resetStats(): void;
  /** Stops listening and cuts every connection, stalled ones included. Idempotent. */
  close(): Promise<void>;
}

/** Cut-off behaviour once `limit` body bytes went out. */
type BodyCut = { limit: number; action: "reset" | "stall" | "close" | "end" };

function headerValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  return undefined;
}

function withHeader(raw: readonly string[], name: string, value: string): string[] {
  const out: string[] = [];
  let replaced = false;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) {
      if (!replaced) out.push(raw[i]!, value);
      replaced = true;
    } else out.push(raw[i]!, raw[i + 1]!);
  }
  if (!replaced) out.push(name, value);
  return out;
}

function withoutHeader(raw: readonly string[], name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() !== name) out.push(raw[i]!, raw[i + 1]!);
  return out;
}

/** Passes bytes through, flipping every bit of the one at offset `at` (the length stays). */
function flipByteAt(at: number, onFlip: () => void): Transform {
  let offset = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      let out = chunk;
      if (at >= offset && at < offset + chunk.length) {
        out = Buffer.from(chunk);
        out[at - offset] = out[at - offset]! ^ 0xff;
        onFlip();
      }
      offset += chunk.length;
      callback(null, out);
    },
  });
}

/** The byte a corrupt fault damages: `at`, capped at the last byte of a body of known length. */
function corruptOffset(at: number | undefined, contentLength: number | undefined): number {
  const wanted = at ?? 0;
  return contentLength === undefined || !Number.isFinite(contentLength) ? wanted : Math.min(wanted, Math.max(0, contentLength - 1));
}

/** Where a response-phase fault cuts the body; capped below the full length so the fault always bites. */
function bodyCut(fault: Fault | undefined, contentLength: number | undefined): BodyCut | undefined {
  if (!fault) return undefined;
  const cap = (n: number) => (contentLength === undefined ? n : Math.min(n, Math.max(0, contentLength - 1)));
  if (fault.kind === "reset" && (fault.during ?? "response") === "response") return { limit: cap(fault.afterBytes ?? 0), action: "reset" };
  if (fault.kind === "stall" && (fault.during ?? "response") === "response") return { limit: cap(fault.afterBytes ?? 0), action: "stall" };
  if (fault.kind === "truncate") return { limit: cap(fault.bytes), action: fault.mode === "content-length" ? "end" : "close" };
  return undefined;
}

class FaultProxyServer implements FaultProxy {
  readonly target: string;
  readonly #targetUrl: URL;
  readonly #server: Server;
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 1024 });
  readonly #sockets = new Set<Socket>();
  readonly #timers = new Set<NodeJS.Timeout>();
  #random: () => number;
  readonly #seed: number;
  #rules: ArmedRule[] = [];
  #log: ProxiedRequest[] = [];
  #endpoint = "";
  #closing: Promise<void> | undefined;

  constructor(options: FaultProxyOptions) {
    this.#targetUrl = new URL(options.target);
    if (this.#targetUrl.protocol !== "http:") throw new TypeError(`fault proxy: target must be http://, got ${options.target}`);
    this.target = this.#targetUrl.origin;
    this.#seed = options.seed ?? 1;
    this.#random = seededRandom(this.#seed);
    this.setRules(options.rules ?? []);
    this.#server = createServer((req, res) => this.#handle(req, res));
    this.#server.on("connection", (socket) => {
      this.#sockets.add(socket);
      socket.once("close", () => this.#sockets.delete(socket));
    });
    // A client that hangs up is not the proxy's problem.
    this.#server.on("clientError", (_error, socket) => socket.destroy());
  }

  async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen({ port, host: LOOPBACK }, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
    this.#server.unref();
    const address = this.#server.address();
    if (address === null || typeof address === "string") throw new Error("fault proxy: unexpected server address");
    this.#endpoint = `http://${LOOPBACK}:${address.port}`;
  }

  get endpoint(): string {
    return this.#endpoint;
  }

  get log(): readonly ProxiedRequest[] {
    return this.#log;
  }

  get openConnections(): number {
    return this.#sockets.size;
  }

  setRules(rules: FaultRule[]): void {
    this.#rules = rules.map((rule, i) => new ArmedRule(rule, i));
  }

  addRule(rule: FaultRule): void {
    this.#rules.push(new ArmedRule(rule, this.#rules.length));
  }

  stats(): FaultProxyStats {
    const byKind = Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])) as Record<FaultKind, number>;
    const byRule: Record<string, number> = {};
    for (const rule of this.#rules) byRule[rule.name] = rule.fired;
    let faults = 0;
    for (const r of this.#log) {
      if (r.fault === undefined) continue;
      faults++;
      byKind[r.fault]++;
    }
    return { requests: this.#log.length, faults, byKind, byRule };
  }

  count(filter: RequestFilter = {}): number {
    return this.#log.filter((r) => {
      if (filter.method !== undefined && r.method.toUpperCase() !== filter.method.toUpperCase()) return false;
      if (filter.path && !filter.path.test(r.path)) return false;
      if (filter.rule !== undefined && r.rule !== filter.rule) return false;
      if (filter.fault === true && r.fault === undefined) return false;
      if (filter.fault === false && r.fault !== undefined) return false;
      if (typeof filter.fault === "string" && r.fault !== filter.fault) return false;
      return true;
    }).length;
  }

  resetStats(): void {
    this.#log = [];
    this.#random = seededRandom(this.#seed);
    this.#rules = this.#rules.map((armed, i) => new ArmedRule(armed.rule, i));
  }

  close(): Promise<void> {
    this.#closing ??= (async () => {
      const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
      for (const timer of this.#timers) clearTimeout(timer);
      for (const socket of this.#sockets) socket.destroy();
      this.#agent.destroy();
      await closed;
      this.#sockets.clear();
    })();
    return this.#closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.#timers.delete(timer);
      fn();
    }, ms);
    this.#timers.add(timer);
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const facts: RequestFacts = { method: req.method ?? "GET", path: req.url ?? "/", range: headerValue(req.rawHeaders, "range") ?? headerValue(req.rawHeaders, "x-ms-range") };
    const record: ProxiedRequest = { ...facts };
    this.#log.push(record);
    const armed = this.#rules.find((rule) => rule.select(facts, this.#random));
    const fault = armed?.rule.fault;
    if (armed) record.rule = armed.name;
    const applied = () => {
      if (fault) record.fault = fault.kind;
    };
    req.on("error", () => {});
    res.on("error", () => {});

    if (fault?.kind === "status") {
      applied();
      // Read the request body first: answering mid-upload would turn the fault into a connection error.
      req.resume();
      req.once("end", () => {
        const body = fault.body ?? s3ErrorBody(fault.status, fault.code);
        res.writeHead(fault.status, {
          "content-type": fault.body !== undefined ? (fault.contentType ?? "text/plain") : "application/xml",
          "content-length": Buffer.byteLength(body),
          ...(fault.retryAfter !== undefined ? { "retry-after": String(fault.retryAfter) } : {}),
          ...(fault.headers ?? {}),
        });
        record.status = fault.status;
        res.end(body);
      });
      return;
    }
    if (fault?.kind === "stall" && fault.during === "headers") {
      applied();
      req.resume(); // take the body, answer nothing
      return;
    }
    if (fault?.kind === "latency") {
      applied();
      req.pause();
      this.#later(fault.ms, () => {
        if (!req.destroyed) this.#forward(req, res, record, undefined, applied);
      });
      return;
    }
    this.#forward(req, res, record, fault, applied);
  }

  #forward(req: IncomingMessage, res: ServerResponse, record: ProxiedRequest, fault: Fault | undefined, applied: () => void): void {
    let finished = false;
    // Raw headers, Host included, exactly as the client sent (and signed) them.
    const upstream = httpRequest({
      host: this.#targetUrl.hostname,
      port: this.#targetUrl.port,
      method: req.method,
      path: req.url,
      headers: req.rawHeaders,
      agent: this.#agent,
    });
    const fail = () => {
      if (finished) return;
      finished = true;
      if (!res.headersSent) {
        res.writeHead(502, { "content-type": "text/plain", connection: "close" });
        record.status = 502;
        res.end("fault proxy: upstream failed");
      } else res.destroy();
    };
    upstream.on("error", fail);
    // The client went away: stop the upstream exchange too.
    res.once("close", () => {
      if (!res.writableFinished) {
        finished = true;
        upstream.destroy();
      }
    });

    const requestFault = fault && (fault.kind === "reset" || fault.kind === "stall") && fault.during === "request" ? fault : undefined;
    if (requestFault) {
      const limit = requestFault.afterBytes ?? 0;
      let received = 0;
      let tripped = false;
      const trip = () => {
        if (tripped) return;
        tripped = true;
        finished = true;
        applied();
        upstream.destroy();
        if (requestFault.kind === "reset") req.socket.resetAndDestroy();
        else req.pause();
      };
      req.on("data", (chunk: Buffer) => {
        if (tripped) return;
        const room = limit - received;
        if (room > 0) upstream.write(chunk.length <= room ? chunk : chunk.subarray(0, room));
        received += chunk.length;
        if (received >= limit) trip();
      });
      req.once("end", trip);
      if (limit === 0) trip();
      return;
    }
    if (fault?.kind === "corrupt" && fault.during === "request") {
      const length = headerValue(req.rawHeaders, "content-length");
      req.pipe(flipByteAt(corruptOffset(fault.at, length === undefined ? undefined : Number(length)), applied)).pipe(upstream);
    } else req.pipe(upstream);

    upstream.once("response", (up) => {
      if (finished) {
        up.destroy();
        return;
      }
      if (fault?.kind === "reset" && fault.during === "headers") {
        applied();
        finished = true;
        up.destroy();
        if (res.socket && !res.socket.destroyed) res.socket.resetAndDestroy();
        return;
      }
      let headers = up.rawHeaders;
      const lengthHeader = headerValue(headers, "content-length");
      const contentLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
      const hasBody = req.method !== "HEAD" && up.statusCode !== 204 && up.statusCode !== 304;
      const cut = hasBody ? bodyCut(fault, contentLength) : undefined;
      if (fault?.kind === "content-range") {
        const original = headerValue(headers, "content-range");
        const rewritten = original === undefined ? undefined : rewriteContentRange(original, fault);
        if (rewritten !== undefined) {
          headers = withHeader(headers, "content-range", rewritten);
          applied();
        }
      }
      if (fault?.kind === "header") {
        for (const name of fault.remove ?? []) headers = withoutHeader(headers, name.toLowerCase());
        for (const [name, value] of Object.entries(fault.set ?? {})) headers = withHeader(headers, name.toLowerCase(), value);
        applied();
      }
      if (cut) {
        applied();
        if (cut.action === "end") headers = withHeader(headers, "content-length", String(cut.limit));
      }
      record.status = up.statusCode;
      res.writeHead(up.statusCode ?? 502, up.statusMessage, headers);
      if (!cut) {
        const corrupt = hasBody && fault?.kind === "corrupt" && (fault.during ?? "response") === "response" ? fault : undefined;
        (corrupt ? up.pipe(flipByteAt(corruptOffset(corrupt.at, contentLength), applied)) : up).pipe(res);
        up.once("error", fail);
        up.once("end", () => (finished = true));
        return;
      }
      this.#pumpWithCut(up, res, cut, () => (finished = true));
    });
  }

  /** Sends the first `cut.limit` body bytes, then resets, stalls, closes or ends the response. */
  #pumpWithCut(up: IncomingMessage, res: ServerResponse, cut: BodyCut, done: () => void): void {
    let sent = 0;
    let tripped = false;
    const trip = () => {
      if (tripped) return;
      tripped = true;
      done();
      up.destroy();
      const socket = res.socket;
      if (cut.action === "end") {
        res.end();
        return;
      }
      if (cut.action === "stall" || !socket) return;
      // Let the bytes already written reach the client before the connection goes.
      if (cut.action === "close") {
        // FIN after what was written: the body ends short of its Content-Length.
        socket.end();
        return;
      }
      this.#later(20, () => {
        if (!socket.destroyed) socket.resetAndDestroy();
      });
    };
    res.flushHeaders();
    if (cut.limit === 0) {
      trip();
      return;
    }
    up.on("data", (chunk: Buffer) => {
      if (tripped) return;
      const room = cut.limit - sent;
      const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
      sent += part.length;
      if (!res.write(part)) {
        up.pause();
        res.once("drain", () => up.resume());
      }
      if (sent >= cut.limit) trip();
    });
    // A body that ended before the limit: the fault still happens, at its end.
    up.once("end", trip);
    up.once("error", trip);
  }
}

/**
 * Starts a fault-injection HTTP proxy on a free loopback port in front of `target`. Requests are forwarded with their
 * raw headers (Host included), so signed requests (SigV4, SharedKey) still verify; a request a rule selects gets its
 * fault instead (connection reset mid-body, a stall, a 503/500/429, a truncated body, a wrong Content-Range,
 * latency, a damaged body byte, or rewritten response headers). `log`, `stats()` and `count()` tell a test what happened.
 *
 * ```ts
 * await using proxy = await startFaultProxy({
 *   target: server.endpoint,
 *   rules: [{ method: "GET", range: true, nth: 2, fault: { kind: "reset", afterBytes: 64 * 1024 } }],
 * });
 * const store = createS3Store({ endpoint: proxy.endpoint, ... });
 * ```
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const proxy = new FaultProxyServer(options);
  await proxy.listen(options.port ?? 0);
  return proxy;
}
