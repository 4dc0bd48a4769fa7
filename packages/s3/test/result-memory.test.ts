import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { setTimeout as sleep } from "node:timers/promises";
import { allocatorKind, reuseStats } from "@range/aligned-memory";
import type { ObjectStore } from "@range/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Store } from "../src/index.js";
import { BUCKET, RUN, bytes, connection, equalBytes } from "./helpers.js";

const MiB = 1024 * 1024;
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

// Two large objects with different bytes: the second get lands in the memory of the first's released result,
// which is not zeroed, so any byte the engine failed to overwrite would show the first object's content.
const FIRST = bytes(40 * MiB + 4097, 11);
const SECOND = bytes(40 * MiB + 4097, 12);
let store: ObjectStore;

beforeAll(async () => {
  store = createS3Store({ ...connection(), bucket: BUCKET, prefix: `${RUN}result-memory` });
  await store.put("first.bin", FIRST);
  await store.put("second.bin", SECOND);
}, 120_000);
afterAll(async () => {
  await store.deletePrefix("");
  await store.close();
});

describe("large get results (default allocate: allocateReadResult)", () => {
  it("a get into the released memory of an earlier result returns exactly the new object's bytes", async () => {
    expect(equalBytes(await store.get("first.bin"), FIRST)).toBe(true);
    for (let i = 0; i < 4; i++) {
      gc();
      await sleep(5);
    }
    const before = reuseStats().reused;
    const second = await store.get("second.bin");
    if (allocatorKind === "native") expect(reuseStats().reused).toBe(before + 1);
    expect(second.length).toBe(SECOND.length);
    expect(equalBytes(second, SECOND)).toBe(true);
  }, 120_000);

  it("the allocate option replaces it", async () => {
    const sizes: number[] = [];
    const own = createS3Store({
      ...connection(),
      bucket: BUCKET,
      prefix: `${RUN}result-memory`,
      allocate: (size) => {
        sizes.push(size);
        return Buffer.alloc(size);
      },
    });
    try {
      expect(equalBytes(await own.get("first.bin"), FIRST)).toBe(true);
      expect(sizes).toEqual([FIRST.length]);
    } finally {
      await own.close();
    }
  }, 120_000);
});
