import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { SyntheticDataset, analyzeData } from "@range/datagen";
import { readOpLog, type OpRecord } from "@range/oplog";
import { range, useTempDir } from "./helpers.js";

const dir = useTempDir();

async function records(path: string): Promise<OpRecord[]> {
  const out: OpRecord[] = [];
  for await (const record of readOpLog(path)) out.push(record);
  return out;
}

describe("range put --generate (file backend)", () => {
  it("writes COUNT objects of SIZE with the requested ratios, the same bytes for the same seed", async () => {
    const target = join(dir(), "gen");
    const run = await range(["put", "--generate", "24x64KiB", "--dedup", "2", "--compress", "2", "--seed", "5", "--json", `${target}/`]);
    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ objects: 24, bytes: 24 * 65536, count: 24, size: 65536, dedup: 2, compress: 2, seed: 5, failed: [] });
    const files = (await readdir(target)).sort();
    expect(files).toEqual(Array.from({ length: 24 }, (_, i) => `obj-${String(i).padStart(6, "0")}.bin`));
    const dataset = new SyntheticDataset({ count: 24, size: 65536, dedup: 2, compress: 2, seed: 5 });
    const contents = await Promise.all(files.map((f) => readFile(join(target, f))));
    contents.forEach((bytes, i) => expect(bytes.equals(dataset.object(i))).toBe(true));
    const measured = await analyzeData(contents);
    expect(measured.dedupRatio).toBeCloseTo(2, 2);
    expect(Math.abs(measured.compressionRatio - 2) / 2).toBeLessThan(0.05);

    // Same options and seed: same bytes; another seed: other bytes.
    const again = join(dir(), "again");
    expect((await range(["put", "--generate", "24x64KiB", "--dedup", "2", "--compress", "2", "--seed", "5", "-q", `${again}/`])).code).toBe(0);
    for (const [i, f] of files.entries()) expect((await readFile(join(again, f))).equals(contents[i]!)).toBe(true);
    const other = join(dir(), "other");
    expect((await range(["put", "--generate", "24x64KiB", "--dedup", "2", "--compress", "2", "--seed", "6", "-q", `${other}/`])).code).toBe(0);
    expect((await readFile(join(other, files[0]!))).equals(contents[0]!)).toBe(false);
  });

  it("rejects bad --generate input with exit 2, before writing anything", async () => {
    const target = join(dir(), "bad");
    for (const args of [
      ["put", "--generate", "3y1KiB", `${target}/`],
      ["put", "--generate", "0x1KiB", `${target}/`],
      ["put", "--generate", "3x1KiB", "--dedup", "0.5", `${target}/`],
      ["put", "--generate", "3x1KiB", "--compress", "5000", `${target}/`],
      ["put", "--generate", "3x1KiB", join(target, "one-key.bin")], // three objects need a prefix
      ["put", "--generate", "3x1KiB", "a", "b"],
      ["put", "--dedup", "2", "a", "b"], // --dedup without --generate
      ["put", "a"], // no destination
    ]) {
      const result = await range(args);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toMatch(/^range: /);
    }
    await expect(readdir(target)).rejects.toThrow();
  });
});

