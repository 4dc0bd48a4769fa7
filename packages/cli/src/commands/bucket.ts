import type { Dirent } from "node:fs";
import { mkdir, readdir, rmdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { BackendError, NotFoundError, createBucket, deleteBucket, listBuckets } from "@range/core";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { localPath, parseStoreLocation, prefixOf, uriOf, type StoreLocation } from "../location.js";
import { KeyFilter } from "../selection.js";
import { confirm } from "./rm.js";

export interface RbOptions {
  recursive?: boolean;
  yes?: boolean;
}

export interface BucketListOptions {
  recursive?: boolean;
  long?: boolean;
  humanReadable?: boolean;
  include?: string[];
  exclude?: string[];
}

/**
 * A bucket is what the backend's bucket API manages (s3://, az://, gs://, memory://); on the local schemes
 * (file://, directio://) it is a directory.
 */
type BucketTarget = { kind: "local"; location: StoreLocation } | { kind: "cloud"; location: StoreLocation; uri: string };

function bucketTarget(ctx: CommandContext, text: string, command: string): BucketTarget {
  const location = parseStoreLocation(text, ctx.io.cwd, command);
  if (location.local) {
    if (localPath(location) === "/") throw new UsageError(`${command} needs a directory below "/"`);
    return { kind: "local", location };
  }
  const bucket = location.storeUri.slice(`${location.scheme}://`.length, -1);
  if (bucket === "") throw new UsageError(`${command} needs a bucket name: ${location.scheme}://<bucket>`);
  if (location.path !== "") throw new UsageError(`${location.text}: ${command} takes a bucket (${location.scheme}://${bucket}), not a key or prefix`);
  return { kind: "cloud", location, uri: `${location.scheme}://${bucket}` };
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

async function done(ctx: CommandContext, verb: "made" | "removed", uri: string, extra: Record<string, unknown> = {}, note = ""): Promise<number> {
  if (ctx.json) await ctx.printJson({ [verb === "made" ? "created" : "removed"]: uri, ...extra });
  else if (!ctx.quiet) await ctx.line(`${verb} ${uri}${note}`);
  return ExitCode.ok;
}

/** `mb <uri>`: creates a bucket (an error if it exists), or a local directory (`mkdir -p`: fine if it exists). */
export async function mb(ctx: CommandContext, uri: string): Promise<number> {
  const target = bucketTarget(ctx, uri, "mb");
  const { location } = target;
  if (target.kind === "cloud") {
    await createBucket(target.uri, ctx.backendOptions(location.scheme), { signal: ctx.signal });
    return done(ctx, "made", `${target.uri}/`);
  }
  try {
    await mkdir(localPath(location), { recursive: true });
  } catch (error) {
    const code = errnoCode(error);
    throw new CommandFailure(`cannot make ${location.text}: ${code === "EEXIST" || code === "ENOTDIR" ? "a file is in the way" : (code ?? (error as Error).message)}`);
  }
  return done(ctx, "made", uriOf(prefixOf(location)));
}

/**
 * `rb <uri>`: removes an empty bucket (or local directory). With `-r` it first deletes every object in it, asking
 * first unless `--yes`, like `aws s3 rb --force` but with the confirmation of `rm -r`.
 */
export async function rb(ctx: CommandContext, uri: string, opts: RbOptions = {}): Promise<number> {
  const target = bucketTarget(ctx, uri, "rb");
  const base = prefixOf(target.location);
  const shown = uriOf(base);
  if (target.kind === "local") await assertDirectory(localPath(base), target.location.text);
  let deleted = 0;
  if (opts.recursive) deleted = await emptyBucket(ctx, base, opts.yes === true);
  const notEmpty = () =>
    new CommandFailure(
      `${shown} is not empty; delete its objects first (range rm -r --yes ${shown}) or remove it with them (range rb -r --yes ${target.location.text})`,
    );

  if (target.kind === "cloud") {
    try {
      await deleteBucket(target.uri, ctx.backendOptions(base.scheme), { signal: ctx.signal });
    } catch (error) {
      if (BackendError.isInstance(error) && error.code === "E_BUCKET_NOT_EMPTY") throw notEmpty();
      if (NotFoundError.isInstance(error)) throw new CommandFailure(`no such bucket: ${target.uri}`, ExitCode.notFound);
      throw error;
    }
  } else {
    const path = localPath(base).replace(/\/+$/, "");
    if (opts.recursive) await removeEmptyDirectories(path);
    try {
      await rmdir(path);
    } catch (error) {
      const code = errnoCode(error);
      if (code === "ENOENT") throw new CommandFailure(`no such bucket (directory): ${target.location.text}`, ExitCode.notFound);
      if (code === "ENOTEMPTY" || code === "EEXIST") {
        if (opts.recursive) throw new CommandFailure(`${shown} still holds entries that are not objects (symbolic links, special or temporary files)`);
        throw notEmpty();
      }
      throw new CommandFailure(`cannot remove ${target.location.text}: ${code ?? (error as Error).message}`);
    }
  }
  const objects = `${deleted} object${deleted === 1 ? "" : "s"}`;
  return done(ctx, "removed", shown, opts.recursive ? { deleted } : {}, opts.recursive ? ` (and ${objects} in it)` : "");
}

/** Deletes every object in the bucket (after confirmation); returns how many. */
async function emptyBucket(ctx: CommandContext, base: StoreLocation, yes: boolean): Promise<number> {
  const store = await ctx.open(base);
  let count = 0;
  for await (const _ of store.list("", { recursive: true, signal: ctx.signal })) count++;
  if (count === 0) return 0;
  if (!yes) await confirm(ctx, count, uriOf(base));
  return store.deletePrefix("", { signal: ctx.signal });
}

/** Removes the directories under `dir` that hold no files, deepest first (`dir` itself stays). */
async function removeEmptyDirectories(dir: string): Promise<void> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.isDirectory()) continue;
    const path = join(dir, entry.name);
    await removeEmptyDirectories(path);
    await rmdir(path).catch(() => {}); // not empty: something that is not an object is in it; rmdir of the bucket says so
  }
}

