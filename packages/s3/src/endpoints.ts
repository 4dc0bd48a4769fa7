import {
  BackendError,
  ENDPOINT_STRATEGIES,
  RangeConfigError,
  TimeoutError,
  isAbortError,
  isRangeStoreError,
  parseEndpointList,
  type EndpointOutcome,
  type EndpointStrategy,
} from "@range/core";

/**
 * Environment variables that name several endpoints, first set wins. `RANGE_S3_ENDPOINTS` is ours; the other two are
 * s3dlio's (a comma-separated list, and a `{1...N}` template), so a job script written for s3dlio works unchanged.
 * Each takes the same syntax: entries separated by commas or whitespace, each a URL or a template.
 */
export const ENDPOINTS_ENV = ["RANGE_S3_ENDPOINTS", "S3_ENDPOINT_URIS", "S3_ENDPOINT_TEMPLATE"] as const;
/** The strategy from the environment: ours, then s3dlio's. */
export const STRATEGY_ENV = ["RANGE_S3_ENDPOINT_STRATEGY", "S3_LOAD_BALANCE_STRATEGY"] as const;

/** s3dlio's spellings (and snake_case) of our strategy names. */
const STRATEGY_ALIASES: Record<string, EndpointStrategy> = {
  "round-robin": "round-robin",
  round_robin: "round-robin",
  roundrobin: "round-robin",
  "least-outstanding": "least-outstanding",
  least_outstanding: "least-outstanding",
  "least-connections": "least-outstanding",
  least_connections: "least-outstanding",
};

function configError(message: string): RangeConfigError {
  return new RangeConfigError(message, { code: "E_INVALID_ENDPOINTS" });
}

