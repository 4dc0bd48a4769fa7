import type { ObjectStore, RangeEngineOptions } from "@range/core";
import { drain, expectRejects, fail } from "../assertions.js";
import type { Kit } from "../kit.js";
import { fixtureBytes } from "../random.js";

const SIZE = 1000;

/**
 * Keys no backend may accept, for the read methods. (A key that would be missing proves the check comes before any
 * lookup: a backend that looked first would report NotFoundError.)
 */
export function invalidKeys(prefix: string): string[] {
  return [
    "",
    "/abs",
    "/",
    "a/../b",
    "..",
    "../escape",
    ".",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "nul\0key",
    "\uD800lone-surrogate",
    "x".repeat(1025),
    `${prefix}../../escape`,
    `${prefix}a//b`,
    `${prefix}trailing/`,
  ];
}

/**
 * Invalid keys for put and delete. A backend that fails to validate would act on them, so every one resolves inside
 * the suite's own prefix or names a path unique to this run: a broken backend cannot damage data outside the test area.
 */
export function invalidWriteKeys(prefix: string, tag: string): string[] {
  return [
    `/${tag}-abs`,
    `../${tag}-escape`,
    `${prefix}a/../b`,
    `${prefix}..`,
    `${prefix}.`,
    `${prefix}./a`,
    `${prefix}a//b`,
    `${prefix}a/`,
    prefix,
    `${prefix}nul\0key`,
    `${prefix}\uD800lone-surrogate`,
    `${prefix}${"x".repeat(1025)}`,
  ];
}

/** Prefixes no backend may accept, for list. */
export function invalidPrefixes(prefix: string): string[] {
  return ["/abs", "/", "a/../b", "..", "../", "a//b", "nul\0", `${prefix}../`, `${prefix}a//`];
}

/** Invalid prefixes for deletePrefix, confined to the suite's prefix like {@link invalidWriteKeys}. */
export function invalidDeletePrefixes(prefix: string): string[] {
  return [`${prefix}x/../`, `${prefix}./`, `${prefix}..`, `${prefix}a//`, `${prefix}nul\0`];
}

const label = (key: string) => JSON.stringify(key.length > 40 ? `${key.slice(0, 40)}…` : key);

