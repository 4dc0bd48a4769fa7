import { seededRandom } from "@range/core";

/** What the proxy does to one request. */
export type Fault =
  /**
   * Resets the TCP connection (RST). `during: "response"` (default): after the response headers and `afterBytes`
   * bytes of its body (default 0). `during: "request"`: after `afterBytes` bytes of the request body arrived, before
   * any response. `during: "headers"`: the request reaches the server whole, then the connection is reset before any
   * byte of its answer (an answer lost after the server acted, e.g. a commit).
   */
  | { kind: "reset"; during?: "request" | "headers" | "response"; afterBytes?: number }
  /**
   * Stops sending and reading, leaving the connection open, until the client gives up or the proxy closes.
   * `during: "response"` (default): after the headers and `afterBytes` body bytes (default 0).
   * `during: "headers"`: before any byte of the response. `during: "request"`: stops reading the request body after
   * `afterBytes` bytes.
   */
  | { kind: "stall"; during?: "request" | "headers" | "response"; afterBytes?: number }
  /**
   * Answers with `status` instead of forwarding. The body is an S3-style XML error with `code` (default by status:
   * 503 SlowDown, 500 InternalError, 429 TooManyRequests) unless `body` is given (then `contentType` applies).
   * `retryAfter` sets the `Retry-After` header (seconds or an HTTP date).
   */
  | {
      kind: "status";
      status: number;
      code?: string;
      retryAfter?: number | string;
      body?: string;
      contentType?: string;
      headers?: Record<string, string>;
    }
  /**
   * Sends only the first `bytes` bytes of the body. `mode: "close"` (default): headers unchanged (the original
   * Content-Length), then the connection is closed cleanly (FIN) — a body cut short. `mode: "content-length"`: a
   * well-formed response whose Content-Length says `bytes` — the server seems to have sent less than asked.
   */
  | { kind: "truncate"; bytes: number; mode?: "close" | "content-length" }
  /**
   * Rewrites the response's `Content-Range: bytes a-b/total` (the body is untouched): `shift` moves a and b,
   * `totalDelta` changes the total, `value` replaces the header outright. A response without Content-Range passes
   * unchanged (and is not counted as a fault).
   */
  | { kind: "content-range"; shift?: number; totalDelta?: number; value?: string }
  /** Waits `ms` before forwarding the request, then forwards it untouched. */
  | { kind: "latency"; ms: number }
  /**
   * Flips every bit of ONE body byte, at offset `at` (default 0; capped at the body's last byte), the length and
   * headers unchanged: data damaged in flight. `during: "response"` (default) damages what the client reads,
   * `during: "request"` what the server receives (e.g. an upload after its checksum was computed).
   */
  | { kind: "corrupt"; during?: "request" | "response"; at?: number }
  /**
   * Rewrites response headers (the body is untouched): `set` replaces or adds, `remove` drops (names
   * case-insensitive). E.g. a stored checksum that no longer matches the bytes.
   */
  | { kind: "header"; set?: Record<string, string>; remove?: readonly string[] };

export type FaultKind = Fault["kind"];

export const FAULT_KINDS: readonly FaultKind[] = ["reset", "stall", "status", "truncate", "content-range", "latency", "corrupt", "header"];

/** Which requests a rule applies to, and how often. Every condition given must hold. */
export interface FaultRule {
  /** Shown in the request log and the per-rule counts. Default `rule-<index>`. */
  name?: string;
  /** HTTP method(s), case-insensitive. */
  method?: string | readonly string[];
  /** Tested against the request target: path and query as the client sent them (percent-encoded), e.g. `/bucket/key?x-id=GetObject`. */
  path?: RegExp;
  /**
   * `true`: only requests with a `Range` header (or Azure's `x-ms-range`); `false`: only without one; a RegExp: tested
   * against the header.
   */
  range?: boolean | RegExp;
  /** Fire only on these occurrences (1-based) among the requests that meet the conditions above. */
  nth?: number | readonly number[];
  /** Fire with this probability (0–1), drawn from the proxy's seeded generator. */
  probability?: number;
  /** Fire at most this many times. Default unlimited. */
  times?: number;
  fault: Fault;
}

/** The request facts rules look at. */
export interface RequestFacts {
  method: string;
  path: string;
  range: string | undefined;
}

/** Seeded, so a probabilistic fault plan replays identically for one arrival order. */
export { seededRandom };

