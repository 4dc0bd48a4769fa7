import {
  BackendError,
  IntegrityError,
  InvalidKeyError,
  InvalidRangeError,
  NotFoundError,
  abortErrorFrom,
  isAbortError,
  isRangeStoreError,
  redactSecrets,
} from "@range/core";

/** What the SDK's `RestError` (and Node's network errors) carry that we read. Structural: no SDK import here. */
interface SdkErrorShape {
  name?: string;
  message?: string;
  /** The service's error code (`BlobNotFound`), or a Node/undici code (`ECONNRESET`), or `REQUEST_SEND_ERROR`. */
  code?: string;
  statusCode?: number;
  /** Parsed response headers and body; `errorCode` is the only code a HEAD response (no body) carries. */
  details?: { errorCode?: string; requestId?: string; "x-ms-request-id"?: string };
  response?: { headers?: { get?(name: string): string | undefined } };
  errno?: number;
  syscall?: string;
}

/** What a request was doing, for the message. */
export interface AzureErrorContext {
  /** The operation, e.g. "Download", "GetProperties". */
  operation: string;
  container: string;
  /** Full blob name (root prefix included), if the operation names one. */
  blob?: string;
  /** The key as the caller named it (relative to the store's root), for NotFoundError.key. */
  relativeKey?: string;
  signal?: AbortSignal | undefined;
  /** Where the credentials came from, for the hint of an auth failure (never the credentials themselves). */
  credentialSource?: string;
}

const AUTH_CODES = new Set([
  "AuthenticationFailed",
  "AuthorizationFailure",
  "AuthorizationPermissionMismatch",
  "AuthorizationProtocolMismatch",
  "AuthorizationResourceTypeMismatch",
  "AuthorizationServiceMismatch",
  "AuthorizationSourceIPMismatch",
  "InsufficientAccountPermissions",
  "InvalidAuthenticationInfo",
  "NoAuthenticationInformation",
  "AccountIsDisabled",
  "KeyBasedAuthenticationNotPermitted",
  "CredentialUnavailableError",
  "AuthenticationRequiredError",
]);
const THROTTLING_CODES = new Set(["ServerBusy", "TooManyRequests"]);
const TRANSIENT_CODES = new Set(["InternalError", "OperationTimedOut", "ServiceUnavailable", "ContainerBeingDeleted", "BlobBeingRehydrated"]);
const NETWORK_CODES = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENETDOWN",
  "UND_ERR_SOCKET",
  "ERR_STREAM_PREMATURE_CLOSE",
  "REQUEST_SEND_ERROR",
]);

/** The service's error code: the body's, else the `x-ms-error-code` header's (all a HEAD response has). */
export function azureErrorCode(error: unknown): string | undefined {
  const e = (error ?? {}) as SdkErrorShape;
  if (typeof e.details?.errorCode === "string") return e.details.errorCode;
  if (typeof e.code === "string" && e.statusCode !== undefined) return e.code;
  return undefined;
}

function requestIdOf(e: SdkErrorShape): string | undefined {
  return e.details?.requestId ?? e.details?.["x-ms-request-id"] ?? e.response?.headers?.get?.("x-ms-request-id");
}

/** Azure appends "RequestId:...\nTime:..." to messages; keep the first line, the request id is reported separately. */
function firstLine(message: string | undefined): string {
  return (message ?? "").split("\n")[0]!.trim();
}

