import { connect, type Socket } from "node:net";
import { onAbort } from "../abort.js";
import { StallTimer } from "../engine/stall-timer.js";
import { BackendError, IntegrityError, RangeConfigError, TimeoutError, abortErrorFrom } from "../errors.js";

const KiB = 1024;

export interface HttpGetClientOptions {
  /** Connections per host:port, busy and idle together; more requests wait for one. Default 64. */
  maxSockets?: number;
  /** A connection not established within this fails the request with {@link TimeoutError}. Default 5000 ms. */
  connectTimeoutMs?: number;
  /**
   * A request whose connection receives nothing for this long (waiting for the headers, or in the body) fails with
   * {@link TimeoutError}. Default 30,000 ms; `Infinity` = none (leave it to the caller's signal).
   */
  idleTimeoutMs?: number;
  /** Bytes of a non-2xx response's body kept for the caller's error mapping; a longer body is cut. Default 64 KiB. */
  errorBodyLimit?: number;
  /** Largest response head (status line and headers). Default 64 KiB. */
  maxHeaderBytes?: number;
}

/** One GET. `path` is sent as is: already percent-encoded, with its query. */
export interface HttpGetRequest {
  host: string;
  port: number;
  path: string;
  /** Sent as given (names as written, e.g. already signed); `host` is added when missing. */
  headers: Readonly<Record<string, string>>;
  /** Aborts the request, also while its body is read: the connection is destroyed at once. */
  signal?: AbortSignal | undefined;
}

export interface HttpGetReadOptions {
  /** Called per socket read of the body: restarts the engine's stall timer. */
  progress?: (() => void) | undefined;
  /**
   * Stop after `target.length` bytes and drop the rest of a longer body (a server that ignored the Range header);
   * the connection is closed. Without it, a `Content-Length` above `target.length` is an {@link IntegrityError}.
   */
  allowMore?: boolean | undefined;
}

/** A response whose head has arrived. */
export interface HttpGetResponse {
  readonly status: number;
  readonly statusText: string;
  /** Lower-case names; repeated headers joined with ", ". */
  readonly headers: Readonly<Record<string, string>>;
  /** The body's length: always set for a 2xx (one without it is an error), for others when the server sent it. */
  readonly contentLength: number | undefined;
  /**
   * Non-2xx only: the body, already read (at most `errorBodyLimit` bytes; chunked bodies decoded), for the caller's
   * error mapping. The connection went back to the pool or was closed before the response was handed over.
   */
  readonly errorBody: Buffer | undefined;
  /**
   * 2xx only: reads the body into `target` (the kernel copies socket bytes straight into it) and resolves with the
   * bytes written: `min(contentLength, target.length)`. A connection that ends early, an abort or a stall rejects
   * (the connection is destroyed); a fully read body returns the connection to the pool for the next request.
   */
  readInto(target: Uint8Array, opts?: HttpGetReadOptions): Promise<number>;
  /** Gives up the body without reading it: the connection is closed (no-op once the body is read). */
  discard(): void;
}

