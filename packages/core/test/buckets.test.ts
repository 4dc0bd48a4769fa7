import { afterEach, describe, expect, it } from "vitest";
import {
  BackendError,
  NotFoundError,
  RangeConfigError,
  createBucket,
  deleteBucket,
  listBuckets,
  openStore,
  registerBackend,
  unregisterBackend,
  type BucketInfo,
} from "../src/index.js";

async function names(scheme: string): Promise<string[]> {
  const out: string[] = [];
  for await (const bucket of listBuckets(scheme)) out.push(bucket.name);
  return out;
}

describe("bucket management through the registry", () => {
  afterEach(() => {
    unregisterBackend("nobuckets");
    unregisterBackend("counting");
  });

  it("creates, lists and deletes memory buckets", async () => {
    const name = `b-${Math.random().toString(36).slice(2)}`;
    await createBucket(`memory://${name}`);
    expect(await names("memory")).toContain(name);
    expect(await names("memory://")).toContain(name);
    const listed: BucketInfo[] = [];
    for await (const b of listBuckets("memory")) listed.push(b);
    expect(listed.find((b) => b.name === name)?.created).toBeInstanceOf(Date);
    await expect(createBucket(`memory://${name}`)).rejects.toMatchObject({ name: "BackendError", code: "E_BUCKET_EXISTS" });

    const store = await openStore(`memory://${name}/data`);
    await store.put("a", new Uint8Array([1]));
    const notEmpty = await deleteBucket(`memory://${name}`).catch((e: unknown) => e);
    expect(BackendError.isInstance(notEmpty) && (notEmpty as BackendError).code).toBe("E_BUCKET_NOT_EMPTY");
    await store.delete("a");
    await deleteBucket(`memory://${name}`);
    expect(await names("memory")).not.toContain(name);
    await expect(deleteBucket(`memory://${name}`)).rejects.toBeInstanceOf(NotFoundError);
  });

  it("rejects URIs that are not a bare bucket, and schemes without buckets, before calling the backend", async () => {
    let calls = 0;
    registerBackend({
      scheme: "counting",
      create: () => {
        throw new Error("unused");
      },
      buckets: {
        async *list() {
          calls++;
        },
        async create() {
          calls++;
        },
        async delete() {
          calls++;
        },
      },
    });
    for (const uri of ["counting://", "counting://b/path", "counting://b?x=1", "not a uri", ""]) {
      await expect(createBucket(uri)).rejects.toBeInstanceOf(RangeConfigError);
      await expect(deleteBucket(uri)).rejects.toBeInstanceOf(RangeConfigError);
    }
    await expect(names("Bad Scheme")).rejects.toThrow(/Bad Scheme/);
    const aborted = AbortSignal.abort();
    await expect(createBucket("counting://b", undefined, { signal: aborted })).rejects.toMatchObject({ name: "AbortError" });
    expect(calls).toBe(0);
    await createBucket("counting://b/");
    expect(calls).toBe(1);

    registerBackend({ scheme: "nobuckets", create: () => openStore("memory://x") });
    await expect(names("nobuckets")).rejects.toMatchObject({ name: "RangeConfigError", code: "E_UNSUPPORTED" });
    await expect(createBucket("nobuckets://b")).rejects.toThrow(/no buckets/);
  });

  it("refuses a plugin whose buckets lack a method", () => {
    expect(() =>
      registerBackend({ scheme: "nobuckets", create: () => openStore("memory://x"), buckets: { list: () => [] } as never }),
    ).toThrow(RangeConfigError);
  });
});