function checkCount(name: string, value: unknown, min: number): void {
  if (typeof value !== "number" || !Number.isInteger(value) || value < min) {
    throw new TypeError(`fault rule: ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}

/** Throws a TypeError naming the first bad field, so a typo in a test fails loudly instead of never firing. */
export function validateRule(rule: FaultRule): void {
  if (typeof rule !== "object" || rule === null) throw new TypeError("fault rule must be an object");
  const { fault } = rule;
  if (typeof fault !== "object" || fault === null) throw new TypeError("fault rule: fault is required");
  if (rule.nth !== undefined) for (const n of typeof rule.nth === "number" ? [rule.nth] : rule.nth) checkCount("nth", n, 1);
  if (rule.times !== undefined) checkCount("times", rule.times, 0);
  if (rule.probability !== undefined && !(rule.probability >= 0 && rule.probability <= 1)) {
    throw new TypeError(`fault rule: probability must be in [0, 1], got ${String(rule.probability)}`);
  }
  switch (fault.kind) {
    case "reset":
    case "stall":
      if (fault.afterBytes !== undefined) checkCount("afterBytes", fault.afterBytes, 0);
      break;
    case "status":
      checkCount("status", fault.status, 100);
      break;
    case "truncate":
      checkCount("bytes", fault.bytes, 0);
      break;
    case "content-range":
      if (fault.shift === undefined && fault.totalDelta === undefined && fault.value === undefined) {
        throw new TypeError("fault rule: content-range needs shift, totalDelta or value");
      }
      break;
    case "latency":
      checkCount("ms", fault.ms, 0);
      break;
    case "corrupt":
      if (fault.at !== undefined) checkCount("at", fault.at, 0);
      break;
    case "header":
      if (fault.set === undefined && (fault.remove === undefined || fault.remove.length === 0)) {
        throw new TypeError("fault rule: header needs set or remove");
      }
      break;
    default:
      throw new TypeError(`fault rule: unknown fault kind ${JSON.stringify((fault as { kind: unknown }).kind)}`);
  }
}

/** A rule plus its counters. */
export class ArmedRule {
  readonly name: string;
  /** Requests that met the rule's conditions. */
  matched = 0;
  /** Times the rule fired. */
  fired = 0;
  readonly #methods: Set<string> | undefined;

  constructor(
    readonly rule: FaultRule,
    index: number,
  ) {
    validateRule(rule);
    this.name = rule.name ?? `rule-${index}`;
    const methods = rule.method === undefined ? undefined : typeof rule.method === "string" ? [rule.method] : rule.method;
    this.#methods = methods && new Set(methods.map((m) => m.toUpperCase()));
  }

  /** Whether the rule fires for this request; counts the match either way. */
  select(request: RequestFacts, random: () => number): boolean {
    const { rule } = this;
    if (this.#methods && !this.#methods.has(request.method.toUpperCase())) return false;
    if (rule.path && !rule.path.test(request.path)) return false;
    if (rule.range !== undefined) {
      if (typeof rule.range === "boolean") {
        if (rule.range !== (request.range !== undefined)) return false;
      } else if (request.range === undefined || !rule.range.test(request.range)) return false;
    }
    this.matched++;
    if (rule.nth !== undefined) {
      const nth = typeof rule.nth === "number" ? [rule.nth] : rule.nth;
      if (!nth.includes(this.matched)) return false;
    }
    if (rule.times !== undefined && this.fired >= rule.times) return false;
    if (rule.probability !== undefined && random() >= rule.probability) return false;
    this.fired++;
    return true;
  }
}

const DEFAULT_CODES: Record<number, string> = {
  500: "InternalError",
  503: "SlowDown",
  429: "TooManyRequests",
  502: "BadGateway",
  504: "GatewayTimeout",
};

/** The S3-style XML error body of a status fault. */
export function s3ErrorBody(status: number, code: string | undefined): string {
  const name = code ?? DEFAULT_CODES[status] ?? "InjectedFault";
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${name}</Code><Message>Injected by the fault proxy (HTTP ${status})</Message><RequestId>fault-proxy</RequestId></Error>`;
}

/** `bytes a-b/total` rewritten per a content-range fault; undefined when the header does not parse. */
export function rewriteContentRange(header: string, fault: Extract<Fault, { kind: "content-range" }>): string | undefined {
  if (fault.value !== undefined) return fault.value;
  const match = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header.trim());
  if (!match) return undefined;
  const shift = fault.shift ?? 0;
  const start = Number(match[1]) + shift;
  const end = Number(match[2]) + shift;
  const total = match[3] === "*" ? "*" : String(Number(match[3]) + (fault.totalDelta ?? 0));
  return `bytes ${start}-${end}/${total}`;
}
