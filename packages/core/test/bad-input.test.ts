import { describe, expect, it } from "vitest";
import {
  InvalidKeyError,
  InvalidRangeError,
  RangeConfigError,
  RangeEngine,
  createMemoryStore,
  createObjectStore,
  downloadFile,
  isRangeStoreError,
  openStore,
  type MemoryStore,
  type ObjectStore,
  type StoreDriver,
} from "../src/index.js";

/**
 * The bad-input table: one test per row. Each row is an operation with one bad argument; it must fail with the
 * typed error named in the row, with a message that names the bad value, and before any I/O: the store under test
 * sits on a driver that counts every call it gets, and that count must still be 0.
 */

/** A driver over a memory store that counts every call; `calls` must stay 0 for bad input. */
function countingStore(): { store: ObjectStore; calls: () => number } {
  const backing: MemoryStore = createMemoryStore();
  let calls = 0;
  const count = <T>(value: T): T => {
    calls++;
    return value;
  };
  const driver: StoreDriver = {
    scheme: "counting",
    stat: (key) => count(backing.stat(key)),
    read: (key, offset, length) => count(backing.getRange(key, offset, length)),
    readHead: async (key, length) => {
      count(0);
      const meta = await backing.stat(key);
      return { meta, data: await backing.getRange(key, 0, Math.min(length, meta.size)) };
    },
    write: (key, data, opts) => count(backing.put(key, data, opts)),
    list: (prefix, opts) => count(backing.list(prefix, opts)),
    delete: (key) => count(backing.delete(key)),
  };
  return { store: createObjectStore(driver), calls: () => calls };
}

const MAX = Number.MAX_SAFE_INTEGER;

interface Row {
  /** What is wrong, as the test name says it. */
  name: string;
  run: (store: ObjectStore) => Promise<unknown> | unknown;
  error: new (...args: never[]) => Error;
  /** Text the message must contain: the bad value as the caller would recognise it. */
  names: string | RegExp;
}

/** Consumes an async iterable (list, getStream), so its first step runs. */
async function drain(iterable: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of iterable) {
    // nothing: only the first step matters
  }
}

const RANGES: Row[] = [
  { name: "offset -1", run: (s) => s.getRange("k", -1, 10), error: InvalidRangeError, names: "offset must be a non-negative safe integer, got -1" },
  { name: "offset NaN", run: (s) => s.getRange("k", Number.NaN, 10), error: InvalidRangeError, names: "got NaN" },
  { name: "offset 1.5 (fractional)", run: (s) => s.getRange("k", 1.5, 10), error: InvalidRangeError, names: "got 1.5" },
  { name: "offset MAX_SAFE_INTEGER + 1", run: (s) => s.getRange("k", MAX + 1, 1), error: InvalidRangeError, names: "got 9007199254740992" },
  { name: "offset Infinity", run: (s) => s.getRange("k", Number.POSITIVE_INFINITY, 1), error: InvalidRangeError, names: "got Infinity" },
  { name: "offset as a string", run: (s) => s.getRange("k", "5" as never, 1), error: InvalidRangeError, names: "got 5" },
  { name: "length -1", run: (s) => s.getRange("k", 0, -1), error: InvalidRangeError, names: "length must be a non-negative safe integer, got -1" },
  { name: "length NaN", run: (s) => s.getRange("k", 0, Number.NaN), error: InvalidRangeError, names: "length must be a non-negative safe integer, got NaN" },
  { name: "length 0.5 (fractional)", run: (s) => s.getRange("k", 0, 0.5), error: InvalidRangeError, names: "got 0.5" },
  { name: "length MAX_SAFE_INTEGER + 1", run: (s) => s.getRange("k", 0, MAX + 1), error: InvalidRangeError, names: "got 9007199254740992" },
  { name: "offset + length beyond MAX_SAFE_INTEGER", run: (s) => s.getRange("k", MAX, 1), error: InvalidRangeError, names: `${MAX} + 1` },
  { name: "knownMeta.size -1", run: (s) => s.get("k", { knownMeta: { size: -1 } }), error: InvalidRangeError, names: "knownMeta.size must be a non-negative safe integer, got -1" },
  { name: "knownMeta.size NaN", run: (s) => s.get("k", { knownMeta: { size: Number.NaN } }), error: InvalidRangeError, names: "got NaN" },
  { name: "knownMeta.size 2.5", run: (s) => s.get("k", { knownMeta: { size: 2.5 } }), error: InvalidRangeError, names: "got 2.5" },
  { name: "into smaller than knownMeta.size", run: (s) => s.get("k", { knownMeta: { size: 10 }, into: new Uint8Array(4) }), error: InvalidRangeError, names: "into holds 4 bytes" },
];

