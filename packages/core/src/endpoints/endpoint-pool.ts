import { RangeConfigError, redactSecrets } from "../errors.js";
import type { RequestEvent, RequestEvents } from "../store/request-events.js";
import { MAX_ENDPOINTS } from "./template.js";

/** The ways an {@link EndpointPool} picks the endpoint of the next request. */
export const ENDPOINT_STRATEGIES = ["round-robin", "least-outstanding"] as const;
/**
 * `round-robin`: each endpoint in turn (a fair share each, for endpoints that are alike). `least-outstanding`: the
 * endpoint with the fewest requests in flight, in turn among equals (a slow or busy endpoint gets less).
 */
export type EndpointStrategy = (typeof ENDPOINT_STRATEGIES)[number];

/** `up`: takes requests. `down`: failed, out of the rotation until `retryAt`, then tried with one request. */
export type EndpointState = "up" | "down";

/**
 * How a request on an endpoint ended. `ok`: the endpoint answered (a "not found" is an answer). `error`: it
 * reported a problem that says nothing about its health (throttling): counted, still up. `failed`: it could not
 * serve (refused, reset, 5xx): counted and taken out. `aborted`: the caller gave up; says nothing.
 */
export type EndpointOutcome = "ok" | "error" | "failed" | "aborted";

export interface EndpointPoolOptions {
  /** Default "round-robin". */
  strategy?: EndpointStrategy;
  /**
   * How long a failed endpoint stays out: `baseDelayMs` after the first failure, doubling with each failed retry, at
   * most `maxDelayMs`. Defaults 1000 and 30000.
   */
  recovery?: { baseDelayMs?: number; maxDelayMs?: number };
  /** Clock in ms, for tests. Default `Date.now`. */
  now?: () => number;
  /**
   * Where each lease reports its request when it is released (operation and key as given to `acquire`, the
   * endpoint, bytes, duration, outcome): the backend's `StoreDriver.requestEvents`. Costs nothing while nobody listens.
   */
  requestEvents?: RequestEvents;
}

/** The numbers of one endpoint, as {@link EndpointPool.stats} reports them. */
export interface EndpointStats {
  endpoint: string;
  state: EndpointState;
  /** Requests sent to it (a retry on another endpoint counts there). */
  requests: number;
  /** Bytes sent and received in request and response bodies. */
  bytes: number;
  /** Requests that ended with outcome `error` or `failed`. */
  errors: number;
  /** Requests in flight now (a read counts until its body has arrived). */
  inFlight: number;
  /** Failures in a row; 0 while up. */
  consecutiveFailures: number;
  /** How often it was taken out. */
  timesDown: number;
  /** While down: when it gets its next trial request. */
  retryAt?: Date;
  /** The message of its last error or failure. */
  lastError?: string;
}

/** One request's hold on an endpoint: release it exactly once when the request (and its body) is done. */
export interface EndpointLease {
  readonly index: number;
  readonly endpoint: string;
  /** Adds to the endpoint's byte count. */
  addBytes(n: number): void;
  /** Ends the request; later calls are ignored. */
  release(outcome: EndpointOutcome, error?: unknown): void;
}

interface EndpointEntry {
  endpoint: string;
  state: EndpointState;
  requests: number;
  bytes: number;
  errors: number;
  inFlight: number;
  consecutiveFailures: number;
  timesDown: number;
  retryAt: number;
  lastError: string | undefined;
  /** A trial request is out (down, after `retryAt`): one at a time, so a recovering endpoint is not flooded. */
  probing: boolean;
  /**
   * Bumped at each state change. Requests that started before the change report outcomes about an endpoint that no
   * longer exists as they saw it: 32 ranges in flight when a server dies must count as ONE failure, not 32 doublings.
   */
  generation: number;
}

function checkDelay(name: string, value: unknown, fallback: number): number {
  const v = value ?? fallback;
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || v > 3_600_000) {
    throw new RangeConfigError(`${name} must be an integer number of ms between 0 and 3600000, got ${String(v)}`, { code: "E_INVALID_OPTION" });
  }
  return v;
}

/**
 * Spreads requests over several endpoints of one service (S3 gateways of a cluster, NICs of a filer) and keeps
 * per-endpoint numbers. It knows nothing of protocols: the backend asks for a lease per request, sends the request
 * to `lease.endpoint`, and tells the outcome. An endpoint that fails is taken out and, after a backoff, given one
 * trial request; success brings it back. When every endpoint is out, the one due soonest is used anyway (trying
 * beats failing without trying).
 */
export class EndpointPool {
  readonly strategy: EndpointStrategy;
  readonly #entries: EndpointEntry[];
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #now: () => number;
  readonly #events: RequestEvents | undefined;
  /** Where the next search starts: one past the last pick, so picks rotate and a skipped endpoint's turn passes on. */
  #cursor = 0;

