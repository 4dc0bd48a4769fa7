import { RangeConfigError } from "@range/core";
import { describe, expect, it } from "vitest";
import { collectGarbage } from "./collect-garbage.js";
import { addressOf, allocateParallelReadResult, allocateReadResult, allocatorKind, parallelReadResultMemory, prepareForFill, releaseReusableMemory, reuseStats } from "../src/index.js";

const MiB = 1024 * 1024;

describe.each([
  ["allocateReadResult", allocateReadResult],
  ["allocateParallelReadResult", allocateParallelReadResult],
] as const)("%s", (_name, allocate) => {
  it("returns a Buffer of the size asked, below 2 MiB plain memory that prepareForFill has nothing to do for", () => {
    const small = allocate(2 * MiB - 1);
    expect(Buffer.isBuffer(small)).toBe(true);
    expect(small.length).toBe(2 * MiB - 1);
    expect(prepareForFill(small)).toBeUndefined();
    expect(allocate(0).length).toBe(0);
  });

  it("rejects a size that is not a non-negative safe integer with a typed error", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) expect(() => allocate(bad)).toThrow(RangeConfigError);
  });

  it.runIf(allocatorKind === "native")("a released result's memory, unzeroed, serves the next result that fits", async () => {
    await collectGarbage();
    releaseReusableMemory();
    const before = reuseStats().reused;
    const address = await fillAndDrop(allocate, 40 * MiB, 7);
    await collectGarbage();
    const next = allocate(40 * MiB);
    expect(reuseStats().reused).toBe(before + 1);
    expect(addressOf(next)).toBe(address);
    expect(next[0]).toBe(7);
  });
});

describe.runIf(allocatorKind === "native")("fresh results from 2 MiB on", () => {
  it("allocateParallelReadResult: memory prepareForFill prepares; allocateReadResult: ordinary pages, nothing to prepare", async () => {
    releaseReusableMemory();
    const parallel = allocateParallelReadResult(2 * MiB);
    const ready = prepareForFill(parallel);
    expect(ready).toBeInstanceOf(Promise);
    await ready;
    const plain = allocateReadResult(2 * MiB);
    expect(prepareForFill(plain)).toBeUndefined();
    plain.fill(1);
    parallel.fill(1);
  });

  it("parallelReadResultMemory is the pair a store spreads into createObjectStore's options", () => {
    expect(parallelReadResultMemory.allocate).toBe(allocateParallelReadResult);
    expect(parallelReadResultMemory.prepareTarget).toBe(prepareForFill);
    expect(Object.isFrozen(parallelReadResultMemory)).toBe(true);
  });
});

/** A large result prepared range by range (where there is anything to prepare), filled, dropped: its address. */
async function fillAndDrop(allocate: (size: number) => Uint8Array, size: number, byte: number): Promise<number> {
  const result = allocate(size);
  expect(result.length).toBe(size);
  for (let at = 0; at < size; at += 8 * MiB) await prepareForFill(result.subarray(at, at + 8 * MiB));
  result.fill(byte);
  return addressOf(result)!;
}