const LONG_KEY = `k${"x".repeat(1024)}`;
const KEYS: Row[] = [
  { name: "empty key (get)", run: (s) => s.get(""), error: InvalidKeyError, names: "key must not be empty" },
  { name: "empty key (put)", run: (s) => s.put("", new Uint8Array(1)), error: InvalidKeyError, names: "key must not be empty" },
  { name: "key of 1025 bytes", run: (s) => s.get(LONG_KEY), error: InvalidKeyError, names: /"kxxxx.*" is longer than 1024 bytes/ },
  { name: "key of 513 two-byte characters (1026 bytes)", run: (s) => s.stat("é".repeat(513)), error: InvalidKeyError, names: "longer than 1024 bytes in UTF-8" },
  { name: "`..` segment", run: (s) => s.get("../etc/passwd"), error: InvalidKeyError, names: '"../etc/passwd" contains a ".." segment' },
  { name: "`..` in the middle", run: (s) => s.put("a/../../b", new Uint8Array(1)), error: InvalidKeyError, names: '"a/../../b" contains a ".." segment' },
  { name: "`.` segment", run: (s) => s.delete("./a"), error: InvalidKeyError, names: '"./a" contains a "." segment' },
  { name: "absolute path", run: (s) => s.get("/etc/passwd"), error: InvalidKeyError, names: '"/etc/passwd" must be relative' },
  { name: "empty segment", run: (s) => s.getRange("a//b", 0, 1), error: InvalidKeyError, names: '"a//b" has an empty path segment' },
  { name: "trailing slash", run: (s) => s.put("dir/", new Uint8Array(1)), error: InvalidKeyError, names: '"dir/" has an empty path segment' },
  { name: "NUL character", run: (s) => s.get("a\0b"), error: InvalidKeyError, names: '"a\\\\0b" contains a NUL character' },
  { name: "lone high surrogate (invalid UTF-8)", run: (s) => s.get("a\uD800b"), error: InvalidKeyError, names: "contains a lone UTF-16 surrogate" },
  { name: "lone low surrogate (invalid UTF-8)", run: (s) => s.put("\uDC00", new Uint8Array(1)), error: InvalidKeyError, names: "contains a lone UTF-16 surrogate" },
  { name: "key that is a number", run: (s) => s.get(42 as never), error: InvalidKeyError, names: "key must be a string, got number" },
  { name: "key that is undefined", run: (s) => s.exists(undefined as never), error: InvalidKeyError, names: "key must be a string, got undefined" },
  { name: "prefix with `..` (list)", run: (s) => drain(s.list("../")), error: InvalidKeyError, names: 'prefix "../" contains a ".." segment' },
  { name: "absolute prefix (deletePrefix)", run: (s) => s.deletePrefix("/"), error: InvalidKeyError, names: 'prefix "/" must be relative' },
  { name: "key with `..` (getStream)", run: (s) => drain(s.getStream("x/../y")), error: InvalidKeyError, names: '"x/../y" contains a ".." segment' },
];

