import { existsSync } from "node:fs";
import { readFile, readdir, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { openStore, registerBackend } from "@range/core";
import { backend as s3Backend } from "@range/s3";
import { s3Request } from "@range/test-servers";
import { describe, expect, inject, it } from "vitest";
import { finish, pattern, range, start, useTempDir } from "./helpers.js";

const s3 = inject("s3");
/** The SDK's usual variables: what a user of the CLI sets. */
const env = {
  AWS_ENDPOINT_URL: s3.endpoint,
  AWS_REGION: s3.region,
  AWS_ACCESS_KEY_ID: s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};
const dir = useTempDir();

describe("range on s3:// (SeaweedFS)", () => {
  it("put, ls, stat, get and cp -r round-trip through a real S3 server", async () => {
    const data = Buffer.alloc(6 * 1024 * 1024 + 13, 7);
    await writeFile(join(dir(), "a.bin"), data);
    expect((await range(["put", join(dir(), "a.bin"), "s3://range-cli-test/cli/a.bin"], { env })).code).toBe(0);

    const ls = await range(["ls", "-r", "--json", "s3://range-cli-test/cli/"], { env });
    expect(ls.code).toBe(0);
    expect(JSON.stringify(JSON.parse(ls.stdout))).toContain("a.bin");

    const stat = await range(["stat", "--json", "s3://range-cli-test/cli/a.bin"], { env });
    expect(JSON.parse(stat.stdout)).toMatchObject({ size: data.length });

    expect((await range(["get", "s3://range-cli-test/cli/a.bin", join(dir(), "back.bin")], { env })).code).toBe(0);
    expect((await readFile(join(dir(), "back.bin"))).equals(data)).toBe(true);

    await mkdir(join(dir(), "tree", "sub"), { recursive: true });
    await writeFile(join(dir(), "tree", "x.txt"), "x");
    await writeFile(join(dir(), "tree", "sub", "y.txt"), "y");
    expect((await range(["cp", "-r", `${join(dir(), "tree")}/`, "s3://range-cli-test/tree/"], { env })).code).toBe(0);
    const tree = await range(["ls", "-r", "s3://range-cli-test/tree/"], { env });
    expect(tree.stdout).toContain("sub/y.txt");
    expect((await range(["rm", "-r", "--yes", "s3://range-cli-test/tree/"], { env })).code).toBe(0);
    expect((await range(["ls", "-r", "s3://range-cli-test/tree/"], { env })).stdout.trim()).toBe("");
  });

  it("takes the endpoint from --endpoint, exits 3 for a missing object, and never prints the secret", async () => {
    const { AWS_ENDPOINT_URL: _omit, ...withoutEndpoint } = env;
    const missing = await range(["stat", "--endpoint", s3.endpoint, "s3://range-cli-test/nope.bin"], { env: withoutEndpoint });
    expect(missing.code).toBe(3);
    const wrong = await range(["ls", "s3://range-cli-test/"], { env: { ...env, AWS_SECRET_ACCESS_KEY: "wrong-secret-value-123" } });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr + wrong.stdout).not.toContain("wrong-secret-value-123");
  });

  it("copies a tree up with cp -r and back down, byte for byte", async () => {
    const files: Record<string, Buffer> = {
      "top.bin": pattern(5 * 1024 * 1024 + 3, 31), // above the split threshold: several ranges each way
      "empty.txt": Buffer.alloc(0),
      "one.byte": pattern(1, 32),
      "a/b/deep.bin": pattern(70_001, 33),
      "a/sibling with space.txt": pattern(999, 34),
      "z/ünïcödé.bin": pattern(4096, 35),
    };
    const up = join(dir(), "tree-up");
    for (const [rel, data] of Object.entries(files)) {
      await mkdir(join(up, rel, ".."), { recursive: true });
      await writeFile(join(up, rel), data);
    }
    const prefix = `s3://range-cli-test/tree-${Date.now()}/`;
    const upload = await range(["cp", "-r", "--json", "--jobs", "3", `${up}/`, prefix], { env });
    expect(upload.code, upload.stderr).toBe(0);
    const total = Object.values(files).reduce((sum, b) => sum + b.length, 0);
    expect(JSON.parse(upload.stdout)).toMatchObject({ objects: 6, bytes: total, failed: [] });

    const down = join(dir(), "tree-down");
    const download = await range(["cp", "-r", "--json", prefix, `${down}/`], { env });
    expect(download.code, download.stderr).toBe(0);
    expect(JSON.parse(download.stdout)).toMatchObject({ objects: 6, bytes: total, failed: [] });
    for (const [rel, data] of Object.entries(files)) expect((await readFile(join(down, rel))).equals(data), rel).toBe(true);
    expect((await readdir(down, { recursive: true })).filter((f) => f.includes(".partial"))).toEqual([]);
    expect((await range(["rm", "-r", "--yes", prefix], { env })).code).toBe(0);
  });

  it("cp within one bucket copies the object (server-side where the s3 store can), and -r keeps the tree", async () => {
    const data = pattern(3 * 1024 * 1024 + 1, 21);
    await writeFile(join(dir(), "same.bin"), data);
    expect((await range(["put", join(dir(), "same.bin"), "s3://range-cli-test/same/a/one.bin"], { env })).code).toBe(0);
    const r = await range(["cp", "--json", "s3://range-cli-test/same/a/one.bin", "s3://range-cli-test/same/b/two.bin"], { env });
    expect(r.code, r.stderr).toBe(0);
    registerBackend(s3Backend, { replace: true });
    const store = await openStore("s3://range-cli-test/", { endpoint: s3.endpoint, credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } });
    // The s3 store offers `copy`: one CopyObject, no bytes through this process.
    expect(typeof store.copy).toBe("function");
    expect(JSON.parse(r.stdout)).toMatchObject({ objects: 1, bytes: data.length, serverSideCopies: 1 });
    expect(Buffer.from(await store.get("same/b/two.bin")).equals(data)).toBe(true);
    const tree = await range(["cp", "-r", "s3://range-cli-test/same/", "s3://range-cli-test/same-copy/"], { env });
    expect(tree.code, tree.stderr).toBe(0);
    const keys: string[] = [];
    for await (const meta of store.list("same-copy/")) keys.push(meta.key);
    expect(keys).toEqual(["same-copy/a/one.bin", "same-copy/b/two.bin"]);
    await store.close();
  });
});

