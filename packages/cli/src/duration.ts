import ms from "ms";

/** Words that turn a timeout off (the engine takes `Infinity`). */
const OFF = new Set(["off", "none", "never", "infinity"]);

/**
 * Parses "30s", "2m", "500ms", "1.5h" into milliseconds (the `ms` package's syntax; a bare number is milliseconds).
 * "off" disables the timeout.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (OFF.has(trimmed.toLowerCase())) return Number.POSITIVE_INFINITY;
  const value = trimmed === "" ? undefined : ms(trimmed as ms.StringValue);
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`invalid duration ${JSON.stringify(text)}: use e.g. 30s, 2m, 500ms (or "off")`);
  }
  return Math.round(value);
}
