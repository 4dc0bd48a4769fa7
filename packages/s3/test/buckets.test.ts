import { randomBytes } from "node:crypto";
import {
  BackendError,
  NotFoundError,
  RangeConfigError,
  createBucket,
  deleteBucket,
  isAbortError,
  listBuckets,
  openStore,
  registerBackend,
  type BucketInfo,
} from "@range/core";
import { s3Request } from "@range/test-servers";
import { beforeAll, describe, expect, inject, it } from "vitest";
import { backend } from "../src/index.js";
import { connection } from "./helpers.js";

const s3 = inject("s3");

/** A fresh bucket name per call: reruns against one server never collide. */
const bucketName = () => `range-bkt-${randomBytes(5).toString("hex")}`;

/** The server's own answer, without the SDK: 200 when the bucket exists, 404 when not. */
async function headBucket(name: string): Promise<number> {
  return (await s3Request(s3, { method: "HEAD", path: `/${name}` })).status;
}

async function listed(options?: unknown): Promise<BucketInfo[]> {
  const out: BucketInfo[] = [];
  for await (const bucket of listBuckets("s3", options)) out.push(bucket);
  return out;
}

beforeAll(() => {
  registerBackend(backend, { replace: true });
});

describe("s3 buckets through @range/core", () => {
  it("creates, lists and deletes a bucket, checked against the server", async () => {
    const name = bucketName();
    expect(await headBucket(name)).toBe(404);
    await createBucket(`s3://${name}`, connection());
    expect(await headBucket(name)).toBe(200);

    const buckets = await listed(connection());
    const mine = buckets.find((b) => b.name === name);
    expect(mine?.created).toBeInstanceOf(Date);
    // The buckets the global setup made are there too: the listing is the server's, not ours.
    for (const existing of s3.buckets) expect(buckets.map((b) => b.name)).toContain(existing);

    await deleteBucket(`s3://${name}`, connection());
    expect(await headBucket(name)).toBe(404);
    expect((await listed(connection())).map((b) => b.name)).not.toContain(name);
  });

  it("takes the endpoint and credentials from the AWS environment when no options are given", async () => {
    const name = bucketName();
    await createBucket(`s3://${name}`);
    expect((await listed()).map((b) => b.name)).toContain(name);
    await deleteBucket(`s3://${name}`);
    expect(await headBucket(name)).toBe(404);
  });

  it("creating an existing bucket is E_BUCKET_EXISTS", async () => {
    const name = bucketName();
    await createBucket(`s3://${name}`, connection());
    const error = await createBucket(`s3://${name}`, connection()).catch((e: unknown) => e);
    expect(BackendError.isInstance(error)).toBe(true);
    expect((error as BackendError).code).toBe("E_BUCKET_EXISTS");
    expect((error as Error).message).toMatch(/already exists/);
    await deleteBucket(`s3://${name}`, connection());
  });

  it("deleting a bucket with objects is E_BUCKET_NOT_EMPTY and keeps them; empty, it goes", async () => {
    const name = bucketName();
    await createBucket(`s3://${name}`, connection());
    const store = await openStore(`s3://${name}/`, connection());
    await store.put("dir/a.bin", new Uint8Array([1, 2, 3]));
    const error = await deleteBucket(`s3://${name}`, connection()).catch((e: unknown) => e);
    expect(BackendError.isInstance(error) && (error as BackendError).code).toBe("E_BUCKET_NOT_EMPTY");
    expect(await headBucket(name)).toBe(200);
    expect(Array.from(await store.get("dir/a.bin"))).toEqual([1, 2, 3]);
    await store.delete("dir/a.bin");
    await store.close();
    await deleteBucket(`s3://${name}`, connection());
    expect(await headBucket(name)).toBe(404);
  });

  it("deleting a missing bucket is NotFoundError", async () => {
    const error = await deleteBucket(`s3://${bucketName()}`, connection()).catch((e: unknown) => e);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect((error as NotFoundError).code).toBe("E_NO_SUCH_BUCKET");
  });

  it("checks names and options before any request", async () => {
    // Nothing listens on port 1: any request would fail with a network error, not a configuration error.
    const offline = { ...connection(), endpoint: "http://127.0.0.1:1", maxAttempts: 1 };
    for (const bad of ["s3://UPPER", "s3://a", "s3://under_score", "s3://ok-name/with/path"]) {
      const error = await createBucket(bad, offline).catch((e: unknown) => e);
      expect(RangeConfigError.isInstance(error), bad).toBe(true);
    }
    await expect(createBucket(`s3://${bucketName()}`, { ...offline, bogus: 1 } as never)).rejects.toSatisfy((e) => RangeConfigError.isInstance(e));
    await expect(listed({ ...offline, partSize: 1 })).rejects.toSatisfy((e) => RangeConfigError.isInstance(e));
    // The same options reach the network when they are valid.
    await expect(listed(offline)).rejects.toMatchObject({ name: "BackendError", code: "E_NETWORK" });
  });

  it("wrong credentials are E_AUTH, and the secret never appears", async () => {
    const secret = "wrong-secret-0123456789";
    const options = { ...connection(), credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: secret } };
    for (const attempt of [() => listed(options), () => createBucket(`s3://${bucketName()}`, options)]) {
      const error = await attempt().catch((e: unknown) => e);
      expect(BackendError.isInstance(error) && (error as BackendError).code).toBe("E_AUTH");
      expect(JSON.stringify({ message: (error as Error).message, cause: String((error as Error).cause) })).not.toContain(secret);
    }
  });

  it("an aborted signal stops the call", async () => {
    const controller = new AbortController();
    controller.abort();
    const name = bucketName();
    await expect(createBucket(`s3://${name}`, connection(), { signal: controller.signal })).rejects.toSatisfy(isAbortError);
    expect(await headBucket(name)).toBe(404);
  });
});
