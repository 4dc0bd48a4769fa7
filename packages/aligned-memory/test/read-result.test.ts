import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { setTimeout as sleep } from "node:timers/promises";
import { RangeConfigError } from "@range/core";
import { describe, expect, it } from "vitest";
import { addressOf, allocateReadResult, allocatorKind, prepareForFill, readResultMemory, reuseStats } from "../src/index.js";

const MiB = 1024 * 1024;

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(5);
  }
}

describe("allocateReadResult", () => {
  it("returns a Buffer of the size asked, below 2 MiB plain memory that prepareForFill has nothing to do for", () => {
    const small = allocateReadResult(2 * MiB - 1);
    expect(Buffer.isBuffer(small)).toBe(true);
    expect(small.length).toBe(2 * MiB - 1);
    expect(prepareForFill(small)).toBeUndefined();
    expect(allocateReadResult(0).length).toBe(0);
  });

  it("rejects a size that is not a non-negative safe integer with a typed error", () => {
    for (const bad of [-1, 1.5, Number.NaN, 2 ** 53]) expect(() => allocateReadResult(bad)).toThrow(RangeConfigError);
  });

  it("readResultMemory is the pair a store spreads into createObjectStore's options", () => {
    expect(readResultMemory.allocate).toBe(allocateReadResult);
    expect(readResultMemory.prepareTarget).toBe(prepareForFill);
    expect(Object.isFrozen(readResultMemory)).toBe(true);
  });

  it.runIf(allocatorKind === "native")("from 2 MiB: native memory that prepareForFill prepares", async () => {
    const result = allocateReadResult(2 * MiB);
    const ready = prepareForFill(result);
    expect(ready).toBeInstanceOf(Promise);
    await ready;
    result.fill(1);
    expect(result.length).toBe(2 * MiB);
  });

  it.runIf(allocatorKind === "native")("a large result: memory prepareForFill prepares, and a released result's memory serves the next", async () => {
    await collect();
    const before = reuseStats().reused;
    const address = await fillAndDrop(40 * MiB, 7);
    await collect();
    const next = allocateReadResult(40 * MiB);
    expect(reuseStats().reused).toBe(before + 1);
    expect(addressOf(next)).toBe(address);
    // Not zeroed: what the released result last held.
    expect(next[0]).toBe(7);
  });
});

/** A large result prepared range by range, filled with `byte`, then dropped: returns its address. */
async function fillAndDrop(size: number, byte: number): Promise<number> {
  const result = allocateReadResult(size);
  expect(result.length).toBe(size);
  for (let at = 0; at < size; at += 8 * MiB) {
    const ready = prepareForFill(result.subarray(at, at + 8 * MiB));
    expect(ready).toBeInstanceOf(Promise);
    await ready;
  }
  result.fill(byte);
  return addressOf(result)!;
}
