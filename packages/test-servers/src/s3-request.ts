import { createHash, createHmac } from "node:crypto";
import { FatalProbeError } from "./wait.js";

export interface S3Credentials {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
}

export interface S3RequestOptions {
  method: "GET" | "PUT" | "POST" | "DELETE" | "HEAD";
  /** Path-style: `/bucket/key`, unencoded; each segment is percent-encoded here. */
  path: string;
  query?: Record<string, string>;
  body?: Uint8Array;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

export interface S3Response {
  status: number;
  headers: Headers;
  body: Buffer;
}

const sha256 = (data: string | Uint8Array) => createHash("sha256").update(data).digest("hex");
const hmac = (key: string | Buffer, data: string) => createHmac("sha256", key).update(data).digest();

/** RFC 3986 encoding as SigV4 wants it (encodeURIComponent leaves !'()* alone). */
function encode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * One SigV4-signed S3 request (path style), with no SDK: enough for the kit to create buckets and probe readiness
 * without making the kit depend on a cloud SDK.
 */
export async function s3Request(credentials: S3Credentials, options: S3RequestOptions): Promise<S3Response> {
  const url = new URL(credentials.endpoint);
  const canonicalPath = options.path.split("/").map(encode).join("/") || "/";
  const query = Object.entries(options.query ?? {})
    .map(([k, v]) => [encode(k), encode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
  const now = new Date().toISOString().replace(/[-:]/g, "").replace(/\.\d{3}/, "");
  const day = now.slice(0, 8);
  const body = options.body ?? new Uint8Array(0);
  const payloadHash = sha256(body);
  const headers: Record<string, string> = {
    ...Object.fromEntries(Object.entries(options.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v.trim()])),
    host: url.host,
    "x-amz-content-sha256": payloadHash,
    "x-amz-date": now,
  };
  const names = Object.keys(headers).sort();
  const canonicalRequest = [
    options.method,
    canonicalPath,
    query,
    names.map((n) => `${n}:${headers[n]}\n`).join(""),
    names.join(";"),
    payloadHash,
  ].join("\n");
  const scope = `${day}/${credentials.region}/s3/aws4_request`;
  const stringToSign = ["AWS4-HMAC-SHA256", now, scope, sha256(canonicalRequest)].join("\n");
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [credentials.region, "s3", "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(stringToSign).digest("hex");
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`;
  delete headers.host;

  const target = `${url.origin}${canonicalPath}${query ? `?${query}` : ""}`;
  const response = await fetch(target, {
    method: options.method,
    headers,
    ...(options.body ? { body: options.body } : {}),
    signal: AbortSignal.timeout(options.timeoutMs ?? 10_000),
  });
  return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
}

/** Creates `bucket`; "already exists / owned by you" counts as success. */
export async function createS3Bucket(credentials: S3Credentials, bucket: string): Promise<void> {
  const response = await s3Request(credentials, { method: "PUT", path: `/${bucket}` });
  if (response.status === 200) return;
  const text = response.body.toString("utf8");
  if (response.status === 409 && /BucketAlreadyOwnedByYou|BucketAlreadyExists/.test(text)) return;
  const message = `creating bucket ${bucket} failed: HTTP ${response.status} ${text.slice(0, 300)}`;
  // 4xx: a bad name or bad credentials, which waiting will not fix; 5xx: the server is still starting.
  throw response.status >= 400 && response.status < 500 ? new FatalProbeError(message) : new Error(message);
}