function envValue(name: string): string | undefined {
  const value = process.env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

/** One endpoint URL, checked: http(s), no user info, query or fragment. Returns it as given (trimmed). */
export function checkEndpointUrl(endpoint: string, what = "endpoint"): string {
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw configError(`s3: ${what} ${JSON.stringify(endpoint)} is not a URL (expected e.g. http://127.0.0.1:8333)`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw configError(`s3: ${what} must be http(s), got ${url.protocol} in ${JSON.stringify(endpoint)}`);
  }
  if (url.username !== "" || url.password !== "") throw configError(`s3: ${what} must not carry credentials; pass them as \`credentials\``);
  if (url.search !== "" || url.hash !== "") throw configError(`s3: ${what} ${JSON.stringify(endpoint)} must not have a query or fragment`);
  return endpoint.trim();
}

/** Where the endpoints came from, for messages and docs. */
export type EndpointSource = "endpoints" | "endpoint" | (typeof ENDPOINTS_ENV)[number] | "AWS_ENDPOINT_URL_S3" | "AWS_ENDPOINT_URL" | "aws";

export interface ResolvedEndpoints {
  /** Empty: the SDK's default (AWS) endpoint. */
  endpoints: string[];
  source: EndpointSource;
}

/**
 * The endpoints of a store: the `endpoints` option (a list, or a string of comma-separated URLs and `{1...N}`
 * templates), else `endpoint`, else {@link ENDPOINTS_ENV}, else `AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL`, else AWS.
 * Throws {@link RangeConfigError} (code `E_INVALID_ENDPOINTS`) for an empty list, a duplicate, a bad URL.
 */
export function resolveEndpoints(options: { endpoint?: unknown; endpoints?: unknown }): ResolvedEndpoints {
  if (options.endpoints !== undefined && options.endpoint !== undefined) {
    throw configError("s3: give `endpoint` (one) or `endpoints` (several), not both");
  }
  let raw: string | readonly string[] | undefined;
  let source: EndpointSource = "aws";
  if (options.endpoints !== undefined) {
    if (typeof options.endpoints !== "string" && !Array.isArray(options.endpoints)) {
      throw configError("s3: endpoints must be an array of URLs or a string of comma-separated URLs and {1...N} templates");
    }
    raw = options.endpoints as string | string[];
    source = "endpoints";
  } else if (options.endpoint !== undefined) {
    if (typeof options.endpoint !== "string") throw configError("s3: endpoint must be a string (a URL)");
    return { endpoints: [checkEndpointUrl(options.endpoint)], source: "endpoint" };
  } else {
    for (const name of ENDPOINTS_ENV) {
      const value = envValue(name);
      if (value !== undefined) {
        raw = value;
        source = name;
        break;
      }
    }
  }
  if (raw === undefined) {
    const single = envValue("AWS_ENDPOINT_URL_S3") ?? envValue("AWS_ENDPOINT_URL");
    if (single === undefined) return { endpoints: [], source: "aws" };
    return {
      endpoints: [checkEndpointUrl(single, `endpoint from ${envValue("AWS_ENDPOINT_URL_S3") !== undefined ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL"}`)],
      source: envValue("AWS_ENDPOINT_URL_S3") !== undefined ? "AWS_ENDPOINT_URL_S3" : "AWS_ENDPOINT_URL",
    };
  }
  const what = source === "endpoints" ? "endpoints" : `endpoints from ${source}`;
  let list: string[];
  try {
    list = parseEndpointList(raw, `s3: ${what}`);
  } catch (error) {
    throw isRangeStoreError(error) ? error : configError(`s3: ${what}: ${(error as Error).message}`);
  }
  const seen = new Map<string, string>();
  for (const endpoint of list) {
    checkEndpointUrl(endpoint, `${what} entry`);
    // http://a:9000 and http://a:9000/ are one endpoint: a duplicate would get twice the load.
    const normal = new URL(endpoint).href.replace(/\/+$/, "");
    const before = seen.get(normal);
    if (before !== undefined) throw configError(`s3: ${what} lists one endpoint twice (${JSON.stringify(before)}, ${JSON.stringify(endpoint)})`);
    seen.set(normal, endpoint);
  }
  return { endpoints: list, source };
}

/** The `endpointStrategy` option, else {@link STRATEGY_ENV}, else round-robin. */
export function resolveEndpointStrategy(option: unknown): EndpointStrategy {
  if (option !== undefined) {
    if (typeof option !== "string" || !(ENDPOINT_STRATEGIES as readonly string[]).includes(option)) {
      throw new RangeConfigError(`s3: endpointStrategy must be one of ${ENDPOINT_STRATEGIES.join(", ")}, got ${JSON.stringify(option)}`, {
        code: "E_INVALID_OPTION",
      });
    }
    return option as EndpointStrategy;
  }
  for (const name of STRATEGY_ENV) {
    const value = envValue(name);
    if (value === undefined) continue;
    const strategy = STRATEGY_ALIASES[value.toLowerCase()];
    if (strategy === undefined) {
      throw new RangeConfigError(`s3: ${name} must be one of ${ENDPOINT_STRATEGIES.join(", ")}, got ${JSON.stringify(value)}`, { code: "E_INVALID_OPTION" });
    }
    return strategy;
  }
  return "round-robin";
}

/**
 * What a request's error says about the endpoint that served it: refused, reset, timed out or a 5xx → `failed` (take
 * it out, retry elsewhere), and so is a range the engine aborted for making no progress; throttling → `error` (the cluster is busy, not this gateway); an abort → `aborted`;
 * anything else (404, 412, auth) is an answer → `ok`.
 */
export function endpointOutcomeOf(error: unknown, signal?: AbortSignal): EndpointOutcome {
  // The engine aborts a range that made no progress with a TimeoutError: a hung gateway, not a caller that gave up.
  if (signal?.aborted) return TimeoutError.isInstance(signal.reason) ? "failed" : "aborted";
  if (isAbortError(error)) return "aborted";
  if (TimeoutError.isInstance(error)) return "failed";
  if (!BackendError.isInstance(error)) return "ok";
  if (error.code === "E_NETWORK" || error.code === "E_SERVER") return "failed";
  if (error.code === "E_THROTTLED") return "error";
  return "ok";
}