/** Multipart uploads the server still holds for keys under `prefix` (raw ListMultipartUploads, no SDK). */
async function pendingUploads(prefix: string): Promise<string[]> {
  const r = await s3Request(s3, { method: "GET", path: "/range-cli-test", query: { uploads: "", prefix } });
  expect(r.status).toBe(200);
  return [...r.body.toString("utf8").matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("Ctrl-C on s3://", () => {
  it("aborts a multipart upload from stdin: exit 130, no object, no upload left on the server", async () => {
    const key = `interrupt/${Date.now()}.bin`;
    const child = start(["put", "-", `s3://range-cli-test/${key}`], { env });
    const done = finish(child);
    // Past the 16 MiB multipart threshold, then the pipe stays open: only the abort can end the upload.
    for (let i = 0; i < 20; i++) child.stdin!.write(Buffer.alloc(1024 * 1024, i));
    for (let i = 0; i < 200 && (await pendingUploads(key)).length === 0; i++) await sleep(50);
    expect(await pendingUploads(key)).toEqual([key]);
    child.kill("SIGINT");
    const r = await done;
    child.stdin!.destroy();
    expect(r.code).toBe(130);
    expect(r.stderr).toBe("range: interrupted\n");
    expect(await pendingUploads(key)).toEqual([]);
    expect((await s3Request(s3, { method: "HEAD", path: `/range-cli-test/${key}` })).status).toBe(404);
  });

  it("aborts a download: exit 130 and no file, not even a partial one", async () => {
    const size = 96 * 1024 * 1024;
    await writeFile(join(dir(), "big-src.bin"), Buffer.alloc(size, 3));
    expect((await range(["put", join(dir(), "big-src.bin"), "s3://range-cli-test/interrupt/big.bin"], { env })).code).toBe(0);
    const dest = join(dir(), "interrupted-get");
    await mkdir(dest);
    // One 1 MiB range at a time: long enough to be interrupted while it runs.
    const child = start(["get", "--concurrency", "1", "--chunk-size", "1MiB", "s3://range-cli-test/interrupt/big.bin", `${dest}/`], { env });
    const done = finish(child);
    for (let i = 0; i < 400 && !(await readdir(dest)).some((f) => f.endsWith(".partial")); i++) await sleep(10);
    expect((await readdir(dest)).some((f) => f.endsWith(".partial"))).toBe(true);
    child.kill("SIGINT");
    const r = await done;
    expect(r.code).toBe(130);
    expect(await readdir(dest)).toEqual([]);
    expect(existsSync(join(dest, "big.bin"))).toBe(false);
  });
});