/** Suite 9: every kind of bad input rejects with its typed error before any I/O. */
export function badInputSuite(kit: Kit): void {
  kit.suite("bad input", "bad", (s) => {
    const data = fixtureBytes("bad", SIZE);
    const key = s.fixture("object.bin", data);
    const inner = s.fixture("dir/inner.bin", fixtureBytes("bad-inner", 10));
    const missing = s.key("missing.bin");

    const tag = s.prefix.split("/")[0]!;
    const keyTest = (method: string, call: (store: ObjectStore, k: string) => Promise<unknown>, write = false) =>
      kit.test(
        `invalid keys reject InvalidKeyError from ${method}`,
        async () => {
          // put("") is harmless even on a backend that does not validate; delete("") might remove the store's root.
          const keys = write ? [...(method === "put" ? [""] : []), ...invalidWriteKeys(s.prefix, tag)] : invalidKeys(s.prefix);
          for (const bad of keys) {
            await expectRejects(`${method}(${label(bad)})`, () => call(s.store, bad), "InvalidKeyError");
          }
          if (write && !(await s.store.exists(key))) fail(`${method}() with an invalid key removed the suite's fixture`);
        },
        { requires: write ? ["write"] : [] },
      );

    keyTest("get", (store, k) => store.get(k));
    keyTest("getStream", (store, k) => drain(store.getStream(k)));
    keyTest("stat", (store, k) => store.stat(k));
    keyTest("getRange", (store, k) => store.getRange(k, 0, 1));
    keyTest("exists", (store, k) => store.exists(k));
    keyTest("put", (store, k) => store.put(k, new Uint8Array([1])), true);
    keyTest("delete", (store, k) => store.delete(k), true);

    kit.test(
      "invalid prefixes reject InvalidKeyError from list",
      async () => {
        for (const bad of invalidPrefixes(s.prefix)) {
          await expectRejects(`list(${label(bad)})`, async () => {
            for await (const _ of s.store.list(bad)) void _;
          }, "InvalidKeyError");
        }
      },
      { requires: ["list"] },
    );

    kit.test(
      "invalid prefixes reject InvalidKeyError from deletePrefix",
      async () => {
        for (const bad of invalidDeletePrefixes(s.prefix)) {
          await expectRejects(`deletePrefix(${label(bad)})`, () => s.store.deletePrefix(bad), "InvalidKeyError");
        }
        if (!(await s.store.exists(key))) fail("an invalid deletePrefix() removed the suite's fixture");
      },
      { requires: ["write"] },
    );

    kit.test("getRange with an invalid offset or length rejects InvalidRangeError", async () => {
      const cases: [unknown, unknown][] = [
        [-1, 1],
        [Number.NaN, 1],
        [1.5, 1],
        [Number.MAX_SAFE_INTEGER + 2, 1],
        [Number.POSITIVE_INFINITY, 1],
        ["1", 1],
        [0, -1],
        [0, Number.NaN],
        [0, 1.5],
        [0, Number.POSITIVE_INFINITY],
        [Number.MAX_SAFE_INTEGER, 1],
      ];
      for (const [offset, length] of cases) {
        await expectRejects(
          `getRange(key, ${String(offset)}, ${String(length)})`,
          () => s.store.getRange(key, offset as number, length as number),
          "InvalidRangeError",
        );
      }
    });

    kit.test("getRange past the end of the object rejects InvalidRangeError", async () => {
      const cases: [number, number][] = [
        [SIZE + 1, 0],
        [SIZE + 1, 1],
        [SIZE, 1],
        [SIZE - 1, 2],
        [0, SIZE + 1],
        [SIZE + 1_000_000, 10],
      ];
      for (const [offset, length] of cases) {
        await expectRejects(`getRange(${SIZE} B object, ${offset}, ${length})`, () => s.store.getRange(key, offset, length), "InvalidRangeError");
      }
    });

    kit.test("get, getStream, stat and getRange of a missing key reject NotFoundError", async () => {
      await expectRejects("get(missing)", () => s.store.get(missing), "NotFoundError");
      await expectRejects("get(missing, engine: false)", () => s.store.get(missing, { engine: false }), "NotFoundError");
      await expectRejects("getStream(missing)", () => drain(s.store.getStream(missing)), "NotFoundError");
      await expectRejects("stat(missing)", () => s.store.stat(missing), "NotFoundError");
      await expectRejects("getRange(missing, 0, 1)", () => s.store.getRange(missing, 0, 1), "NotFoundError");
      await expectRejects("getRange(missing, 0, 0)", () => s.store.getRange(missing, 0, 0), "NotFoundError");
      if ((await s.store.exists(missing)) !== false) fail("exists(missing) is not false");
    });

    kit.test("a key that is only a prefix of other objects is not found", async () => {
      const dir = s.key("dir");
      await expectRejects(`stat(${label(dir)})`, () => s.store.stat(dir), "NotFoundError");
      await expectRejects(`get(${label(dir)})`, () => s.store.get(dir), "NotFoundError");
      await expectRejects(`getRange(${label(dir)}, 0, 1)`, () => s.store.getRange(dir, 0, 1), "NotFoundError");
      if ((await s.store.exists(dir)) !== false) fail(`exists(${label(dir)}) is not false`);
      if (!(await s.store.exists(inner))) fail(`the fixture ${label(inner)} is missing`);
    });

    const badEngines: unknown[] = [
      { chunkSize: 0 },
      { chunkSize: 1.5 },
      { maxConcurrentRanges: -1 },
      { maxConcurrentRanges: 0 },
      { minSplitSize: Number.NaN },
      { minSplitSize: -5 },
      { chunkSize: Number.MAX_SAFE_INTEGER },
      { maxConcurrentRanges: 1e9 },
    ];

    kit.test("invalid engine options reject RangeConfigError from get", async () => {
      for (const engine of badEngines) {
        await expectRejects(`get(key, { engine: ${JSON.stringify(engine)} })`, () => s.store.get(key, { engine: engine as RangeEngineOptions }), "RangeConfigError");
      }
    });

    kit.test("invalid engine options reject RangeConfigError from getStream", async () => {
      for (const engine of badEngines) {
        await expectRejects(
          `getStream(key, { engine: ${JSON.stringify(engine)} })`,
          () => drain(s.store.getStream(key, { engine: engine as RangeEngineOptions })),
          "RangeConfigError",
        );
      }
    });

    kit.test("get into a buffer smaller than the object rejects", async () => {
      for (const engine of [undefined, false as const]) {
        const into = new Uint8Array(SIZE - 1).fill(0xa5);
        await expectRejects(
          `get(${SIZE} B object, { into: Uint8Array(${SIZE - 1}), engine: ${String(engine)} })`,
          () => s.store.get(key, engine === undefined ? { into } : { into, engine }),
          ["InvalidRangeError", "RangeConfigError"],
        );
      }
    });

    kit.test(
      "put with data that is not bytes rejects RangeConfigError and writes nothing",
      async () => {
        const target = s.key("not-bytes.bin");
        for (const bad of ["string", 42, null, undefined, {}, [1, 2, 3], new ArrayBuffer(4)]) {
          const what = Array.isArray(bad) ? "[1, 2, 3]" : bad instanceof ArrayBuffer ? "ArrayBuffer" : JSON.stringify(bad) ?? "undefined";
          await expectRejects(`put(key, ${what})`, () => s.store.put(target, bad as Uint8Array), "RangeConfigError");
        }
        if (await s.store.exists(target)) fail("a rejected put() created the object");
      },
      { requires: ["write"] },
    );

    kit.test(
      "put from an AsyncIterable that yields a non-Uint8Array rejects RangeConfigError and writes nothing",
      async () => {
        const target = s.key("bad-chunk.bin");
        async function* chunks(): AsyncGenerator<unknown> {
          yield new Uint8Array([1, 2, 3]);
          yield "not bytes";
        }
        await expectRejects("put(key, AsyncIterable yielding a string)", () => s.store.put(target, chunks() as AsyncIterable<Uint8Array>), "RangeConfigError");
        if (await s.store.exists(target)) fail("a rejected put() created the object");
      },
      { requires: ["write"] },
    );
  });
}
