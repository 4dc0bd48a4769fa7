import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { RangeEngine } from "../engine/range-engine.js";
import { RangeConfigError } from "../errors.js";
import { assertValidKey } from "./keys.js";
import type { GetOptions, ObjectSink, ObjectStore, ReadToResult } from "./types.js";

export interface DownloadFileOptions extends Omit<GetOptions, "into"> {
  /** fsync the file before the rename, so it survives a power loss once `downloadFile` resolves. Default false. */
  fsync?: boolean;
}

/** Reads through the public API alone, for stores that do not offer `readTo`. */
async function readThroughPublicApi(
  store: ObjectStore,
  key: string,
  sink: ObjectSink,
  opts: DownloadFileOptions,
): Promise<ReadToResult> {
  const meta = await store.stat(key);
  const engine = new RangeEngine(opts.engine === false ? { minSplitSize: Number.MAX_SAFE_INTEGER } : opts.engine);
  const stats = await engine.downloadTo(
    meta.size,
    (offset, length, signal) => store.getRange(key, offset, length, { signal }),
    sink,
    { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) },
  );
  opts.onStats?.(stats);
  return { meta, stats };
}

/**
 * Downloads an object to `path` with positioned writes (ranges land at their offsets as they arrive; nothing is
 * reassembled in memory). The bytes go to a temporary file beside `path` that is renamed over it at the end, so
 * `path` is either the complete object or untouched: a failure or abort removes the temporary file.
 */
export async function downloadFile(
  store: ObjectStore,
  key: string,
  path: string,
  opts: DownloadFileOptions = {},
): Promise<ReadToResult> {
  assertValidKey(key);
  if (typeof path !== "string" || path === "" || path.includes("\0")) {
    throw new RangeConfigError("path must be a non-empty file path", { code: "E_INVALID_OPTION" });
  }
  const destination = resolve(path);
  const directory = dirname(destination);
  await mkdir(directory, { recursive: true });
  const temporary = join(directory, `.${basename(destination)}.${randomBytes(6).toString("hex")}.partial`);
  const file = await open(temporary, "wx");
  let closed = false;
  try {
    const sink: ObjectSink = async (offset, bytes) => {
      for (let written = 0; written < bytes.length; ) {
        const { bytesWritten } = await file.write(bytes, written, bytes.length - written, offset + written);
        written += bytesWritten;
      }
    };
    const result = store.readTo
      ? await store.readTo(key, sink, opts)
      : await readThroughPublicApi(store, key, sink, opts);
    if (opts.fsync) await file.sync();
    closed = true;
    await file.close();
    await rename(temporary, destination);
    return result;
  } catch (error) {
    if (!closed) await file.close().catch(() => {});
    await rm(temporary, { force: true });
    throw error;
  }
}