describe("range --oplog and range replay (file backend)", () => {
  it("records a command's operations, replays them elsewhere (missing objects reported, --prepare creates them)", async () => {
    const source = join(dir(), "src");
    const log = join(dir(), "ops.tsv.gz");
    expect((await range(["--oplog", log, "put", "--generate", "6x10KiB", "-q", `${source}/`])).code).toBe(0);
    const written = await records(log);
    expect(written.map((r) => r.op)).toEqual(Array(6).fill("PUT"));
    expect(written.every((r) => r.bytes === 10240 && r.error === "")).toBe(true);

    const reads = join(dir(), "reads.jsonl");
    expect((await range(["--oplog", reads, "cp", "-r", "-q", `${source}/`, `${join(dir(), "out")}/`])).code).toBe(0);
    expect((await range(["--oplog", reads, "stat", join(source, "nope.bin")])).code).toBe(3); // a second run truncates the log
    const statLog = await records(reads);
    expect(statLog.map((r) => [r.op, r.key, r.error])).toEqual([["STAT", "nope.bin", "E_NOT_FOUND"]]);

    // A read workload: one object read to stdout, recorded.
    const getLog = join(dir(), "gets.tsv");
    const got = await range(["--oplog", getLog, "get", join(source, "obj-000003.bin"), "-"]);
    expect(got.code).toBe(0);
    expect(got.stdoutBytes.length).toBe(10240);
    expect((await records(getLog)).map((r) => [r.op, r.key, r.bytes])).toContainEqual(["GET", "obj-000003.bin", 10240]);

    // Replay the 6 PUTs into a fresh directory: they create the objects.
    const replayed = join(dir(), "replayed");
    const puts = await range(["replay", "--json", log, `${replayed}/`]);
    expect(puts.code).toBe(0);
    expect(JSON.parse(puts.stdout)).toMatchObject({ ops: 6, ok: 6, errors: 0 });
    expect((await readdir(replayed)).sort()).toEqual((await readdir(source)).sort());

    // Replay the reads into an empty directory: every read misses (exit 1), unless --prepare made the objects.
    const empty = join(dir(), "empty");
    const missing = await range(["replay", "--json", getLog, `${empty}/`]);
    expect(missing.code).toBe(1);
    const summary = JSON.parse(missing.stdout) as { errors: number; missing: { count: number; keys: string[] } };
    expect(summary.missing.keys).toContain("obj-000003.bin");
    const prepared = await range(["replay", "--prepare", getLog, `${empty}/`]);
    expect(prepared.code).toBe(0);
    expect(prepared.stdout).toMatch(/prepared 1 object/);
    expect((await readFile(join(empty, "obj-000003.bin"))).length).toBe(10240);
  });

  it("replays a warp-style TSV at the recorded pace divided by --speed", async () => {
    const target = join(dir(), "paced");
    expect((await range(["put", "--generate", "1x1KiB", "-q", join(target, "a.bin")])).code).toBe(0);
    const header = "idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns";
    const at = (s: number) => `2025-10-01T12:00:0${s}.000000000Z`;
    const lines = [0, 1, 2, 3].map((i) => `${i}\t${i}\tSTAT\t\t1\t1024\t\ta.bin\t\t${at(i)}\t\t${at(i)}\t1000`);
    await writeFile(join(dir(), "warp.tsv"), `${[header, ...lines].join("\n")}\n`);
    const fast = await range(["replay", "--json", "--speed", "4", join(dir(), "warp.tsv"), `${target}/`]);
    expect(fast.code).toBe(0);
    const summary = JSON.parse(fast.stdout) as { ops: number; ok: number; seconds: number; recordedSeconds: number; speed: number };
    expect(summary).toMatchObject({ ops: 4, ok: 4, speed: 4 });
    expect(summary.recordedSeconds).toBeCloseTo(3, 3);
    expect(summary.seconds).toBeGreaterThanOrEqual(0.748); // 3 s / 4
    expect(summary.seconds).toBeLessThan(2); // not the recorded 3 s

    expect((await range(["replay", "--speed", "0", join(dir(), "warp.tsv"), `${target}/`])).code).toBe(2);
    // Recording a replay into the very file being replayed would truncate it first.
    expect((await range(["--oplog", join(dir(), "warp.tsv"), "replay", join(dir(), "warp.tsv"), `${target}/`])).code).toBe(2);
    expect((await readFile(join(dir(), "warp.tsv"), "utf8")).split("\n")).toHaveLength(6);
    const recorded = join(dir(), "replay-ops.jsonl");
    expect((await range(["--oplog", recorded, "replay", "--speed", "100", join(dir(), "warp.tsv"), `${target}/`])).code).toBe(0);
    expect((await records(recorded)).map((r) => r.op)).toEqual(["STAT", "STAT", "STAT", "STAT"]);
    expect((await range(["replay", join(dir(), "no-such.tsv"), `${target}/`])).code).toBe(3);
    expect((await range(["--oplog", join(dir(), "no-dir", "x.tsv"), "stat", join(target, "a.bin")])).code).toBe(2);
  });
});
