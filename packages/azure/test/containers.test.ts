import { randomBytes } from "node:crypto";
import { createBucket, deleteBucket, listBuckets, openStore, type BucketInfo } from "@range/core";
import { describe, expect, it } from "vitest";
import { containerManager } from "../src/index.js";
import { connection, errorOf } from "./helpers.js";

async function names(options?: unknown): Promise<string[]> {
  const out: string[] = [];
  for await (const info of listBuckets("az", options) as AsyncIterable<BucketInfo>) out.push(info.name);
  return out;
}

describe("containers as buckets (createBucket / listBuckets / deleteBucket on az://)", () => {
  it("creates, lists, refuses a duplicate, refuses to delete a non-empty one, then deletes it", async () => {
    const name = `range-kit-${randomBytes(4).toString("hex")}`;
    await createBucket(`az://${name}`);
    expect(await names()).toContain(name);
    // The global setup's containers are there too: listing sees the whole account.
    expect(await names()).toEqual(expect.arrayContaining(["range-conformance", "range-azure-test"]));

    const again = await errorOf(createBucket(`az://${name}`));
    expect((again as Error).name).toBe("BackendError");
    expect((again as { code: string }).code).toBe("E_BUCKET_EXISTS");

    const store = await openStore(`az://${name}`);
    await store.put("a/b.txt", new TextEncoder().encode("x"));
    const notEmpty = await errorOf(deleteBucket(`az://${name}`));
    expect((notEmpty as { code: string }).code).toBe("E_BUCKET_NOT_EMPTY");
    expect(await store.exists("a/b.txt")).toBe(true);

    await store.delete("a/b.txt");
    await deleteBucket(`az://${name}`);
    expect(await names()).not.toContain(name);
    const missing = await errorOf(deleteBucket(`az://${name}`));
    expect((missing as Error).name).toBe("NotFoundError");
    expect((missing as { code: string }).code).toBe("E_NO_SUCH_BUCKET");
    await store.close();
  });

  it("takes the same options as openStore (here: explicit account, key and endpoint)", async () => {
    const saved = process.env.AZURE_STORAGE_CONNECTION_STRING;
    delete process.env.AZURE_STORAGE_CONNECTION_STRING;
    try {
      const name = `range-opt-${randomBytes(4).toString("hex")}`;
      await createBucket(`az://${name}`, connection());
      expect(await names(connection())).toContain(name);
      await deleteBucket(`az://${name}`, connection());
      const error = await errorOf(names());
      expect((error as { code: string }).code).toBe("E_NO_CREDENTIALS");
    } finally {
      process.env.AZURE_STORAGE_CONNECTION_STRING = saved;
    }
  });

  it("lists lazily, a page at a time, and stops when the caller stops", async () => {
    const iterator = containerManager.list(connection(), {})[Symbol.asyncIterator]();
    const first = await iterator.next();
    expect(first.done).toBe(false);
    await iterator.return?.();
  });

  it("rejects invalid container names with RangeConfigError before any request", async () => {
    for (const bad of ["az://Upper", "az://a", "az://has--two", "az://name/with-path"]) {
      const error = await errorOf(createBucket(bad));
      expect((error as Error).name).toBe("RangeConfigError");
    }
    const error = await errorOf(containerManager.create("x_y", connection(), {}));
    expect((error as { code: string }).code).toBe("E_INVALID_URI");
  });

  it("a wrong key is E_AUTH for container calls too", async () => {
    const wrong = { ...connection(), accountKey: Buffer.from("wrong-key").toString("base64") };
    const error = await errorOf(createBucket(`az://range-auth-${randomBytes(2).toString("hex")}`, wrong));
    expect((error as { code: string }).code).toBe("E_AUTH");
  });
});
