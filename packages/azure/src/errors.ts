import {
  BackendError,
  IntegrityError,
  InvalidKeyError,
  InvalidRangeError,
  NotFoundError,
  abortErrorFrom,
  authError,
  isAbortError,
  isNetworkFailure,
  isRangeStoreError,
  parseRetryAfter,
  redactSecrets,
  sanitizedErrorCause,
  transientHttpError,
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

/**
 * A copy of the SDK error that keeps what helps debugging (code, status, request id, first line of the message) and
 * drops the rest: a `RestError` holds the request (its URL carries a SAS token, its headers the SharedKey signature)
 * and the raw response, which must never reach a log.
 */
export function sanitizedCause(error: unknown): Error {
  const e = (error ?? {}) as SdkErrorShape;
  return sanitizedErrorCause({
    name: e.name,
    message: firstLine(e.message) || String(e.name ?? "Error"),
    code: azureErrorCode(e) ?? e.code,
    statusCode: e.statusCode,
    requestId: requestIdOf(e),
    errno: e.errno,
    syscall: e.syscall,
  });
}

function where(ctx: AzureErrorContext): string {
  return ctx.blob === undefined ? `az://${ctx.container}` : `az://${ctx.container}/${ctx.blob}`;
}

/** A failure below HTTP; the SDK reports some as `REQUEST_SEND_ERROR`, or only says the body was "aborted". */
function isNetworkError(e: SdkErrorShape): boolean {
  return isNetworkFailure(e, e.statusCode) || e.code === "REQUEST_SEND_ERROR" || (e.statusCode === undefined && /aborted/i.test(e.message ?? ""));
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
  const e = (error ?? {}) as SdkErrorShape;
  // Our signal is not aborted (checked above), so an AbortError is the SDK's own: it reports a connection closed
  // mid-body that way. A network failure, worth a retry, not the caller's abort.
  if (isAbortError(error)) {
    return new BackendError(`${ctx.operation} ${where(ctx)} failed: the connection closed before the response ended`, {
      code: "E_NETWORK",
      retryable: true,
      cause: sanitizedCause(error),
    });
  }
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
    return authError(base, `Check the credentials${source} (account key, SAS token permissions and expiry) and the container's access policy`, cause);
  }
  const transient = transientHttpError(base, {
    status,
    throttled: THROTTLING_CODES.has(code),
    serverFault: TRANSIENT_CODES.has(code),
    network: isNetworkError(e),
    retryAfterMs: parseRetryAfter(e.response?.headers?.get?.("retry-after")),
    cause,
  });
  return transient ?? new BackendError(base, { code: "E_AZURE", retryable: false, cause });
}
