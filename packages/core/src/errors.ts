/**
 * Typed errors. Every error @range throws extends {@link RangeStoreError}.
 *
 * `instanceof` breaks when two copies of @range/core are installed (a backend resolving its own copy), so each error
 * also carries a `Symbol.for` marker and every class has a static `isInstance` that checks the marker and the name.
 */

const MARKER = Symbol.for("range.error");

export interface RangeStoreErrorOptions {
  /** Stable machine-readable code, e.g. `E_NOT_FOUND`. */
  code?: string;
  /** Whether repeating the same operation may succeed. */
  retryable?: boolean;
  cause?: unknown;
  /** Server-suggested wait before a retry (e.g. from `Retry-After`), in ms. */
  retryAfterMs?: number;
}

export class RangeStoreError extends Error {
  readonly code: string;
  readonly retryable: boolean;
  readonly retryAfterMs: number | undefined;
  declare readonly cause: unknown;
  readonly [MARKER] = true;

  constructor(message: string, options: RangeStoreErrorOptions = {}) {
    super(redactSecrets(message), options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = options.code ?? "E_RANGE";
    this.retryable = options.retryable ?? false;
    this.retryAfterMs = options.retryAfterMs;
  }

  /** True for any @range error, from this or another installed copy of @range/core. */
  static isInstance(error: unknown): error is RangeStoreError {
    return isRangeStoreError(error) && (this === RangeStoreError || (error as Error).name === this.name);
  }
}

export function isRangeStoreError(error: unknown): error is RangeStoreError {
  return typeof error === "object" && error !== null && (error as Record<symbol, unknown>)[MARKER] === true;
}

/** The object (or bucket) does not exist. */
export class NotFoundError extends RangeStoreError {
  readonly key: string | undefined;
  constructor(message: string, options: RangeStoreErrorOptions & { key?: string } = {}) {
    super(message, { code: "E_NOT_FOUND", ...options });
    this.key = options.key;
  }
}

/** A key or prefix that is not a valid portable object key (empty, `..`, absolute, NUL, ...). */
export class InvalidKeyError extends RangeStoreError {
  constructor(message: string, options: RangeStoreErrorOptions = {}) {
    super(message, { code: "E_INVALID_KEY", ...options });
  }
}

/** An offset/length/size that is negative, fractional, unsafe, or outside the object. */
export class InvalidRangeError extends RangeStoreError {
  constructor(message: string, options: RangeStoreErrorOptions = {}) {
    super(message, { code: "E_INVALID_RANGE", ...options });
  }
}

/** Invalid options, URI or registry use; thrown before any I/O. */
export class RangeConfigError extends RangeStoreError {
  constructor(message: string, options: RangeStoreErrorOptions = {}) {
    super(message, { code: "E_CONFIG", ...options });
  }
}

/** A request made no progress for the configured time. Retryable. */
export class TimeoutError extends RangeStoreError {
  constructor(message: string, options: RangeStoreErrorOptions = {}) {
    super(message, { code: "E_TIMEOUT", retryable: true, ...options });
  }
}

/** Bytes that cannot be trusted: wrong length, checksum mismatch, object changed during a read. */
export class IntegrityError extends RangeStoreError {
  constructor(message: string, options: RangeStoreErrorOptions = {}) {
    super(message, { code: "E_INTEGRITY", ...options });
  }
}

/** A failure reported by the storage service or its SDK (auth, throttling, server error, network). */
export class BackendError extends RangeStoreError {
  constructor(message: string, options: RangeStoreErrorOptions = {}) {
    super(message, { code: "E_BACKEND", ...options });
  }
}

/**
 * The caller aborted. `name` is `"AbortError"`, so code that checks `err.name === "AbortError"` (the DOM convention
 * used by `fetch` and Node streams) keeps working; `cause` is the signal's reason.
 */
export class AbortError extends RangeStoreError {
  constructor(message = "The operation was aborted", options: RangeStoreErrorOptions = {}) {
    super(message, { code: "E_ABORTED", ...options });
    this.name = "AbortError";
  }
}

/** The object is larger than one buffer can hold on this platform. */
export class ObjectTooLargeError extends RangeStoreError {
  constructor(message: string, options: RangeStoreErrorOptions = {}) {
    super(message, { code: "E_TOO_LARGE", ...options });
  }
}

/** True for our AbortError and for any DOM-style abort error (`name === "AbortError"`). */
export function isAbortError(error: unknown): boolean {
  return typeof error === "object" && error !== null && (error as Error).name === "AbortError";
}

/** Builds the error a caller sees when `signal` aborted. */
export function abortErrorFrom(signal: AbortSignal): AbortError {
  const reason: unknown = signal.reason;
  if (reason instanceof AbortError) return reason;
  const detail = reason instanceof Error && reason.name !== "AbortError" ? `: ${reason.message}` : "";
  return new AbortError(`The operation was aborted${detail}`, { cause: reason });
}

// Query parameters and connection-string fields that carry credentials in the SDKs we wrap.
const SECRET_PATTERNS: RegExp[] = [
  /([?&](?:X-Amz-(?:Signature|Credential|Security-Token)|sig|signature|skoid|sktid|token|access_token|key)=)[^&\s"']+/gi,
  /((?:AccountKey|SharedAccessSignature|SharedAccessKey|aws_secret_access_key|secretAccessKey)\s*[=:]\s*)[^;\s"']+/gi,
  /(Authorization:\s*)[^\r\n]+/gi,
  /(Bearer\s+)[A-Za-z0-9._~+/=-]+/g,
  // user:password@ in a URI, also a malformed one ("s3:/user:pass@bucket", "s3:user:pass@bucket")
  /(\/\/)[^/\s:@]+:[^/\s@]+@/g,
  /(\b[a-z][a-z0-9+.-]*:\/?)[^/\s:@]+:[^/\s@]+@/gi,
  // A bare SAS token ("sig=...&sv=..."), not only one inside a URL query.
  /((?:^|[\s"'(,;:])sig=)[^&\s"']+/gi,
  // Azure SharedKey signatures, also inside serialized headers ({"authorization":"SharedKey acct:SIG"}).
  /(SharedKey(?:Lite)?\s+[^:\s"']+:)[^\s"',}]+/g,
  // Quoted credential values, as JSON.stringify and util.inspect write them (accountKey: "...", "sasToken":"...").
  /((?:AccountKey|accountKey|SharedAccessSignature|sasToken|secretAccessKey|SecretAccessKey|sessionToken)["']?\s*[=:]\s*["'])[^"']+/g,
];

/**
 * Removes credentials (signatures, SAS tokens, account keys, bearer tokens) from a message. Every error message
 * passes through it; backends also use it for log lines.
 */
export function redactSecrets(text: string): string {
  let out = text;
  for (const pattern of SECRET_PATTERNS) out = out.replace(pattern, "$1[REDACTED]");
  return out;
}
