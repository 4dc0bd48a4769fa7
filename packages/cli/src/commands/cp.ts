import { assertValidKey, type ObjectMeta } from "@range/core";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { baseName, child, contains, isPrefix, localPath, parseLocation, prefixOf, uriOf, type StoreLocation } from "../location.js";
import { KeyFilter, readKeyList } from "../selection.js";
import { copyMany, copySingle, describe, isDirectory, reportTransfer, type CopyJob, type Endpoint } from "../transfer.js";

export interface CpOptions {
  recursive?: boolean;
  include?: string[];
  exclude?: string[];
  keysFrom?: string;
  jobs: number;
}

/** `cp <src> <dst>`: any backend to any backend; a prefix with -r (or --keys-from), `jobs` objects at a time. */
export async function cp(ctx: CommandContext, srcText: string, dstText: string, opts: CpOptions): Promise<number> {
  const src = parseLocation(srcText, ctx.io.cwd);
  const dst = parseLocation(dstText, ctx.io.cwd);
  const filter = new KeyFilter(opts.include, opts.exclude);
  if (opts.recursive || opts.keysFrom !== undefined) {
    if (src.kind === "stdio" || dst.kind === "stdio") throw new UsageError('"-" copies one object; it does not combine with -r or --keys-from');
    return copyPrefix(ctx, src, dst, filter, opts);
  }
  if (filter.active) throw new UsageError("--include/--exclude select objects under a prefix: add -r");

  let source: Endpoint;
  let size: number | undefined;
  let name = "";
  if (src.kind === "stdio") {
    source = { kind: "stdio" };
  } else {
    if (isPrefix(src)) throw new UsageError(`${src.text} names a prefix; add -r to copy everything under it`);
    const meta = await (await ctx.open(src)).stat(src.path);
    source = { kind: "object", location: src, meta };
    size = meta.size;
    name = baseName(src.path);
  }
  let target: Endpoint = dst.kind === "stdio" ? { kind: "stdio" } : { kind: "object", location: dst };
  if (dst.kind === "store" && (isPrefix(dst) || (dst.local && (await isDirectory(localPath(dst)))))) {
    if (name === "") throw new UsageError(`${dst.text} names a prefix; copying standard input needs a full key`);
    target = { kind: "object", location: child(prefixOf(dst), name) };
  }
  if (source.kind === "stdio" && target.kind === "stdio") throw new UsageError('source and destination cannot both be "-"');
  const summary = await copySingle(ctx, source, target, size);
  if (target.kind === "stdio") return ExitCode.ok;
  return reportTransfer(ctx, "copied", summary, { src: describe(source), dst: describe(target) });
}

async function copyPrefix(ctx: CommandContext, src: StoreLocation, dst: StoreLocation, filter: KeyFilter, opts: CpOptions): Promise<number> {
  const srcBase = prefixOf(src);
  const dstBase = prefixOf(dst);
  if (contains(srcBase, dstBase)) throw new UsageError(`the destination ${dst.text} is inside the source ${src.text}`);
  // Both stores open before anything moves: a bad scheme or option fails once, not once per object.
  const [store] = await Promise.all([ctx.open(srcBase), ctx.open(dstBase)]);
  const entries: { rel: string; meta?: ObjectMeta }[] = [];
  if (opts.keysFrom !== undefined) {
    for (const key of await readKeyList(opts.keysFrom, ctx.io.stdin, ctx.signal)) {
      assertValidKey(key);
      if (filter.matches(key)) entries.push({ rel: key });
    }
  } else {
    for await (const meta of store.list(srcBase.path, { recursive: true, signal: ctx.signal })) {
      const rel = meta.key.slice(srcBase.path.length);
      if (filter.matches(rel)) entries.push({ rel, meta });
    }
    if (entries.length === 0 && !filter.active && (src.local ? !(await isDirectory(localPath(srcBase))) : true)) {
      throw new CommandFailure(`nothing to copy: no objects under ${uriOf(srcBase)}`, ExitCode.notFound);
    }
  }
  const copies: CopyJob[] = entries.map(({ rel, meta }) => ({
    src: { kind: "object", location: child(srcBase, rel), meta },
    dst: { kind: "object", location: child(dstBase, rel) },
  }));
  const summary = await copyMany(ctx, copies, opts.jobs);
  return reportTransfer(ctx, "copied", summary, { src: uriOf(srcBase), dst: uriOf(dstBase) });
}
