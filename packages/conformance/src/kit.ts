import { randomBytes as cryptoRandomBytes } from "node:crypto";
import type { ObjectStore } from "@range/core";
import { afterAll, beforeAll, describe, it } from "vitest";
import { fail, mapLimit, sleep } from "./assertions.js";
import type { ConformanceOptions, ResolvedCapabilities } from "./types.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Timeout of the hooks that create fixtures and clean up (vitest's default of 10 s is short for a cloud store). */
export const HOOK_TIMEOUT_MS = 120_000;
/** Timeout of the tests that move tens of MiB or thousands of keys. */
export const HEAVY_TEST_TIMEOUT_MS = 120_000;

/**
 * Engine options that make edge cases cheap: 64 KiB ranges, at most 4 in flight, split from 64 KiB on. An object of a
 * few hundred KiB then goes through several ranges.
 */
export function smallEngine(): { engine: { minSplitSize: number; chunkSize: number; maxConcurrentRanges: number } } {
  return { engine: { minSplitSize: 64 * KiB, chunkSize: 64 * KiB, maxConcurrentRanges: 4 } };
}

export const SPLIT = 64 * KiB;
export const DEFAULT_SPLIT = 4 * MiB;

export type Requirement = "write" | "list" | "listPagination";

/** One suite's store and fixtures: created in beforeAll, cleaned up and closed in afterAll. */
export class SuiteStore {
  #store: ObjectStore | undefined;
  #failed: unknown;
  readonly fixtures = new Map<string, Uint8Array>();

  constructor(
    private readonly kit: Kit,
    /** Every key of this suite starts with it: `<run prefix><suite slug>/`. */
    readonly prefix: string,
  ) {}

  get store(): ObjectStore {
    if (!this.#store) {
      fail(`the store for this suite is not open${this.#failed ? `: creating it or its fixtures failed (${String(this.#failed)})` : ""}`);
    }
    return this.#store;
  }

  key(name: string): string {
    return this.prefix + name;
  }

  /** Registers an object that beforeAll creates (with put, or options.seed when the store is read-only). */
  fixture(name: string, data: Uint8Array): string {
    const key = this.key(name);
    if (this.fixtures.has(key)) throw new Error(`@range/conformance: duplicate fixture ${key}`);
    this.fixtures.set(key, data);
    return key;
  }

  /** Creates one object: `put` when the store is writable, otherwise `options.seed`. */
  async write(key: string, data: Uint8Array): Promise<void> {
    if (this.kit.caps.write) {
      await this.store.put(key, data);
      return;
    }
    const seed = this.kit.options.seed;
    if (!seed) {
      fail("capabilities.write is false, so the conformance kit needs options.seed(key, data) to create its fixtures");
    }
    await seed(key, data);
  }

  /** Registers the hooks; call inside the suite's describe. */
  register(): void {
    beforeAll(async () => {
      try {
        const store = await this.kit.options.create();
        if (typeof store !== "object" || store === null) fail(`options.create() resolved with ${String(store)}, expected an ObjectStore`);
        this.#store = store;
        await mapLimit([...this.fixtures], 8, ([key, data]) => this.write(key, data));
      } catch (error) {
        this.#failed = error;
        throw error;
      }
    }, HOOK_TIMEOUT_MS);
    afterAll(async () => {
      const store = this.#store;
      if (!store) return;
      this.#store = undefined;
      try {
        if (this.kit.caps.write) await store.deletePrefix(this.prefix);
      } finally {
        await store.close();
      }
    }, HOOK_TIMEOUT_MS);
  }
}

/** Registration helpers shared by the suites: titles, skips, capability gates and per-suite stores. */
export class Kit {
  readonly runPrefix = `conformance-${cryptoRandomBytes(6).toString("hex")}/`;
  readonly skip: ReadonlySet<string>;
  /** Every suite and test title registered so far (collection is synchronous, so complete before any test runs). */
  readonly titles = new Set<string>();

  constructor(
    readonly options: ConformanceOptions,
    readonly caps: ResolvedCapabilities,
  ) {
    this.skip = new Set(options.skip ?? []);
  }

  #claim(title: string): void {
    if (this.titles.has(title)) throw new Error(`@range/conformance: duplicate title ${JSON.stringify(title)}`);
    this.titles.add(title);
  }

  #missing(requires: readonly Requirement[]): boolean {
    return requires.some((r) => !this.caps[r]);
  }

  /** A test, skipped when named in options.skip or when a capability it needs is off. */
  test(
    title: string,
    fn: () => Promise<void>,
    opts: { requires?: readonly Requirement[]; timeout?: number; enabled?: boolean } = {},
  ): void {
    this.#claim(title);
    const skipped = this.skip.has(title) || this.#missing(opts.requires ?? []) || opts.enabled === false;
    it.skipIf(skipped)(title, fn, opts.timeout);
  }

  /** A suite with its own store (and key prefix), skipped when named in options.skip or a capability is off. */
  suite(title: string, slug: string, body: (s: SuiteStore) => void, opts: { requires?: readonly Requirement[] } = {}): void {
    this.#claim(title);
    const skipped = this.skip.has(title) || this.#missing(opts.requires ?? []);
    describe.skipIf(skipped)(title, () => {
      const suite = new SuiteStore(this, `${this.runPrefix}${slug}/`);
      body(suite);
      suite.register();
    });
  }

  /** Polls options.inFlight until it reports 0, failing after `withinMs`. No-op without the probe. */
  async expectNothingInFlight(what: string, withinMs = 1_000): Promise<void> {
    const probe = this.options.inFlight;
    if (!probe) return;
    const deadline = Date.now() + withinMs;
    let count = probe();
    while (count !== 0 && Date.now() < deadline) {
      await sleep(5);
      count = probe();
    }
    if (count !== 0) fail(`${what}: ${count} request(s) still in flight ${withinMs} ms later`);
  }
}
