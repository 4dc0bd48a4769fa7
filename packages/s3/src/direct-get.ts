import { isIP } from "node:net";
import type { S3Client } from "@aws-sdk/client-s3";
import type { HttpGetResponse } from "@range/core";
import { SignatureV4 } from "@smithy/signature-v4";

/**
 * Direct reads: GetObject on a plain-`http:` endpoint sent by core's `HttpGetClient` instead of the SDK, so the body
 * goes from the socket straight into the result (no node:http parser copies, no stream per chunk, no middleware
 * stack per request). The request is the one the SDK would send: same URL and key encoding, signed with SigV4 by
 * `@smithy/signature-v4` with the S3Client's own credentials, region and clock offset.
 */

/** Where one endpoint's direct GETs go. */
export interface DirectEndpoint {
  /** What to connect to (the endpoint's host). */
  host: string;
  port: number;
  /** The endpoint URL's path as given ("/", "/base", "/base/"), which the SDK keeps in front of the bucket or key. */
  basePath: string;
  /** `host` as the Host header names it: with the port unless it is the scheme's default. */
  authority: string;
}

/** The direct target of an `http:` endpoint; undefined for `https:` (TLS stays with the SDK). */
export function directEndpoint(endpoint: string): DirectEndpoint | undefined {
  const url = new URL(endpoint);
  if (url.protocol !== "http:") return undefined;
  const host = url.hostname;
  const port = url.port === "" ? 80 : Number(url.port);
  return { host, port, basePath: url.pathname, authority: url.port === "" ? host : `${host}:${url.port}` };
}

/** The SDK's encoding of a URI label (`extendedEncodeURIComponent`): encodeURIComponent plus `!'()*`. */
function encodeSegment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/**
 * A bucket the SDK puts in the host name of a custom `http:` endpoint (its rule set's `isVirtualHostableS3Bucket` with
 * subdomains allowed): DNS labels, not an IP address, on a host that is not an IP address either.
 */
function virtualHostable(bucket: string, host: string): boolean {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket) &&
    !/\.\.|\.-|-\./.test(bucket) &&
    isIP(bucket) === 0 &&
    isIP(host.replace(/^\[|\]$/g, "")) === 0
  );
}

/** Host, Host header and path of GetObject `key` as the SDK builds them (path style, or virtual host when allowed). */
export function objectTarget(
  endpoint: DirectEndpoint,
  bucket: string,
  key: string,
  forcePathStyle: boolean,
): { host: string; port: number; authority: string; path: string } {
  const encodedKey = key.split("/").map(encodeSegment).join("/");
  const base = endpoint.basePath;
  // The SDK's rule set: `{url#path}/{key}` for a virtual host, `{url#normalizedPath}{bucket}/{key}` for path style.
  if (!forcePathStyle && virtualHostable(bucket, endpoint.host)) {
    return { host: `${bucket}.${endpoint.host}`, port: endpoint.port, authority: `${bucket}.${endpoint.authority}`, path: `${base === "/" ? "" : base}/${encodedKey}` };
  }
  const normalized = base.endsWith("/") ? base : `${base}/`;
  return { host: endpoint.host, port: endpoint.port, authority: endpoint.authority, path: `${normalized}${encodeSegment(bucket)}/${encodedKey}` };
}

/** Signs direct GETs with one S3Client's credentials, region and clock offset. */
export class DirectSigner {
  readonly #client: S3Client;
  readonly #signer: SignatureV4;

  constructor(client: S3Client) {
    this.#client = client;
    const config = client.config;
    this.#signer = new SignatureV4({
      credentials: config.credentials,
      region: config.region,
      service: "s3",
      sha256: config.sha256,
      // S3 signs the path as sent (its keys are encoded once), like the SDK's S3 signer.
      uriEscapePath: false,
      applyChecksum: false,
    });
  }

  /** The headers of a signed GET: `headers` plus host, x-amz-date, x-amz-content-sha256, authorization (and token). */
  async sign(target: { host: string; port: number; authority: string; path: string }, headers: Record<string, string>): Promise<Record<string, string>> {
    const offset = (this.#client.config as { systemClockOffset?: number }).systemClockOffset ?? 0;
    const signed = await this.#signer.sign(
      {
        method: "GET",
        protocol: "http:",
        hostname: target.host,
        port: target.port,
        path: target.path,
        query: {},
        headers: { ...headers, host: target.authority, "x-amz-content-sha256": "UNSIGNED-PAYLOAD" },
      },
      { signingDate: new Date(Date.now() + offset) },
    );
    return signed.headers as Record<string, string>;
  }

  /**
   * After a clock-skew error: sets the client's clock offset from the server's `Date`, as the SDK does for its own
   * requests (so later SDK requests use it too); true when the offset changed, i.e. signing again can help.
   */
  correctClock(serverDate: string | undefined): boolean {
    const server = serverDate === undefined ? Number.NaN : Date.parse(serverDate);
    if (Number.isNaN(server)) return false;
    const config = this.#client.config as { systemClockOffset?: number };
    if (Math.abs(Date.now() + (config.systemClockOffset ?? 0) - server) < CLOCK_SKEW_MS) return false;
    config.systemClockOffset = server - Date.now();
    return true;
  }
}

/** The SDK's clock-skew error codes and limit: past it, a signature is refused for its date. */
export const CLOCK_SKEW_CODES: ReadonlySet<string> = new Set([
  "AuthFailure",
  "InvalidSignatureException",
  "RequestExpired",
  "RequestInTheFuture",
  "RequestTimeTooSkewed",
  "SignatureDoesNotMatch",
]);
const CLOCK_SKEW_MS = 300_000;

const XML_ENTITIES: Record<string, string> = { amp: "&", lt: "<", gt: ">", quot: '"', apos: "'" };

function xmlText(xml: string, tag: string): string | undefined {
  const match = new RegExp(`<${tag}>([^<]*)</${tag}>`).exec(xml);
  return match?.[1]?.replace(/&(?:(amp|lt|gt|quot|apos)|#(\d{1,7})|#x([0-9a-fA-F]{1,6}));/g, (entity, name?: string, dec?: string, hex?: string) => {
    if (name) return XML_ENTITIES[name]!;
    const code = dec !== undefined ? Number(dec) : parseInt(hex!, 16);
    return code <= 0x10ffff ? String.fromCodePoint(code) : entity;
  });
}

/**
 * The error an S3 error response stands for, shaped like the SDK's (`Code`, `name`, `message`, `$metadata`,
 * `$response`), so `mapS3Error` maps it exactly as it maps the SDK's: `<Code>` and `<Message>` from the XML body, the
 * status, the request id and the headers (for `Retry-After`).
 */
export function s3ErrorFromResponse(response: HttpGetResponse): Error {
  const xml = response.errorBody?.toString("utf8") ?? "";
  const code = xmlText(xml, "Code");
  const message = xmlText(xml, "Message");
  const requestId = xmlText(xml, "RequestId") ?? response.headers["x-amz-request-id"];
  const name = code ?? String(response.status);
  const error = new Error(message ?? (code ? code : `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ""}`));
  return Object.assign(error, {
    name,
    ...(code !== undefined ? { Code: code } : {}),
    $fault: response.status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: response.status, ...(requestId ? { requestId } : {}) },
    $response: { statusCode: response.status, headers: { ...response.headers } },
  });
}