  constructor(endpoints: readonly string[], options: EndpointPoolOptions = {}) {
    if (!Array.isArray(endpoints) || endpoints.length === 0 || endpoints.length > MAX_ENDPOINTS) {
      throw new RangeConfigError(`an endpoint pool needs 1 to ${MAX_ENDPOINTS} endpoints`, { code: "E_INVALID_ENDPOINTS" });
    }
    if (typeof options !== "object" || options === null) throw new RangeConfigError("endpoint pool options must be an object", { code: "E_INVALID_OPTION" });
    const strategy = options.strategy ?? "round-robin";
    if (!ENDPOINT_STRATEGIES.includes(strategy)) {
      throw new RangeConfigError(`endpoint strategy must be one of ${ENDPOINT_STRATEGIES.join(", ")}, got ${JSON.stringify(strategy)}`, {
        code: "E_INVALID_OPTION",
      });
    }
    this.strategy = strategy;
    if (options.recovery !== undefined && (typeof options.recovery !== "object" || options.recovery === null)) {
      throw new RangeConfigError("recovery must be an object", { code: "E_INVALID_OPTION" });
    }
    this.#baseDelayMs = checkDelay("recovery.baseDelayMs", options.recovery?.baseDelayMs, 1_000);
    this.#maxDelayMs = checkDelay("recovery.maxDelayMs", options.recovery?.maxDelayMs, Math.max(30_000, this.#baseDelayMs));
    if (this.#maxDelayMs < this.#baseDelayMs) {
      throw new RangeConfigError(`recovery.maxDelayMs (${this.#maxDelayMs}) must be >= recovery.baseDelayMs (${this.#baseDelayMs})`, { code: "E_INVALID_OPTION" });
    }
    this.#now = options.now ?? Date.now;
    this.#events = options.requestEvents;
    this.#entries = endpoints.map((endpoint) => ({
      endpoint,
      state: "up",
      requests: 0,
      bytes: 0,
      errors: 0,
      inFlight: 0,
      consecutiveFailures: 0,
      timesDown: 0,
      retryAt: 0,
      lastError: undefined,
      probing: false,
      generation: 0,
    }));
  }

  get size(): number {
    return this.#entries.length;
  }

  get endpoints(): string[] {
    return this.#entries.map((e) => e.endpoint);
  }

  /** How many endpoints take requests now (up, or down and due for a trial). */
  available(): number {
    const now = this.#now();
    return this.#entries.filter((e) => this.#eligible(e, now)).length;
  }

  #eligible(e: EndpointEntry, now: number): boolean {
    return e.state === "up" || (!e.probing && now >= e.retryAt);
  }

  /**
   * A lease on the endpoint for the next request, by the pool's strategy, skipping the indexes in `exclude` (the
   * endpoints this request already failed on) unless nothing else is left. `operation` and `key` name the request in
   * the event the lease reports to `requestEvents` (see {@link RequestEvent}).
   */
  acquire(exclude?: ReadonlySet<number>, operation = "", key = ""): EndpointLease {
    const now = this.#now();
    const n = this.#entries.length;
    let pick = -1;
    for (let step = 0; step < n; step++) {
      const i = (this.#cursor + step) % n;
      const e = this.#entries[i]!;
      if (exclude?.has(i) || !this.#eligible(e, now)) continue;
      if (pick === -1) pick = i;
      if (this.strategy === "round-robin") break;
      if (e.inFlight < this.#entries[pick]!.inFlight) pick = i;
    }
    if (pick === -1) {
      // Everything is out or excluded: the endpoint due soonest, preferring one this request has not tried.
      let best = -1;
      for (let i = 0; i < n; i++) {
        const e = this.#entries[i]!;
        const better =
          best === -1 ||
          (exclude?.has(best) === true && exclude?.has(i) !== true) ||
          ((exclude?.has(best) === true) === (exclude?.has(i) === true) && e.retryAt < this.#entries[best]!.retryAt);
        if (better) best = i;
      }
      pick = best;
    }
    this.#cursor = (pick + 1) % n;
    return this.#lease(pick, operation, key);
  }

  #lease(index: number, operation: string, key: string): EndpointLease {
    const e = this.#entries[index]!;
    const generation = e.generation;
    const probe = e.state === "down" && !e.probing;
    if (probe) e.probing = true;
    e.requests++;
    e.inFlight++;
    let released = false;
    // Only a request that started while someone listened is reported: then its start and bytes are known.
    const events = this.#events?.listening ? this.#events : undefined;
    const start = events ? performance.now() : 0;
    let bytes = 0;
    return {
      index,
      endpoint: e.endpoint,
      addBytes: (n: number) => {
        e.bytes += n;
        bytes += n;
      },
      release: (outcome: EndpointOutcome, error?: unknown) => {
        if (released) return;
        released = true;
        e.inFlight--;
        if (probe) e.probing = false;
        this.#settle(e, generation, outcome, error);
        events?.emit({
          operation,
          key,
          endpoint: e.endpoint,
          bytes,
          start,
          durationMs: performance.now() - start,
          outcome,
          ...(error !== undefined ? { error } : {}),
        });
      },
    };
  }

  #settle(e: EndpointEntry, generation: number, outcome: EndpointOutcome, error: unknown): void {
    if (outcome === "aborted") return;
    if (outcome === "error" || outcome === "failed") {
      e.errors++;
      e.lastError = redactSecrets(error instanceof Error ? error.message : String(error ?? outcome));
    }
    // An outcome of a request sent before the last state change tells nothing new about the endpoint.
    if (generation !== e.generation || outcome === "error") return;
    if (outcome === "ok") {
      if (e.state === "down") {
        e.state = "up";
        e.generation++;
      }
      e.consecutiveFailures = 0;
      return;
    }
    e.consecutiveFailures++;
    if (e.state === "up") e.timesDown++;
    e.state = "down";
    e.generation++;
    const delay = Math.min(this.#maxDelayMs, this.#baseDelayMs * 2 ** Math.min(30, e.consecutiveFailures - 1));
    e.retryAt = this.#now() + delay;
  }

  /** A snapshot of every endpoint's numbers, in the order the endpoints were given. */
  stats(): EndpointStats[] {
    return this.#entries.map((e) => ({
      endpoint: e.endpoint,
      state: e.state,
      requests: e.requests,
      bytes: e.bytes,
      errors: e.errors,
      inFlight: e.inFlight,
      consecutiveFailures: e.consecutiveFailures,
      timesDown: e.timesDown,
      ...(e.state === "down" ? { retryAt: new Date(e.retryAt) } : {}),
      ...(e.lastError !== undefined ? { lastError: e.lastError } : {}),
    }));
  }
}