async function assertDirectory(path: string, text: string): Promise<void> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path.replace(/(.)\/+$/, "$1"))).isDirectory(); // "file/" would be ENOTDIR
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT" || code === "ENOTDIR") throw new CommandFailure(`no such bucket (directory): ${text}`, ExitCode.notFound);
    throw new CommandFailure(`cannot remove ${text}: ${code ?? (error as Error).message}`);
  }
  if (!isDirectory) throw new CommandFailure(`${text} is not a directory`);
}

/** `ls <scheme>://`: the buckets the backend's credentials can see. */
export async function lsBuckets(ctx: CommandContext, scheme: string, opts: BucketListOptions): Promise<number> {
  if (opts.recursive) throw new UsageError(`ls -r lists the objects of one bucket: name it, ${scheme}://<bucket>/`);
  const filter = new KeyFilter(opts.include, opts.exclude);
  const long = opts.long === true || opts.humanReadable === true;
  let count = 0;
  for await (const bucket of listBuckets(scheme, ctx.backendOptions(scheme), { signal: ctx.signal })) {
    if (!filter.matches(bucket.name)) continue;
    if (ctx.json) {
      const entry = { name: bucket.name, uri: `${scheme}://${bucket.name}/`, ...(bucket.created ? { created: bucket.created.toISOString() } : {}) };
      await ctx.write(`${count === 0 ? "[\n" : ",\n"}  ${JSON.stringify(entry)}`);
    } else if (long) {
      const created = bucket.created ? bucket.created.toISOString().slice(0, 19).replace("T", " ") : "-".padEnd(19);
      await ctx.line(`${created}  ${bucket.name}`);
    } else {
      await ctx.line(bucket.name);
    }
    count++;
  }
  if (ctx.json) await ctx.write(count === 0 ? "[]\n" : "\n]\n");
  return ExitCode.ok;
}
