import {
  BackendError,
  IntegrityError,
  InvalidKeyError,
  InvalidRangeError,
  NotFoundError,
  RangeConfigError,
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

/** What the SDK's (and google-auth-library's / gaxios') errors carry that we read. Structural: no SDK import. */
interface SdkErrorShape {
  name?: string;
  message?: string;
  /** ApiError: the HTTP status; Node and gaxios errors: a string such as "ECONNRESET". */
  code?: number | string;
  status?: number;
  errors?: { reason?: string; message?: string }[];
  response?: { status?: number; statusCode?: number; headers?: unknown };
  errno?: number;
  syscall?: string;
}

/** What a GCS request was doing, for the message. */
export interface GcsErrorContext {
  /** e.g. "GET media", "objects.list". */
  operation: string;
  bucket: string;
  /** Full object name (root prefix included), if the operation names one. */
  key?: string;
  /** The key as the caller named it (relative to the store's root), for NotFoundError.key. */
  relativeKey?: string;
  /** The read was pinned to this generation: a 404 then means the object changed (or went away) mid-read. */
  generation?: string;
  signal?: AbortSignal;
}

/**
 * Patterns google-auth-library errors may echo: a PEM private key (from a malformed `credentials` object), the
 * `private_key` field of a key file, OAuth access tokens (`ya29.`), refresh tokens (`1//`) and signed JWT assertions.
 * Core's {@link redactSecrets} covers bearer tokens and signed URL parameters.
 */
const GCS_SECRET_PATTERNS: RegExp[] = [
  /-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g,
  // The tail of a key whose first line went into another redaction, and long base64 runs (key bodies, signatures).
  /[A-Za-z0-9+/=\s]*-----END [A-Z ]*PRIVATE KEY-----/g,
  /[A-Za-z0-9+/]{64,}={0,2}/g,
  /("?private_key"?\s*[:=]\s*"?)[^"\s,}]+/gi,
  /\bya29\.[\w.-]+/g,
  /\b1\/\/[\w-]{20,}/g,
  /\beyJ[\w-]+\.[\w-]+\.[\w-]+/g,
  /((?:access_token|refresh_token|id_token|assertion|client_secret)"?\s*[:=]\s*"?)[^"&\s,}]+/gi,
];

/** {@link redactSecrets} plus the credential shapes of Google auth (private keys, OAuth tokens, JWTs). */
export function redactGcsSecrets(text: string): string {
  let out = text;
  // Ours first: core's `Authorization: ...` pattern ends at a line break and would leave a key's body behind.
  for (const pattern of GCS_SECRET_PATTERNS) out = out.replace(pattern, (match, prefix: unknown) => (typeof prefix === "string" && match.startsWith(prefix) ? `${prefix}[REDACTED]` : "[REDACTED]"));
  return redactSecrets(out);
}

function statusOf(error: SdkErrorShape): number | undefined {
  if (typeof error.code === "number") return error.code;
  if (typeof error.status === "number") return error.status;
  const status = error.response?.status ?? error.response?.statusCode;
  if (status !== undefined) return status;
  // A resumable upload that fails on a chunk says the status only in its message.
  const match = /\bRetry limit exceeded - status: (\d{3})\b/.exec(error.message ?? "");
  return match ? Number(match[1]) : undefined;
}

/**
 * A copy of the error that keeps what helps debugging (name, code, status, message) and drops the rest: SDK errors
 * carry the request (with its `Authorization` header) and the raw response, which must never reach a log.
 */
export function sanitizedCause(error: unknown): Error {
  const e = (error ?? {}) as SdkErrorShape;
  return sanitizedErrorCause({ name: e.name, message: String(e.message ?? error), code: e.code, statusCode: statusOf(e), errno: e.errno, syscall: e.syscall }, redactGcsSecrets);
}

function where(ctx: GcsErrorContext): string {
  return ctx.key === undefined ? `gs://${ctx.bucket}` : `gs://${ctx.bucket}/${ctx.key}`;
}

/** A failure below HTTP; gaxios names its own timeouts `TimeoutError`. */
function isNetworkError(error: SdkErrorShape): boolean {
  return isNetworkFailure(error, statusOf(error)) || error.name === "TimeoutError";
}

/** `Retry-After` from whichever header shape the error carries (a fetch `Headers`, or a plain object). */
function retryAfterOf(error: SdkErrorShape): number | undefined {
  const headers = error.response?.headers as { get?(name: string): string | null } | Record<string, string | undefined> | undefined;
  if (headers === undefined || headers === null) return undefined;
  const value = typeof headers.get === "function" ? headers.get("retry-after") : (headers as Record<string, string | undefined>)["retry-after"];
  return parseRetryAfter(typeof value === "string" ? value : undefined);
}

const CREDENTIAL_MESSAGES =
  /default credentials|client_email|private_key|private key|DECODER routines|PEM|keyFilename|key file|invalid_grant|unauthorized_client|invalid_client|No key or keyFile|credentials/i;

/**
 * The error for credentials that cannot be loaded or used (no Application Default Credentials, a missing key file, a
 * malformed key): a {@link RangeConfigError} saying where credentials come from. Never contains the key itself.
 */
export function credentialsError(error: unknown, ctx: Pick<GcsErrorContext, "bucket">): RangeConfigError {
  const detail = redactGcsSecrets((error as SdkErrorShape | undefined)?.message ?? String(error));
  return new RangeConfigError(
    `gs://${ctx.bucket}: no usable Google Cloud credentials (${detail}). Pass \`credentials\` (a service account key object) or ` +
      "`keyFilename`, set GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth application-default login`; " +
      "for an emulator set STORAGE_EMULATOR_HOST or `apiEndpoint`",
    { code: "E_CREDENTIALS", cause: sanitizedCause(error) },
  );
}

/** True when `error` comes from loading or using credentials rather than from the storage service. */
export function isCredentialsError(error: unknown): boolean {
  const e = (error ?? {}) as SdkErrorShape;
  if (statusOf(e) !== undefined && statusOf(e) !== 400 && statusOf(e) !== 401) return false;
  return CREDENTIAL_MESSAGES.test(e.message ?? "") && !/bucket|object/i.test(e.message ?? "");
}

/**
 * Maps an SDK, HTTP or network error to core's typed errors: 404 → {@link NotFoundError} (or, for a read pinned to a
 * generation, {@link IntegrityError} `E_OBJECT_CHANGED`), 412 → `E_OBJECT_CHANGED`, 416 → {@link InvalidRangeError},
 * 401/403 → {@link BackendError} `E_AUTH`, 408/429/5xx/network → retryable {@link BackendError}, credentials that
 * cannot be loaded → {@link RangeConfigError} `E_CREDENTIALS`. An abort of `ctx.signal` becomes core's AbortError.
 * Messages and causes carry no secrets.
 */
export function mapGcsError(error: unknown, ctx: GcsErrorContext): Error {
  if (ctx.signal?.aborted) return abortErrorFrom(ctx.signal);
  if (isRangeStoreError(error)) return error;
  if (isAbortError(error)) return error as Error;
  const e = (error ?? {}) as SdkErrorShape;
  const status = statusOf(e);
  const reason = e.errors?.[0]?.reason;
  const message = redactGcsSecrets(e.message ?? String(error));
  const base = `${ctx.operation} ${where(ctx)} failed${status !== undefined ? ` (HTTP ${status})` : ""}: ${message}`;
  const cause = sanitizedCause(error);

  if (status === undefined && isCredentialsError(e)) return credentialsError(error, ctx);
  if (status === 404) {
    if (ctx.generation !== undefined) {
      return new IntegrityError(`${where(ctx)} changed or was deleted during the read (generation ${ctx.generation} is gone): ${base}`, {
        code: "E_OBJECT_CHANGED",
        cause,
      });
    }
    const noBucket = /bucket/i.test(message) && !/object/i.test(message) && ctx.key === undefined;
    return new NotFoundError(noBucket ? `bucket ${JSON.stringify(ctx.bucket)} does not exist (${base})` : `gcs object ${JSON.stringify(ctx.relativeKey ?? ctx.key)} not found (${base})`, {
      cause,
      ...(noBucket ? { code: "E_NO_SUCH_BUCKET" } : {}),
      ...(ctx.relativeKey !== undefined ? { key: ctx.relativeKey } : {}),
    });
  }
  if (status === 412 || reason === "conditionNotMet") {
    return new IntegrityError(`${where(ctx)} changed during the operation (generation precondition failed): ${base}`, { code: "E_OBJECT_CHANGED", cause });
  }
  if (status === 416) return new InvalidRangeError(base, { cause });
  if (status === 400 && /name|key/i.test(message) && /invalid|too long/i.test(message)) {
    return new InvalidKeyError(`object name rejected by GCS: ${base}`, { cause });
  }
  if (status === 401 || status === 403) {
    return authError(base, "Check the credentials (GOOGLE_APPLICATION_CREDENTIALS, `credentials`, `keyFilename`) and the bucket's IAM", cause);
  }
  const transient = transientHttpError(base, { status, network: isNetworkError(e), retryAfterMs: retryAfterOf(e), cause });
  return transient ?? new BackendError(base, { code: "E_GCS", retryable: false, cause });
}
