// A read-only backend for any web server that honours Range requests, written only against @range/core's public
// API. Core does the rest: key validation, the range engine for large objects, version pinning, streaming.
import {
  BackendError,
  IntegrityError,
  InvalidRangeError,
  NotFoundError,
  RangeConfigError,
  createObjectStore,
  type BackendPlugin,
  type DriverReadOptions,
  type ObjectMeta,
  type ObjectStore,
  type RangeEngineOptions,
  type StoreDriver,
} from "@range/core";

export interface HttpStoreOptions {
  /** Base URL; keys are appended to it (percent-encoded per segment). */
  baseUrl: string;
  engine?: RangeEngineOptions;
}

function readOnly(): never {
  throw new BackendError("http:// stores are read-only", { code: "E_READ_ONLY" });
}

/** Maps a response status to the typed error the engine knows how to treat (retry 5xx and 429, not 4xx). */
function check(response: Response, key: string): Response {
  if (response.ok) return response;
  if (response.status === 404) throw new NotFoundError(`http object ${JSON.stringify(key)} not found`, { key });
  if (response.status === 412) throw new IntegrityError(`${JSON.stringify(key)} changed during the read`, { code: "E_OBJECT_CHANGED" });
  if (response.status === 416) throw new InvalidRangeError(`range not satisfiable for ${JSON.stringify(key)}`);
  const retryAfter = Number(response.headers.get("retry-after"));
  throw new BackendError(`GET ${JSON.stringify(key)}: HTTP ${response.status}`, {
    retryable: response.status >= 500 || response.status === 429,
    ...(retryAfter > 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
  });
}

/** Size from `Content-Range: bytes a-b/size`, else from `Content-Length` of a full (200) answer. */
function totalSize(response: Response): number {
  const range = /\/(\d+)$/.exec(response.headers.get("content-range") ?? "");
  return Number(range ? range[1] : response.headers.get("content-length"));
}

function metaOf(key: string, response: Response): ObjectMeta {
  const etag = response.headers.get("etag") ?? undefined;
  const modified = response.headers.get("last-modified");
  return { key, size: totalSize(response), ...(etag ? { etag } : {}), ...(modified ? { lastModified: new Date(modified) } : {}) };
}

/**
 * Reads `length` bytes of the body into `target` (or a new buffer), reporting progress for the stall timer. Some
 * servers answer `bytes=0-0` with more than asked (sirv reads an end of 0 as "to the end"): when the answer starts
 * where we asked, the extra bytes are dropped and the rest of the body cancelled.
 */
async function body(response: Response, offset: number, length: number, opts: DriverReadOptions): Promise<Uint8Array> {
  const out = opts.target ?? new Uint8Array(length);
  const start = Number(/bytes (\d+)-/.exec(response.headers.get("content-range") ?? "")?.[1] ?? 0);
  let filled = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    if (filled + chunk.length > length && start !== offset) throw new IntegrityError(`server sent a range other than asked`);
    out.set(chunk.subarray(0, length - filled), filled);
    filled += Math.min(chunk.length, length - filled);
    opts.progress?.();
    if (filled === length) break; // leaving the loop cancels the rest of the body
  }
  return filled === length ? out : out.subarray(0, filled); // the engine rejects a short answer and retries it
}

/** Percent-encodes a path segment, leaving RFC 3986 sub-delimiters and ":"/"@" raw (legal in a path). */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/%(21|24|26|27|28|29|2A|2B|2C|3A|3B|3D|40)/gi, (escape) => decodeURIComponent(escape));
}

export function createHttpStore(options: HttpStoreOptions): ObjectStore {
  let base: URL;
  try {
    base = new URL(options.baseUrl.endsWith("/") ? options.baseUrl : `${options.baseUrl}/`);
  } catch {
    throw new RangeConfigError(`baseUrl must be an absolute http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
  }
  const url = (key: string) => new URL(key.split("/").map(encodeSegment).join("/"), base);
  const get = (key: string, headers: Record<string, string>, signal?: AbortSignal) =>
    fetch(url(key), { headers, ...(signal ? { signal } : {}) }).then((r) => check(r, key));

  const driver: StoreDriver = {
    scheme: base.protocol.slice(0, -1),
    async stat(key, { signal }) {
      const response = await fetch(url(key), { method: "HEAD", ...(signal ? { signal } : {}) });
      return metaOf(key, check(response, key));
    },
    async readHead(key, length, { signal }) {
      // One request: the first bytes, and the total size from Content-Range. An empty object cannot satisfy any
      // range (416): then its HEAD says whether it exists.
      const response = await get(key, { range: `bytes=0-${length - 1}` }, signal).catch(async (error: unknown) => {
        if (!InvalidRangeError.isInstance(error) || (await driver.stat(key, signal ? { signal } : {})).size !== 0) throw error;
        return undefined;
      });
      if (!response) return { meta: { key, size: 0 }, data: new Uint8Array(0) };
      const meta = metaOf(key, response);
      return { meta, data: body(response, 0, Math.min(length, meta.size), signal ? { signal } : {}) };
    },
    async read(key, offset, length, opts) {
      const headers: Record<string, string> = { range: `bytes=${offset}-${offset + length - 1}` };
      if (opts.etag) headers["if-match"] = opts.etag;
      const response = await get(key, headers, opts.signal);
      if (response.status !== 206 && length !== totalSize(response)) {
        throw new BackendError(`server ignored the Range header for ${JSON.stringify(key)}`, { code: "E_NO_RANGE" });
      }
      if (offset + length > totalSize(response)) throw new InvalidRangeError(`range past the end of ${JSON.stringify(key)}`);
      return body(response, offset, length, opts);
    },
    write: async () => readOnly(),
    // eslint-disable-next-line require-yield
    list: async function* () {
      readOnly();
    },
    delete: async () => readOnly(),
  };
  return createObjectStore(driver, options.engine ? { engine: options.engine } : {});
}

/** `registerBackend(httpBackend)` makes `openStore("http://host/path/")` use this store (and `https://`). */
export const httpBackend: BackendPlugin<Omit<HttpStoreOptions, "baseUrl">> = {
  scheme: "http",
  create: (uri, options) => createHttpStore({ ...options, baseUrl: uri.href }),
};
export const httpsBackend: BackendPlugin<Omit<HttpStoreOptions, "baseUrl">> = { ...httpBackend, scheme: "https" };
