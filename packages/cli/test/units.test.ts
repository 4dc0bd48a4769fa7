import { describe, expect, it } from "vitest";
import { parseDuration } from "../src/duration.js";
import { asPrefix, child, keyOf, localPath, parseLocation, prefixOf, uriOf, type StoreLocation } from "../src/location.js";
import { KeyFilter } from "../src/selection.js";
import { formatRate, formatSize, parseSize } from "../src/sizes.js";

describe("parseSize", () => {
  it.each([
    ["0", 0],
    ["4096", 4096],
    ["512B", 512],
    ["1KiB", 1024],
    ["8MiB", 8 * 1024 ** 2],
    ["8 MiB", 8 * 1024 ** 2],
    ["8mib", 8 * 1024 ** 2],
    ["8M", 8 * 1024 ** 2],
    ["8m", 8 * 1024 ** 2],
    ["2G", 2 * 1024 ** 3],
    ["1GiB", 1024 ** 3],
    ["1.5GiB", 1.5 * 1024 ** 3],
    ["1TiB", 1024 ** 4],
    ["1T", 1024 ** 4],
    ["1K", 1024],
    ["500KB", 500_000],
    ["100MB", 100_000_000],
    ["2GB", 2_000_000_000],
    ["1TB", 1e12],
    ["0.5KB", 500],
    [" 64MiB ", 64 * 1024 ** 2],
  ])("%s → %d bytes", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(["", "abc", "-1", "8XB", "MiB", "1.5", "0.3B", "1e3", "8 M B", "99999999999PiB"])("rejects %j", (text) => {
    expect(() => parseSize(text)).toThrow(/invalid size/);
  });
});

describe("formatSize", () => {
  it.each([
    [0, "0 B"],
    [1023, "1023 B"],
    [1024, "1 KiB"],
    [1536, "1.5 KiB"],
    [10 * 1024 ** 2, "10 MiB"],
    [100 * 1024 ** 2, "100 MiB"],
    [1.25 * 1024 ** 3, "1.25 GiB"],
    [3 * 1024 ** 4, "3 TiB"],
  ])("%d → %s", (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  it("formats rates in decimal MB/s", () => {
    expect(formatRate(123_456_789)).toBe("123 MB/s");
    expect(formatRate(12_345_678)).toBe("12.3 MB/s");
    expect(formatRate(1_234_567)).toBe("1.23 MB/s");
  });
});

describe("parseDuration", () => {
  it.each([
    ["30s", 30_000],
    ["2m", 120_000],
    ["500ms", 500],
    ["1.5h", 5_400_000],
    ["250", 250],
  ])("%s → %d ms", (text, value) => {
    expect(parseDuration(text)).toBe(value);
  });

  it("turns the timeout off with 'off'", () => {
    expect(parseDuration("off")).toBe(Number.POSITIVE_INFINITY);
  });

  it.each(["", "soon", "0", "-5s", "10 parsecs"])("rejects %j", (text) => {
    expect(() => parseDuration(text)).toThrow(/invalid duration/);
  });
});

describe("parseLocation", () => {
  it("splits a URI into the store and the key", () => {
    expect(parseLocation("s3://bucket/a/b.bin", "/cwd")).toMatchObject({ storeUri: "s3://bucket/", path: "a/b.bin", local: false });
    expect(parseLocation("s3://bucket/a/", "/cwd")).toMatchObject({ storeUri: "s3://bucket/", path: "a/" });
    expect(parseLocation("s3://bucket", "/cwd")).toMatchObject({ storeUri: "s3://bucket/", path: "" });
    expect(parseLocation("s3://", "/cwd")).toMatchObject({ storeUri: "s3:///", path: "" });
    expect(uriOf(parseLocation("s3://bucket/a/b.bin", "/") as StoreLocation)).toBe("s3://bucket/a/b.bin");
  });

  it("addresses file:// and directio:// from /, opening the store on the named directory or the key's parent", () => {
    const file = parseLocation("file:///a/b/c.bin", "/cwd") as StoreLocation;
    expect(file).toMatchObject({ storeUri: "file:///a/b/", root: "/a/b/", path: "c.bin", local: true });
    expect(keyOf(file)).toBe("a/b/c.bin");
    expect(uriOf(file)).toBe("file:///a/b/c.bin");
    expect(parseLocation("directio:///mnt/x/", "/cwd")).toMatchObject({ storeUri: "directio:///mnt/x/", root: "/mnt/x/", path: "" });
    expect(parseLocation("file:///", "/cwd")).toMatchObject({ storeUri: "file:///", root: "/", path: "" });
    expect(parseLocation("file://localhost/a", "/cwd")).toMatchObject({ storeUri: "file:///", path: "a" });
  });

  it("percent-encodes the store URI of a local path but shows it as written", () => {
    const spaced = parseLocation("/tmp/my dir/x#1.bin", "/") as StoreLocation;
    expect(spaced.storeUri).toBe("file:///tmp/my%20dir/");
    expect(uriOf(spaced)).toBe("file:///tmp/my dir/x#1.bin");
    expect(localPath(spaced)).toBe("/tmp/my dir/x#1.bin");
  });

  it("resolves plain paths against the working directory; a trailing slash names a directory", () => {
    expect(parseLocation("data/x.bin", "/home/u")).toMatchObject({ scheme: "file", root: "/home/u/data/", path: "x.bin" });
    expect(parseLocation("data/", "/home/u")).toMatchObject({ root: "/home/u/data/", path: "" });
    expect(parseLocation(".", "/home/u")).toMatchObject({ root: "/home/u/", path: "" });
    expect(parseLocation("/", "/home/u")).toMatchObject({ root: "/", path: "" });
    expect(parseLocation("-", "/home/u")).toEqual({ kind: "stdio", text: "-" });
  });

  it("prefixOf re-roots a local location on the directory and adds the slash elsewhere", () => {
    const dir = prefixOf(parseLocation("/data/set", "/") as StoreLocation);
    expect(dir).toMatchObject({ root: "/data/set/", path: "" });
    expect(uriOf(child(dir, "a/b.bin"))).toBe("file:///data/set/a/b.bin");
    expect(prefixOf(parseLocation("s3://b/set", "/") as StoreLocation)).toMatchObject({ path: "set/" });
  });

  it("refuses credentials in a URI without repeating them", () => {
    expect(() => parseLocation("s3://AKIA:SECRET@bucket/x", "/")).toThrow(/credentials/);
    try {
      parseLocation("s3://AKIA:SECRET@bucket/x", "/");
    } catch (error) {
      expect((error as Error).message).not.toContain("SECRET");
    }
  });

  it("refuses a file:// URI with a host or with .. segments", () => {
    expect(() => parseLocation("file://relative/path", "/")).toThrow(/local path/);
    expect(() => parseLocation("file:///a/../etc/passwd", "/")).toThrow(/\.\./);
  });

  it("asPrefix adds the trailing slash", () => {
    expect(asPrefix("")).toBe("");
    expect(asPrefix("a")).toBe("a/");
    expect(asPrefix("a/")).toBe("a/");
  });
});

describe("KeyFilter", () => {
  it("matches names at any depth for patterns without a slash, whole keys otherwise", () => {
    const filter = new KeyFilter(["*.bin", "logs/**"], ["*.tmp.bin"]);
    expect(filter.matches("a.bin")).toBe(true);
    expect(filter.matches("deep/er/a.bin")).toBe(true);
    expect(filter.matches("logs/x.txt")).toBe(true);
    expect(filter.matches("a.txt")).toBe(false);
    expect(filter.matches("x.tmp.bin")).toBe(false);
    expect(filter.matches(".hidden.bin")).toBe(true);
  });

  it("hides a sub-prefix in a one-level listing only when an exclude matches it", () => {
    const filter = new KeyFilter(["*.bin"], ["tmp"]);
    expect(filter.showsPrefix("data/")).toBe(true);
    expect(filter.showsPrefix("tmp/")).toBe(false);
  });

  it("selects everything without patterns", () => {
    expect(new KeyFilter().matches("anything/at/all")).toBe(true);
    expect(new KeyFilter().active).toBe(false);
  });
});
