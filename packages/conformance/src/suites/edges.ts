import type { GetOptions } from "@range/core";
import { assertBytes, drain, fail } from "../assertions.js";
import { DEFAULT_SPLIT, SPLIT, smallEngine, type Kit } from "../kit.js";
import { fixtureBytes } from "../random.js";

const FILL = 0xa5;
const LEAD = 16;
const TAIL = 123;

/** get(key, { into }) must fill a view at the start of `into` and leave every other byte of its buffer alone. */
async function checkInto(
  get: (opts: GetOptions) => Promise<Uint8Array>,
  data: Uint8Array,
  opts: GetOptions,
  what: string,
): Promise<void> {
  const size = data.length;
  const backing = new ArrayBuffer(LEAD + size + TAIL);
  new Uint8Array(backing).fill(FILL);
  const into = new Uint8Array(backing, LEAD, size + TAIL);
  const out = await get({ ...opts, into });
  if (!(out instanceof Uint8Array)) fail(`${what}: expected a Uint8Array, got ${String(out)}`);
  if (out.buffer !== backing) fail(`${what}: the result is not a view of the \`into\` buffer (a new buffer was returned)`);
  if (out.byteOffset !== into.byteOffset) {
    fail(`${what}: the result starts at byteOffset ${out.byteOffset}, expected ${into.byteOffset} (the start of \`into\`)`);
  }
  if (out.length !== size) fail(`${what}: the result has ${out.length} bytes, expected exactly ${size}`);
  assertBytes(out, data, what);
  const all = new Uint8Array(backing);
  for (let i = 0; i < LEAD; i++) {
    if (all[i] !== FILL) fail(`${what}: byte ${i - LEAD} before \`into\` was overwritten`);
  }
  for (let i = LEAD + size; i < all.length; i++) {
    if (all[i] !== FILL) fail(`${what}: byte ${i - LEAD} of \`into\` (beyond the object's ${size} bytes) was overwritten`);
  }
}

/** Suite 1: every read method on objects at and around the split thresholds. */
export function edgesSuite(kit: Kit): void {
  kit.suite("stat, get and getRange at the edges", "edges", (s) => {
    const sizes: { size: number; note: string }[] = [
      { size: 0, note: "empty" },
      { size: 1, note: "one byte" },
      { size: SPLIT - 1, note: "small threshold - 1" },
      { size: SPLIT, note: "small threshold" },
      { size: SPLIT + 1, note: "small threshold + 1" },
      { size: 3 * SPLIT + 7, note: "odd, several ranges" },
      { size: 1_000_003, note: "odd, many ranges" },
    ];
    if (kit.caps.defaultThresholdObjects) {
      sizes.push(
        { size: DEFAULT_SPLIT - 1, note: "default threshold - 1" },
        { size: DEFAULT_SPLIT, note: "default threshold" },
        { size: DEFAULT_SPLIT + 1, note: "default threshold + 1" },
      );
    }

    for (const { size } of sizes) {
      const data = fixtureBytes("edges", size);
      const key = s.fixture(`object-${size}.bin`, data);
      const L = `${size} B`;

      kit.test(`${L}: stat reports the size and the key`, async () => {
        const meta = await s.store.stat(key);
        if (meta.size !== size) fail(`stat(${key}).size is ${meta.size}, expected ${size}`);
        if (meta.key !== key) fail(`stat(${key}).key is ${JSON.stringify(meta.key)}, expected the key relative to the store root`);
        if (meta.etag !== undefined && typeof meta.etag !== "string") fail(`stat(${key}).etag is ${typeof meta.etag}, expected a string`);
        if (meta.lastModified !== undefined && !(meta.lastModified instanceof Date && Number.isFinite(meta.lastModified.getTime()))) {
          fail(`stat(${key}).lastModified is ${String(meta.lastModified)}, expected a valid Date`);
        }
      });

      kit.test(`${L}: get with small engine options equals the data`, async () => {
        assertBytes(await s.store.get(key, smallEngine()), data, `get(${size} B, small engine)`);
      });

      kit.test(`${L}: get with default engine options equals the data`, async () => {
        assertBytes(await s.store.get(key), data, `get(${size} B)`);
      });

      kit.test(`${L}: get with engine: false equals the data`, async () => {
        assertBytes(await s.store.get(key, { engine: false }), data, `get(${size} B, engine: false)`);
      });

      kit.test(`${L}: getStream equals the data`, async () => {
        assertBytes(await drain(s.store.getStream(key, smallEngine())), data, `getStream(${size} B, small engine)`);
      });

      kit.test(`${L}: getRange of the full span equals the data`, async () => {
        assertBytes(await s.store.getRange(key, 0, size), data, `getRange(0, ${size})`);
      });

      if (size > 0) {
        kit.test(`${L}: getRange of the last byte`, async () => {
          assertBytes(await s.store.getRange(key, size - 1, 1), data.subarray(size - 1), `getRange(${size - 1}, 1)`);
        });
      }

      kit.test(`${L}: getRange(key, size, 0) returns no bytes`, async () => {
        assertBytes(await s.store.getRange(key, size, 0), new Uint8Array(0), `getRange(${size}, 0)`);
      });

      kit.test(`${L}: get into a larger buffer (small engine options) fills only a view at its start`, async () => {
        await checkInto((o) => s.store.get(key, o), data, smallEngine(), `get(${size} B, small engine, into)`);
      });

      kit.test(`${L}: get into a larger buffer (default engine options) fills only a view at its start`, async () => {
        await checkInto((o) => s.store.get(key, o), data, {}, `get(${size} B, into)`);
      });

      kit.test(`${L}: get into a larger buffer (engine: false) fills only a view at its start`, async () => {
        await checkInto((o) => s.store.get(key, o), data, { engine: false }, `get(${size} B, engine: false, into)`);
      });
    }
  });
}
