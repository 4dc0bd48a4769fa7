import { randomBytes } from "node:crypto";
import { mkdir, rename, rm, writeFile } from "node:fs/promises";
import { basename, dirname, join, resolve } from "node:path";
import { assertValidKey } from "@range/core";
import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import {
  baseName,
  child,
  fileLocation,
  isPrefix,
  localPath,
  parseLocation,
  parseStoreLocation,
  prefixOf,
  uriOf,
  type StoreLocation,
} from "../location.js";
import { readKeyList } from "../selection.js";
import { megabytesPerSecond } from "../sizes.js";
import { copyMany, copySingle, isDirectory, reportTransfer, type CopyJob, type ObjectEndpoint } from "../transfer.js";

export interface GetCommandOptions {
  offset?: number;
  length?: number;
  keysFrom?: string;
  jobs: number;
}

/**
 * Where a download of `key` goes: the key's basename in the working directory by default; inside `dest` when it ends
 * with "/" or is an existing directory; `dest` itself otherwise; standard output for "-".
 */
export async function localDestination(ctx: CommandContext, dest: string | undefined, key: string): Promise<ObjectEndpoint | { kind: "stdio" }> {
  if (dest === "-") return { kind: "stdio" };
  if (dest === undefined) return { kind: "object", location: fileLocation(join(ctx.io.cwd, baseName(key))) };
  const location = parseLocation(dest, ctx.io.cwd);
  if (location.kind === "stdio") return { kind: "stdio" };
  if (!location.local) throw new UsageError(`${location.text}: get writes to a local path; use "range cp" to copy between stores`);
  const into = isPrefix(location) || (await isDirectory(localPath(location)));
  return { kind: "object", location: into ? child(prefixOf(location), baseName(key)) : location };
}

export async function get(ctx: CommandContext, uri: string, dest: string | undefined, opts: GetCommandOptions): Promise<number> {
  const src = parseStoreLocation(uri, ctx.io.cwd, "get");
  if (opts.keysFrom !== undefined) return getMany(ctx, src, dest, opts);
  if (isPrefix(src)) {
    throw new UsageError(`${src.text} names a prefix; get needs an object key (use "range cp -r" for a prefix, or --keys-from)`);
  }
  const store = await ctx.open(src);
  const meta = await store.stat(src.path);
  const dst = await localDestination(ctx, dest, src.path);
  const fields = { src: uriOf(src, src.path), dst: dst.kind === "stdio" ? "-" : uriOf(dst.location, dst.location.path) };

  if (opts.offset !== undefined || opts.length !== undefined) {
    const offset = opts.offset ?? 0;
    if (offset > meta.size) throw new UsageError(`--offset ${offset} is past the end of ${src.text} (${meta.size} bytes)`);
    const length = opts.length ?? meta.size - offset;
    if (offset + length > meta.size) {
      throw new UsageError(`--offset ${offset} --length ${length} passes the end of ${src.text} (${meta.size} bytes)`);
    }
    const started = performance.now();
    const bytes = length === 0 ? new Uint8Array(0) : await store.getRange(src.path, offset, length, { signal: ctx.signal });
    if (dst.kind === "stdio") {
      await ctx.write(bytes);
      return 0;
    }
    await writeFileAtomically(localPath(dst.location), bytes);
    const seconds = (performance.now() - started) / 1000;
    return reportTransfer(
      ctx,
      "downloaded",
      { objects: 1, bytes: bytes.length, serverSideCopies: 0, seconds, mbPerSec: megabytesPerSecond(bytes.length, seconds), failed: [] },
      { ...fields, offset, length },
    );
  }

  const summary = await copySingle(ctx, { kind: "object", location: src, meta }, dst, meta.size);
  if (dst.kind === "stdio") return 0; // standard output carries the object, nothing else
  return reportTransfer(ctx, "downloaded", summary, fields);
}

/** `get --keys-from FILE`: each key (relative to the URI's prefix) into the destination directory, same relative path. */
async function getMany(ctx: CommandContext, src: StoreLocation, dest: string | undefined, opts: GetCommandOptions): Promise<number> {
  if (opts.offset !== undefined || opts.length !== undefined) throw new UsageError("--offset/--length read one object; they do not combine with --keys-from");
  if (dest === "-") throw new UsageError("--keys-from downloads into a directory, not to standard output");
  const destLocation = dest === undefined ? fileLocation(`${ctx.io.cwd}/`) : parseStoreLocation(dest, ctx.io.cwd, "get");
  if (!destLocation.local) throw new UsageError(`${destLocation.text}: get writes to a local path; use "range cp" to copy between stores`);
  const srcBase = prefixOf(src);
  const destBase = prefixOf(destLocation);
  await ctx.open(srcBase);
  const keys = await readKeyList(opts.keysFrom!, ctx.io.stdin, ctx.signal);
  for (const key of keys) assertValidKey(key); // no "..": a key never lands outside the destination directory
  const copies: CopyJob[] = keys.map((key) => ({
      src: { kind: "object", location: child(srcBase, key) },
      dst: { kind: "object", location: child(destBase, key) },
    }));
  const summary = await copyMany(ctx, copies, opts.jobs);
  return reportTransfer(ctx, "downloaded", summary, { src: uriOf(srcBase), dst: uriOf(destBase) });
}

/** Writes `bytes` to a temp file beside `path` and renames it over `path`: never a partial file. */
async function writeFileAtomically(path: string, bytes: Uint8Array): Promise<void> {
  const target = resolve(path);
  await mkdir(dirname(target), { recursive: true });
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(6).toString("hex")}.partial`);
  try {
    await writeFile(temp, bytes, { flag: "wx" });
    await rename(temp, target);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}
