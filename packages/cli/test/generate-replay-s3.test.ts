import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { SyntheticDataset } from "@range/datagen";
import { readOpLog, type OpRecord } from "@range/oplog";
import { range, useTempDir } from "./helpers.js";

const s3 = inject("s3");
const env = {
  AWS_ENDPOINT_URL: s3.endpoint,
  AWS_REGION: s3.region,
  AWS_ACCESS_KEY_ID: s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};
const dir = useTempDir();
const bucket = "s3://range-cli-test";

async function records(path: string): Promise<OpRecord[]> {
  const out: OpRecord[] = [];
  for await (const record of readOpLog(path)) out.push(record);
  return out;
}

describe("put --generate, --oplog and replay on s3:// (SeaweedFS)", () => {
  it("generates objects into S3 with an op-log, then replays reads (with --prepare) and writes under other prefixes", async () => {
    const puts = join(dir(), "puts.tsv.gz");
    const generated = await range(["--oplog", puts, "put", "--generate", "12x300KiB", "--dedup", "2", "--compress", "2", "--seed", "9", "--json", `${bucket}/gen/`], { env });
    expect(generated.stderr).toBe("");
    expect(generated.code).toBe(0);
    expect(JSON.parse(generated.stdout)).toMatchObject({ objects: 12, bytes: 12 * 300 * 1024 });

    const listing = await range(["ls", "-r", "--json", `${bucket}/gen/`], { env });
    const listed = JSON.stringify(JSON.parse(listing.stdout));
    for (let i = 0; i < 12; i++) expect(listed).toContain(`obj-${String(i).padStart(6, "0")}.bin`);
    const dataset = new SyntheticDataset({ count: 12, size: 300 * 1024, dedup: 2, compress: 2, seed: 9 });
    const reads = join(dir(), "reads.jsonl");
    const object4 = await range(["--oplog", reads, "get", `${bucket}/gen/obj-000004.bin`, "-"], { env });
    expect(object4.code).toBe(0);
    expect(object4.stdoutBytes.equals(dataset.object(4))).toBe(true);

    const putRecords = await records(puts);
    expect(putRecords).toHaveLength(12);
    expect(putRecords.every((r) => r.op === "PUT" && r.bytes === 300 * 1024 && r.error === "" && r.key.startsWith("gen/obj-"))).toBe(true);
    // The S3 store lists one endpoint: the op-log names it.
    expect(new Set(putRecords.map((r) => r.endpoint))).toEqual(new Set([s3.endpoint]));
    const readRecords = await records(reads);
    expect(readRecords.map((r) => [r.op, r.key, r.bytes, r.error])).toContainEqual(["GET", "gen/obj-000004.bin", 300 * 1024, ""]);

    // Reads replayed under an empty prefix miss; --prepare creates the object first.
    const missing = await range(["replay", "--json", reads, `${bucket}/replay-empty/`], { env });
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).missing.keys).toContain("gen/obj-000004.bin");
    const prepared = await range(["replay", "--json", "--prepare", reads, `${bucket}/replay-prepared/`], { env });
    expect(prepared.code).toBe(0);
    expect(JSON.parse(prepared.stdout)).toMatchObject({ errors: 0, prepared: { objects: 1, bytes: 300 * 1024 } });
    const stat = await range(["stat", "--json", `${bucket}/replay-prepared/gen/obj-000004.bin`], { env });
    expect(JSON.parse(stat.stdout)).toMatchObject({ size: 300 * 1024 });

    // The PUT log replayed ten times faster writes the same 12 keys under another prefix.
    const rewritten = await range(["replay", "--json", "--speed", "10", puts, `${bucket}/replay-puts/`], { env });
    expect(rewritten.code).toBe(0);
    expect(JSON.parse(rewritten.stdout)).toMatchObject({ ops: 12, ok: 12, errors: 0 });
    const again = await range(["ls", "-r", "--json", `${bucket}/replay-puts/gen/`], { env });
    expect((JSON.stringify(JSON.parse(again.stdout)).match(/obj-0000\d\d\.bin/g) ?? []).length).toBeGreaterThanOrEqual(12);

    expect((await range(["rm", "-r", "--yes", "-q", `${bucket}/gen/`], { env })).code).toBe(0);
    expect((await range(["rm", "-r", "--yes", "-q", `${bucket}/replay-prepared/`], { env })).code).toBe(0);
    expect((await range(["rm", "-r", "--yes", "-q", `${bucket}/replay-puts/`], { env })).code).toBe(0);
  });
});
