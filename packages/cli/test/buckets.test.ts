import { randomBytes } from "node:crypto";
import { PassThrough } from "node:stream";
import { createBucket, createMemoryStore, openStore, registerBackend, unregisterBackend } from "@range/core";
import { s3Request } from "@range/test-servers";
import { describe, expect, inject, it } from "vitest";
import { runCli } from "../src/index.js";
import { range } from "./helpers.js";

const s3 = inject("s3");
const env = {
  AWS_ENDPOINT_URL: s3.endpoint,
  AWS_REGION: s3.region,
  AWS_ACCESS_KEY_ID: s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};
const bucketName = () => `range-cli-${randomBytes(5).toString("hex")}`;

/** The server's own view: 200 when the bucket exists, 404 when not. */
async function headBucket(name: string): Promise<number> {
  return (await s3Request(s3, { method: "HEAD", path: `/${name}` })).status;
}

async function objectCount(name: string): Promise<number> {
  const body = (await s3Request(s3, { method: "GET", path: `/${name}`, query: { "list-type": "2" } })).body.toString("utf8");
  return body.match(/<Key>/g)?.length ?? 0;
}

describe("buckets on s3:// (SeaweedFS)", () => {
  it("mb makes a bucket, ls s3:// lists it (text, -l, --json, --include), rb removes it", async () => {
    const name = bucketName();
    const made = await range(["mb", `s3://${name}`], { env });
    expect(made.code, made.stderr).toBe(0);
    expect(made.stdout).toBe(`made s3://${name}/\n`);
    expect(await headBucket(name)).toBe(200);

    const plain = await range(["ls", "s3://"], { env });
    expect(plain.code).toBe(0);
    const names = plain.stdout.trim().split("\n");
    expect(names).toContain(name);
    for (const existing of s3.buckets) expect(names).toContain(existing);

    const long = await range(["ls", "-l", "s3://"], { env });
    expect(long.stdout).toMatch(new RegExp(`^\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d  ${name}$`, "m"));

    const json = await range(["ls", "--json", "--include", "range-cli-*", "--exclude", "range-cli-test", "s3://"], { env });
    const listed = JSON.parse(json.stdout) as { name: string; uri: string; created: string }[];
    expect(listed.map((b) => b.name)).toContain(name);
    expect(listed.map((b) => b.name)).not.toContain("range-cli-test");
    expect(listed.find((b) => b.name === name)).toMatchObject({ uri: `s3://${name}/`, created: expect.stringMatching(/^\d{4}-/) });

    const removed = await range(["rb", "--json", `s3://${name}`], { env });
    expect(removed.code, removed.stderr).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ removed: `s3://${name}/` });
    expect(await headBucket(name)).toBe(404);
  });

  it("mb of an existing bucket fails (1); rb of a missing one exits 3", async () => {
    const name = bucketName();
    expect((await range(["mb", `s3://${name}`], { env })).code).toBe(0);
    const again = await range(["mb", `s3://${name}`], { env });
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/^range: .*already exists.*\n$/);
    expect((await range(["rb", `s3://${name}`], { env })).code).toBe(0);
    const missing = await range(["rb", `s3://${name}`], { env });
    expect(missing.code).toBe(3);
    expect(missing.stderr).toBe(`range: no such bucket: s3://${name}\n`);
  });

  it("rb of a bucket with objects refuses and keeps them; rb -r asks, rb -r --yes deletes them and the bucket", async () => {
    const name = bucketName();
    expect((await range(["mb", `s3://${name}`], { env })).code).toBe(0);
    for (const key of ["a.bin", "dir/b.bin", "dir/sub/c.bin"]) {
      expect((await range(["put", "-", `s3://${name}/${key}`], { env, input: key })).code).toBe(0);
    }
    const refused = await range(["rb", `s3://${name}`], { env });
    expect(refused.code).toBe(1);
    expect(refused.stderr).toBe(
      `range: s3://${name}/ is not empty; delete its objects first (range rm -r --yes s3://${name}/) or remove it with them (range rb -r --yes s3://${name})\n`,
    );
    expect(await objectCount(name)).toBe(3);

    const asked = await range(["rb", "-r", `s3://${name}`], { env });
    expect(asked.code).toBe(2);
    expect(asked.stderr).toMatch(/this would delete 3 objects under s3:\/\/.*pass --yes/);
    expect(await objectCount(name)).toBe(3);

    const forced = await range(["rb", "-r", "--yes", `s3://${name}`], { env });
    expect(forced.code, forced.stderr).toBe(0);
    expect(forced.stdout).toBe(`removed s3://${name}/ (and 3 objects in it)\n`);
    expect(await headBucket(name)).toBe(404);
  });

  it("--endpoint reaches the server without AWS_ENDPOINT_URL; usage errors exit 2", async () => {
    const { AWS_ENDPOINT_URL: _omit, ...withoutEndpoint } = env;
    const name = bucketName();
    expect((await range(["mb", "--endpoint", s3.endpoint, `s3://${name}`], { env: withoutEndpoint })).code).toBe(0);
    const listed = await range(["ls", "--endpoint", s3.endpoint, "s3://"], { env: withoutEndpoint });
    expect(listed.stdout.split("\n")).toContain(name);
    expect((await range(["rb", "--endpoint", s3.endpoint, `s3://${name}`], { env: withoutEndpoint })).code).toBe(0);

    for (const args of [["mb", "s3://"], ["mb", "s3://Bad_Name"], ["rb", "s3://bucket/key"], ["ls", "-r", "s3://"]]) {
      const r = await range(args, { env });
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^range: .+\n$/);
    }
  });

  it("wrong credentials: exit 1, and the secret is never printed", async () => {
    const secret = "not-the-secret-4242";
    for (const args of [["ls", "s3://"], ["mb", `s3://${bucketName()}`]]) {
      const r = await range(args, { env: { ...env, AWS_SECRET_ACCESS_KEY: secret } });
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^range: .*(AccessDenied|SignatureDoesNotMatch|InvalidAccessKeyId|credentials)/);
      expect(r.stderr + r.stdout).not.toContain(secret);
    }
  });
});