const OPTIONS: Row[] = [
  ...(
    [
      ["maxConcurrentRanges", 0, "maxConcurrentRanges must be an integer between 1 and 4096, got 0"],
      ["maxConcurrentRanges", -1, "got -1"],
      ["maxConcurrentRanges", Number.NaN, "got NaN"],
      ["maxConcurrentRanges", 1e9, "got 1000000000"],
      ["maxConcurrentRanges", 2.5, "got 2.5"],
      ["maxConcurrentRanges", "8", 'got "8"'],
      ["chunkSize", 0, "chunkSize must be an integer between 1 and"],
      ["chunkSize", -1, "got -1"],
      ["chunkSize", Number.POSITIVE_INFINITY, "got Infinity"],
      ["chunkSize", 2 ** 53, "got 9007199254740992"],
      ["minSplitSize", 0, "minSplitSize must be an integer between 1 and"],
      ["rangeTimeoutMs", -1, "rangeTimeoutMs must be an integer between 1 and 2147483647, got -1"],
      ["rangeTimeoutMs", 0, "got 0"],
      ["rangeTimeoutMs", Number.NaN, "got NaN"],
      ["rangeTimeoutMs", 2 ** 31, "got 2147483648"],
      ["concurency", 8, "unknown option engine.concurency"],
      ["hedge", "yes", 'hedge must be true, false or an object, got "yes"'],
    ] as const
  ).map(([option, value, names]): Row => ({
    name: `engine.${option} = ${typeof value === "string" ? JSON.stringify(value) : String(value)}`,
    run: (s) => s.get("k", { engine: { [option]: value } as never }),
    error: RangeConfigError,
    names,
  })),
  { name: "retry.attempts = 0", run: (s) => s.get("k", { engine: { retry: { attempts: 0 } } }), error: RangeConfigError, names: "retry.attempts must be an integer between 1 and 100, got 0" },
  { name: "retry.attempts = 1e9", run: (s) => s.get("k", { engine: { retry: { attempts: 1e9 } } }), error: RangeConfigError, names: "got 1000000000" },
  { name: "retry.baseDelayMs = -1", run: (s) => s.get("k", { engine: { retry: { baseDelayMs: -1 } } }), error: RangeConfigError, names: "retry.baseDelayMs must be an integer between 0 and 2147483647, got -1" },
  { name: "retry.maxDelayMs below baseDelayMs", run: (s) => s.get("k", { engine: { retry: { baseDelayMs: 500, maxDelayMs: 10 } } }), error: RangeConfigError, names: "retry.maxDelayMs (10) must be >= retry.baseDelayMs (500)" },
  { name: "signal that is not an AbortSignal", run: (s) => s.get("k", { signal: {} as never }), error: RangeConfigError, names: "signal must be an AbortSignal, got object" },
  { name: "signal that is a string (getRange)", run: (s) => s.getRange("k", 0, 1, { signal: "stop" as never }), error: RangeConfigError, names: 'signal must be an AbortSignal, got "stop"' },
  { name: "signal that is not an AbortSignal (put)", run: (s) => s.put("k", new Uint8Array(1), { signal: 5 as never }), error: RangeConfigError, names: "signal must be an AbortSignal, got 5" },
  { name: "onProgress that is not a function", run: (s) => s.get("k", { onProgress: 42 as never }), error: RangeConfigError, names: "onProgress must be a function, got 42" },
  { name: "onStats that is not a function", run: (s) => s.get("k", { onStats: "yes" as never }), error: RangeConfigError, names: 'onStats must be a function, got "yes"' },
  { name: "into that is not a Uint8Array", run: (s) => s.get("k", { into: [1, 2] as never }), error: RangeConfigError, names: "into must be a Uint8Array, got object" },
  { name: "options that are not an object", run: (s) => s.get("k", 7 as never), error: RangeConfigError, names: "options must be an object, got 7" },
  { name: "put data that is a string", run: (s) => s.put("k", "hello" as never), error: RangeConfigError, names: 'put() data must be a Uint8Array or an AsyncIterable<Uint8Array>, got "hello"' },
  { name: "put data that is null", run: (s) => s.put("k", null as never), error: RangeConfigError, names: "got null" },
  { name: "contentType that is a number", run: (s) => s.put("k", new Uint8Array(1), { contentType: 5 as never }), error: RangeConfigError, names: "contentType must be a string, got 5" },
  { name: "list recursive = 'yes'", run: (s) => drain(s.list("", { recursive: "yes" as never })), error: RangeConfigError, names: 'recursive must be a boolean, got "yes"' },
];

function table(rows: Row[]): void {
  for (const row of rows) {
    it(row.name, async () => {
      const { store, calls } = countingStore();
      const error = await Promise.resolve()
        .then(() => row.run(store))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(error, "expected a rejection").toBeInstanceOf(row.error);
      expect(isRangeStoreError(error)).toBe(true);
      if (typeof row.names === "string") expect((error as Error).message).toContain(row.names);
      else expect((error as Error).message).toMatch(row.names);
      expect(calls(), "the driver was called: the check came after I/O").toBe(0);
    });
  }
}

describe("bad input → a typed error naming the value, before any I/O", () => {
  describe("offsets and lengths", () => table(RANGES));
  describe("keys and prefixes", () => table(KEYS));
  describe("option values", () => table(OPTIONS));
});

