import { mkdir, rmdir, stat } from "node:fs/promises";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode } from "../errors.js";
import { localPath, parseStoreLocation, prefixOf, uriOf, type StoreLocation } from "../location.js";

/**
 * The ObjectStore contract has no bucket operations yet, so `mb` / `rb` work where a "bucket" is a local directory
 * (file://, directio://) and say so for every other scheme.
 */
function localBucket(ctx: CommandContext, uri: string, command: string): StoreLocation {
  const location = parseStoreLocation(uri, ctx.io.cwd, command);
  if (!location.local) {
    throw new CommandFailure(`${command} is not supported for ${location.scheme}:// yet (the ObjectStore contract has no bucket operations)`);
  }
  if (localPath(location) === "/") throw new CommandFailure(`${command} needs a directory below "/"`);
  return location;
}

function errnoCode(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | null)?.code;
}

export async function mb(ctx: CommandContext, uri: string): Promise<number> {
  const location = localBucket(ctx, uri, "mb");
  const path = localPath(location);
  try {
    await mkdir(path, { recursive: true });
  } catch (error) {
    const code = errnoCode(error);
    throw new CommandFailure(`cannot make ${location.text}: ${code === "EEXIST" || code === "ENOTDIR" ? "a file is in the way" : (code ?? (error as Error).message)}`);
  }
  const made = uriOf(prefixOf(location));
  if (ctx.json) await ctx.printJson({ created: made });
  else if (!ctx.quiet) await ctx.line(`made ${made}`);
  return ExitCode.ok;
}

export async function rb(ctx: CommandContext, uri: string): Promise<number> {
  const location = localBucket(ctx, uri, "rb");
  const path = localPath(location).replace(/\/+$/, "");
  try {
    if (!(await stat(path)).isDirectory()) throw Object.assign(new Error("not a directory"), { code: "ENOTDIR" });
    await rmdir(path);
  } catch (error) {
    const code = errnoCode(error);
    if (code === "ENOENT") throw new CommandFailure(`no such bucket (directory): ${location.text}`, ExitCode.notFound);
    if (code === "ENOTEMPTY" || code === "EEXIST") {
      throw new CommandFailure(`${location.text} is not empty; delete its objects first (range rm -r ${location.text} --yes)`);
    }
    if (code === "ENOTDIR") throw new CommandFailure(`${location.text} is not a directory`);
    throw new CommandFailure(`cannot remove ${location.text}: ${code ?? (error as Error).message}`);
  }
  const removed = uriOf(prefixOf(location));
  if (ctx.json) await ctx.printJson({ removed });
  else if (!ctx.quiet) await ctx.line(`removed ${removed}`);
  return ExitCode.ok;
}
