import { describe, expect, it } from "vitest";
import { mulberry32, seededRandom } from "../src/index.js";

describe("mulberry32 / seededRandom", () => {
  it("gives the reference mulberry32 sequence (seed 42 starts 0.6011037519201636)", () => {
    const next = mulberry32(42);
    expect([next(), next(), next()]).toEqual([2581720956, 1925393290, 3661312704]);
    expect(seededRandom(42)()).toBe(0.6011037519201636);
  });

  it("repeats for a seed, differs between seeds, and stays in [0, 1)", () => {
    const draw = (seed: number) => Array.from({ length: 1000 }, seededRandom(seed));
    const a = draw(7);
    expect(draw(7)).toEqual(a);
    expect(draw(8)).not.toEqual(a);
    expect(a.every((x) => x >= 0 && x < 1)).toBe(true);
    // Roughly uniform: each tenth of [0, 1) gets 100 ± 40 of 1000 draws.
    const tenths = new Array<number>(10).fill(0);
    for (const x of a) tenths[Math.floor(x * 10)]!++;
    for (const count of tenths) expect(Math.abs(count - 100)).toBeLessThan(40);
  });
});
