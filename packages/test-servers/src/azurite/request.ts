import { createHmac } from "node:crypto";

/** An Azure Blob account reachable at `blobEndpoint` (path style for the emulator: `http://127.0.0.1:port/<account>`). */
export interface AzureSharedKey {
  blobEndpoint: string;
  account: string;
  /** Base64, as the portal and Azurite show it. */
  accountKey: string;
}

export interface AzureBlobRequestOptions {
  method: "GET" | "PUT" | "DELETE" | "HEAD";
  /** Below the account: `""` for the service, `/container`, `/container/blob name` (unencoded; encoded here). */
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: Uint8Array;
  timeoutMs?: number;
}

export interface AzureBlobResponse {
  status: number;
  headers: Headers;
  body: Buffer;
}

/** The service version the kit speaks (Azurite runs with `--skipApiVersionCheck`, so any recent one works). */
const API_VERSION = "2024-11-04";

/**
 * One SharedKey-signed Blob service request, with no SDK: enough for the kit to probe readiness and create containers
 * without depending on `@azure/storage-blob`. Signing follows "Authorize with Shared Key" (blob service, version
 * 2015-02-21 and later: an empty Content-Length line for bodiless requests).
 */
export async function azureBlobRequest(key: AzureSharedKey, options: AzureBlobRequestOptions): Promise<AzureBlobResponse> {
  const base = new URL(key.blobEndpoint.replace(/\/+$/, ""));
  const encodedPath = options.path.split("/").map(encodeURIComponent).join("/");
  const url = new URL(base.href + encodedPath);
  for (const [name, value] of Object.entries(options.query ?? {})) url.searchParams.set(name, value);
  const body = options.body ?? new Uint8Array(0);
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v.trim()])),
    "x-ms-date": new Date().toUTCString(),
    "x-ms-version": API_VERSION,
  };
  const header = (name: string) => headers[name] ?? "";
  const canonicalHeaders = Object.keys(headers)
    .filter((name) => name.startsWith("x-ms-"))
    .sort()
    .map((name) => `${name}:${headers[name]}\n`)
    .join("");
  const canonicalQuery = [...url.searchParams.keys()]
    .map((name) => name.toLowerCase())
    .sort()
    .map((name) => `\n${name}:${url.searchParams.getAll(name).sort().join(",")}`)
    .join("");
  // The resource is /<account><URL path>; with the emulator's path-style URLs the path starts with the account again.
  const canonicalResource = `/${key.account}${url.pathname}${canonicalQuery}`;
  const stringToSign = [
    options.method,
    header("content-encoding"),
    header("content-language"),
    body.length > 0 ? String(body.length) : "",
    header("content-md5"),
    header("content-type"),
    "", // Date: x-ms-date is used instead
    header("if-modified-since"),
    header("if-match"),
    header("if-none-match"),
    header("if-unmodified-since"),
    header("range"),
    canonicalHeaders + canonicalResource,
  ].join("\n");
  const signature = createHmac("sha256", Buffer.from(key.accountKey, "base64")).update(stringToSign, "utf8").digest("base64");
  const response = await fetch(url, {
    method: options.method,
    headers: { ...headers, authorization: `SharedKey ${key.account}:${signature}` },
    ...(body.length > 0 ? { body } : {}),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

/** Creates a container; an existing one is fine. */
export async function createAzureContainer(key: AzureSharedKey, name: string): Promise<void> {
  const response = await azureBlobRequest(key, { method: "PUT", path: `/${name}`, query: { restype: "container" } });
  if (response.status === 201) return;
  if (response.status === 409 && response.headers.get("x-ms-error-code") === "ContainerAlreadyExists") return;
  throw new Error(`creating container ${name} failed: HTTP ${response.status} ${response.headers.get("x-ms-error-code") ?? ""} ${response.body.toString("utf8").slice(0, 300)}`);
}