describe("buckets through the core API, in process", () => {
  async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    let out = "";
    let err = "";
    stdout.on("data", (d: Buffer) => (out += d.toString()));
    stderr.on("data", (d: Buffer) => (err += d.toString()));
    const code = await runCli(args, { stdin: new PassThrough(), stdout, stderr });
    return { code, stdout: out, stderr: err };
  }

  it("memory:// buckets: mb, ls memory://, rb -r --yes", async () => {
    const name = `cli-${randomBytes(4).toString("hex")}`;
    expect((await run(["mb", `memory://${name}`])).code).toBe(0);
    expect((await run(["ls", "memory://"])).stdout.split("\n")).toContain(name);
    const store = await openStore(`memory://${name}/`);
    await store.put("x/y", new Uint8Array([1]));
    expect((await run(["rb", `memory://${name}`])).code).toBe(1);
    const removed = await run(["rb", "-r", "--yes", `memory://${name}`]);
    expect(removed.code, removed.stderr).toBe(0);
    expect((await run(["ls", "memory://"])).stdout.split("\n")).not.toContain(name);
    await expect(createBucket(`memory://${name}`)).resolves.toBeUndefined(); // gone, so it can be made again
  });

  it("a backend without buckets: a usage error that says so", async () => {
    registerBackend({ scheme: "plain", create: () => createMemoryStore() });
    try {
      for (const args of [["ls", "plain://"], ["mb", "plain://b"], ["rb", "plain://b"]]) {
        const r = await run(args);
        expect(r.code, args.join(" ")).toBe(2);
        expect(r.stderr).toBe('range: "plain://" has no buckets to manage\n');
      }
    } finally {
      unregisterBackend("plain");
    }
  });
});
