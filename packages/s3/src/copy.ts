import type { CompletedPart } from "@aws-sdk/client-s3";
import { BackendError, abortErrorFrom, type DriverCopyOptions, type ObjectMeta } from "@range/core";
import { MIN_PART_SIZE, partSizeForLength } from "./multipart.js";

type Sdk = typeof import("@aws-sdk/client-s3");

const MiB = 1024 * 1024;
/** CopyObject copies at most 5 GiB in one request; larger objects need a multipart upload of UploadPartCopy parts. */
export const MAX_COPY_OBJECT_SIZE = 5 * 1024 * MiB;
/**
 * Part size of a multipart copy, before the 10,000-part rule raises it. The bytes never leave the server, so large
 * parts cost no memory here and mean fewer requests: 256 MiB parts copy a 6 GiB object in 24 requests.
 */
export const COPY_PART_SIZE = 256 * MiB;

/** What a copy needs from the store's driver. */
export interface S3CopyTarget {
  bucket: string;
  /** The store's root prefix: "" or ending with "/". */
  prefix: string;
  /** UploadPartCopy requests at once. */
  concurrency: number;
  /** Objects larger than this are copied in parts. Default (and most): {@link MAX_COPY_OBJECT_SIZE}. */
  multipartThreshold?: number;
  /** Part size of a multipart copy (at least 5 MiB). Default {@link COPY_PART_SIZE}. */
  partSize?: number;
  /**
   * Sends one request and returns its output; failures come back as core's typed errors (the driver's `#send`, with
   * its endpoint failover and `mapS3Error`).
   */
  send<T>(operation: string, build: (sdk: Sdk) => object, ctx: { key?: string; signal?: AbortSignal | undefined }): Promise<T>;
}

/** `x-amz-copy-source`: bucket and key, each path segment URL-encoded (S3 decodes it; a raw "+" would be a space). */
export function copySource(bucket: string, fullKey: string): string {
  return `${bucket}/${fullKey.split("/").map(encodeURIComponent).join("/")}`;
}

/** ETags as HeadObject reports them, quoted: some servers (SeaweedFS) leave the quotes off in CopyObjectResult. */
function quoted(etag: string | undefined): { etag?: string } {
  if (!etag) return {};
  return { etag: etag.startsWith('"') || etag.startsWith("W/") ? etag : `"${etag}"` };
}

interface Head {
  ContentLength?: number;
  ETag?: string;
  ContentType?: string;
  Metadata?: Record<string, string>;
}

/**
 * Copies `srcKey` to `dstKey` inside one bucket without moving the bytes through this process: one CopyObject up to
 * 5 GiB, else a multipart upload of UploadPartCopy parts (aborted on any failure, so no parts are left and no object
 * appears). Every request is conditioned on the source's ETag, so the copy is of one version; a source that changes
 * meanwhile fails with IntegrityError `E_OBJECT_CHANGED`.
 */
export async function copyS3Object(target: S3CopyTarget, srcKey: string, dstKey: string, opts: DriverCopyOptions): Promise<ObjectMeta> {
  const { bucket, prefix, send } = target;
  const signal = opts.signal;
  const source = copySource(bucket, prefix + srcKey);
  const Key = prefix + dstKey;
  const head = await send<Head>("HeadObject", (sdk) => new sdk.HeadObjectCommand({ Bucket: bucket, Key: prefix + srcKey }), { key: srcKey, signal });
  const size = head.ContentLength ?? 0;
  const ifMatch = head.ETag !== undefined ? { CopySourceIfMatch: head.ETag } : {};

  if (size <= (target.multipartThreshold ?? MAX_COPY_OBJECT_SIZE)) {
    const out = await send<{ CopyObjectResult?: { ETag?: string; LastModified?: Date } }>(
      "CopyObject",
      (sdk) => new sdk.CopyObjectCommand({ Bucket: bucket, Key, CopySource: source, ...ifMatch }),
      { key: dstKey, signal },
    );
    const { ETag, LastModified } = out.CopyObjectResult ?? {};
    return { key: dstKey, size, ...quoted(ETag), ...(LastModified ? { lastModified: LastModified } : {}) };
  }

  const partSize = partSizeForLength(size, Math.max(MIN_PART_SIZE, target.partSize ?? COPY_PART_SIZE));
  // CopyObject keeps the source's content type and user metadata by itself; a multipart upload is given them.
  const created = await send<{ UploadId?: string }>(
    "CreateMultipartUpload",
    (sdk) =>
      new sdk.CreateMultipartUploadCommand({
        Bucket: bucket,
        Key,
        ...(head.ContentType !== undefined ? { ContentType: head.ContentType } : {}),
        ...(head.Metadata !== undefined ? { Metadata: head.Metadata } : {}),
      }),
    { key: dstKey, signal },
  );
  const uploadId = created.UploadId;
  if (!uploadId) throw new BackendError(`CreateMultipartUpload s3://${bucket}/${Key} returned no UploadId`, { code: "E_S3" });

  // The caller's abort or the first failed part stops every part.
  const controller = new AbortController();
  const onAbort = () => controller.abort(signal!.reason);
  signal?.addEventListener("abort", onAbort, { once: true });
  const partCount = Math.ceil(size / partSize);
  const parts: CompletedPart[] = [];
  let next = 1;
  let failure: unknown;
  const lane = async () => {
    while (next <= partCount && failure === undefined && !controller.signal.aborted) {
      const partNumber = next++;
      const start = (partNumber - 1) * partSize;
      const end = Math.min(size, start + partSize) - 1;
      try {
        const out = await send<{ CopyPartResult?: { ETag?: string } }>(
          "UploadPartCopy",
          (sdk) =>
            new sdk.UploadPartCopyCommand({
              Bucket: bucket,
              Key,
              UploadId: uploadId,
              PartNumber: partNumber,
              CopySource: source,
              CopySourceRange: `bytes=${start}-${end}`,
              ...ifMatch,
            }),
          { key: dstKey, signal: controller.signal },
        );
        parts.push({ PartNumber: partNumber, ETag: out.CopyPartResult?.ETag });
      } catch (error) {
        failure ??= error;
        controller.abort(error);
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(Math.max(1, target.concurrency), partCount) }, lane));
    if (signal?.aborted) throw abortErrorFrom(signal);
    if (failure !== undefined) throw failure;
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    const done = await send<{ ETag?: string }>(
      "CompleteMultipartUpload",
      (sdk) => new sdk.CompleteMultipartUploadCommand({ Bucket: bucket, Key, UploadId: uploadId, MultipartUpload: { Parts: parts } }),
      { key: dstKey, signal },
    );
    return { key: dstKey, size, ...quoted(done.ETag) };
  } catch (error) {
    try {
      // Its own deadline: the caller's signal may be why we are here.
      await send("AbortMultipartUpload", (sdk) => new sdk.AbortMultipartUploadCommand({ Bucket: bucket, Key, UploadId: uploadId }), {
        key: dstKey,
        signal: AbortSignal.timeout(30_000),
      });
    } catch {
      // Best effort: the original error matters more; a bucket lifecycle rule cleans up what is left.
    }
    throw signal?.aborted ? abortErrorFrom(signal) : error;
  } finally {
    signal?.removeEventListener("abort", onAbort);
  }
}
