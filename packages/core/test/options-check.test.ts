import { describe, expect, it } from "vitest";
import {
  RangeConfigError,
  assertKnownOptions,
  assertOptionsObject,
  compareKeysUtf8,
  integerOption,
  invalidOptionError,
  normalizePrefix,
} from "../src/index.js";

/** Runs `fn`, which must throw a RangeConfigError E_INVALID_OPTION; returns its message. */
function messageOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(RangeConfigError);
    expect((error as RangeConfigError).code).toBe("E_INVALID_OPTION");
    return (error as Error).message;
  }
  throw new Error("expected a RangeConfigError, nothing was thrown");
}

describe("invalidOptionError", () => {
  it("is a RangeConfigError with code E_INVALID_OPTION and the message as given", () => {
    const error = invalidOptionError("s3: bucket must be a string");
    expect(error).toBeInstanceOf(RangeConfigError);
    expect(error.code).toBe("E_INVALID_OPTION");
    expect(error.message).toBe("s3: bucket must be a string");
  });
});

describe("assertOptionsObject", () => {
  it.each([undefined, null, 42, "bucket", true])("rejects %s", (value) => {
    expect(messageOf(() => assertOptionsObject(value, "s3"))).toBe("s3: options must be an object");
  });

  it("accepts objects", () => {
    expect(() => assertOptionsObject({}, "az")).not.toThrow();
    expect(() => assertOptionsObject({ bucket: "b" }, "az")).not.toThrow();
  });
});

describe("assertKnownOptions", () => {
  const known = new Set(["bucket", "prefix"]);

  it("names the first unknown key and lists the known ones in order", () => {
    expect(messageOf(() => assertKnownOptions({ bucket: "b", bucketName: "b", x: 1 }, known, "gs"))).toBe(
      "gs: unknown option bucketName (known: bucket, prefix)",
    );
  });

  it("accepts known keys, including ones set to undefined", () => {
    expect(() => assertKnownOptions({ bucket: "b", prefix: undefined }, known, "gs")).not.toThrow();
    expect(() => assertKnownOptions({}, known, "gs")).not.toThrow();
  });
});

describe("normalizePrefix", () => {
  it.each([
    [undefined, ""],
    [null, ""],
    ["", ""],
    ["/", ""],
    ["///", ""],
    ["a", "a/"],
    ["a/", "a/"],
    ["/a/b", "a/b/"],
    ["//a/b//", "a/b//"],
    ["é/ü", "é/ü/"],
  ])("%j → %j", (input, expected) => {
    expect(normalizePrefix(input, "s3")).toBe(expected);
  });

  it.each([42, {}, ["a"], true])("rejects %j", (value) => {
    expect(messageOf(() => normalizePrefix(value, "az"))).toBe("az: prefix must be a string");
  });
});

describe("integerOption", () => {
  it("returns integers within [min, max], bounds included", () => {
    expect(integerOption("s3", "partSize", 5, 5, 10)).toBe(5);
    expect(integerOption("s3", "partSize", 10, 5, 10)).toBe(10);
    expect(integerOption("s3", "partSize", 7, 5, 10)).toBe(7);
  });

  it.each([
    [4, "4"],
    [11, "11"],
    [7.5, "7.5"],
    [Number.NaN, "NaN"],
    [Number.POSITIVE_INFINITY, "Infinity"],
    ["7", "7"],
    [undefined, "undefined"],
    [null, "null"],
  ])("rejects %j", (value, shown) => {
    expect(messageOf(() => integerOption("gs", "listPageSize", value, 5, 10))).toBe(
      `gs: listPageSize must be an integer between 5 and 10, got ${shown}`,
    );
  });
});

describe("compareKeysUtf8", () => {
  it("orders by UTF-8 bytes, where JS < orders by UTF-16 units", () => {
    // U+FF5E (3 UTF-8 bytes, unit 0xFF5E) vs U+1F600 (4 bytes, surrogate units 0xD83D…): the orders disagree.
    const bmp = "\uFF5E";
    const astral = "\u{1F600}";
    expect(bmp < astral).toBe(false);
    expect(compareKeysUtf8(bmp, astral)).toBeLessThan(0);
    expect(compareKeysUtf8(astral, bmp)).toBeGreaterThan(0);
    expect([astral, "b", bmp, "a/", "a"].sort(compareKeysUtf8)).toEqual(["a", "a/", "b", bmp, astral]);
  });

  it("is 0 only for equal keys", () => {
    expect(compareKeysUtf8("a/b", "a/b")).toBe(0);
    expect(compareKeysUtf8("a", "a/")).toBeLessThan(0);
  });
});
