import { IntegrityError, NotFoundError, createObjectStore, isAbortError, type DriverCopyOptions } from "@range/core";
import { describe, expect, it } from "vitest";
import { COPY_PART_SIZE, MAX_COPY_OBJECT_SIZE, copyS3Object, copySource, type S3CopyTarget } from "../src/copy.js";
import { mapS3Error } from "../src/index.js";
import { bytes, equalBytes, recordedStore } from "./helpers.js";

const MiB = 1024 * 1024;

/**
 * A store whose driver copies through copyS3Object, sending with the driver's own client: the wiring an S3Driver
 * `copy` method makes (there through the driver's private `#send`).
 */
async function copyingStore(copyOptions: Partial<Pick<S3CopyTarget, "multipartThreshold" | "partSize" | "concurrency">> = {}) {
  const { driver, log } = await recordedStore();
  const client = await driver.client();
  const sdk = await import("@aws-sdk/client-s3");
  const target: S3CopyTarget = {
    bucket: driver.options.bucket,
    prefix: driver.options.prefix,
    concurrency: 4,
    ...copyOptions,
    async send<T>(operation: string, build: (s: typeof sdk) => object, ctx: { key?: string; signal?: AbortSignal | undefined }) {
      try {
        return (await client.send(build(sdk) as never, ctx.signal ? { abortSignal: ctx.signal } : {})) as T;
      } catch (error) {
        throw mapS3Error(error, {
          operation,
          bucket: driver.options.bucket,
          ...(ctx.key !== undefined ? { key: driver.options.prefix + ctx.key, relativeKey: ctx.key } : {}),
          ...(ctx.signal ? { signal: ctx.signal } : {}),
        });
      }
    },
  };
  Object.assign(driver, { copy: (src: string, dst: string, opts: DriverCopyOptions) => copyS3Object(target, src, dst, opts) });
  return { store: createObjectStore(driver), log, client, sdk };
}

describe("s3 server-side copy", () => {
  it("copies an object with one CopyObject: no byte passes through the client", async () => {
    const { store, log } = await copyingStore();
    const data = bytes(3 * MiB + 5, 11);
    await store.put("copy/src.bin", data);
    log.clear();
    const meta = await store.copy!("copy/src.bin", "copy/dst.bin");
    expect(log.requests.map((r) => r.command)).toEqual(["HeadObject", "CopyObject"]);
    expect(log.requests[1]!.input).toMatchObject({ CopySourceIfMatch: (await store.stat("copy/src.bin")).etag });
    expect(meta).toMatchObject({ key: "copy/dst.bin", size: data.length });
    expect(meta.etag).toBe((await store.stat("copy/dst.bin")).etag);
    expect(equalBytes(await store.get("copy/dst.bin"), data)).toBe(true);
    await store.close();
  });

  it("copies keys that need encoding in x-amz-copy-source", async () => {
    const { store } = await copyingStore();
    for (const key of ["copy/with space+plus.bin", "copy/ünï cödé/%2F?#.bin"]) {
      await store.put(key, bytes(100, 3));
      await store.copy!(key, `${key}.copy`);
      expect(equalBytes(await store.get(`${key}.copy`), bytes(100, 3))).toBe(true);
    }
    expect(copySource("b", "a b/c+d")).toBe("b/a%20b/c%2Bd");
    await store.close();
  });

  it("copies a large object in UploadPartCopy parts", async () => {
    const { store, log } = await copyingStore({ multipartThreshold: 6 * MiB, partSize: 5 * MiB, concurrency: 2 });
    const data = bytes(12 * MiB + 7, 5);
    await store.put("copy/big.bin", data);
    log.clear();
    const meta = await store.copy!("copy/big.bin", "copy/big-copy.bin");
    const commands = log.requests.map((r) => r.command);
    expect(commands.filter((c) => c === "UploadPartCopy")).toHaveLength(3);
    expect(commands).not.toContain("GetObject");
    expect(commands).not.toContain("UploadPart");
    expect(log.maxInFlight.get("UploadPartCopy")).toBeLessThanOrEqual(2);
    const ranges = log.requests.filter((r) => r.command === "UploadPartCopy").map((r) => r.input.CopySourceRange).sort();
    expect(ranges).toEqual([`bytes=0-${5 * MiB - 1}`, `bytes=${10 * MiB}-${12 * MiB + 6}`, `bytes=${5 * MiB}-${10 * MiB - 1}`]);
    expect(meta.size).toBe(data.length);
    expect(equalBytes(await store.get("copy/big-copy.bin"), data)).toBe(true);
    await store.close();
  });

  it("a missing source is NotFoundError and creates nothing", async () => {
    const { store, log } = await copyingStore();
    log.clear();
    const error = await store.copy!("copy/none.bin", "copy/none-copy.bin").catch((e: unknown) => e);
    expect(NotFoundError.isInstance(error)).toBe(true);
    expect(log.requests.map((r) => r.command)).toEqual(["HeadObject"]);
    expect(await store.exists("copy/none-copy.bin")).toBe(false);
    await store.close();
  });

  it("a source replaced between the HEAD and the copy fails (If-Match) instead of copying the other version", async () => {
    const { store, log } = await copyingStore();
    await store.put("copy/moving.bin", bytes(1000, 1));
    let replaced = false;
    log.before = async (request) => {
      if (request.command === "CopyObject" && !replaced) {
        replaced = true;
        await store.put("copy/moving.bin", bytes(2000, 2));
      }
    };
    const error = await store.copy!("copy/moving.bin", "copy/moved.bin").catch((e: unknown) => e);
    log.before = undefined;
    expect(IntegrityError.isInstance(error) && (error as IntegrityError).code).toBe("E_OBJECT_CHANGED");
    expect(await store.exists("copy/moved.bin")).toBe(false);
    await store.close();
  });

  it("an abort during a multipart copy aborts the upload: no object, no parts left", async () => {
    const { store, log, client, sdk } = await copyingStore({ multipartThreshold: 6 * MiB, partSize: 5 * MiB, concurrency: 1 });
    await store.put("copy/abort.bin", bytes(16 * MiB, 9));
    const controller = new AbortController();
    log.before = (request) => {
      if (request.command === "UploadPartCopy" && request.input.PartNumber === 2) controller.abort(new Error("stop"));
    };
    log.clear();
    const error = await store.copy!("copy/abort.bin", "copy/aborted.bin", { signal: controller.signal }).catch((e: unknown) => e);
    log.before = undefined;
    expect(isAbortError(error)).toBe(true);
    expect(log.count("AbortMultipartUpload")).toBe(1);
    expect(log.count("CompleteMultipartUpload")).toBe(0);
    expect(await store.exists("copy/aborted.bin")).toBe(false);
    const uploadId = log.requests.find((r) => r.command === "AbortMultipartUpload")!.input.UploadId;
    expect(uploadId).toBeTypeOf("string");
    const pending = await client.send(new sdk.ListMultipartUploadsCommand({ Bucket: String(log.requests[0]!.input.Bucket) }));
    expect((pending.Uploads ?? []).map((u) => u.UploadId)).not.toContain(uploadId);
    await store.close();
  });

  it("uses one CopyObject up to S3's 5 GiB limit and large parts beyond it", () => {
    expect(MAX_COPY_OBJECT_SIZE).toBe(5 * 1024 * MiB);
    expect(COPY_PART_SIZE).toBe(256 * MiB);
  });
});
