import { NotFoundError, type ObjectMeta } from "@range/core";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode } from "../errors.js";
import { isPrefix, keyOf, localPath, parseStoreLocation, uriOf, type StoreLocation } from "../location.js";
import { KeyFilter } from "../selection.js";
import { lsBuckets } from "./bucket.js";
import { formatSize } from "../sizes.js";
import { isDirectory } from "../transfer.js";

export interface LsOptions {
  recursive?: boolean;
  long?: boolean;
  humanReadable?: boolean;
  include?: string[];
  exclude?: string[];
}

interface Entry {
  meta: ObjectMeta;
  /** Key relative to the listed prefix. */
  name: string;
}

function date(meta: ObjectMeta): string {
  return meta.lastModified ? meta.lastModified.toISOString().slice(0, 19).replace("T", " ") : "-".padEnd(19);
}

export async function ls(ctx: CommandContext, uri: string, opts: LsOptions): Promise<number> {
  const location = parseStoreLocation(uri, ctx.io.cwd, "ls");
  if (!location.local && location.storeUri === `${location.scheme}:///` && location.path === "") return lsBuckets(ctx, location.scheme, opts);
  const filter = new KeyFilter(opts.include, opts.exclude);
  const long = opts.long === true || opts.humanReadable === true;
  const store = await ctx.open(location);

  let prefix = location.path;
  let single: ObjectMeta | undefined;
  if (!isPrefix(location)) {
    // A key names one object when there is one; otherwise it is a "directory".
    try {
      single = await store.stat(prefix);
    } catch (error) {
      if (!NotFoundError.isInstance(error)) throw error;
      prefix = `${prefix}/`;
    }
  }

  const sizeWidth = opts.humanReadable ? 10 : 13;
  const format = (entry: Entry): string => {
    const { meta, name } = entry;
    if (!long) return meta.isPrefix ? `PRE ${name}` : name;
    const size = meta.isPrefix ? "PRE" : opts.humanReadable ? formatSize(meta.size) : String(meta.size);
    return `${size.padStart(sizeWidth)}  ${meta.isPrefix ? " ".repeat(19) : date(meta)}  ${name}`;
  };
  const toJson = (entry: Entry) => ({
    uri: uriOf(location, entry.meta.key),
    key: keyOf(location, entry.meta.key),
    name: entry.name,
    ...(entry.meta.isPrefix
      ? { prefix: true }
      : {
          size: entry.meta.size,
          ...(entry.meta.etag !== undefined ? { etag: entry.meta.etag } : {}),
          ...(entry.meta.lastModified ? { lastModified: entry.meta.lastModified.toISOString() } : {}),
        }),
  });

  let count = 0;
  const emit = async (entry: Entry) => {
    if (ctx.json) await ctx.write(`${count === 0 ? "[\n" : ",\n"}  ${JSON.stringify(toJson(entry))}`);
    else await ctx.line(format(entry));
    count++;
  };

  if (single) {
    const name = single.key.slice(single.key.lastIndexOf("/") + 1);
    if (filter.matches(name)) await emit({ meta: single, name });
  } else {
    for await (const meta of store.list(prefix, { recursive: opts.recursive === true, signal: ctx.signal })) {
      const name = meta.key.slice(prefix.length);
      const shown = meta.isPrefix ? filter.showsPrefix(name) : filter.matches(name);
      if (shown) await emit({ meta, name });
    }
  }
  if (count === 0 && !single && !filter.active && (await isMissing(location, prefix))) {
    throw new CommandFailure(`nothing at ${location.text}: no such object or prefix`, ExitCode.notFound);
  }
  if (ctx.json) await ctx.write(count === 0 ? "[]\n" : "\n]\n");
  return ExitCode.ok;
}

/** An empty listing means "not found" when the user named a key (no trailing "/") or a local directory that is absent. */
async function isMissing(location: StoreLocation, prefix: string): Promise<boolean> {
  if (location.local) return !(await isDirectory(localPath({ ...location, path: prefix })));
  return !isPrefix(location);
}
