/**
 * Parsing of the selection flags: sizes ("64KiB", "8MiB", "1GiB", "512k", plain bytes) and integer lists; the default
 * scenario selection.
 */
import type { Scenario } from "./types.js";

/**
 * The scenarios run without --scenarios: those tied to backends only when one of them is selected, and none that is
 * superseded by another (those run only when named).
 */
export function defaultScenarios(all: Scenario[], backendNames: string[]): Scenario[] {
  return all.filter((s) => !s.supersededBy && (!s.backends || s.backends.some((b) => backendNames.includes(b))));
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** A size in bytes (binary units: "64KiB" = "64k" = 65536), or undefined when it is not one. */
export function parseSize(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  if (!match) return undefined;
  const unit = UNITS[match[2]!.toLowerCase()];
  if (unit === undefined) return undefined;
  const bytes = Number(match[1]) * unit;
  return Number.isSafeInteger(bytes) && bytes > 0 ? bytes : undefined;
}

/** A comma-separated list parsed item by item; throws with the flag's name on the first bad item. */
export function parseList<T>(flag: string, text: string, parse: (item: string) => T | undefined): T[] {
  const items = text.split(",").map((s) => s.trim()).filter(Boolean);
  if (items.length === 0) throw new Error(`${flag} needs at least one value`);
  return items.map((item) => {
    const value = parse(item);
    if (value === undefined) throw new Error(`${flag}: cannot parse ${JSON.stringify(item)}`);
    return value;
  });
}

export function parsePositiveInt(text: string): number | undefined {
  const n = Number(text);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}
