import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { startFaultProxy, type FaultProxy } from "@range/test-servers";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import { range, useTempDir, type RunResult } from "./helpers.js";

/**
 * The `range` binary, run as a child process against SeaweedFS with known secrets set: whatever fails and however it
 * is printed (`--debug` adds stacks and `cause` chains, `--json` machine output), no secret appears on stdout or
 * stderr.
 */

const s3 = inject("s3");
const WRONG_SECRET = "cli-WrongSecret-4Rt7Yu1Io3Pa6Sd9";
const SESSION_TOKEN = "cli-SessionToken-8Gh2Jk5Lz0Xc3Vb6";
const URI_SECRET = "cli-UriSecret-1Qa4Ws7Ed0Rf";
const BUCKET = "range-cli-test";

const env = {
  AWS_ENDPOINT_URL: s3.endpoint,
  AWS_REGION: s3.region,
  AWS_ACCESS_KEY_ID: s3.accessKeyId,
  AWS_SECRET_ACCESS_KEY: s3.secretAccessKey,
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: "true",
};
const dir = useTempDir();
let proxy: FaultProxy;

beforeAll(async () => {
  await writeFile(join(dir(), "local.bin"), Buffer.alloc(6 * 1024 * 1024 + 3, 5));
  const put = await range(["put", join(dir(), "local.bin"), `s3://${BUCKET}/secrets/there.bin`], { env });
  expect(put.code).toBe(0);
  proxy = await startFaultProxy({ target: s3.endpoint });
});
afterAll(async () => {
  await proxy.close();
  await range(["rm", "-r", "--yes", `s3://${BUCKET}/secrets/`], { env });
});

/** The secret, and any 12-character piece of it, is absent from everything the command printed. */
function expectNoSecret(result: RunResult, secret: string, what: string): void {
  const output = result.stdout + result.stderr;
  for (let i = 0; i + 12 <= secret.length; i++) expect(output, `${what} leaked ${secret.slice(i, i + 12)}`).not.toContain(secret.slice(i, i + 12));
}

/** Commands that each touch the server in a different way (list, head, ranged GETs, PUT and multipart, delete). */
function commands(): string[][] {
  return [
    ["ls", "-r", `s3://${BUCKET}/secrets/`],
    ["stat", `s3://${BUCKET}/secrets/there.bin`],
    ["get", `s3://${BUCKET}/secrets/there.bin`, join(dir(), "back.bin")],
    ["get", `s3://${BUCKET}/secrets/there.bin`, "-"],
    ["put", join(dir(), "local.bin"), `s3://${BUCKET}/secrets/new.bin`],
    ["cp", `s3://${BUCKET}/secrets/there.bin`, `s3://${BUCKET}/secrets/copy.bin`],
    ["rm", `s3://${BUCKET}/secrets/there.bin`],
    ["bench", "--size", "1MiB", "--iterations", "1", `s3://${BUCKET}/secrets/bench/`],
  ];
}

describe("range never prints a secret", () => {
  it("a wrong AWS_SECRET_ACCESS_KEY (and a session token): every command fails, --debug and --json included, and prints neither", async () => {
    const wrong = { ...env, AWS_SECRET_ACCESS_KEY: WRONG_SECRET, AWS_SESSION_TOKEN: SESSION_TOKEN };
    for (const args of commands()) {
      for (const flags of [[], ["--debug"], ["--json", "--debug"]]) {
        const result = await range([...flags, ...args], { env: wrong });
        const what = `range ${[...flags, ...args].join(" ")}`;
        expect(result.code, `${what}: ${result.stderr}`).toBe(1);
        expect(result.stderr).toMatch(/^range: .*(SignatureDoesNotMatch|AccessDenied|InvalidAccessKeyId|HTTP 403)/m);
        // --debug really printed more: the stack and the cause chain are what the secret must not be in either.
        if (flags.includes("--debug")) expect(result.stderr).toContain("caused by:");
        expectNoSecret(result, WRONG_SECRET, what);
        expectNoSecret(result, SESSION_TOKEN, what);
      }
    }
  });

  it("the right secret with a failing server (500s through a fault proxy), --debug: the secret and the signature stay hidden", async () => {
    proxy.setRules([{ fault: { kind: "status", status: 500 } }]);
    try {
      for (const args of commands()) {
        const result = await range(["--debug", "--endpoint", proxy.endpoint, "--timeout", "2s", ...args], { env });
        const what = `range --debug ${args.join(" ")}`;
        expect(result.code, `${what}: ${result.stderr}`).not.toBe(0);
        expectNoSecret(result, s3.secretAccessKey, what);
        expect(result.stdout + result.stderr).not.toMatch(/Signature=[0-9a-f]{16}/);
      }
    } finally {
      proxy.setRules([]);
    }
  });

  it("credentials written into a URI or an endpoint are refused (usage error) without being echoed", async () => {
    const cases: string[][] = [
      ["ls", `s3://AKIAEXAMPLE:${URI_SECRET}@${BUCKET}/`],
      ["--debug", "stat", `s3://AKIAEXAMPLE:${URI_SECRET}@${BUCKET}/x`],
      ["ls", `s3:/AKIAEXAMPLE:${URI_SECRET}@${BUCKET}/`],
      ["--debug", "--endpoint", `http://AKIAEXAMPLE:${URI_SECRET}@127.0.0.1:9`, "ls", `s3://${BUCKET}/`],
      ["--debug", "ls", `s3://${BUCKET}/x?X-Amz-Signature=${URI_SECRET}`],
    ];
    for (const args of cases) {
      const result = await range(args, { env });
      const what = `range ${args.join(" ")}`;
      expect(result.code, `${what}: ${result.stderr}`).not.toBe(0);
      expectNoSecret(result, URI_SECRET, what);
    }
  });
});
