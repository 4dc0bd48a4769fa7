import { execFile } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import {
  AbortError,
  NotFoundError,
  RangeConfigError,
  RangeStoreError,
  createMemoryStore,
  isRangeStoreError,
  openStore,
  redactSecrets,
  registerBackend,
  unregisterBackend,
} from "../src/index.js";

const execFileAsync = promisify(execFile);

afterEach(() => {
  unregisterBackend("custom");
});

describe("openStore and the registry", () => {
  it("opens memory:// with core alone; the same bucket is shared, prefixes isolate", async () => {
    const a = await openStore("memory://reg-test/data/");
    const b = await openStore("memory://reg-test/data");
    const other = await openStore("memory://reg-test/other/");
    await a.put("k", new Uint8Array([1, 2, 3]));
    expect([...(await b.get("k"))]).toEqual([1, 2, 3]);
    expect(await other.exists("k")).toBe(false);
    expect(a.scheme).toBe("memory");
  });

  it.each([
    ["s3://bucket/prefix", "@range/s3"],
    ["az://container", "@range/azure"],
    ["gs://bucket", "@range/gcs"],
    ["file:///tmp/x", "@range/file"],
    ["directio:///tmp/x", "@range/directio"],
  ])("%s without its package says how to install it", async (uri, pkg) => {
    // A plain Node process outside the workspace, with core alone: what a user's app sees. (Inside the monorepo
    // every backend package is resolvable, so this cannot be checked in-process.)
    const core = pathToFileURL(join(dirname(fileURLToPath(import.meta.url)), "..", "dist", "index.js")).href;
    const script = `import(${JSON.stringify(core)}).then((m) => m.openStore(${JSON.stringify(uri)}))
      .then(() => console.log(JSON.stringify({ opened: true })),
            (e) => console.log(JSON.stringify({ name: e.name, code: e.code, message: e.message })));`;
    // pnpm puts its hoisted store on NODE_PATH for scripts, which CJS resolution honours; a user's app has none.
    const env = { ...process.env, NODE_PATH: "" };
    const { stdout } = await execFileAsync(process.execPath, ["--input-type=module", "-e", script], { cwd: tmpdir(), env });
    const result = JSON.parse(stdout) as { name: string; code: string; message: string };
    expect(result.name).toBe("RangeConfigError");
    expect(result.code).toBe("E_BACKEND_NOT_INSTALLED");
    expect(result.message).toContain(`pnpm add ${pkg}`);
  });

  it("rejects unknown schemes and malformed URIs with RangeConfigError", async () => {
    await expect(openStore("ftp://host/x")).rejects.toMatchObject({ code: "E_UNKNOWN_SCHEME" });
    for (const uri of ["", "   ", "not a uri", "memory:/no-slashes", "/abs/path", 42]) {
      await expect(openStore(uri as string)).rejects.toMatchObject({ name: "RangeConfigError", code: "E_INVALID_URI" });
    }
  });

  it("registers third-party backends; a duplicate needs { replace: true }", async () => {
    const calls: string[] = [];
    const plugin = {
      scheme: "custom",
      create(url: URL, options?: { tag: string }) {
        calls.push(`${url.host}:${options?.tag}`);
        return createMemoryStore();
      },
    };
    registerBackend(plugin);
    await openStore("custom://bucket", { tag: "x" });
    expect(calls).toEqual(["bucket:x"]);
    expect(() => registerBackend({ ...plugin })).toThrow(/already registered/);
    registerBackend({ ...plugin, create: () => createMemoryStore() }, { replace: true });
    expect(() => registerBackend({ scheme: "Bad:", create: () => createMemoryStore() })).toThrow(RangeConfigError);
    expect(() => registerBackend({ scheme: "nocreate" } as never)).toThrow(RangeConfigError);
  });

  it("never echoes credentials from a URI", async () => {
    const error = await openStore("ftp://AKIAEXAMPLE:wJalrXUtnFEMI@host/x").catch((e: unknown) => e);
    expect((error as Error).message).not.toContain("wJalrXUtnFEMI");
  });
});

describe("errors", () => {
  it("carry code, retryable, cause and a cross-copy marker", () => {
    const cause = new Error("inner");
    const error = new NotFoundError("missing", { cause, key: "k" });
    expect(error).toBeInstanceOf(RangeStoreError);
    expect(error).toMatchObject({ name: "NotFoundError", code: "E_NOT_FOUND", retryable: false, cause, key: "k" });
    // An error from another copy of @range/core: same marker and name, different class.
    const foreign = Object.assign(new Error("x"), { name: "NotFoundError", [Symbol.for("range.error")]: true });
    expect(NotFoundError.isInstance(foreign)).toBe(true);
    expect(RangeStoreError.isInstance(foreign)).toBe(true);
    expect(AbortError.isInstance(foreign)).toBe(false);
    expect(isRangeStoreError(new Error("plain"))).toBe(false);
    expect(new AbortError().name).toBe("AbortError");
  });

  it("redacts secrets from messages", () => {
    const leaky = [
      "GET https://b.s3.amazonaws.com/k?X-Amz-Signature=abcdef0123&X-Amz-Credential=AKIA/2024 failed",
      "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFl==;BlobEndpoint=x",
      "https://acct.blob.core.windows.net/c/b?sv=2021&sig=SECRETSIG%3D&se=2030",
      "Authorization: AWS4-HMAC-SHA256 Credential=AKIA, Signature=deadbeef",
      "token Bearer ya29.SECRET-token",
      "s3://AKIAID:SECRETKEY@bucket/x",
    ];
    for (const message of leaky) {
      const redacted = new RangeConfigError(message).message;
      expect(redacted).toContain("[REDACTED]");
      for (const secret of ["abcdef0123", "Eby8vdM02xNOcqFl", "SECRETSIG", "deadbeef", "ya29.SECRET", "SECRETKEY"]) {
        expect(redacted).not.toContain(secret);
      }
    }
    expect(redactSecrets("object key=value not found")).toBe("object key=value not found");
  });
});
