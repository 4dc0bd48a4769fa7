import { describe, expect, it } from "vitest";
import { EndpointPool, MAX_ENDPOINTS, RangeConfigError, expandEndpointTemplate, parseEndpointList } from "../src/index.js";

function configError(fn: () => unknown): RangeConfigError {
  try {
    fn();
  } catch (error) {
    expect(RangeConfigError.isInstance(error)).toBe(true);
    return error as RangeConfigError;
  }
  throw new Error("expected a RangeConfigError");
}

describe("expandEndpointTemplate", () => {
  it("expands {start...end}, in order", () => {
    expect(expandEndpointTemplate("http://10.0.0.{1...3}:9000")).toEqual(["http://10.0.0.1:9000", "http://10.0.0.2:9000", "http://10.0.0.3:9000"]);
  });

  it("pads to the width of a start with a leading zero", () => {
    expect(expandEndpointTemplate("http://node{08...11}:8333")).toEqual([
      "http://node08:8333",
      "http://node09:8333",
      "http://node10:8333",
      "http://node11:8333",
    ]);
  });

  it("expands several groups to every combination, the first outermost", () => {
    expect(expandEndpointTemplate("http://rack{1...2}-n{1...3}")).toEqual([
      "http://rack1-n1",
      "http://rack1-n2",
      "http://rack1-n3",
      "http://rack2-n1",
      "http://rack2-n2",
      "http://rack2-n3",
    ]);
  });

  it("returns a plain string as is; {n...n} is one entry", () => {
    expect(expandEndpointTemplate("http://a:1")).toEqual(["http://a:1"]);
    expect(expandEndpointTemplate("http://h{7...7}")).toEqual(["http://h7"]);
  });

  it("rejects malformed groups, descending ranges and huge expansions", () => {
    for (const bad of ["http://h{1..3}", "http://h{a...c}", "http://h{1...3", "http://h}1", "http://h{}", "http://h{-1...2}"]) {
      expect(configError(() => expandEndpointTemplate(bad)).code).toBe("E_INVALID_ENDPOINTS");
    }
    expect(configError(() => expandEndpointTemplate("http://h{3...1}")).message).toContain("counts down");
    expect(configError(() => expandEndpointTemplate(`http://h{1...${MAX_ENDPOINTS + 1}}`)).message).toContain(`${MAX_ENDPOINTS}`);
    expect(configError(() => expandEndpointTemplate("http://h{1...40}-{1...40}")).message).toContain("more than");
  });
});

describe("parseEndpointList", () => {
  it("splits on commas and whitespace and expands each entry", () => {
    expect(parseEndpointList(" http://a:1, http://b{1...2}:2 \n http://c:3,")).toEqual(["http://a:1", "http://b1:2", "http://b2:2", "http://c:3"]);
    expect(parseEndpointList(["http://x{1...2}", "http://y"])).toEqual(["http://x1", "http://x2", "http://y"]);
  });

  it("rejects empty lists, duplicates and non-strings", () => {
    expect(configError(() => parseEndpointList(" , ")).message).toContain("empty");
    expect(configError(() => parseEndpointList([])).message).toContain("empty");
    expect(configError(() => parseEndpointList("http://a{1...2},http://a1")).message).toContain("twice");
    configError(() => parseEndpointList([1 as unknown as string]));
    configError(() => parseEndpointList(42 as unknown as string));
  });
});

