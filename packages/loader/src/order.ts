import { seededRandom } from "@range/core";

/** Mixes seed and epoch so consecutive epochs give unrelated permutations (splitmix-style finaliser). */
function epochSeed(seed: number, epoch: number): number {
  let x = (seed ^ Math.imul(epoch + 1, 0x9e3779b9)) >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b) >>> 0;
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** A Fisher–Yates shuffle of `items` (a new array), reproducible for the same seed and epoch. */
export function shuffled<T>(items: readonly T[], seed: number, epoch: number): T[] {
  const out = items.slice();
  const random = seededRandom(epochSeed(seed, epoch));
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

/** Rank `rank`'s share of `items`: every `worldSize`-th item from `rank` on. Shares are disjoint and cover all items. */
export function shard<T>(items: readonly T[], rank: number, worldSize: number): T[] {
  if (worldSize === 1) return items.slice();
  const out: T[] = [];
  for (let i = rank; i < items.length; i += worldSize) out.push(items[i]!);
  return out;
}
