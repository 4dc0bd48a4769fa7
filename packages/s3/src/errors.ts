import {
  IntegrityError,
  InvalidKeyError,
  InvalidRangeError,
  NotFoundError,
  TimeoutError,
  BackendError,
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

/** What the SDK's errors carry that we read. Structural, so this module needs no SDK import. */
interface SdkErrorShape {
  name?: string;
  message?: string;
  code?: string;
  Code?: string;
  $fault?: "client" | "server";
  $retryable?: { throttling?: boolean };
  $metadata?: { httpStatusCode?: number; requestId?: string; extendedRequestId?: string };
  $response?: { statusCode?: number; headers?: Record<string, string | undefined> };
}

/** What an S3 request was doing, for the message. */
export interface S3ErrorContext {
  /** The S3 operation, e.g. "GetObject". */
  operation: string;
  bucket: string;
  /** Full object key (root prefix included), if the operation names one. */
  key?: string;
  /** The key as the caller named it (relative to the store's root), for NotFoundError.key. */
  relativeKey?: string;
  signal?: AbortSignal;
}

const AUTH_CODES = new Set([
  "AccessDenied",
  "SignatureDoesNotMatch",
  "InvalidAccessKeyId",
  "InvalidToken",
  "ExpiredToken",
  "TokenRefreshRequired",
  "InvalidClientTokenId",
  "AuthorizationHeaderMalformed",
  "MissingSecurityHeader",
  "AccountProblem",
  "AllAccessDisabled",
  "Forbidden",
  "CredentialsProviderError",
]);
const THROTTLING_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "TooManyRequests",
  "ProvisionedThroughputExceededException",
  "BandwidthLimitExceeded",
  "EC2ThrottledException",
  "RequestThrottledException",
]);
/**
 * The server refused an upload whose bytes do not match the checksum sent with them (`x-amz-checksum-*`,
 * `Content-MD5`, or the signed `x-amz-content-sha256`): damaged between our checksum and the server.
 */
const CHECKSUM_MISMATCH_CODES = new Set(["BadDigest", "XAmzContentSHA256Mismatch", "XAmzContentChecksumMismatch"]);
const TRANSIENT_CODES = new Set(["RequestTimeout", "RequestTimeoutException", "InternalError", "ServiceUnavailable", "PriorRequestNotComplete"]);

function statusOf(error: SdkErrorShape): number | undefined {
  return error.$metadata?.httpStatusCode ?? error.$response?.statusCode;
}

function codeOf(error: SdkErrorShape): string {
  return error.Code ?? error.name ?? "Error";
}

function retryAfterOf(error: SdkErrorShape): number | undefined {
  const headers = error.$response?.headers ?? {};
  const value = headers["retry-after"] ?? headers["Retry-After"];
  return parseRetryAfter(value);
}

/**
 * A copy of the SDK error that keeps what helps debugging (code, status, request id, message) and drops the rest:
 * the SDK's error objects carry the raw response and, from some servers, the string the server signed
 * (`StringToSign`, `SignatureProvided`, `CanonicalRequest`), which must never reach a log.
 */
export function sanitizedCause(error: unknown): Error {
  const e = (error ?? {}) as SdkErrorShape & { errno?: number; syscall?: string };
  return sanitizedErrorCause({
    name: e.name,
    message: String(e.message ?? error),
    code: typeof e.Code === "string" ? e.Code : e.code,
    statusCode: statusOf(e),
    requestId: e.$metadata?.requestId,
    errno: e.errno,
    syscall: e.syscall,
  });
}

function where(ctx: S3ErrorContext): string {
  return ctx.key === undefined ? `s3://${ctx.bucket}` : `s3://${ctx.bucket}/${ctx.key}`;
}

/** A failure below HTTP; the SDK's handler also names its socket and connect timeouts `TimeoutError`. */
function isNetworkError(error: SdkErrorShape): boolean {
  return isNetworkFailure(error, statusOf(error)) || error.name === "TimeoutError";
}

/**
 * Maps an SDK (or network) error to core's typed errors: missing → {@link NotFoundError}, 416 →
 * {@link InvalidRangeError}, 412 → {@link IntegrityError} `E_OBJECT_CHANGED`, `BadDigest` (an upload's checksum
 * mismatch) → {@link IntegrityError} `E_CHECKSUM`, auth → {@link BackendError} `E_AUTH`
 * (not retryable), throttling / 5xx / network → retryable {@link BackendError} with `retryAfterMs` when the server
 * sent `Retry-After`. An abort of `ctx.signal` becomes core's AbortError. Messages and causes carry no secrets.
 */
export function mapS3Error(error: unknown, ctx: S3ErrorContext): Error {
  if (ctx.signal?.aborted) return abortErrorFrom(ctx.signal);
  if (isRangeStoreError(error)) return error;
  if (isAbortError(error)) return error as Error;
  const e = (error ?? {}) as SdkErrorShape;
  const code = codeOf(e);
  const status = statusOf(e);
  const detail = redactSecrets(e.message && e.message !== code && e.message !== "UnknownError" ? `: ${e.message}` : "");
  const base = `${ctx.operation} ${where(ctx)} failed: ${code}${status !== undefined ? ` (HTTP ${status})` : ""}${detail}`;
  const cause = sanitizedCause(error);

  if (code === "NoSuchKey" || code === "NotFound" || code === "NoSuchBucket" || (status === 404 && code !== "NoSuchUpload")) {
    const what = code === "NoSuchBucket" ? `bucket ${JSON.stringify(ctx.bucket)} does not exist` : `s3 object ${JSON.stringify(ctx.relativeKey ?? ctx.key)} not found`;
    return new NotFoundError(`${what} (${base})`, {
      cause,
      ...(code === "NoSuchBucket" ? { code: "E_NO_SUCH_BUCKET" } : {}),
      ...(ctx.relativeKey !== undefined ? { key: ctx.relativeKey } : {}),
    });
  }
  if (code === "PreconditionFailed" || status === 412) {
    return new IntegrityError(`${where(ctx)} changed during the read (If-Match failed): ${base}`, { code: "E_OBJECT_CHANGED", cause });
  }
  if (code === "InvalidRange" || status === 416) return new InvalidRangeError(base, { cause });
  if (CHECKSUM_MISMATCH_CODES.has(code)) {
    // Retryable: the caller's bytes are intact (we computed the checksum from them), so sending them again can work.
    return new IntegrityError(`${base}. The server received other bytes than were sent (checksum mismatch)`, { code: "E_CHECKSUM", retryable: true, cause });
  }
  if (code === "KeyTooLongError") return new InvalidKeyError(`key too long for S3 with the store's prefix: ${base}`, { cause });
  if (AUTH_CODES.has(code) || status === 401 || status === 403) {
    return authError(base, "Check the credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, profile or role) and the bucket policy", cause);
  }
  // The HTTP handler's connect or socket-inactivity timeout: the same failure as the engine's stall timer. (The
  // handler also renames ECONNRESET and EPIPE errors "TimeoutError", for its retry logic: those are resets.)
  if (e.name === "TimeoutError" && status === undefined && e.code !== "ECONNRESET" && e.code !== "EPIPE") {
    return new TimeoutError(base, { cause });
  }
  const transient = transientHttpError(base, {
    status,
    throttled: THROTTLING_CODES.has(code) || e.$retryable?.throttling === true,
    serverFault: TRANSIENT_CODES.has(code),
    network: isNetworkError(e),
    retryAfterMs: retryAfterOf(e),
    cause,
  });
  return transient ?? new BackendError(base, { code: "E_S3", retryable: false, cause });
}
