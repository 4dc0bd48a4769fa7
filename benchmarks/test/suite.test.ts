import { deflateRawSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { selectBackends } from "../src/backends/index.js";
import type { CellResult, CellSample } from "../src/lib/cells.js";
import { metricsOf, runCell } from "../src/lib/cells.js";
import { seededBytes, sha256Hex } from "../src/lib/data.js";
import { manyDataset, objectRecipe, rangeOffsets, seedOf } from "../src/lib/datasets.js";
import { reportOp } from "../src/lib/matrix.js";
import { latencyOf, medianInterval, percentile } from "../src/lib/measure.js";
import { defaultScenarios, parseList, parsePositiveInt, parseSize } from "../src/lib/selection.js";
import { iterationsFor, opsPerRound } from "../src/lib/cross.js";
import { BackendPool, type Suite } from "../src/lib/suite.js";
import { scenarios } from "../src/scenarios/index.js";
import { sweptBackends } from "../src/scenarios/sweeps.js";
import { renderBarChart } from "../src/lib/svg.js";
import { BenchmarkFailure } from "../src/lib/types.js";

const MiB = 1024 * 1024;
const noTools = { opendal: { missing: "test" }, s3dlio: { missing: "test" } };

describe("flags", () => {
  it("parses sizes in binary units and rejects the rest", () => {
    expect(parseSize("64KiB")).toBe(65536);
    expect(parseSize("64k")).toBe(65536);
    expect(parseSize("8MiB")).toBe(8 * MiB);
    expect(parseSize("1GiB")).toBe(1024 * MiB);
    expect(parseSize("4096")).toBe(4096);
    expect(parseSize("0")).toBeUndefined();
    expect(parseSize("8 parsecs")).toBeUndefined();
    expect(parseList("--sizes", "1MiB, 8MiB", parseSize)).toEqual([MiB, 8 * MiB]);
    expect(() => parseList("--sizes", "1MiB,x", parseSize)).toThrow(/--sizes: cannot parse "x"/);
    expect(() => parseList("--concurrency", "8,0", parsePositiveInt)).toThrow(/"0"/);
  });

  it("selects the embedded backends by default, every backend with all, and reports unknown names", () => {
    expect(selectBackends(undefined).selected.map((b) => b.name)).toEqual(["memory", "file", "directio"]);
    expect(selectBackends("all").selected.map((b) => b.name)).toEqual(["memory", "file", "directio", "s3", "azure", "gcs"]);
    expect(selectBackends("s3,file").selected.map((b) => b.name)).toEqual(["file", "s3"]);
    expect(selectBackends("file,nope").unknown).toEqual(["nope"]);
  });

  it("runs the scenarios of the selected backends by default, superseded ones only when named", () => {
    const names = (backends: string) => defaultScenarios(scenarios, selectBackends(backends).selected.map((b) => b.name)).map((s) => s.name);
    const all = names("all");
    expect(all).toEqual(expect.arrayContaining(["get", "range", "stream", "put", "list", "loader", "sweeps", "planner"]));
    expect(all).not.toContain("file-large");
    expect(all).not.toContain("directio");
    expect(names("s3")).not.toContain("planner"); // tied to memory
    for (const name of ["file-large", "file-small", "directio"]) expect(scenarios.find((s) => s.name === name)?.supersededBy).toMatch(/^get /);
  });

  it("sweeps the backends the s3dlio notes ask about, or the selected ones with I/O", () => {
    const swept = (backends: string) => sweptBackends(selectBackends(backends).selected).map((b) => b.name);
    expect(swept("all")).toEqual(["file", "directio", "s3"]);
    expect(swept("embedded")).toEqual(["file", "directio"]);
    expect(swept("azure,memory")).toEqual(["azure"]);
    expect(swept("memory")).toEqual(["memory"]);
  });

  it("sizes rounds: ~32 MiB of reads, at most 200, and fewer rounds for large objects unless asked", () => {
    expect(opsPerRound(64 * 1024, false)).toBe(200);
    expect(opsPerRound(MiB, false)).toBe(32);
    expect(opsPerRound(1024 * MiB, false)).toBe(1);
    const ctx = (largeObjectIterations: number | undefined) => {
      const suite: Suite = { selection: { backends: [], ...(largeObjectIterations !== undefined ? { largeObjectIterations } : {}) }, pool: new BackendPool(() => {}), tools: noTools };
      return { iterations: 5, quick: false, log: () => {}, suite };
    };
    expect(iterationsFor(ctx(3), 32 * MiB)).toBe(5);
    expect(iterationsFor(ctx(3), 256 * MiB)).toBe(3);
    expect(iterationsFor(ctx(undefined), 1024 * MiB)).toBe(5);
  });
});

describe("data", () => {
  it("regenerates the same bytes from a seed, and different bytes (and pages) for another seed", () => {
    const a = seededBytes(3 * MiB + 5, 7);
    expect(sha256Hex(seededBytes(3 * MiB + 5, 7))).toBe(sha256Hex(a));
    expect(sha256Hex(seededBytes(3 * MiB + 5, 8))).not.toBe(sha256Hex(a));
    // No two 4 KiB blocks are equal (datagen's stamps), so a range at a wrong offset cannot compare equal; and the
    // bytes are incompressible, so a store that compresses gains nothing.
    const blocks = new Set<string>();
    for (let at = 0; at + 4096 <= a.length; at += 4096) blocks.add(sha256Hex(a.subarray(at, at + 4096)));
    expect(blocks.size).toBe(Math.floor(a.length / 4096));
    expect(deflateRawSync(a).length).toBeGreaterThan(a.length * 0.99);
  });

  it("makes a many-object dataset whose items all differ, and a second dataset from the same recipe regenerates them", () => {
    const recipe = { count: 300, size: 10_000, seed: seedOf("test") };
    const items = Array.from({ length: recipe.count }, (_, i) => manyDataset(recipe).object(i));
    expect(new Set(items.map((item) => sha256Hex(item))).size).toBe(recipe.count);
    const again = manyDataset(recipe);
    const item = Buffer.alloc(recipe.size);
    for (const i of [0, 150, 299]) expect(again.fill(i, item).every((byte, k) => byte === items[i]![k])).toBe(true);
  });

  it("plans the same random ranges for every contender, inside the object", () => {
    const ranges = rangeOffsets(10 * MiB, 65536, 500, 42);
    expect(rangeOffsets(10 * MiB, 65536, 500, 42)).toEqual(ranges);
    for (const [offset, length] of ranges) expect(offset + length).toBeLessThanOrEqual(10 * MiB);
    expect(new Set(ranges.map(([o]) => o)).size).toBeGreaterThan(450);
  });
});

describe("statistics", () => {
  it("interpolates percentiles", () => {
    const values = Array.from({ length: 101 }, (_, i) => i);
    expect(percentile(values, 0.5)).toBe(50);
    expect(percentile(values, 0.99)).toBe(99);
    expect(percentile([1, 2], 0.5)).toBe(1.5);
    expect(latencyOf([3, 1, 2])).toMatchObject({ p50: 2, max: 3, count: 3 });
    expect(Number.isNaN(latencyOf([]).max)).toBe(true);
  });

  it("gives the median's distribution-free 95% interval from the binomial order statistics (the textbook ranks)", () => {
    const ranks = (n: number) => medianInterval(Array.from({ length: n }, (_, i) => n - i)); // unsorted input
    expect(ranks(5)).toBeUndefined(); // no pair of order statistics reaches 95% with 5 samples
    expect(ranks(6)).toEqual({ low: 1, high: 6, level: 1 - 2 / 64 });
    expect(ranks(10)).toMatchObject({ low: 2, high: 9 });
    expect(ranks(10)!.level).toBeCloseTo(0.9785, 4);
    expect(ranks(24)).toMatchObject({ low: 7, high: 18 });
    expect(ranks(100)).toMatchObject({ low: 40, high: 61 });
    expect(ranks(100)!.level).toBeGreaterThanOrEqual(0.95);
    // Past n = 1074, 0.5^n is 0 in doubles: the ranks must still be right (exact values from the binomial law).
    expect(ranks(1075)).toMatchObject({ low: 505, high: 571 });
    expect(ranks(2000)).toMatchObject({ low: 956, high: 1045 });
  });
});

function cell(contender: string, role: CellResult["role"], msPerRound: number[], size: string): CellResult {
  const samples: CellSample[] = msPerRound.map((ms) => ({ ms, bytes: 100e6, ops: 1, latencies: [ms] }));
  return { backend: "file", op: "get", contender, label: contender, role, params: { size }, status: "ok", output: { samples, verified: "x" }, metrics: metricsOf(samples) };
}

describe("report", () => {
  it("divides ours by the baseline, marks missing peers, and draws every measured bar", () => {
    const results: CellResult[] = [
      cell("ours", "ours", [100, 110, 90], "8 MiB"),
      cell("readFile", "baseline", [200, 210, 190], "8 MiB"),
      { backend: "file", op: "get", contender: "opendal", label: "OpenDAL", role: "peer", params: { size: "8 MiB" }, status: "unavailable", reason: "not installed" },
    ];
    const report = reportOp(results, { category: (r) => String(r.params.size), chartTitle: "t" });
    expect(report.headline["file 8 MiB: ours / readFile"]).toBe(2);
    expect(report.tables[0]!.rows[0]).toEqual(["8 MiB", "1000 (2.00×)", "500", "n/a"]);
    expect(report.notes.join(" ")).toContain("not installed");
    const svg = report.charts[0]!.svg;
    expect(svg.startsWith("<svg")).toBe(true);
    expect(svg.match(/<rect [^>]*><title>/g)).toHaveLength(2);
  });

  it("renders a chart whose bars are ordered by value on a log axis", () => {
    const svg = renderBarChart({ title: "x", yLabel: "MB/s", panels: [{ title: "p", categories: ["a"], series: [{ name: "s1", values: [20] }, { name: "s2", values: [1000] }] }] });
    const heights = [...svg.matchAll(/<rect x="[\d.]+" y="[\d.]+" width="[\d.]+" height="([\d.]+)" fill="[^"]+"><title>/g)].map((m) => Number(m[1]));
    expect(heights).toHaveLength(2);
    expect(heights[1]!).toBeGreaterThan(heights[0]!);
  });
});

describe("cell worker (child process, memory backend)", () => {
  const object = objectRecipe("bench/objects/1MiB.bin", MiB, 1234);
  const base = { backend: "memory", connection: {}, tools: noTools, iterations: 2, warmup: 1, object, opsPerRound: 3, seed: [object] };

  it("measures our get and the baseline, counting the store's requests", async () => {
    const ours = await runCell({ ...base, op: "get", contender: "ours" });
    expect(ours.samples).toHaveLength(2);
    for (const s of ours.samples) {
      expect(s.bytes).toBe(3 * MiB);
      expect(s.latencies).toHaveLength(3);
      expect(s.requests).toBe(3); // below minSplitSize: one read each
      expect(s.peakRssBytes).toBeGreaterThan(MiB);
    }
    const peer = await runCell({ ...base, op: "get", contender: "memcpy" });
    expect(peer.samples[0]!.requests).toBeUndefined();
  });

  it("fails with wrong bytes when the object is not what the recipe says", async () => {
    const lying = { ...object, sha256: sha256Hex(seededBytes(MiB, 999)) };
    await expect(runCell({ ...base, object: lying, op: "get", contender: "ours" })).rejects.toBeInstanceOf(BenchmarkFailure);
  });

  it("checks every range of the warm-up round against the object", async () => {
    const out = await runCell({ ...base, op: "range", contender: "ours", range: { length: 4096, count: 50, concurrency: 4, rngSeed: 1 } });
    expect(out.samples[0]).toMatchObject({ ops: 50, bytes: 50 * 4096 });
  });
});
