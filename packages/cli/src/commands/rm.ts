import { createInterface } from "node:readline/promises";
import { assertValidKey } from "@range/core";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { isPrefix, localPath, parseStoreLocation, prefixOf, uriOf } from "../location.js";
import { KeyFilter, readKeyList } from "../selection.js";
import { runPool } from "../transfer.js";

export interface RmOptions {
  recursive?: boolean;
  yes?: boolean;
  force?: boolean;
  include?: string[];
  exclude?: string[];
  keysFrom?: string;
  jobs: number;
}

export async function rm(ctx: CommandContext, uri: string, opts: RmOptions): Promise<number> {
  const location = parseStoreLocation(uri, ctx.io.cwd, "rm");
  const filter = new KeyFilter(opts.include, opts.exclude);

  if (!opts.recursive && opts.keysFrom === undefined) {
    if (isPrefix(location)) throw new UsageError(`${location.text} names a prefix; add -r to delete everything under it`);
    if (filter.active) throw new UsageError("--include/--exclude select objects under a prefix: add -r");
    const store = await ctx.open(location);
    if (!opts.force && !(await store.exists(location.path))) {
      throw new CommandFailure(`no object at ${location.text} (use -f to ignore missing objects)`, ExitCode.notFound);
    }
    await store.delete(location.path);
    if (ctx.json) await ctx.printJson({ deleted: 1, uri: uriOf(location) });
    else if (!ctx.quiet) await ctx.line(`deleted ${uriOf(location)}`);
    return ExitCode.ok;
  }

  const base = prefixOf(location);
  if (base.local && localPath(base) === "/") throw new UsageError(`refusing to delete every file under "/" (${location.text})`);
  const store = await ctx.open(base);
  const prefix = base.path;
  const keys: string[] = [];
  if (opts.keysFrom !== undefined) {
    for (const key of await readKeyList(opts.keysFrom, ctx.io.stdin, ctx.signal)) {
      assertValidKey(key);
      if (filter.matches(key)) keys.push(prefix + key);
    }
  } else {
    for await (const meta of store.list(prefix, { recursive: true, signal: ctx.signal })) {
      if (filter.matches(meta.key.slice(prefix.length))) keys.push(meta.key);
    }
  }
  const where = uriOf(base);
  if (keys.length === 0) {
    ctx.note(`nothing to delete under ${where}`);
    if (ctx.json) await ctx.printJson({ deleted: 0, prefix: where });
    return ExitCode.ok;
  }
  if (!opts.yes) await confirm(ctx, keys.length, where);

  let deleted: number;
  if (opts.keysFrom === undefined && !filter.active) {
    // Everything under the prefix: the store's batch delete (S3 DeleteObjects takes 1000 keys per request). Ctrl-C
    // stops it between batches and aborts the batch in flight; what was deleted stays deleted, the rest stays.
    deleted = await store.deletePrefix(prefix, { signal: ctx.signal });
  } else {
    deleted = 0;
    await runPool(keys, opts.jobs, ctx.signal, async (key) => {
      await store.delete(key);
      deleted++;
    });
    if (ctx.signal.aborted) throw ctx.signal.reason;
  }
  if (ctx.json) await ctx.printJson({ deleted, prefix: where });
  else if (!ctx.quiet) await ctx.line(`deleted ${deleted} object${deleted === 1 ? "" : "s"} under ${where}`);
  return ExitCode.ok;
}

/** Asks on the terminal; without one, a bulk delete needs --yes (exit 2). */
export async function confirm(ctx: CommandContext, count: number, where: string): Promise<void> {
  const objects = `${count} object${count === 1 ? "" : "s"}`;
  if (ctx.io.stdin.isTTY !== true) {
    throw new UsageError(`this would delete ${objects} under ${where}; pass --yes to confirm (standard input is not a terminal, so range cannot ask)`);
  }
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr });
  let answer: string;
  try {
    answer = await rl.question(`Delete ${objects} under ${where}? [y/N] `, { signal: ctx.signal });
  } finally {
    rl.close();
  }
  if (!/^y(es)?$/i.test(answer.trim())) throw new CommandFailure("nothing deleted");
}