/** Connections of all hosts. */
export interface HttpGetConnectionStats {
  /** Connected or connecting, busy or idle. */
  open: number;
  /** Idle in the pool, waiting for the next request. */
  idle: number;
  /** Connections opened since the client was created. */
  opened: number;
  /** Requests waiting for a connection (every one at `maxSockets`). */
  queued: number;
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;
const REQUEST_PATH = /^\/[\x21-\x7e]*$/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/;
const CRLFCRLF = Buffer.from("\r\n\r\n");

function protocolError(message: string, code = "E_NETWORK"): BackendError {
  return new BackendError(message, { code, retryable: true });
}

function positiveOption(name: string, value: number | undefined, fallback: number, allowInfinity = false): number {
  const v = value ?? fallback;
  if (!(allowInfinity && v === Infinity) && (!Number.isSafeInteger(v) || v < 1)) {
    throw new RangeConfigError(`HttpGetClient: ${name} must be a positive integer${allowInfinity ? " or Infinity" : ""}, got ${String(value)}`, {
      code: "E_INVALID_OPTION",
    });
  }
  return v;
}

/**
 * A small HTTP/1.1 GET client for plain `http:` that reads response bodies straight into caller memory. Node's
 * http stack copies every body chunk at least twice (socket read into a new Buffer, the parser's copy, then the
 * caller's copy into its result); here each socket reads with Node's `onread` into a buffer chosen per read: a
 * small shared scratch buffer while the head arrives, then the still-empty part of the caller's target, so the
 * kernel writes body bytes where they belong and nothing else touches them.
 *
 * Keep-alive connections are pooled per host:port (at most `maxSockets`); a connection returns to the pool only after
 * a response read to its last byte on a connection the server keeps open. GET only, no TLS, no proxy, no chunked 2xx
 * bodies (a 2xx without `Content-Length` is a retryable error): built for object stores' ranged reads.
 *
 * Failures are typed: a connection refused, reset or closed early, or an unreadable response is a retryable
 * {@link BackendError} `E_NETWORK`; a stall or a slow connect a {@link TimeoutError}; an abort core's `AbortError`.
 * A request sent on a reused idle connection that the server had closed meanwhile is sent again once, on a new one.
 */
export class HttpGetClient {
  readonly maxSockets: number;
  readonly #connectTimeoutMs: number;
  readonly #idleTimeoutMs: number;
  readonly #errorBodyLimit: number;
  readonly #maxHeaderBytes: number;
  readonly #hosts = new Map<string, HostPool>();
  /** Where socket reads land while no body target is set; every read is handled before the next, so one serves all. */
  readonly #scratch = Buffer.allocUnsafeSlow(16 * KiB);
  #opened = 0;
  #closed = false;

  constructor(options: HttpGetClientOptions = {}) {
    this.maxSockets = positiveOption("maxSockets", options.maxSockets, 64);
    this.#connectTimeoutMs = positiveOption("connectTimeoutMs", options.connectTimeoutMs, 5_000, true);
    this.#idleTimeoutMs = positiveOption("idleTimeoutMs", options.idleTimeoutMs, 30_000, true);
    this.#errorBodyLimit = positiveOption("errorBodyLimit", options.errorBodyLimit, 64 * KiB);
    this.#maxHeaderBytes = positiveOption("maxHeaderBytes", options.maxHeaderBytes, 64 * KiB);
  }

