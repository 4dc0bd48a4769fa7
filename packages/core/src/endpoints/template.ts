import { RangeConfigError } from "../errors.js";

/** More endpoints than this in one list is a typo in a template (`{1...10000}`), not a cluster. */
export const MAX_ENDPOINTS = 1024;

const GROUP = /\{(\d+)\.\.\.(\d+)\}/g;

function templateError(message: string): RangeConfigError {
  return new RangeConfigError(message, { code: "E_INVALID_ENDPOINTS" });
}

/**
 * Expands s3dlio's `{start...end}` notation: `http://10.0.0.{1...3}:9000` → `http://10.0.0.1:9000`,
 * `http://10.0.0.2:9000`, `http://10.0.0.3:9000`. A start with a leading zero pads to its width (`node{01...12}`);
 * several groups expand to every combination, the first group outermost. A string without braces is returned as
 * the only entry. Any other use of `{` or `}`, `start > end`, or more than {@link MAX_ENDPOINTS} results throws
 * {@link RangeConfigError} (code `E_INVALID_ENDPOINTS`).
 */
export function expandEndpointTemplate(template: string): string[] {
  if (typeof template !== "string") throw templateError(`endpoint template must be a string, got ${typeof template}`);
  const groups: { start: number; end: number; width: number }[] = [];
  const literals: string[] = [];
  let last = 0;
  for (const match of template.matchAll(GROUP)) {
    const [whole, from, to] = match as unknown as [string, string, string];
    const start = Number(from);
    const end = Number(to);
    if (start > end) throw templateError(`endpoint template ${JSON.stringify(template)}: {${from}...${to}} counts down (start must be <= end)`);
    literals.push(template.slice(last, match.index));
    groups.push({ start, end, width: from.length > 1 && from.startsWith("0") ? from.length : 0 });
    last = match.index + whole.length;
  }
  literals.push(template.slice(last));
  if (literals.some((text) => text.includes("{") || text.includes("}"))) {
    throw templateError(`endpoint template ${JSON.stringify(template)}: braces must hold a range like {1...3}`);
  }
  let total = 1;
  for (const g of groups) {
    total *= g.end - g.start + 1;
    if (total > MAX_ENDPOINTS) throw templateError(`endpoint template ${JSON.stringify(template)} expands to more than ${MAX_ENDPOINTS} endpoints`);
  }
  let results = [literals[0]!];
  groups.forEach((g, i) => {
    const next: string[] = [];
    for (const prefix of results) {
      for (let n = g.start; n <= g.end; n++) next.push(prefix + String(n).padStart(g.width, "0") + literals[i + 1]!);
    }
    results = next;
  });
  return results;
}

/**
 * An endpoint list as users write it (an option or an environment variable): entries separated by commas or
 * whitespace, each a URL or a {@link expandEndpointTemplate} template; or an array of such entries. Empty lists,
 * duplicates (they would skew the load spread) and more than {@link MAX_ENDPOINTS} entries throw
 * {@link RangeConfigError}. The entries themselves are checked by the backend (which URL schemes it takes).
 */
export function parseEndpointList(list: string | readonly string[], what = "endpoints"): string[] {
  const entries = typeof list === "string" ? list.split(/[\s,]+/) : list;
  if (!Array.isArray(entries) && typeof list !== "string") throw templateError(`${what} must be a string or an array of strings`);
  const out: string[] = [];
  for (const entry of entries) {
    if (typeof entry !== "string") throw templateError(`${what} must hold strings, got ${typeof entry}`);
    const trimmed = entry.trim();
    if (trimmed === "") continue;
    out.push(...expandEndpointTemplate(trimmed));
    if (out.length > MAX_ENDPOINTS) throw templateError(`${what} lists more than ${MAX_ENDPOINTS} endpoints`);
  }
  if (out.length === 0) throw templateError(`${what} is empty: give at least one endpoint`);
  const seen = new Set<string>();
  for (const endpoint of out) {
    if (seen.has(endpoint)) throw templateError(`${what} lists ${JSON.stringify(endpoint)} twice`);
    seen.add(endpoint);
  }
  return out;
}
