import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { ObjectStore } from "@range/core";
import { createFileStore } from "@range/file";
import { createS3Store } from "@range/s3";
import { afterAll, describe, expect, it } from "vitest";
import { createCheckpointer, shardKey } from "../src/index.js";
import { BUCKET } from "./global-setup.js";
import { bytes, equal } from "./suite.js";

const MiB = 1024 * 1024;
const CHILD = fileURLToPath(new URL("./fixtures/save-child.mjs", import.meta.url));

/** Runs the child save and SIGKILLs it once it reports that its shards are being written. */
async function killMidSave(args: string[]): Promise<{ signal: NodeJS.Signals | null; stdout: string }> {
  const child = spawn(process.execPath, [CHILD, ...args], { stdio: ["ignore", "pipe", "pipe"], env: process.env });
  let stdout = "";
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once("exit", (_code, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the child never started writing; stderr:\n${stderr}`)), 60_000);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (stdout.includes("WRITING")) {
        clearTimeout(timer);
        child.kill("SIGKILL");
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      if (!stdout.includes("WRITING")) reject(new Error(`the child exited before writing; stderr:\n${stderr}`));
    });
  });
  return { signal: await exited, stdout };
}

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

const backends: [string, () => Promise<{ store: ObjectStore; location: string; backend: string }>][] = [
  [
    "the file backend",
    async () => {
      const root = await mkdtemp(join(tmpdir(), "range-checkpoint-crash-"));
      roots.push(root);
      return { store: createFileStore({ root, fsync: true }), location: root, backend: "file" };
    },
  ],
  [
    "S3 (SeaweedFS)",
    async () => {
      const prefix = `crash-${Date.now()}`;
      // Endpoint and credentials from the AWS_* variables (env-setup.ts), the same ones the child gets.
      return { store: createS3Store({ bucket: BUCKET, prefix }), location: `${BUCKET}/${prefix}`, backend: "s3" };
    },
  ],
];

describe.each(backends)("a save killed halfway (%s)", (_name, open) => {
  it("leaves the previous checkpoint and latest intact; the next save completes and retention cleans up", async () => {
    const { store, location, backend } = await open();
    const prefix = "ckpt/";
    const ckpt = createCheckpointer(store, { prefix });
    const model = bytes(3 * MiB + 1, 1);
    const optimizer = bytes(5 * MiB + 3, 2);
    await ckpt.save(1, { "model.bin": model, "optim.bin": optimizer }, { metadata: { epoch: 1 } });

    const { signal, stdout } = await killMidSave([backend, location, prefix, "2"]);
    expect(signal).toBe("SIGKILL");
    expect(stdout).not.toContain("FINISHED");

    // The crash happened mid-save: step 2's small shard is complete, the streamed one never became visible.
    expect(await store.exists(`${prefix}${shardKey(2, "0", 0, "model.bin")}`)).toBe(true);
    expect(await store.exists(`${prefix}${shardKey(2, "0", 0, "optim.bin")}`)).toBe(false);
    expect(await ckpt.latest()).toBe(1);
    expect(await ckpt.steps()).toEqual([1]);
    expect((await ckpt.manifest(2).catch((e: { code?: string }) => e)) as { code?: string }).toMatchObject({ code: "E_NO_CHECKPOINT" });
    const loaded = await ckpt.load();
    expect(loaded.step).toBe(1);
    expect(loaded.manifest.metadata).toEqual({ epoch: 1 });
    expect(equal(loaded.shard("model.bin"), model)).toBe(true);
    expect(equal(loaded.shard("optim.bin"), optimizer)).toBe(true);

    // The restarted job saves step 2 as a new attempt; keepLast 1 removes step 1, after latest moved.
    const restarted = createCheckpointer(store, { prefix, keepLast: 1 });
    const model2 = bytes(1 * MiB, 3);
    const saved = await restarted.save(2, { "model.bin": model2 }, { attempt: 1 });
    expect(saved.deleted).toEqual([1]);
    expect(await restarted.steps()).toEqual([2]);
    expect(equal((await restarted.load()).shard("model.bin"), model2)).toBe(true);
    const keys: string[] = [];
    for await (const meta of store.list(prefix)) keys.push(meta.key);
    expect(keys.some((k) => k.includes("/attempt-0/"))).toBe(false);
    await store.deletePrefix("");
    await store.close();
  });
});
