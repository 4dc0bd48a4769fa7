import { assertBytes, mapLimit } from "../assertions.js";
import { SPLIT, smallEngine, type Kit } from "../kit.js";
import { fixtureBytes, randomFloats } from "../random.js";

const SIZE = 1024 * 1024 + 12_345;
const COUNT = 50;
const RANGE_SEED = 0x5eed_2024;

/** `COUNT` (offset, length) pairs over an object of `size` bytes: a mix of tiny, medium and long ranges. */
export function randomRanges(size: number, count: number, seed: number): { offset: number; length: number }[] {
  const rand = randomFloats(seed);
  const ranges: { offset: number; length: number }[] = [];
  for (let i = 0; i < count; i++) {
    const offset = Math.floor(rand() * (size + 1));
    const room = size - offset;
    const kind = rand();
    const length =
      kind < 0.1 ? 0 : kind < 0.4 ? Math.min(room, 1 + Math.floor(rand() * 16)) : Math.floor(rand() * (room + 1));
    ranges.push({ offset, length });
  }
  return ranges;
}

/** Suite 2: ranges of one object against an in-memory oracle. */
export function randomRangesSuite(kit: Kit): void {
  kit.suite("random ranges against an in-memory oracle", "ranges", (s) => {
    const data = fixtureBytes("ranges", SIZE);
    const key = s.fixture("oracle.bin", data);

    kit.test(`${COUNT} seeded random getRange calls equal the oracle's slices`, async () => {
      const ranges = randomRanges(SIZE, COUNT, RANGE_SEED);
      await mapLimit(ranges, 8, async ({ offset, length }, i) => {
        const bytes = await s.store.getRange(key, offset, length);
        assertBytes(bytes, data.subarray(offset, offset + length), `random range #${i}: getRange(${offset}, ${length}) of ${SIZE} B`);
      });
    });

    kit.test("getRange across range boundaries equals the oracle", async () => {
      const ranges = [
        { offset: 0, length: 1 },
        { offset: SPLIT - 1, length: 2 },
        { offset: SPLIT, length: SPLIT },
        { offset: 3 * SPLIT - 1, length: SPLIT + 2 },
        { offset: 0, length: SPLIT + 1 },
        { offset: SIZE - SPLIT - 1, length: SPLIT + 1 },
        { offset: 12_345, length: SIZE - 2 * 12_345 },
      ];
      for (const { offset, length } of ranges) {
        assertBytes(await s.store.getRange(key, offset, length), data.subarray(offset, offset + length), `getRange(${offset}, ${length})`);
      }
    });

    kit.test("concurrent gets of one object all equal the data", async () => {
      const results = await Promise.all(
        Array.from({ length: 6 }, (_, i) => (i % 2 === 0 ? s.store.get(key, smallEngine()) : s.store.get(key))),
      );
      results.forEach((bytes, i) => assertBytes(bytes, data, `concurrent get #${i}`));
    });

    kit.test("changing a returned buffer does not change the stored object", async () => {
      (await s.store.get(key)).fill(0);
      (await s.store.get(key, smallEngine())).fill(0);
      (await s.store.get(key, { engine: false })).fill(0);
      (await s.store.getRange(key, 100, 1000)).fill(0);
      for await (const chunk of s.store.getStream(key, smallEngine())) chunk.fill(0);
      assertBytes(await s.store.get(key, smallEngine()), data, "get after zeroing buffers returned by earlier reads");
      assertBytes(await s.store.getRange(key, 100, 1000), data.subarray(100, 1100), "getRange after zeroing an earlier result");
    });
  });
}
