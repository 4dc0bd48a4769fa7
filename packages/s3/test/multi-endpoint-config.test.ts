import { createServer, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { BackendError, RangeConfigError, openStore } from "@range/core";
import { beforeAll, describe, expect, it } from "vitest";
import { createS3Store, isS3Store, resolveS3Options, type S3StoreOptions } from "../src/index.js";

const ENV_NAMES = [
  "RANGE_S3_ENDPOINTS",
  "S3_ENDPOINT_URIS",
  "S3_ENDPOINT_TEMPLATE",
  "RANGE_S3_ENDPOINT_STRATEGY",
  "S3_LOAD_BALANCE_STRATEGY",
  "AWS_ENDPOINT_URL",
  "AWS_ENDPOINT_URL_S3",
] as const;

/** Runs `fn` with exactly these endpoint variables set (the others unset), restoring everything after. */
function withEnv<T>(vars: Partial<Record<(typeof ENV_NAMES)[number], string>>, fn: () => T): T {
  const saved = Object.fromEntries(ENV_NAMES.map((k) => [k, process.env[k]]));
  for (const name of ENV_NAMES) {
    const value = vars[name];
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
  try {
    return fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

function configError(fn: () => unknown): RangeConfigError {
  try {
    fn();
  } catch (error) {
    expect(RangeConfigError.isInstance(error), String(error)).toBe(true);
    return error as RangeConfigError;
  }
  throw new Error("expected a RangeConfigError");
}

const base = { bucket: "bkt", region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } } as const;

describe("endpoints from options", () => {
  it("takes a list, a {1...N} template, or both in one comma-separated string", () => {
    withEnv({}, () => {
      expect(resolveS3Options({ ...base, endpoints: ["http://h1:9000", "http://h2:9000"] })).toMatchObject({
        endpoint: "http://h1:9000",
        endpoints: ["http://h1:9000", "http://h2:9000"],
        endpointSource: "endpoints",
        endpointStrategy: "round-robin",
        forcePathStyle: true,
      });
      expect(resolveS3Options({ ...base, endpoints: "http://10.0.0.{1...3}:9000" }).endpoints).toEqual([
        "http://10.0.0.1:9000",
        "http://10.0.0.2:9000",
        "http://10.0.0.3:9000",
      ]);
      expect(resolveS3Options({ ...base, endpoints: "http://a:1, http://node{01...02}:2" }).endpoints).toEqual([
        "http://a:1",
        "http://node01:2",
        "http://node02:2",
      ]);
      expect(resolveS3Options({ ...base, endpoints: ["https://s3-{1...2}.example.com"], endpointStrategy: "least-outstanding" })).toMatchObject({
        endpoints: ["https://s3-1.example.com", "https://s3-2.example.com"],
        endpointStrategy: "least-outstanding",
      });
    });
  });

  it("a single endpoint is a pool of one; AWS's default endpoint too", () => {
    withEnv({}, () => {
      expect(resolveS3Options({ ...base, endpoint: "http://one:1" })).toMatchObject({ endpoints: ["http://one:1"], endpointSource: "endpoint" });
      expect(resolveS3Options({ bucket: "bkt" })).toMatchObject({ endpoint: undefined, endpoints: [], endpointSource: "aws" });
      const store = createS3Store({ ...base, endpoint: "http://one:1" });
      expect(isS3Store(store)).toBe(true);
      expect(store.endpointStats()).toEqual([
        { endpoint: "http://one:1", state: "up", requests: 0, bytes: 0, errors: 0, inFlight: 0, consecutiveFailures: 0, timesDown: 0 },
      ]);
      expect(createS3Store({ bucket: "bkt" }).endpointStats().map((s) => s.endpoint)).toEqual(["(aws default)"]);
    });
  });
});

describe("endpoints from the environment", () => {
  it("RANGE_S3_ENDPOINTS, then s3dlio's S3_ENDPOINT_URIS and S3_ENDPOINT_TEMPLATE, then AWS_ENDPOINT_URL*", () => {
    const all = {
      RANGE_S3_ENDPOINTS: "http://r{1...2}:1",
      S3_ENDPOINT_URIS: "http://u1:2,http://u2:2",
      S3_ENDPOINT_TEMPLATE: "http://t{1...3}:3",
      AWS_ENDPOINT_URL_S3: "http://aws-s3:4",
      AWS_ENDPOINT_URL: "http://aws:5",
    };
    withEnv(all, () => expect(resolveS3Options({ bucket: "bkt" })).toMatchObject({ endpoints: ["http://r1:1", "http://r2:1"], endpointSource: "RANGE_S3_ENDPOINTS" }));
    withEnv({ ...all, RANGE_S3_ENDPOINTS: undefined as never }, () =>
      expect(resolveS3Options({ bucket: "bkt" })).toMatchObject({ endpoints: ["http://u1:2", "http://u2:2"], endpointSource: "S3_ENDPOINT_URIS" }),
    );
    withEnv({ S3_ENDPOINT_TEMPLATE: "http://t{1...3}:3", AWS_ENDPOINT_URL: "http://aws:5" }, () =>
      expect(resolveS3Options({ bucket: "bkt" })).toMatchObject({
        endpoints: ["http://t1:3", "http://t2:3", "http://t3:3"],
        endpointSource: "S3_ENDPOINT_TEMPLATE",
        region: "us-east-1",
        forcePathStyle: true,
      }),
    );
    withEnv({ AWS_ENDPOINT_URL_S3: "http://aws-s3:4", AWS_ENDPOINT_URL: "http://aws:5" }, () =>
      expect(resolveS3Options({ bucket: "bkt" })).toMatchObject({ endpoints: ["http://aws-s3:4"], endpointSource: "AWS_ENDPOINT_URL_S3" }),
    );
    // Options win over the environment.
    withEnv(all, () => expect(resolveS3Options({ bucket: "bkt", endpoint: "http://opt:6" }).endpoints).toEqual(["http://opt:6"]));
    withEnv(all, () => expect(resolveS3Options({ bucket: "bkt", endpoints: ["http://o1:6", "http://o2:6"] }).endpointSource).toBe("endpoints"));
  });

  it("the strategy from RANGE_S3_ENDPOINT_STRATEGY or s3dlio's S3_LOAD_BALANCE_STRATEGY (its spellings too)", () => {
    const strategyOf = () => resolveS3Options({ ...base, endpoints: "http://h{1...2}" }).endpointStrategy;
    withEnv({ S3_LOAD_BALANCE_STRATEGY: "least_connections" }, () => expect(strategyOf()).toBe("least-outstanding"));
    withEnv({ S3_LOAD_BALANCE_STRATEGY: "round_robin" }, () => expect(strategyOf()).toBe("round-robin"));
    withEnv({ RANGE_S3_ENDPOINT_STRATEGY: "least-outstanding", S3_LOAD_BALANCE_STRATEGY: "round_robin" }, () => expect(strategyOf()).toBe("least-outstanding"));
    withEnv({ RANGE_S3_ENDPOINT_STRATEGY: "least-outstanding" }, () =>
      expect(resolveS3Options({ ...base, endpoints: "http://h{1...2}", endpointStrategy: "round-robin" }).endpointStrategy).toBe("round-robin"),
    );
    withEnv({ S3_LOAD_BALANCE_STRATEGY: "fastest" }, () => expect(configError(strategyOf).message).toContain("S3_LOAD_BALANCE_STRATEGY"));
  });
});

describe("bad endpoint lists are a RangeConfigError before any I/O", () => {
  it("rejects them in createS3Store (synchronously) and in openStore", async () => {
    const bad: Partial<S3StoreOptions>[] = [
      { endpoints: [] },
      { endpoints: "" },
      { endpoints: " , " },
      { endpoints: ["http://a:1", "http://a:1/"] },
      { endpoints: "http://h{1...3}:1,http://h2:1" },
      { endpoints: ["ftp://a:1"] },
      { endpoints: ["s3://bucket/prefix"] },
      { endpoints: ["not a url"] },
      { endpoints: ["http://user:secret@a:1"] },
      { endpoints: ["http://a:1?x=1"] },
      { endpoints: "http://h{3...1}" },
      { endpoints: "http://h{1..3}" },
      { endpoints: "http://h{1...5000}" },
      { endpoints: [42 as unknown as string] },
      { endpoints: { a: 1 } as unknown as string },
      { endpoint: "http://a:1", endpoints: ["http://b:1"] },
      { endpoints: ["http://a:1", "http://b:1"], endpointStrategy: "random" as never },
      { endpoints: ["http://a:1", "http://b:1"], endpointRecovery: { baseDelayMs: -5 } },
      { endpoints: ["http://a:1", "http://b:1"], endpointRecovery: { baseDelayMs: 500, maxDelayMs: 100 } },
      { endpoints: ["http://a:1", "http://b:1"], endpointRecovery: 5 as never },
    ];
    for (const options of bad) {
      const error = withEnv({}, () => configError(() => createS3Store({ ...base, ...options } as S3StoreOptions)));
      expect(error.message, JSON.stringify(options)).not.toContain("secret");
      await expect(openStore("s3://bkt/p", { ...options })).rejects.toSatisfy((e: unknown) => RangeConfigError.isInstance(e));
    }
    withEnv({ RANGE_S3_ENDPOINTS: "http://x,http://x" }, () => expect(configError(() => createS3Store({ bucket: "bkt" })).message).toContain("RANGE_S3_ENDPOINTS"));
    withEnv({ S3_ENDPOINT_TEMPLATE: "http://h{1...}" }, () => configError(() => createS3Store({ bucket: "bkt" })));
  });
});

describe("failover without a server", () => {
  let ports: number[];
  const servers: Server[] = [];
  beforeAll(async () => {
    // Ports that were just free and are closed again: connecting is refused.
    for (let i = 0; i < 3; i++) {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      servers.push(server);
    }
    ports = servers.map((s) => (s.address() as AddressInfo).port);
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
  });

  it("every endpoint refusing: the request tries each once (maxAttempts 3), fails E_NETWORK, all are marked down", async () => {
    // One engine attempt: what is counted is the driver's failover alone.
    const store = createS3Store({ ...base, endpoints: ports.map((p) => `http://127.0.0.1:${p}`), maxAttempts: 3, engine: { retry: { attempts: 1 } } });
    const started = performance.now();
    const error = await store.stat("x").then(
      () => undefined,
      (e: unknown) => e,
    );
    const ms = performance.now() - started;
    expect(BackendError.isInstance(error)).toBe(true);
    expect((error as BackendError).code).toBe("E_NETWORK");
    const stats = store.endpointStats();
    expect(stats.map((s) => [s.requests, s.errors, s.state])).toEqual([
      [1, 1, "down"],
      [1, 1, "down"],
      [1, 1, "down"],
    ]);
    // Failing over to an untried endpoint is immediate: no backoff before the third try.
    expect(ms).toBeLessThan(2_000);
    await store.close();
  });
});
