/**
 * The parts of error mapping every HTTP backend shares: which failures below HTTP are worth a retry, how to read
 * `Retry-After`, how to keep an SDK error's useful fields without its secrets, and the retryable status classes.
 * Each backend keeps its own service codes and messages and calls these for the rest.
 */
import { BackendError, redactSecrets } from "./errors.js";

/** Node, undici and stream error codes for a failure below HTTP: reset, refused, timed out, DNS, a body cut short. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
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
]);

/** What Node's http and undici say when a connection or a body ends early but set no code. */
const NETWORK_MESSAGES = /socket hang up|ECONNRESET|premature close|^aborted$|other side closed|fetch failed|received less data than required/i;

/**
 * True for a failure below HTTP (no status): a known network `code`, or the messages Node and undici use for a
 * connection or body that ended early. An error that carries an HTTP status is never a network failure.
 */
export function isNetworkFailure(error: { code?: unknown; message?: unknown }, status?: number): boolean {
  if (status !== undefined) return false;
  if (typeof error.code === "string" && NETWORK_ERROR_CODES.has(error.code)) return true;
  return typeof error.message === "string" && NETWORK_MESSAGES.test(error.message);
}

/** `Retry-After` in ms: delta-seconds or an HTTP date; `undefined` when absent or unreadable. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (value === undefined || value === null || value.trim() === "") return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return seconds >= 0 ? Math.round(seconds * 1000) : undefined;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The fields of an SDK or network error worth keeping for debugging. */
export interface ErrorCauseFields {
  name?: unknown;
  message: string;
  code?: unknown;
  statusCode?: number | undefined;
  requestId?: string | undefined;
  errno?: unknown;
  syscall?: unknown;
}

/**
 * A plain Error with only `fields`, its message passed through `redact`: SDK errors hold the request (signed URLs,
 * `Authorization` headers) and the raw response, which must never reach a log, so a typed error's `cause` is this copy.
 */
export function sanitizedErrorCause(fields: ErrorCauseFields, redact: (text: string) => string = redactSecrets): Error {
  const cause = new Error(redact(fields.message));
  cause.name = typeof fields.name === "string" ? fields.name : "Error";
  const extra: Record<string, unknown> = {};
  if (typeof fields.code === "string" || typeof fields.code === "number") extra.code = fields.code;
  if (fields.statusCode !== undefined) extra.statusCode = fields.statusCode;
  if (fields.requestId) extra.requestId = fields.requestId;
  if (typeof fields.errno === "number") extra.errno = fields.errno;
  if (typeof fields.syscall === "string") extra.syscall = fields.syscall;
  return Object.assign(cause, extra);
}

/** What {@link transientHttpError} needs to classify a failure. */
export interface TransientFailure {
  status: number | undefined;
  /** The service named it throttling (e.g. S3 `SlowDown`, Azure `ServerBusy`), whatever the status. */
  throttled?: boolean;
  /** The service named it a transient server fault (e.g. `InternalError`), whatever the status. */
  serverFault?: boolean;
  /** It failed below HTTP (see {@link isNetworkFailure}). */
  network?: boolean;
  retryAfterMs?: number | undefined;
  cause: unknown;
}

/**
 * The retryable {@link BackendError} for a failure worth repeating, or `undefined`: throttling, 429 and 503 →
 * `E_THROTTLED`; a server fault, 408 and other 5xx → `E_SERVER`; a network failure → `E_NETWORK`. `retryAfterMs`
 * (from `Retry-After`) rides along so the engine waits as long as the server asked.
 */
export function transientHttpError(message: string, failure: TransientFailure): BackendError | undefined {
  const { status, cause } = failure;
  const retryAfter = failure.retryAfterMs !== undefined ? { retryAfterMs: failure.retryAfterMs } : {};
  if (failure.throttled || status === 429 || status === 503) return new BackendError(message, { code: "E_THROTTLED", retryable: true, cause, ...retryAfter });
  if (failure.serverFault || status === 408 || (status !== undefined && status >= 500)) {
    return new BackendError(message, { code: "E_SERVER", retryable: true, cause, ...retryAfter });
  }
  if (failure.network) return new BackendError(message, { code: "E_NETWORK", retryable: true, cause });
  return undefined;
}

/** The non-retryable `E_AUTH` {@link BackendError} for 401/403 and credential codes, with a hint where to look. */
export function authError(message: string, hint: string, cause: unknown): BackendError {
  return new BackendError(`${message.replace(/\.$/, "")}. ${hint}`, { code: "E_AUTH", retryable: false, cause });
}
