import { createReadStream } from "node:fs";
import { stat as statPath } from "node:fs/promises";
import { InvalidKeyError, downloadFile, type ObjectMeta } from "@range/core";
import { waitForDrain, type CommandContext } from "./context.js";
import { UsageError, formatError } from "./errors.js";
import { fileLocation, localPath, uriOf, type StoreLocation } from "./location.js";
import type { Progress } from "./progress.js";
import { formatRate, formatSize, megabytesPerSecond } from "./sizes.js";

/** One end of a transfer: an object in a store, or standard input/output. */
export type Endpoint =
  | { kind: "object"; location: StoreLocation; meta?: ObjectMeta | undefined }
  | { kind: "stdio" }
  /** A local file read as a stream (the source of `put`). */
  | { kind: "file"; path: string };

export type ObjectEndpoint = Extract<Endpoint, { kind: "object" }>;

export interface TransferFailure {
  src: string;
  dst: string;
  error: string;
}

export interface TransferSummary {
  objects: number;
  bytes: number;
  /** Objects the backend copied itself (S3 CopyObject, a local file copy): their bytes never passed through range. */
  serverSideCopies: number;
  seconds: number;
  /** Decimal megabytes per second. */
  mbPerSec: number;
  failed: TransferFailure[];
}

/** Read size for local files streamed into `put`: large enough that per-chunk overhead vanishes. */
const READ_CHUNK = 1024 * 1024;

/** Where one copy can run inside a single store: that store's location and both keys relative to it. */
interface SameStore {
  location: StoreLocation;
  srcKey: string;
  dstKey: string;
}

/**
 * Whether two objects live in one store, so the backend may copy between them: the same bucket, or for file:// the
 * directory both paths are under (opened there just for the copy; the kernel copies the file).
 */
function sameStore(src: StoreLocation, dst: StoreLocation): SameStore | undefined {
  if (src.scheme !== dst.scheme) return undefined;
  if (!src.local) return src.storeUri === dst.storeUri && src.path !== dst.path ? { location: src, srcKey: src.path, dstKey: dst.path } : undefined;
  const from = localPath(src);
  const to = localPath(dst);
  if (from === to) return undefined;
  let common = 0;
  for (let i = 0; i < Math.min(from.length, to.length) && from[i] === to[i]; i++) if (from[i] === "/") common = i + 1;
  const root = fileLocation(from.slice(0, common));
  return root.scheme === src.scheme ? { location: root, srcKey: from.slice(common), dstKey: to.slice(common) } : undefined;
}

/** The progress callback of a put, turned into increments. */
function putProgress(onBytes: (n: number) => void): (p: { bytes: number }) => void {
  let reported = 0;
  return (p) => {
    onBytes(p.bytes - reported);
    reported = p.bytes;
  };
}

export interface CopyResult {
  bytes: number;
  serverSide: boolean;
}

export function describe(endpoint: Endpoint): string {
  if (endpoint.kind === "stdio") return "-";
  if (endpoint.kind === "file") return endpoint.path;
  return uriOf(endpoint.location);
}

/**
 * Copies one object. Within one store that can copy (same bucket, or two paths on file://) the backend does it;
 * otherwise a local `file://` destination is written by `downloadFile` (positioned writes into a temp file renamed at
 * the end), and any other destination gets `put` of the source's ordered stream, so the destination backend's own
 * atomicity applies (temp + rename, multipart upload aborted on failure).
 */
export async function copyObject(ctx: CommandContext, src: Endpoint, dst: Endpoint, progress: Progress): Promise<CopyResult> {
  let bytes = 0;
  const onBytes = (n: number) => {
    bytes += n;
    progress.add(n);
  };
  const { signal } = ctx;
  if (src.kind !== "object") {
    if (dst.kind !== "object") throw new UsageError("one end of a copy must be a store location");
    const source: AsyncIterable<Uint8Array> =
      src.kind === "stdio" ? ctx.io.stdin : createReadStream(src.path, { highWaterMark: READ_CHUNK, signal });
    const dstStore = await ctx.open(dst.location);
    await dstStore.put(dst.location.path, source, { signal, onProgress: putProgress(onBytes) });
    return { bytes, serverSide: false };
  }
  if (dst.kind === "object") {
    const same = sameStore(src.location, dst.location);
    const store = same && (await ctx.open(same.location));
    if (same && store?.copy) {
      try {
        const meta = await store.copy(same.srcKey, same.dstKey, { signal });
        onBytes(meta.size);
        return { bytes, serverSide: true };
      } catch (error) {
        // Opened above both paths, a file store refuses a path that passes through a symlink leading elsewhere,
        // which the stores opened on each path's own directory accept: copy through them instead.
        if (!(same.location.local && InvalidKeyError.isInstance(error))) throw error;
      }
    }
  }
  const srcStore = await ctx.open(src.location);
  const knownMeta = src.meta ? { knownMeta: { size: src.meta.size, ...(src.meta.etag ? { etag: src.meta.etag } : {}) } } : {};
  const readOptions = { signal, ...ctx.engineOption, ...knownMeta };
  if (dst.kind === "file") throw new UsageError("a local file is written through its file:// location");
  if (dst.kind === "stdio") {
    for await (const chunk of srcStore.getStream(src.location.path, readOptions)) {
      onBytes(chunk.length);
      if (!ctx.io.stdout.write(chunk)) await waitForDrain(ctx.io.stdout, signal);
    }
    return { bytes, serverSide: false };
  }
  if (dst.location.scheme === "file") {
    let reported = 0;
    await downloadFile(srcStore, src.location.path, localPath(dst.location), {
      ...readOptions,
      onProgress: (p) => {
        onBytes(p.bytes - reported);
        reported = p.bytes;
      },
    });
    return { bytes, serverSide: false };
  }
  const dstStore = await ctx.open(dst.location);
  await dstStore.put(dst.location.path, srcStore.getStream(src.location.path, readOptions), { signal, onProgress: putProgress(onBytes) });
  return { bytes, serverSide: false };
}