/** `Retry-After` in ms: delta-seconds or an HTTP date. */
export function parseRetryAfter(value: string | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/**
 * A copy of the SDK error that keeps what helps debugging (code, status, request id, first line of the message) and
 * drops the rest: a `RestError` holds the request (its URL carries a SAS token, its headers the SharedKey signature)
 * and the raw response, which must never reach a log.
 */
export function sanitizedCause(error: unknown): Error {
  const e = (error ?? {}) as SdkErrorShape;
  const cause = new Error(redactSecrets(firstLine(e.message) || String(e.name ?? "Error")));
  cause.name = typeof e.name === "string" ? e.name : "Error";
  const extra: Record<string, unknown> = {};
  const code = azureErrorCode(e) ?? e.code;
  if (typeof code === "string") extra.code = code;
  if (typeof e.statusCode === "number") extra.statusCode = e.statusCode;
  const requestId = requestIdOf(e);
  if (requestId) extra.requestId = requestId;
  if (typeof e.errno === "number") extra.errno = e.errno;
  if (typeof e.syscall === "string") extra.syscall = e.syscall;
  return Object.assign(cause, extra);
}

function where(ctx: AzureErrorContext): string {
  return ctx.blob === undefined ? `az://${ctx.container}` : `az://${ctx.container}/${ctx.blob}`;
}

/** True for a failure below HTTP: reset, refused, timeout, DNS, a body cut short. */
function isNetworkError(e: SdkErrorShape): boolean {
  return (
    NETWORK_CODES.has(e.code ?? "") ||
    (e.statusCode === undefined &&
      /socket hang up|ECONNRESET|premature close|received less data than required|aborted/i.test(e.message ?? ""))
  );
}

/**
 * Maps an SDK (or network) error to core's typed errors: `BlobNotFound` / `ContainerNotFound` / 404 →
 * {@link NotFoundError}, 416 → {@link InvalidRangeError}, 412 → {@link IntegrityError} `E_OBJECT_CHANGED`, auth →
 * {@link BackendError} `E_AUTH` (not retryable), `ServerBusy` / 429 / 503 → retryable `E_THROTTLED` with
 * `retryAfterMs`, other 5xx and 408 → retryable `E_SERVER`, network failures → retryable `E_NETWORK`. An abort of
 * `ctx.signal` becomes core's AbortError. Messages and causes carry no secrets.
 */
export function mapAzureError(error: unknown, ctx: AzureErrorContext): Error {
  if (ctx.signal?.aborted) return abortErrorFrom(ctx.signal);
  if (isRangeStoreError(error)) return error;
  if (isAbortError(error)) return error as Error;
  const e = (error ?? {}) as SdkErrorShape;
  const status = e.statusCode;
  const code = azureErrorCode(e) ?? e.code ?? e.name ?? "Error";
  const message = firstLine(e.message);
  const detail = message && message !== code ? `: ${message}` : "";
  const base = redactSecrets(`${ctx.operation} ${where(ctx)} failed: ${code}${status !== undefined ? ` (HTTP ${status})` : ""}${detail}`);
  const cause = sanitizedCause(error);

  if (code === "ContainerNotFound") {
    return new NotFoundError(`container ${JSON.stringify(ctx.container)} does not exist (${base})`, {
      code: "E_NO_SUCH_BUCKET",
      cause,
      ...(ctx.relativeKey !== undefined ? { key: ctx.relativeKey } : {}),
    });
  }
  if (code === "BlobNotFound" || status === 404) {
    return new NotFoundError(`azure blob ${JSON.stringify(ctx.relativeKey ?? ctx.blob)} not found (${base})`, {
      cause,
      ...(ctx.relativeKey !== undefined ? { key: ctx.relativeKey } : {}),
    });
  }
  if (code === "ConditionNotMet" || status === 412) {
    return new IntegrityError(`${where(ctx)} changed during the read (If-Match failed): ${base}`, { code: "E_OBJECT_CHANGED", cause });
  }
  if (code === "InvalidRange" || status === 416) return new InvalidRangeError(base, { cause });
  if (code === "OutOfRangeInput" && ctx.blob !== undefined) {
    return new InvalidKeyError(`key rejected by Azure (a blob name is at most 1024 characters, prefix included): ${base}`, { cause });
  }
  if (AUTH_CODES.has(code) || status === 401 || status === 403) {
    const source = ctx.credentialSource ? ` from ${ctx.credentialSource}` : "";
    return new BackendError(`${base.replace(/\.$/, "")}. Check the credentials${source} (account key, SAS token permissions and expiry) and the container's access policy`, {
      code: "E_AUTH",
      retryable: false,
      cause,
    });
  }
  const retryAfterMs = parseRetryAfter(e.response?.headers?.get?.("retry-after"));
  const retryAfter = retryAfterMs !== undefined ? { retryAfterMs } : {};
  if (THROTTLING_CODES.has(code) || status === 429 || status === 503) {
    return new BackendError(base, { code: "E_THROTTLED", retryable: true, cause, ...retryAfter });
  }
  if (TRANSIENT_CODES.has(code) || status === 408 || (status !== undefined && status >= 500)) {
    return new BackendError(base, { code: "E_SERVER", retryable: true, cause, ...retryAfter });
  }
  if (isNetworkError(e)) return new BackendError(base, { code: "E_NETWORK", retryable: true, cause });
  return new BackendError(base, { code: "E_AZURE", retryable: false, cause });
}
