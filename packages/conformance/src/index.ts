export { runObjectStoreConformance, resolveCapabilities } from "./run-conformance.js";
export type { ConformanceCapabilities, ConformanceOptions, ResolvedCapabilities } from "./types.js";
export { assertBytes, checkTypedError, expectAbortError, expectRejects, type ErrorName } from "./assertions.js";
export { fixtureBytes, mulberry32, randomBytes, seedOf } from "./random.js";
export { SPECIAL_KEYS } from "./suites/keys.js";
export { invalidDeletePrefixes, invalidKeys, invalidPrefixes, invalidWriteKeys } from "./suites/bad-input.js";