describe("ranges past the end: the object's size is needed, so one request, then InvalidRangeError, no bytes", () => {
  for (const [offset, length] of [
    [10, 1],
    [5, 6],
    [11, 0],
    [1000, 10],
  ] as const) {
    it(`getRange(offset ${offset}, length ${length}) of a 10-byte object`, async () => {
      const store = createMemoryStore();
      await store.put("ten", new Uint8Array(10));
      const before = store.probe.readRequests + store.probe.statRequests;
      const error = await Promise.resolve(store.getRange("ten", offset, length)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(InvalidRangeError);
      expect((error as Error).message).toMatch(new RegExp(`${offset}|\\[${offset}, ${offset + length}\\)`));
      expect(store.probe.readRequests + store.probe.statRequests - before).toBe(1);
    });
  }
});

describe("store URIs (openStore): RangeConfigError naming the URI, before any backend is loaded", () => {
  const URIS: [string, unknown, string, string][] = [
    ["an empty string", "", "E_INVALID_URI", 'got ""'],
    ["whitespace", "   ", "E_INVALID_URI", 'got ""'],
    ["a number", 42, "E_INVALID_URI", "got number"],
    ["no scheme", "just/a/path", "E_INVALID_URI", '"just/a/path"'],
    ["one slash after the scheme", "memory:/bucket", "E_INVALID_URI", '"memory:/bucket"'],
    ["no slashes after the scheme", "memory:bucket", "E_INVALID_URI", '"memory:bucket"'],
    ["an unknown scheme", "nope://bucket/x", "E_UNKNOWN_SCHEME", '"nope://"'],
    ["a scheme with a typo", "s4://bucket", "E_UNKNOWN_SCHEME", '"s4://"'],
    ["a malformed host", "memory://[::1/x", "E_INVALID_URI", '"memory://[::1/x"'],
  ];
  for (const [name, uri, code, names] of URIS) {
    it(name, async () => {
      const error = await openStore(uri as string).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RangeConfigError);
      expect((error as RangeConfigError).code).toBe(code);
      expect((error as Error).message).toContain(names);
    });
  }

  for (const uri of ["memory://b/../x", "memory://b/./x", "memory://../x", "memory://b/%2E%2E/x", "file:///data/../etc"]) {
    it(`a "." or ".." segment, which the URL parser would resolve away: ${uri}`, async () => {
      const error = await openStore(uri).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RangeConfigError);
      expect((error as RangeConfigError).code).toBe("E_INVALID_URI");
      expect((error as Error).message).toContain(JSON.stringify(uri));
    });
  }
});

describe("constructors: absurd values throw at construction", () => {
  it.each([
    ["maxConcurrentRanges 0", { maxConcurrentRanges: 0 }, "got 0"],
    ["chunkSize NaN", { chunkSize: Number.NaN }, "got NaN"],
    ["rangeTimeoutMs -5", { rangeTimeoutMs: -5 }, "got -5"],
  ] as const)("new RangeEngine(%s)", (_, options, names) => {
    expect(() => new RangeEngine(options)).toThrow(RangeConfigError);
    expect(() => new RangeEngine(options)).toThrow(names);
  });

  it.each([
    ["engine.maxConcurrentRanges -1", { engine: { maxConcurrentRanges: -1 } }, "got -1"],
    ["latencyMs -1", { latencyMs: -1 }, "latencyMs must be a finite number >= 0, got -1"],
    ["latencyMs NaN", { latencyMs: Number.NaN }, "got NaN"],
    ["prefix without a trailing slash", { prefix: "data" }, 'prefix must end with "/", got "data"'],
    ["prefix with ..", { prefix: "../" }, 'contains a ".." segment'],
  ] as const)("createMemoryStore(%s)", (_, options, names) => {
    expect(() => createMemoryStore(options as never)).toThrow(names);
    try {
      createMemoryStore(options as never);
    } catch (error) {
      expect(isRangeStoreError(error)).toBe(true);
    }
  });

  it("downloadFile with an empty path or a NUL in it: RangeConfigError, no driver call", async () => {
    const { store, calls } = countingStore();
    await expect(downloadFile(store, "k", "")).rejects.toThrow("path must be a non-empty file path");
    await expect(downloadFile(store, "k", "/tmp/a\0b")).rejects.toBeInstanceOf(RangeConfigError);
    await expect(downloadFile(store, "../k", "/tmp/x")).rejects.toBeInstanceOf(InvalidKeyError);
    expect(calls()).toBe(0);
  });
});
