import { describe, expect, it } from "vitest";
import { BackendError, NotFoundError, createBucket, deleteBucket, listBuckets, openStore } from "@range/core";
import { RUN } from "./helpers.js";

async function names(options?: unknown): Promise<string[]> {
  const out: string[] = [];
  for await (const bucket of listBuckets("gs", options)) out.push(bucket.name);
  return out;
}

describe("gs:// bucket management (BackendPlugin.buckets)", () => {
  it("creates, lists and deletes buckets with typed errors", async () => {
    const name = `range-bucket-${RUN.slice(4, 12)}`;
    await createBucket(`gs://${name}`);
    expect(await names()).toContain(name);
    const listed = [];
    for await (const bucket of listBuckets("gs://")) listed.push(bucket);
    expect(listed.find((b) => b.name === name)?.created).toBeInstanceOf(Date);
    await expect(createBucket(`gs://${name}`)).rejects.toMatchObject({ name: "BackendError", code: "E_BUCKET_EXISTS" });

    const store = await openStore(`gs://${name}/data`);
    await store.put("a", new Uint8Array([1]));
    const notEmpty = await deleteBucket(`gs://${name}`).catch((e: unknown) => e);
    expect(BackendError.isInstance(notEmpty) && (notEmpty as BackendError).code).toBe("E_BUCKET_NOT_EMPTY");
    await store.delete("a");
    await store.close();
    await deleteBucket(`gs://${name}`);
    expect(await names()).not.toContain(name);
    await expect(deleteBucket(`gs://${name}`)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("listing and creating need a project when the endpoint is authenticated; said before any request", async () => {
    const options = { apiEndpoint: "http://127.0.0.1:9", useAuthWithCustomEndpoint: true };
    await expect(names(options)).rejects.toMatchObject({ name: "RangeConfigError", code: "E_NO_PROJECT" });
    await expect(createBucket("gs://range-x", options)).rejects.toMatchObject({ name: "RangeConfigError", code: "E_NO_PROJECT" });
  });
});
