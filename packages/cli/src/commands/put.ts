import { stat as statPath } from "node:fs/promises";
import type { CommandContext } from "../context.js";
import { CommandFailure, ExitCode, UsageError } from "../errors.js";
import { baseName, child, isPrefix, localPath, parseLocation, parseStoreLocation, prefixOf, uriOf } from "../location.js";
import { copySingle, isDirectory, reportTransfer, type Endpoint } from "../transfer.js";

/** `put <file|-> <uri>`: streams a local file (or standard input) into one object. */
export async function put(ctx: CommandContext, file: string, uri: string): Promise<number> {
  let dst = parseStoreLocation(uri, ctx.io.cwd, "the destination of put");
  const source = parseLocation(file, ctx.io.cwd);
  let src: Endpoint;
  let size: number | undefined;
  let name: string;
  if (source.kind === "stdio") {
    src = { kind: "stdio" };
    name = "";
  } else {
    if (!source.local) throw new UsageError(`${source.text}: put uploads a local file; use "range cp" to copy between stores`);
    const path = localPath(source);
    const st = await statPath(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT" || error.code === "ENOTDIR") throw new CommandFailure(`no such file: ${file}`, ExitCode.notFound);
      throw new CommandFailure(`cannot read ${file}: ${error.code ?? error.message}`);
    });
    if (st.isDirectory()) throw new UsageError(`${file} is a directory; use "range cp -r ${file} ${uri}"`);
    src = { kind: "file", path };
    size = st.size;
    name = baseName(source.path);
  }
  const into = isPrefix(dst) || (dst.local && (await isDirectory(localPath(dst))));
  if (into) {
    if (name === "") throw new UsageError(`${dst.text} names a prefix; put from standard input needs a full key`);
    dst = child(prefixOf(dst), name);
  }
  const summary = await copySingle(ctx, src, { kind: "object", location: dst }, size);
  return reportTransfer(ctx, "uploaded", summary, { src: source.kind === "stdio" ? "-" : file, dst: uriOf(dst) });
}
