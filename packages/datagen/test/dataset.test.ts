import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { RangeConfigError } from "@range/core";
import { SyntheticDataset, analyzeData, generateData, generateStream } from "../src/index.js";

const MiB = 1024 * 1024;
const sha = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe("determinism", () => {
  it("the same options and seed give the same bytes; another seed or object index gives other bytes", () => {
    const options = { size: 3 * MiB + 17, dedup: 2, compress: 3, seed: 42 };
    const a = generateData(options);
    const b = new SyntheticDataset(options).object(0);
    expect(Buffer.from(a).equals(b)).toBe(true);
    const otherSeed = generateData({ ...options, seed: 43 });
    expect(Buffer.from(a).equals(otherSeed)).toBe(false);
    const otherObject = new SyntheticDataset({ ...options, count: 2 }).object(1);
    expect(Buffer.from(a).equals(otherObject)).toBe(false);
    // Not just a different first byte: the two seeds share no 4 KiB block.
    const blocks = (d: Uint8Array) => new Set(Array.from({ length: Math.floor(d.length / 4096) }, (_, i) => sha(d.subarray(i * 4096, (i + 1) * 4096))));
    const otherBlocks = blocks(otherSeed);
    const shared = [...blocks(a)].filter((h) => otherBlocks.has(h));
    expect(shared).toEqual([]);
  });

  it("does not depend on what was generated before in the process (the shared pool only grows)", () => {
    const options = { size: 2 * MiB, compress: 2, seed: 7 };
    const first = sha(generateData(options));
    generateData({ size: 40 * MiB, seed: 7 }); // grows seed 7's pool to its limit
    for (let s = 100; s < 106; s++) generateData({ size: 64 * 1024, seed: s }); // evicts seed 7 from the cache
    expect(sha(generateData(options))).toBe(first);
  });

  it("gives the same bytes in another process", () => {
    const options = { size: MiB + 5, dedup: 1.5, compress: 2.5, seed: 9, count: 3 };
    const here = sha(new SyntheticDataset(options).object(2));
    const script = `import("${new URL("../dist/index.js", import.meta.url).href}").then(({ SyntheticDataset }) => {
      const { createHash } = require("node:crypto");
      process.stdout.write(createHash("sha256").update(new SyntheticDataset(${JSON.stringify(options)}).object(2)).digest("hex"));
    })`;
    expect(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" })).toBe(here);
  });
});

describe("sizes and access paths", () => {
  it.each([0, 1, 7, 63, 4095, 4096, 4097, MiB + 13])("size %i: object, stream and fill agree and are exact", async (size) => {
    const dataset = new SyntheticDataset({ size, count: 2, dedup: 2, compress: 2, seed: 1 });
    const whole = dataset.object(1);
    expect(whole.length).toBe(size);
    const streamed = await collect(dataset.stream(1, { chunkSize: 1000 }));
    expect(streamed.length).toBe(size);
    expect(streamed.equals(whole)).toBe(true);
    expect((await collect(generateStream({ size, count: 2, dedup: 2, compress: 2, seed: 1, index: 1 }))).equals(whole)).toBe(true);
  });

  it("fill produces any byte range on its own (random access matches the whole object)", () => {
    const dataset = new SyntheticDataset({ size: 200_003, dedup: 3, compress: 4, seed: 5, blockSize: 512 });
    const whole = Buffer.from(dataset.object(0));
    let state = 12345;
    const next = (n: number) => {
      state = (Math.imul(state, 1103515245) + 12345) >>> 0;
      return state % n;
    };
    for (let i = 0; i < 300; i++) {
      const offset = next(whole.length);
      const length = next(whole.length - offset + 1);
      const part = dataset.fill(0, Buffer.alloc(length, 0xee), offset);
      expect(Buffer.from(part).equals(whole.subarray(offset, offset + length))).toBe(true);
    }
  });
});

describe("ratios", () => {
  it.each([1, 1.25, 2, 4, 10])("dedup %d: the measured dedup ratio of 4 MiB is within 1%", async (dedup) => {
    const result = await analyzeData(generateData({ size: 4 * MiB, dedup, seed: 3 }));
    expect(result.blocks).toBe(1024);
    expect(Math.abs(result.dedupRatio - dedup) / dedup).toBeLessThan(0.01);
  });

  it("dedups across objects: 256 objects of one block each with dedup 4 hold 64 distinct blocks", async () => {
    const dataset = new SyntheticDataset({ size: 4096, count: 256, dedup: 4, seed: 11 });
    const objects = Array.from({ length: dataset.count }, (_, i) => dataset.object(i));
    const result = await analyzeData(objects);
    expect(result.uniqueBlocks).toBe(64);
    expect(result.dedupRatio).toBe(4);
  });

  it.each([1, 1.5, 2, 3, 8])("compress %d: deflate's ratio (after dedup) is within 5%", async (compress) => {
    const result = await analyzeData(generateData({ size: 8 * MiB, compress, seed: 4 }));
    expect(result.dedupRatio).toBe(1);
    expect(Math.abs(result.compressionRatio - compress) / compress).toBeLessThan(0.05);
  });

  it("dedup and compression combine independently (dedup 3, compress 2.5)", async () => {
    const result = await analyzeData(generateData({ size: 12 * MiB, dedup: 3, compress: 2.5, seed: 8, blockSize: 8192 }), { blockSize: 8192 });
    expect(Math.abs(result.dedupRatio - 3) / 3).toBeLessThan(0.01);
    expect(Math.abs(result.compressionRatio - 2.5) / 2.5).toBeLessThan(0.05);
  });

  it("keeps every block distinct beyond the 16 MiB random pool (40 MiB, no dedup)", async () => {
    const result = await analyzeData(generateStream({ size: 40 * MiB, seed: 12 }));
    expect(result.blocks).toBe(10240);
    expect(result.uniqueBlocks).toBe(10240);
    expect(result.compressionRatio).toBeLessThan(1.01);
  });

  it("analyzeData counts blocks across chunk boundaries like one stream", async () => {
    const data = generateData({ size: 100_000, dedup: 2, seed: 2 });
    const whole = await analyzeData(data);
    const pieces = [data.subarray(0, 1), data.subarray(1, 5000), data.subarray(5000, 5001), data.subarray(5001)];
    expect(await analyzeData(pieces)).toEqual(whole);
  });
});

describe("bad input is a RangeConfigError", () => {
  it.each([
    [{ size: -1 }],
    [{ size: 1.5 }],
    [{ size: 10, count: 0 }],
    [{ size: 10, dedup: 0.5 }],
    [{ size: 10, dedup: Number.NaN }],
    [{ size: 10, compress: 0.9 }],
    [{ size: 10, compress: 1000 }], // more than blockSize / 8
    [{ size: 10, seed: -1 }],
    [{ size: 10, seed: 1.5 }],
    [{ size: 10, blockSize: 100 }],
    [{ size: 10, blockSize: 32 }],
    [{ size: 2 ** 40, count: 2 ** 20 }],
  ])("%j", (options) => {
    expect(() => new SyntheticDataset(options)).toThrow(RangeConfigError);
  });

  it("out-of-range index, offset and chunk size", async () => {
    const dataset = new SyntheticDataset({ size: 100, count: 2 });
    expect(() => dataset.object(2)).toThrow(RangeConfigError);
    expect(() => dataset.fill(0, new Uint8Array(10), 95)).toThrow(RangeConfigError);
    await expect(collect(dataset.stream(0, { chunkSize: 0 }))).rejects.toThrow(RangeConfigError);
  });
});