  /** Sends a GET and resolves when its head has arrived (a non-2xx also with its body read). */
  async get(request: HttpGetRequest): Promise<HttpGetResponse> {
    const head = requestHead(request);
    const { signal } = request;
    for (let attempt = 1; ; attempt++) {
      if (signal?.aborted) throw abortErrorFrom(signal);
      if (this.#closed) throw new BackendError("HttpGetClient is closed", { code: "E_CLOSED" });
      const connection = await this.#acquire(request, attempt > 1);
      const exchange = new Exchange(connection, request, head, this.#limits());
      try {
        return await exchange.head;
      } catch (error) {
        // A keep-alive connection the server closed while it sat idle: the request never reached it. GET is safe to
        // send again, once, on a new connection.
        if (attempt === 1 && connection.reused && exchange.received === 0 && !signal?.aborted && BackendError.isInstance(error) && error.code === "E_NETWORK") {
          continue;
        }
        throw error;
      }
    }
  }

  /** Open, idle and queued connections, and how many were opened in all (to check keep-alive reuse). */
  connectionStats(): HttpGetConnectionStats {
    let open = 0;
    let idle = 0;
    let queued = 0;
    for (const pool of this.#hosts.values()) {
      open += pool.all.size;
      idle += pool.idle.length;
      queued += pool.waiters.length;
    }
    return { open, idle, opened: this.#opened, queued };
  }

  /** Destroys every connection (requests in flight fail) and refuses new requests. */
  close(): void {
    this.#closed = true;
    for (const pool of this.#hosts.values()) {
      for (const waiter of pool.waiters.splice(0)) waiter.reject(new BackendError("HttpGetClient closed", { code: "E_CLOSED" }));
      for (const connection of [...pool.all]) connection.destroy(new BackendError("HttpGetClient closed", { code: "E_CLOSED" }));
    }
    this.#hosts.clear();
  }

  #limits(): ExchangeLimits {
    return { idleTimeoutMs: this.#idleTimeoutMs, errorBodyLimit: this.#errorBodyLimit, maxHeaderBytes: this.#maxHeaderBytes };
  }

  #acquire(request: HttpGetRequest, fresh: boolean): Promise<Connection> {
    const key = `${request.host}:${request.port}`;
    let pool = this.#hosts.get(key);
    if (!pool) {
      pool = { all: new Set(), idle: [], waiters: [] };
      this.#hosts.set(key, pool);
    }
    if (!fresh) {
      const idle = pool.idle.pop();
      if (idle) {
        idle.reuse();
        return Promise.resolve(idle);
      }
    }
    if (pool.all.size < this.maxSockets) return Promise.resolve(this.#open(pool, request));
    // At the limit: wait for a connection to come back (or close, making room for a new one).
    const owner = pool;
    return new Promise<Connection>((resolve, reject) => {
      const { signal } = request;
      // get() checked the signal just before: it is not aborted yet.
      const stopWatching = signal
        ? onAbort(signal, () => {
            const index = owner.waiters.indexOf(waiter);
            if (index >= 0) owner.waiters.splice(index, 1);
            reject(abortErrorFrom(signal));
          })
        : undefined;
      const waiter: Waiter = {
        resolve: (connection) => {
          stopWatching?.();
          resolve(connection);
        },
        reject: (error) => {
          stopWatching?.();
          reject(error);
        },
        request,
      };
      owner.waiters.push(waiter);
    });
  }

  #open(pool: HostPool, request: HttpGetRequest): Connection {
    this.#opened++;
    const connection = new Connection(request.host, request.port, this.#scratch, this.#connectTimeoutMs, {
      release: (c) => {
        const waiter = pool.waiters.shift();
        if (waiter) {
          c.reuse();
          waiter.resolve(c);
        } else pool.idle.push(c);
      },
      closed: (c) => {
        pool.all.delete(c);
        const index = pool.idle.indexOf(c);
        if (index >= 0) pool.idle.splice(index, 1);
        // Room for a new connection: the first waiter gets one.
        const waiter = pool.waiters.shift();
        if (waiter && !this.#closed) waiter.resolve(this.#open(pool, waiter.request));
      },
    });
    pool.all.add(connection);
    return connection;
  }
}

interface Waiter {
  resolve(connection: Connection): void;
  reject(error: unknown): void;
  request: HttpGetRequest;
}

interface HostPool {
  all: Set<Connection>;
  /** Most recently used last: reused first, so idle extras age out on the server side. */
  idle: Connection[];
  waiters: Waiter[];
}

interface PoolHooks {
  release(connection: Connection): void;
  closed(connection: Connection): void;
}

interface ExchangeLimits {
  idleTimeoutMs: number;
  errorBodyLimit: number;
  maxHeaderBytes: number;
}

function requestHead(request: HttpGetRequest): Buffer {
  const { host, port, path, headers } = request;
  if (typeof host !== "string" || host === "" || !Number.isSafeInteger(port) || port < 1 || port > 65_535) {
    throw new RangeConfigError(`HttpGetClient: bad host or port ${JSON.stringify(host)}:${String(port)}`, { code: "E_INVALID_OPTION" });
  }
  if (typeof path !== "string" || !REQUEST_PATH.test(path)) {
    throw new RangeConfigError(`HttpGetClient: the path must start with "/" and be percent-encoded (no spaces or controls), got ${JSON.stringify(path)}`, {
      code: "E_INVALID_OPTION",
    });
  }
  let text = `GET ${path} HTTP/1.1\r\n`;
  let hasHost = false;
  for (const [name, value] of Object.entries(headers)) {
    if (!HEADER_NAME.test(name) || typeof value !== "string" || !HEADER_VALUE.test(value)) {
      throw new RangeConfigError(`HttpGetClient: invalid header ${JSON.stringify(name)}`, { code: "E_INVALID_OPTION" });
    }
    if (name.toLowerCase() === "host") hasHost = true;
    text += `${name}: ${value}\r\n`;
  }
  if (!hasHost) text += `host: ${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}\r\n`;
  return Buffer.from(`${text}\r\n`, "latin1");
}

/** One keep-alive connection; reads are dispatched to its current exchange. */
class Connection {
  readonly socket: Socket;
  /** The request it serves now, if any. */
  exchange: Exchange | undefined;
  /** Served a request before the current one. */
  reused = false;
  #alive = true;
  readonly #hooks: PoolHooks;
  readonly #scratch: Buffer;
  #connectTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(host: string, port: number, scratch: Buffer, connectTimeoutMs: number, hooks: PoolHooks) {
    this.#hooks = hooks;
    this.#scratch = scratch;
    this.socket = connect({
      host: host.startsWith("[") ? host.slice(1, -1) : host,
      port,
      noDelay: true,
      onread: {
        // Called before every read: the body target while one is set, else the shared scratch buffer.
        buffer: () => this.exchange?.readBuffer() ?? this.#scratch,
        callback: (bytes: number, buffer: Uint8Array) => {
          const exchange = this.exchange;
          if (exchange) exchange.onRead(bytes, buffer);
          else this.destroy(protocolError(`${host}:${port} sent ${bytes} bytes while no request was waiting`));
          return true;
        },
      },
    });
    if (Number.isFinite(connectTimeoutMs)) {
      this.#connectTimer = setTimeout(() => {
        this.destroy(new TimeoutError(`connecting to ${host}:${port} took longer than ${connectTimeoutMs} ms`));
      }, connectTimeoutMs);
      this.socket.once("connect", () => clearTimeout(this.#connectTimer));
    }
    this.socket.on("error", (error: Error) => {
      this.destroy(new BackendError(`GET ${host}:${port}: ${error.message}`, { code: "E_NETWORK", retryable: true, cause: error }));
    });
    // The server closed its side: an idle connection leaves the pool; a response still arriving is cut short.
    this.socket.on("end", () => {
      const exchange = this.exchange;
      if (exchange?.onEnd()) return;
      this.destroy(protocolError(`GET ${host}:${port}: the server closed the connection${exchange ? ` ${exchange.where()}` : ""}`));
    });
    this.socket.on("close", () => this.destroy(protocolError(`GET ${host}:${port}: the connection closed`)));
  }

  reuse(): void {
    this.reused = true;
    this.socket.ref();
  }

  /** The exchange read its response to the end and the server keeps the connection: back to the pool. */
  release(): void {
    this.exchange = undefined;
    if (!this.#alive) return;
    // An idle keep-alive connection must not keep the process alive, and keeps reading so a close is seen at once.
    this.socket.unref();
    this.socket.resume();
    this.#hooks.release(this);
  }

  destroy(error: Error): void {
    clearTimeout(this.#connectTimer);
    const exchange = this.exchange;
    this.exchange = undefined;
    if (this.#alive) {
      this.#alive = false;
      this.socket.destroy();
      this.#hooks.closed(this);
    }
    exchange?.fail(error);
  }
}

/** "buffered": the whole body came with the head and the connection is already free; "waiting": paused for readInto. */
type Phase = "head" | "waiting" | "buffered" | "body" | "error-body" | "done";

/** One request and its response on one connection. */
class Exchange implements HttpGetResponse {
  status = 0;
  statusText = "";
  headers: Record<string, string> = {};
  contentLength: number | undefined;
  errorBody: Buffer | undefined;
  /** Response bytes received so far (head and body). */
  received = 0;
  readonly head: Promise<HttpGetResponse>;

  readonly #connection: Connection;
  readonly #request: HttpGetRequest;
  readonly #limits: ExchangeLimits;
  #phase: Phase = "head";
  #timer: StallTimer | undefined;
  #resolveHead!: (response: HttpGetResponse) => void;
  #rejectHead!: (error: unknown) => void;
  #resolveBody: ((bytes: number) => void) | undefined;
  #rejectBody: ((error: unknown) => void) | undefined;
  /** Head bytes of an incomplete head. */
  #headBytes: Buffer | undefined;
  /** Body bytes that came with the head (or in the read after it), copied out of the scratch buffer. */
  #early: Buffer | undefined;
  #keepAlive = true;
  // Body phase.
  #target: Uint8Array | undefined;
  #got = 0;
  /** Bytes of the body that go into the target. */
  #want = 0;
  #progress: (() => void) | undefined;
  // Error-body phase.
  #chunked = false;
  #errorRaw: Buffer[] = [];
  #errorRawLength = 0;
  #stopWatchingSignal: (() => void) | undefined;
  /** Why the exchange failed, for a readInto that comes after the connection died. */
  #failure: Error | undefined;

  constructor(connection: Connection, request: HttpGetRequest, head: Buffer, limits: ExchangeLimits) {
    this.#connection = connection;
    this.#request = request;
    this.#limits = limits;
    this.head = new Promise<HttpGetResponse>((resolve, reject) => {
      this.#resolveHead = resolve;
      this.#rejectHead = reject;
    });
    // A rejection nobody awaits yet (the body phase) must not surface as unhandled.
    this.head.catch(() => {});
    connection.exchange = this;
    const { signal } = request;
    // One shared listener per signal (core's onAbort), however many requests pass the same one. A signal that
    // aborted while a connection was acquired is caught by readInto.
    if (signal && !signal.aborted) this.#stopWatchingSignal = onAbort(signal, () => this.#connection.destroy(abortErrorFrom(signal)));
    this.#startTimer();
    connection.socket.write(head);
  }

  where(): string {
    if (this.#phase === "head") return "before the response head was complete";
    if (this.#phase === "body" || this.#phase === "waiting") return `after ${this.#got} of ${this.#want} body bytes`;
    return "during the response";
  }

  #label(): string {
    return `GET ${this.#request.host}:${this.#request.port}${this.#request.path.replace(/\?.*$/, "")}`;
  }

  #startTimer(): void {
    if (!Number.isFinite(this.#limits.idleTimeoutMs)) return;
    this.#timer?.stop();
    this.#timer = new StallTimer(this.#limits.idleTimeoutMs, () => {
      this.#connection.destroy(new TimeoutError(`${this.#label()}: no bytes for ${this.#limits.idleTimeoutMs} ms ${this.where()}`));
    });
  }

  /** The buffer for the connection's next socket read. */
  readBuffer(): Uint8Array | undefined {
    return this.#phase === "body" ? this.#target!.subarray(this.#got, this.#want) : undefined;
  }

  onRead(bytes: number, buffer: Uint8Array): void {
    this.received += bytes;
    this.#timer?.touch();
    switch (this.#phase) {
      case "body": {
        const target = this.#target!;
        if (buffer.buffer === target.buffer && buffer.byteOffset === target.byteOffset + this.#got) {
          this.#got += bytes;
        } else {
          // The first read after the head lands in the scratch buffer (it was chosen before the target was known).
          this.#absorb(buffer.subarray(0, bytes));
        }
        this.#progress?.();
        if (this.#got >= this.#want) this.#bodyDone();
        return;
      }
      case "head":
        this.#onHeadBytes(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
        return;
      case "error-body":
        this.#onErrorBytes(Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
        return;
      default:
        // "waiting" is paused; "done" has no exchange: anything here is bytes the server should not have sent.
        this.#connection.destroy(protocolError(`${this.#label()}: the server sent bytes after the response`));
    }
  }

  /** Scratch-buffer body bytes: into the target, anything past it kept out of the pool. */
  #absorb(chunk: Uint8Array): void {
    const take = Math.min(chunk.length, this.#want - this.#got);
    this.#target!.set(chunk.subarray(0, take), this.#got);
    this.#got += take;
    if (take < chunk.length) this.#keepAlive = false;
  }

  /** EOF from the server; true when that completes the response (an error body delimited by the close). */
  onEnd(): boolean {
    if (this.#phase !== "error-body" || this.#chunked || this.contentLength !== undefined) return false;
    this.#keepAlive = false;
    this.#errorBodyDone(this.#joinErrorRaw());
    return true;
  }

  #onHeadBytes(chunk: Buffer): void {
    let bytes = this.#headBytes ? Buffer.concat([this.#headBytes, chunk]) : chunk;
    for (;;) {
      const end = bytes.indexOf(CRLFCRLF);
      if (end < 0) {
        if (bytes.length > this.#limits.maxHeaderBytes) {
          this.#connection.destroy(protocolError(`${this.#label()}: response head larger than ${this.#limits.maxHeaderBytes} bytes`));
          return;
        }
        // Copied: the scratch buffer is reused by the next read.
        this.#headBytes = Buffer.from(bytes);
        return;
      }
      this.#headBytes = undefined;
      const error = this.#parseHead(bytes.toString("latin1", 0, end));
      if (error) {
        this.#connection.destroy(error);
        return;
      }
      bytes = bytes.subarray(end + 4);
      // 1xx (100 Continue, 103 Early Hints): the real response follows.
      if (this.status >= 100 && this.status < 200) {
        if (bytes.length === 0) return;
        continue;
      }
      break;
    }
    this.#onResponseHead(bytes);
  }

  /** Status line and headers; an error for anything we cannot read safely. */
  #parseHead(text: string): BackendError | undefined {
    const lines = text.split("\r\n");
    const status = STATUS_LINE.exec(lines[0]!);
    if (!status) return protocolError(`${this.#label()}: not an HTTP/1.x status line: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
    this.status = Number(status[2]);
    this.statusText = status[3] ?? "";
    const headers: Record<string, string> = {};
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(":");
      // Folded (obsolete) and nameless lines are refused, as RFC 9112 allows: they are how responses get smuggled.
      if (colon <= 0 || line[0] === " " || line[0] === "\t") return protocolError(`${this.#label()}: malformed header line ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).toLowerCase();
      if (!HEADER_NAME.test(name)) return protocolError(`${this.#label()}: malformed header name ${JSON.stringify(name.slice(0, 80))}`);
      const value = line.slice(colon + 1).trim();
      headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
    }
    this.headers = headers;
    const connection = (headers.connection ?? "").toLowerCase();
    this.#keepAlive = status[1] === "1" ? !/\bclose\b/.test(connection) : /\bkeep-alive\b/.test(connection);
    this.contentLength = undefined;
    this.#chunked = false;
    const te = headers["transfer-encoding"];
    if (te !== undefined) {
      if (!/^chunked$/i.test(te.trim())) return protocolError(`${this.#label()}: unsupported Transfer-Encoding ${JSON.stringify(te)}`);
      this.#chunked = true;
    }
    const cl = headers["content-length"];
    if (cl !== undefined) {
      const values = new Set(cl.split(",").map((v) => v.trim()));
      const value = values.size === 1 ? [...values][0]! : "";
      if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) return protocolError(`${this.#label()}: bad Content-Length ${JSON.stringify(cl)}`);
      // Both framings at once is the classic smuggling vector: refuse rather than pick one.
      if (this.#chunked) return protocolError(`${this.#label()}: both Content-Length and Transfer-Encoding`);
      this.contentLength = Number(value);
    }
    return undefined;
  }

  #onResponseHead(rest: Buffer): void {
    const { status } = this;
    const noBody = status === 204 || status === 304;
    if (status >= 200 && status < 300) {
      if (noBody) this.contentLength = 0;
      if (this.contentLength === undefined) {
        this.#connection.destroy(
          protocolError(`${this.#label()}: HTTP ${status} without Content-Length${this.#chunked ? " (chunked)" : ""}; this client reads length-delimited bodies only`),
        );
        return;
      }
      this.#timer?.stop();
      this.#timer = undefined;
      if (rest.length >= this.contentLength) {
        // The whole body came with the head: the connection is done with this response (a close that follows does
        // not fail it), and readInto copies from here.
        if (rest.length > this.contentLength) this.#keepAlive = false;
        if (this.contentLength > 0) this.#early = Buffer.from(rest.subarray(0, this.contentLength));
        this.#phase = this.contentLength > 0 ? "buffered" : "done";
        this.#finishConnection();
      } else {
        if (rest.length > 0) this.#early = Buffer.from(rest);
        this.#phase = "waiting";
        // Paused until readInto names the target, so the body does not pile up in the scratch buffer meanwhile.
        this.#connection.socket.pause();
      }
      this.#resolveHead(this);
      return;
    }
    this.#phase = "error-body";
    if (noBody || this.contentLength === 0) {
      this.#errorBodyDone(Buffer.alloc(0));
      if (rest.length > 0) this.#keepAlive = false;
      return;
    }
    if (rest.length > 0) this.#onErrorBytes(Buffer.from(rest));
  }

  #onErrorBytes(chunk: Buffer): void {
    const limit = this.#limits.errorBodyLimit;
    this.#errorRaw.push(Buffer.from(chunk));
    this.#errorRawLength += chunk.length;
    if (this.contentLength !== undefined) {
      if (this.#errorRawLength >= this.contentLength) {
        if (this.#errorRawLength > this.contentLength) this.#keepAlive = false;
        this.#errorBodyDone(this.#joinErrorRaw().subarray(0, Math.min(this.contentLength, limit)));
      } else if (this.#errorRawLength >= limit) {
        // Longer than we keep: stop here; the rest is not worth reading (the connection is not reused).
        this.#keepAlive = false;
        this.#errorBodyDone(this.#joinErrorRaw().subarray(0, limit));
      }
      return;
    }
    if (this.#chunked) {
      const raw = this.#joinErrorRaw();
      const decoded = decodeChunked(raw);
      if (decoded === "bad") {
        this.#connection.destroy(protocolError(`${this.#label()}: malformed chunked body`));
        return;
      }
      if (decoded.complete) {
        if (decoded.consumed < raw.length) this.#keepAlive = false;
        this.#errorBodyDone(decoded.body.subarray(0, limit));
      } else if (decoded.body.length >= limit || raw.length > 4 * limit + 64 * KiB) {
        this.#keepAlive = false;
        this.#errorBodyDone(decoded.body.subarray(0, limit));
      }
      return;
    }
    // Delimited by the connection's close (onEnd): keep reading up to the limit.
    if (this.#errorRawLength >= limit) {
      this.#keepAlive = false;
      this.#errorBodyDone(this.#joinErrorRaw().subarray(0, limit));
    }
  }

  #joinErrorRaw(): Buffer {
    if (this.#errorRaw.length !== 1) this.#errorRaw = [Buffer.concat(this.#errorRaw, this.#errorRawLength)];
    return this.#errorRaw[0] ?? Buffer.alloc(0);
  }

  #errorBodyDone(body: Buffer): void {
    this.errorBody = Buffer.from(body);
    this.#errorRaw = [];
    this.#phase = "done";
    this.#finishConnection();
    this.#resolveHead(this);
  }

  readInto(target: Uint8Array, opts: HttpGetReadOptions = {}): Promise<number> {
    if (this.status < 200 || this.status >= 300) return Promise.reject(new RangeConfigError(`readInto on an HTTP ${this.status} response`, { code: "E_USAGE" }));
    if (this.#failure) return Promise.reject(this.#failure);
    if (this.#phase !== "waiting" && this.#phase !== "buffered" && this.#phase !== "done") {
      return Promise.reject(new RangeConfigError("readInto called twice", { code: "E_USAGE" }));
    }
    const length = this.contentLength!;
    if (length > target.length && !opts.allowMore) {
      this.discard();
      return Promise.reject(new IntegrityError(`the server sent more than the ${target.length} bytes requested (Content-Length ${length})`, { code: "E_LENGTH_MISMATCH", retryable: true }));
    }
    if (this.#phase === "done") return Promise.resolve(0);
    if (this.#phase === "buffered") {
      const early = this.#early!;
      this.#early = undefined;
      this.#phase = "done";
      const take = Math.min(early.length, target.length);
      target.set(early.subarray(0, take));
      opts.progress?.();
      return Promise.resolve(take);
    }
    if (this.#request.signal?.aborted) {
      const error = abortErrorFrom(this.#request.signal);
      this.#connection.destroy(error);
      return Promise.reject(error);
    }
    this.#target = target;
    this.#want = Math.min(length, target.length);
    if (this.#want < length) this.#keepAlive = false;
    this.#progress = opts.progress;
    const body = new Promise<number>((resolve, reject) => {
      this.#resolveBody = resolve;
      this.#rejectBody = reject;
    });
    const early = this.#early;
    this.#early = undefined;
    if (early) {
      this.#absorb(early);
      this.#progress?.();
    }
    if (this.#got >= this.#want) {
      this.#bodyDone();
    } else {
      this.#phase = "body";
      this.#startTimer();
      this.#connection.socket.resume();
    }
    return body;
  }

  discard(): void {
    this.#early = undefined;
    if (this.#phase === "done" || this.#phase === "buffered") return;
    this.#connection.destroy(new BackendError(`${this.#label()}: body discarded`, { code: "E_DISCARDED" }));
  }

  #bodyDone(): void {
    const got = this.#got;
    this.#phase = "done";
    this.#target = undefined;
    this.#finishConnection();
    this.#resolveBody?.(got);
  }

  /** The response is complete: the connection goes back to the pool, or is closed when the server will not reuse it. */
  #finishConnection(): void {
    this.#cleanup();
    if (this.#keepAlive) this.#connection.release();
    else this.#connection.destroy(new BackendError("closed after the response", { code: "E_CLOSED" }));
  }

  #cleanup(): void {
    this.#timer?.stop();
    this.#timer = undefined;
    this.#stopWatchingSignal?.();
    this.#stopWatchingSignal = undefined;
  }

  /** The connection died (or was destroyed for a reason): whichever promise is pending rejects. */
  fail(error: Error): void {
    if (this.#phase === "done" || this.#phase === "buffered") return;
    this.#phase = "done";
    this.#failure = error;
    this.#cleanup();
    this.#target = undefined;
    if (this.#rejectBody) this.#rejectBody(error);
    else this.#rejectHead(error);
  }
}

/**
 * A chunked body decoded from its raw bytes: `complete` once the last chunk and the trailers arrived (`consumed`
 * bytes), "bad" for bytes that are not chunked encoding. For error bodies only: they are small, so it decodes from
 * the start each time rather than keeping state.
 */
function decodeChunked(raw: Buffer): { body: Buffer; complete: boolean; consumed: number } | "bad" {
  const parts: Buffer[] = [];
  let at = 0;
  for (;;) {
    const lineEnd = raw.indexOf("\r\n", at);
    if (lineEnd < 0) return { body: Buffer.concat(parts), complete: false, consumed: at };
    const sizeText = raw.toString("latin1", at, lineEnd).split(";")[0]!.trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(sizeText)) return "bad";
    const size = parseInt(sizeText, 16);
    if (size === 0) {
      // Trailers, each ending in CRLF, then an empty line.
      let trailer = lineEnd + 2;
      for (;;) {
        const end = raw.indexOf("\r\n", trailer);
        if (end < 0) return { body: Buffer.concat(parts), complete: false, consumed: at };
        if (end === trailer) return { body: Buffer.concat(parts), complete: true, consumed: end + 2 };
        trailer = end + 2;
      }
    }
    const dataStart = lineEnd + 2;
    if (raw.length < dataStart + size) {
      parts.push(raw.subarray(dataStart));
      return { body: Buffer.concat(parts), complete: false, consumed: at };
    }
    parts.push(raw.subarray(dataStart, dataStart + size));
    if (raw.length < dataStart + size + 2) return { body: Buffer.concat(parts), complete: false, consumed: at };
    if (raw[dataStart + size] !== 13 || raw[dataStart + size + 1] !== 10) return "bad";
    at = dataStart + size + 2;
  }
}
