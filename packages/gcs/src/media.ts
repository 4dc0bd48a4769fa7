import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from "node:http";
import { Agent as HttpsAgent, request as httpsRequest } from "node:https";
import { abortErrorFrom, createReadAgent } from "@range/core";

/** The parts of a media response the driver reads. */
export interface MediaResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: IncomingMessage;
}

/** A non-2xx media response as an error `mapGcsError` understands (`code` = status, `message` from the body). */
export class MediaHttpError extends Error {
  readonly code: number;
  /** The response's headers, where `mapGcsError` finds `Retry-After` (a 429 / 503's backoff floor). */
  readonly response: { headers: IncomingHttpHeaders };
  constructor(status: number, message: string, headers: IncomingHttpHeaders = {}) {
    super(message);
    this.name = "MediaHttpError";
    this.code = status;
    this.response = { headers };
  }
}

/**
 * GETs of object bytes over Node's own HTTP client with one keep-alive agent: the hot path of every read.
 *
 * Why not the SDK's `file.createReadStream({ start, end })`: per request it runs the SDK's request pipeline (retry
 * wrapper, teeny-request, a PassThrough and a duplexify per stream). The same engine reading a 256 MiB object from
 * fake-gcs-server in 32 × 8 MiB ranges took 1.21–1.28× as long through it as through this client
 * (bench/get-256mib.mjs, checksums off on both), and it cannot write into the caller's buffer. Node's `http` hands us
 * each socket chunk, which `readInto` copies once, straight into the engine's target. Authentication stays with the
 * SDK: the `Authorization` header comes from its auth client.
 */
export class MediaClient {
  readonly #base: URL;
  readonly #agent: HttpAgent | HttpsAgent;
  readonly #headers: (url: string) => Promise<Record<string, string>>;
  #inFlight = 0;

  constructor(apiEndpoint: string, maxSockets: number, headers: (url: string) => Promise<Record<string, string>>) {
    this.#base = new URL(apiEndpoint);
    const options = { keepAlive: true, maxSockets, maxFreeSockets: maxSockets, scheduling: "lifo" as const };
    // Plain HTTP (an emulator, a local gateway): sockets read into one reused buffer (core's createReadAgent), which
    // cuts the client CPU of large bodies; TLS sockets cannot do that.
    this.#agent = this.#base.protocol === "https:" ? new HttpsAgent(options) : createReadAgent(options);
    this.#headers = headers;
  }

  /** Media requests whose response has not ended yet (for tests: nothing may be left running after an abort). */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** `GET .../o/<name>?alt=media[&generation=N]` with an optional byte range; resolves on the response headers. */
  async get(bucket: string, name: string, opts: { offset?: number; length?: number; generation?: string; signal?: AbortSignal | undefined }): Promise<MediaResponse> {
    const path = `${this.#base.pathname.replace(/\/+$/, "")}/storage/v1/b/${encodeURIComponent(bucket)}/o/${encodeURIComponent(name)}`;
    const query = `alt=media${opts.generation !== undefined ? `&generation=${encodeURIComponent(opts.generation)}` : ""}`;
    const url = `${this.#base.origin}${path}?${query}`;
    const headers: Record<string, string> = {
      ...(await this.#headers(url)),
      // Stored bytes as they are: without it GCS decompresses gzip-encoded objects and ignores the Range.
      "accept-encoding": "gzip",
    };
    if (opts.offset !== undefined && opts.length !== undefined) headers.range = `bytes=${opts.offset}-${opts.offset + opts.length - 1}`;
    const signal = opts.signal;
    if (signal?.aborted) throw abortErrorFrom(signal);
    const send = this.#base.protocol === "https:" ? httpsRequest : httpRequest;
    return new Promise<MediaResponse>((resolve, reject) => {
      const request = send(
        { protocol: this.#base.protocol, hostname: this.#base.hostname, port: this.#base.port, path: `${path}?${query}`, method: "GET", headers, agent: this.#agent },
        (response) => {
          signal?.removeEventListener("abort", onAbort);
          const status = response.statusCode ?? 0;
          if (status === 200 || status === 206) {
            this.#track(response);
            resolve({ status, headers: response.headers, body: response });
            return;
          }
          void errorBody(response).then(
            (text) => reject(new MediaHttpError(status, text || response.statusMessage || `HTTP ${status}`, response.headers)),
            reject,
          );
        },
      );
      const onAbort = () => request.destroy(abortErrorFrom(signal!));
      signal?.addEventListener("abort", onAbort, { once: true });
      request.once("error", (error) => {
        signal?.removeEventListener("abort", onAbort);
        reject(error);
      });
      request.end();
    });
  }

  #track(response: IncomingMessage): void {
    this.#inFlight++;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      this.#inFlight--;
    };
    response.once("close", finish);
    response.once("end", finish);
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** The error message of a JSON (or text) error body, at most 64 KiB of it. */
async function errorBody(response: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response as AsyncIterable<Buffer>) {
    if (size < 65_536) chunks.push(chunk);
    size += chunk.length;
  }
  const text = Buffer.concat(chunks).toString("utf8").trim();
  try {
    const parsed = JSON.parse(text) as { error?: { message?: string } | string };
    if (typeof parsed.error === "string") return parsed.error;
    if (parsed.error?.message) return parsed.error.message;
  } catch {
    // Not JSON: the text itself (fake-gcs-server answers some errors in plain text or XML).
  }
  return text.slice(0, 500);
}

