import type { CommandContext } from "../context.js";
import { UsageError } from "../errors.js";
import { isPrefix, keyOf, parseStoreLocation, uriOf } from "../location.js";
import { formatSize } from "../sizes.js";

export async function stat(ctx: CommandContext, uri: string): Promise<number> {
  const location = parseStoreLocation(uri, ctx.io.cwd, "stat");
  if (isPrefix(location)) throw new UsageError(`${location.text} names a prefix; stat needs an object key (use "range ls")`);
  const store = await ctx.open(location);
  const meta = await store.stat(location.path);
  const result = {
    uri: uriOf(location, meta.key),
    key: keyOf(location, meta.key),
    size: meta.size,
    ...(meta.etag !== undefined ? { etag: meta.etag } : {}),
    ...(meta.lastModified ? { lastModified: meta.lastModified.toISOString() } : {}),
  };
  if (ctx.json) {
    await ctx.printJson(result);
    return 0;
  }
  const rows: [string, string][] = [
    ["uri", result.uri],
    ["size", `${meta.size}${meta.size >= 1024 ? ` (${formatSize(meta.size)})` : ""}`],
    ["etag", meta.etag ?? "-"],
    ["last-modified", result.lastModified ?? "-"],
  ];
  for (const [name, value] of rows) await ctx.line(`${`${name}:`.padEnd(15)}${value}`);
  return 0;
}
