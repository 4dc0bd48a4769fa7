import { execFile } from "node:child_process";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, it } from "vitest";

const run = promisify(execFile);
const example = join(dirname(fileURLToPath(import.meta.url)), "..", "examples", "multi-process.mjs");
let root: string;
const keys: string[] = [];

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "range-loader-mp-"));
  await mkdir(join(root, "train"));
  for (let i = 0; i < 60; i++) {
    const key = `train/sample-${String(i).padStart(3, "0")}.bin`;
    keys.push(key);
    await writeFile(join(root, key), Buffer.alloc(1000 + i, i));
  }
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

it("N worker processes load disjoint shards that together cover the dataset, and report throughput", async () => {
  const { stdout } = await run(process.execPath, [example, pathToFileURL(root).href, "train/", "3", "--json"], {
    cwd: join(dirname(example), ".."),
  });
  const summary = JSON.parse(stdout) as {
    workers: number;
    items: number;
    bytes: number;
    itemsPerSec: number;
    mbPerSec: number;
    reports: { rank: number; items: number; keys: string[] }[];
  };
  expect(summary.workers).toBe(3);
  expect(summary.items).toBe(60);
  expect(summary.bytes).toBe(keys.reduce((n, _k, i) => n + 1000 + i, 0));
  expect(summary.itemsPerSec).toBeGreaterThan(0);
  const all = summary.reports.flatMap((r) => r.keys);
  expect(all.sort()).toEqual(keys);
  expect(new Set(all).size).toBe(60);
  expect(summary.reports.map((r) => r.items).sort()).toEqual([20, 20, 20]);
});