/** Runs `worker` over `items` with at most `jobs` at once; stops starting new ones once the signal aborts. */
export async function runPool<T>(items: readonly T[], jobs: number, signal: AbortSignal, worker: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length && !signal.aborted) await worker(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(jobs, items.length) }, lane));
}

export interface CopyJob {
  src: ObjectEndpoint;
  dst: ObjectEndpoint;
}

/**
 * Copies many objects, `jobs` at a time. A failed object is recorded and the others go on (a copy of 10,000 objects
 * should not stop for one); an abort stops everything and rethrows.
 */
export async function copyMany(ctx: CommandContext, copies: readonly CopyJob[], jobs: number): Promise<TransferSummary> {
  const started = performance.now();
  const knownTotal = copies.every((c) => c.src.meta !== undefined);
  const progress = ctx.progress({
    totalBytes: knownTotal ? copies.reduce((sum, c) => sum + c.src.meta!.size, 0) : undefined,
    totalObjects: copies.length,
  });
  const failed: TransferFailure[] = [];
  let objects = 0;
  let bytes = 0;
  let serverSideCopies = 0;
  try {
    await runPool(copies, jobs, ctx.signal, async (copy) => {
      try {
        const moved = await copyObject(ctx, copy.src, copy.dst, progress);
        bytes += moved.bytes; // not `bytes += await …`: that reads `bytes` before the await and loses parallel updates
        if (moved.serverSide) serverSideCopies++;
        objects++;
        progress.objectDone();
      } catch (error) {
        if (ctx.signal.aborted) throw error;
        failed.push({ src: describe(copy.src), dst: describe(copy.dst), error: formatError(error, false) });
      }
    });
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  return { objects, bytes, serverSideCopies, seconds, mbPerSec: megabytesPerSecond(bytes, seconds), failed };
}

/** Copies one object with a progress bar; returns its summary. Failures throw. */
export async function copySingle(ctx: CommandContext, src: Endpoint, dst: Endpoint, totalBytes?: number): Promise<TransferSummary> {
  const started = performance.now();
  const progress = ctx.progress({ totalBytes });
  let moved: CopyResult;
  try {
    moved = await copyObject(ctx, src, dst, progress);
  } finally {
    progress.stop();
  }
  const seconds = (performance.now() - started) / 1000;
  const { bytes } = moved;
  return { objects: 1, bytes, serverSideCopies: moved.serverSide ? 1 : 0, seconds, mbPerSec: megabytesPerSecond(bytes, seconds), failed: [] };
}

/** Prints a transfer's summary (text or JSON) and each failure; returns the exit code. */
export async function reportTransfer(
  ctx: CommandContext,
  verb: string,
  summary: TransferSummary,
  fields: Record<string, unknown> = {},
): Promise<number> {
  for (const f of summary.failed) ctx.io.stderr.write(`range: ${f.src} → ${f.dst}: ${f.error}\n`);
  if (ctx.json) {
    await ctx.printJson({ ...fields, ...summary, seconds: round(summary.seconds, 3), mbPerSec: round(summary.mbPerSec, 1) });
  } else if (!ctx.quiet) {
    const objects = `${summary.objects} object${summary.objects === 1 ? "" : "s"}`;
    const failed = summary.failed.length > 0 ? `, ${summary.failed.length} failed` : "";
    const copies = summary.serverSideCopies;
    const serverSide = copies === 0 ? "" : copies === summary.objects ? ", server-side" : `, ${copies} server-side`;
    await ctx.line(
      `${verb} ${objects}${failed}, ${formatSize(summary.bytes)} in ${summary.seconds.toFixed(2)} s (${formatRate(summary.bytes / Math.max(summary.seconds, 1e-9))})${serverSide}`,
    );
  }
  return summary.failed.length > 0 ? 1 : 0;
}

export function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

/** Whether a local path is an existing directory. */
export async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await statPath(path)).isDirectory();
  } catch {
    return false;
  }
}