describe("EndpointPool", () => {
  const three = ["http://a", "http://b", "http://c"];

  it("round-robin gives each endpoint a fair share", () => {
    const pool = new EndpointPool(three);
    const picks: number[] = [];
    for (let i = 0; i < 9; i++) {
      const lease = pool.acquire();
      picks.push(lease.index);
      lease.addBytes(10);
      lease.release("ok");
    }
    expect(picks).toEqual([0, 1, 2, 0, 1, 2, 0, 1, 2]);
    expect(pool.stats().map((s) => [s.requests, s.bytes, s.inFlight, s.state])).toEqual([
      [3, 30, 0, "up"],
      [3, 30, 0, "up"],
      [3, 30, 0, "up"],
    ]);
  });

  it("least-outstanding prefers the idle endpoints, and rotates among equals", () => {
    const pool = new EndpointPool(three, { strategy: "least-outstanding" });
    const a = pool.acquire();
    const b = pool.acquire();
    expect([a.index, b.index]).toEqual([0, 1]);
    // 0 and 1 are busy: 2 is idle.
    const c = pool.acquire();
    expect(c.index).toBe(2);
    // 0 finishes: it is the only idle one.
    a.release("ok");
    const d = pool.acquire();
    expect(d.index).toBe(0);
    // 1 is next in turn, but 0 is idle again: 0.
    d.release("ok");
    expect(pool.acquire().index).toBe(0);
    // All equal: the turn decides.
    expect(pool.acquire().index).toBe(1);
    expect(pool.stats().map((s) => s.inFlight)).toEqual([1, 2, 1]);
    b.release("ok");
    c.release("ok");
  });

  it("takes a failed endpoint out, retries it after a backoff, and brings it back on success", () => {
    let now = 1_000;
    const pool = new EndpointPool(three, { recovery: { baseDelayMs: 100, maxDelayMs: 250 }, now: () => now });
    const first = pool.acquire();
    expect(first.index).toBe(0);
    first.release("failed", new Error("connect ECONNREFUSED"));
    let stats = pool.stats()[0]!;
    expect(stats).toMatchObject({ state: "down", errors: 1, consecutiveFailures: 1, timesDown: 1, lastError: "connect ECONNREFUSED" });
    expect(stats.retryAt?.getTime()).toBe(1_100);
    expect(pool.available()).toBe(2);
    // While it is out, only 1 and 2 are used.
    const picks = Array.from({ length: 6 }, () => {
      const lease = pool.acquire();
      lease.release("ok");
      return lease.index;
    });
    expect(picks).toEqual([1, 2, 1, 2, 1, 2]);
    // Due: ONE trial request goes to it; while that is out, the others carry on.
    now = 1_100;
    const trial = pool.acquire();
    expect(trial.index).toBe(0);
    expect([pool.acquire().index, pool.acquire().index, pool.acquire().index]).toEqual([1, 2, 1]);
    trial.release("failed", new Error("again"));
    stats = pool.stats()[0]!;
    expect(stats).toMatchObject({ state: "down", consecutiveFailures: 2, timesDown: 1 });
    expect(stats.retryAt?.getTime()).toBe(1_300);
    now = 1_300;
    pool.acquire().release("ok"); // 2 (the cursor's turn)
    const second = pool.acquire();
    expect(second.index).toBe(0);
    second.release("ok");
    expect(pool.stats()[0]).toMatchObject({ state: "up", consecutiveFailures: 0, errors: 2 });
    expect(pool.stats()[0]!.retryAt).toBeUndefined();
    // The backoff is capped.
    for (let i = 0; i < 5; i++) {
      now += 1_000;
      const lease = pool.acquire(new Set([1, 2]));
      expect(lease.index).toBe(0);
      lease.release("failed", new Error("down"));
    }
    expect(pool.stats()[0]!.retryAt!.getTime() - now).toBe(250);
  });

  it("counts many in-flight failures of one outage as one", () => {
    let now = 0;
    const pool = new EndpointPool(["http://a", "http://b"], { recovery: { baseDelayMs: 100 }, now: () => now });
    const leases = Array.from({ length: 9 }, () => pool.acquire(new Set([1])));
    expect(leases.every((lease) => lease.index === 0)).toBe(true);
    for (const lease of leases.slice(0, 8)) lease.release("failed", new Error("reset"));
    expect(pool.stats()[0]).toMatchObject({ state: "down", errors: 8, consecutiveFailures: 1, timesDown: 1, inFlight: 1 });
    expect(pool.stats()[0]!.retryAt!.getTime()).toBe(100);
    now = 50;
    // A late success of a request sent before the outage does not bring it back.
    leases[8]!.release("ok");
    expect(pool.stats()[0]).toMatchObject({ state: "down", inFlight: 0 });
  });

  it("errors (throttling) are counted but keep the endpoint up; aborts count nothing", () => {
    const pool = new EndpointPool(["http://a"]);
    const lease = pool.acquire();
    lease.release("error", new Error("SlowDown"));
    lease.release("failed", new Error("ignored: released twice"));
    pool.acquire().release("aborted");
    expect(pool.stats()[0]).toMatchObject({ state: "up", requests: 2, errors: 1, inFlight: 0, lastError: "SlowDown" });
  });

  it("skips excluded endpoints; with everything out it still picks the one due soonest", () => {
    let now = 0;
    const pool = new EndpointPool(three, { recovery: { baseDelayMs: 100 }, now: () => now });
    expect(pool.acquire(new Set([0, 1])).index).toBe(2);
    for (const index of [0, 1, 2]) {
      const lease = pool.acquire(new Set([0, 1, 2].filter((i) => i !== index)));
      expect(lease.index).toBe(index);
      now += 10;
      lease.release("failed", new Error("down"));
    }
    expect(pool.available()).toBe(0);
    // All out; 0 is due first (failed first). Excluding it picks the next due.
    expect(pool.acquire().index).toBe(0);
    expect(pool.acquire(new Set([0])).index).toBe(1);
    // Everything excluded: still an endpoint.
    expect(pool.acquire(new Set([0, 1, 2])).index).toBeGreaterThanOrEqual(0);
  });

  it("validates its options", () => {
    configError(() => new EndpointPool([]));
    configError(() => new EndpointPool(three, { strategy: "random" as never }));
    configError(() => new EndpointPool(three, { recovery: { baseDelayMs: -1 } }));
    configError(() => new EndpointPool(three, { recovery: { baseDelayMs: 500, maxDelayMs: 100 } }));
    configError(() => new EndpointPool(three, { recovery: null as never }));
  });

  it("keeps secrets out of lastError", () => {
    const pool = new EndpointPool(["http://a"]);
    pool.acquire().release("failed", new Error("GET http://u:p4ss@a/x?X-Amz-Signature=abc failed"));
    const message = pool.stats()[0]!.lastError!;
    expect(message).not.toContain("p4ss");
    expect(message).not.toContain("abc");
  });
});
