import { InvalidKeyError, InvalidRangeError } from "../errors.js";

/** S3's limit, the strictest of the services we map to. */
export const MAX_KEY_BYTES = 1024;

function show(key: string): string {
  return JSON.stringify(key.length > 80 ? `${key.slice(0, 80)}…` : key);
}

function checkCommon(value: unknown, what: "key" | "prefix"): asserts value is string {
  if (typeof value !== "string") throw new InvalidKeyError(`${what} must be a string, got ${typeof value}`);
  if (value.includes("\0")) throw new InvalidKeyError(`${what} ${show(value.replaceAll("\0", "\\0"))} contains a NUL character`);
  if (!value.isWellFormed()) throw new InvalidKeyError(`${what} ${show(value)} contains a lone UTF-16 surrogate`);
  if (value.startsWith("/")) throw new InvalidKeyError(`${what} ${show(value)} must be relative (no leading "/")`);
  if (Buffer.byteLength(value, "utf8") > MAX_KEY_BYTES) {
    throw new InvalidKeyError(`${what} ${show(value)} is longer than ${MAX_KEY_BYTES} bytes in UTF-8`);
  }
}

/**
 * Checks that `key` is a portable object key: a non-empty, relative, `/`-separated path with no empty, `.` or `..`
 * segment, no NUL and at most 1024 UTF-8 bytes. The same key means the same thing on every backend, and a file
 * store can never be steered outside its root.
 */
export function assertValidKey(key: unknown): asserts key is string {
  checkCommon(key, "key");
  if (key.length === 0) throw new InvalidKeyError("key must not be empty");
  for (const segment of key.split("/")) {
    if (segment === "") throw new InvalidKeyError(`key ${show(key)} has an empty path segment`);
    if (segment === "." || segment === "..") throw new InvalidKeyError(`key ${show(key)} contains a "${segment}" segment`);
  }
}

/** Like {@link assertValidKey} but allows "" (everything) and a trailing "/" or partial last segment. */
export function assertValidPrefix(prefix: unknown): asserts prefix is string {
  checkCommon(prefix, "prefix");
  const segments = prefix.split("/");
  segments.forEach((segment, i) => {
    const last = i === segments.length - 1;
    if (segment === "" && !last && prefix !== "") throw new InvalidKeyError(`prefix ${show(prefix)} has an empty path segment`);
    if (segment === "..") throw new InvalidKeyError(`prefix ${show(prefix)} contains a ".." segment`);
    if (segment === "." && !last) throw new InvalidKeyError(`prefix ${show(prefix)} contains a "." segment`);
  });
}

/** Checks an offset/length pair: non-negative safe integers whose sum is safe too. */
export function assertValidRange(offset: unknown, length: unknown): asserts offset is number {
  for (const [name, value] of [["offset", offset], ["length", length]] as const) {
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw new InvalidRangeError(`${name} must be a non-negative safe integer, got ${String(value)}`);
    }
  }
  if (!Number.isSafeInteger((offset as number) + (length as number))) {
    throw new InvalidRangeError(`offset + length (${String(offset)} + ${String(length)}) exceeds Number.MAX_SAFE_INTEGER`);
  }
}

/** The entry a one-level listing of `prefix` reports for `key`: the key itself, or the sub-prefix it lies under. */
export function oneLevelEntry(prefix: string, key: string): { key: string; isPrefix: boolean } {
  const slash = key.indexOf("/", prefix.length);
  return slash === -1 ? { key, isPrefix: false } : { key: key.slice(0, slash + 1), isPrefix: true };
}
