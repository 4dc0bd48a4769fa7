import { describe } from "vitest";
import { fail } from "./assertions.js";
import { Kit } from "./kit.js";
import { abortSuite } from "./suites/abort.js";
import { badInputSuite } from "./suites/bad-input.js";
import { closeSuite } from "./suites/close.js";
import { deleteSuite } from "./suites/delete.js";
import { edgesSuite } from "./suites/edges.js";
import { keysSuite } from "./suites/keys.js";
import { listSuite } from "./suites/list.js";
import { putSuite } from "./suites/put.js";
import { randomRangesSuite } from "./suites/random-ranges.js";
import { streamingSuite } from "./suites/streaming.js";
import type { ConformanceCapabilities, ConformanceOptions, ResolvedCapabilities } from "./types.js";

const MiB = 1024 * 1024;

function bool(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== "boolean") throw new TypeError(`@range/conformance: capabilities.${name} must be a boolean, got ${String(value)}`);
  return value;
}

/** Fills in the defaults and rejects option mistakes at registration time, before any test runs. */
export function resolveCapabilities(capabilities: ConformanceCapabilities = {}): ResolvedCapabilities {
  const largePutSize = capabilities.largePutSize ?? 16 * MiB;
  if (largePutSize !== false && (!Number.isSafeInteger(largePutSize) || largePutSize <= 0)) {
    throw new TypeError(`@range/conformance: capabilities.largePutSize must be a positive integer or false, got ${String(largePutSize)}`);
  }
  return {
    write: bool("write", capabilities.write, true),
    list: bool("list", capabilities.list, true),
    listPagination: bool("listPagination", capabilities.listPagination, false),
    largePutSize,
    defaultThresholdObjects: bool("defaultThresholdObjects", capabilities.defaultThresholdObjects, true),
  };
}

function checkOptions(options: ConformanceOptions): void {
  if (typeof options !== "object" || options === null) throw new TypeError("@range/conformance: options must be an object");
  if (typeof options.name !== "string" || options.name === "") throw new TypeError("@range/conformance: options.name must be a non-empty string");
  if (typeof options.create !== "function") throw new TypeError("@range/conformance: options.create must be a function returning Promise<ObjectStore>");
  if (options.skip !== undefined && (!Array.isArray(options.skip) || options.skip.some((t) => typeof t !== "string"))) {
    throw new TypeError("@range/conformance: options.skip must be an array of test titles");
  }
  for (const name of ["seed", "inFlight"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw new TypeError(`@range/conformance: options.${name} must be a function`);
    }
  }
  if (options.capabilities?.write === false && options.seed === undefined) {
    throw new TypeError("@range/conformance: capabilities.write is false, so options.seed(key, data) is required to create fixtures");
  }
}

/**
 * Registers the conformance suites for one backend. Call it at the top level of a vitest test file:
 *
 * ```ts
 * runObjectStoreConformance({ name: "s3", create: () => openStore("s3://bucket/prefix/") });
 * ```
 *
 * Every suite opens its own store with `options.create` (in `beforeAll`), works under a random key prefix
 * (`conformance-<hex>/<suite>/`), deletes that prefix when the store is writable and closes the store (`afterAll`).
 */
export function runObjectStoreConformance(options: ConformanceOptions): void {
  checkOptions(options);
  const kit = new Kit(options, resolveCapabilities(options.capabilities));

  describe(`@range/conformance: ${options.name}`, () => {
    edgesSuite(kit);
    randomRangesSuite(kit);
    streamingSuite(kit);
    abortSuite(kit);
    putSuite(kit);
    listSuite(kit);
    keysSuite(kit);
    deleteSuite(kit);
    badInputSuite(kit);
    closeSuite(kit);

    kit.test("options.skip names only tests and suites of the kit", async () => {
      // Collection has finished by the time a test runs, so kit.titles holds every title.
      const unknown = [...kit.skip].filter((title) => !kit.titles.has(title));
      if (unknown.length > 0) {
        fail(`options.skip names no test or suite: ${unknown.map((t) => JSON.stringify(t)).join(", ")} (titles must match exactly)`);
      }
    });
  });
}
