import { readFile, writeFile, mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, inject, it } from "vitest";
import { range, useTempDir } from "./helpers.js";

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
});
