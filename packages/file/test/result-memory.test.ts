import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, describe, expect, it } from "vitest";
import { addressOf, allocatorKind, releaseReusableMemory, reuseStats } from "@range/aligned-memory";
import { createFileStore } from "../src/index.js";

const MiB = 1024 * 1024;
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

async function collect(): Promise<void> {
  for (let i = 0; i < 4; i++) {
    gc();
    await sleep(5);
  }
}

/** Bytes that differ at every position from those of another seed. */
function pattern(size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i += 4) out.writeUInt32LE((Math.imul(i, 2654435761) + seed) >>> 0, i);
  return out;
}

const root = mkdtempSync(join(tmpdir(), "range-file-reuse-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.runIf(allocatorKind === "native")("large get results reuse released memory", () => {
  it("a get into the memory of a collected earlier result has exactly its own bytes", async () => {
    const a = pattern(64 * MiB, 1);
    const b = pattern(60 * MiB, 2);
    writeFileSync(join(root, "a.bin"), a);
    writeFileSync(join(root, "b.bin"), b);
    const store = createFileStore({ root });
    await collect();
    releaseReusableMemory();
    const before = reuseStats().reused;

    let first: Uint8Array | undefined = await store.get("a.bin");
    const address = addressOf(first);
    expect(Buffer.compare(first, a)).toBe(0);
    first = undefined;
    await collect();

    // 60 MiB fits the 64 MiB mapping a.bin's result left: same memory, yet only b.bin's bytes, and its exact length.
    const second = await store.get("b.bin");
    expect(reuseStats().reused).toBe(before + 1);
    expect(addressOf(second)).toBe(address);
    expect(second.length).toBe(b.length);
    expect(Buffer.compare(second, b)).toBe(0);
    await store.close();
  });

  it("so do mid-size results (8 MiB, where glibc's heap reuse depends on its trim heuristics); hugePages: false opts out", async () => {
    const a = pattern(8 * MiB, 3);
    const b = pattern(8 * MiB - 4096, 4);
    writeFileSync(join(root, "mid-a.bin"), a);
    writeFileSync(join(root, "mid-b.bin"), b);
    const store = createFileStore({ root });
    await collect();
    releaseReusableMemory();
    const before = reuseStats().reused;

    let first: Uint8Array | undefined = await store.get("mid-a.bin");
    const address = addressOf(first);
    expect(Buffer.compare(first, a)).toBe(0);
    first = undefined;
    await collect();
    expect(reuseStats().cachedBytes).toBeGreaterThanOrEqual(8 * MiB);

    const second = await store.get("mid-b.bin");
    expect(reuseStats().reused).toBe(before + 1);
    expect(addressOf(second)).toBe(address);
    expect(Buffer.compare(second, b)).toBe(0);

    const plain = createFileStore({ root, hugePages: false });
    const third = await plain.get("mid-a.bin");
    expect(reuseStats().reused).toBe(before + 1);
    expect(Buffer.compare(third, a)).toBe(0);
    await store.close();
    await plain.close();
  });
});
