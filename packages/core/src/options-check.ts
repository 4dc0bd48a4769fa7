import { RangeConfigError } from "./errors.js";

/**
 * The option checks every backend's `resolve…Options` shares, so each backend keeps only what is its own (bucket
 * names, endpoints, limits). Every message starts with `scope` (the backend's scheme, e.g. "s3"), naming the package
 * whose options were wrong.
 */

/** The error every option check throws: a {@link RangeConfigError} with code `E_INVALID_OPTION`. */
export function invalidOptionError(message: string): RangeConfigError {
  return new RangeConfigError(message, { code: "E_INVALID_OPTION" });
}

/** Throws "`scope`: options must be an object" unless `options` is a non-null object. */
export function assertOptionsObject(options: unknown, scope: string): asserts options is object {
  if (typeof options !== "object" || options === null) throw invalidOptionError(`${scope}: options must be an object`);
}

/** Throws on the first own key of `options` not in `known`, listing the known ones: a typo must not be ignored silently. */
export function assertKnownOptions(options: object, known: ReadonlySet<string>, scope: string): void {
  for (const key of Object.keys(options)) {
    if (!known.has(key)) throw invalidOptionError(`${scope}: unknown option ${key} (known: ${[...known].join(", ")})`);
  }
}

/** A key prefix as stores keep it: "" (none) or without leading "/" and ending with "/". Undefined is "". */
export function normalizePrefix(prefix: unknown, scope: string): string {
  if (prefix === undefined || prefix === null) return "";
  if (typeof prefix !== "string") throw invalidOptionError(`${scope}: prefix must be a string`);
  const stripped = prefix.replace(/^\/+/, "");
  return stripped === "" || stripped.endsWith("/") ? stripped : `${stripped}/`;
}

/** `value` if it is an integer in [min, max], else "`scope`: `name` must be an integer between `min` and `max`, got …". */
export function integerOption(scope: string, name: string, value: unknown, min: number, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
    throw invalidOptionError(`${scope}: ${name} must be an integer between ${min} and ${max}, got ${String(value)}`);
  }
  return value;
}

/** Orders keys by their UTF-8 bytes (= code point order), as object stores list them; JS `<` compares UTF-16 units. */
export function compareKeysUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
