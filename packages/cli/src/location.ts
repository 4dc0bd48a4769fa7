import { dirname, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";
import { redactSecrets } from "@range/core";
import { UsageError } from "./errors.js";

/**
 * What one command-line argument names. A URI `scheme://host/path` opens the store at `scheme://host/` and `path`
 * (without its leading "/") is the key, or a prefix when it ends with "/" or is empty. For local schemes
 * (`file://`, `directio://`) the key space is the whole file system: `file:///a/b/c.bin` is key "a/b/c.bin" under "/".
 * A plain path is a `file://` path after `path.resolve`; `-` is standard input or output.
 *
 * A local location is opened on the directory it names (a prefix) or the directory holding it (a key), not on "/":
 * a file store removes the directories that a delete leaves empty up to its root, and that must never climb above
 * the directory the user named.
 */
export type Location = { kind: "stdio"; text: "-" } | StoreLocation;

export interface StoreLocation {
  kind: "store";
  /** The argument as given, redacted: for messages. */
  text: string;
  scheme: string;
  /** What `openStore` opens (percent-encoded for local paths). */
  storeUri: string;
  /** `uriOf` prefix as users write it: `s3://bucket/`, `file:///abs/dir/` (not percent-encoded). */
  base: string;
  /** Local only: the absolute directory the store is rooted at, ending in "/". */
  root: string;
  /** The key or prefix relative to the store root. */
  path: string;
  /** A local directory tree (file://, directio://). */
  local: boolean;
}

/** Schemes whose key space is the local file system. */
export const LOCAL_SCHEMES: ReadonlySet<string> = new Set(["file", "directio"]);

const URI_PATTERN = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/]*)(\/.*)?$/s;

/** A local location on the directory `root` (absolute, ending in "/"), naming `path` below it. */
function localLocation(scheme: string, root: string, path: string, text: string): StoreLocation {
  const encoded = pathToFileURL(root).pathname;
  const storeUri = scheme === "file" ? `file://${encoded.endsWith("/") ? encoded : `${encoded}/`}` : `${scheme}://${encoded}`;
  return { kind: "store", text, scheme, storeUri, base: `${scheme}://${root}`, root, path, local: true };
}

/** Anchors an absolute local path: a directory path ("/" at the end) is its own root, a key lives in its parent. */
function anchorLocal(scheme: string, absolute: string, directory: boolean, text: string): StoreLocation {
  if (directory || absolute === "/") return localLocation(scheme, absolute.endsWith("/") ? absolute : `${absolute}/`, "", text);
  const parent = dirname(absolute);
  return localLocation(scheme, parent.endsWith("/") ? parent : `${parent}/`, absolute.slice(parent.length).replace(/^\//, ""), text);
}

export function parseLocation(text: string, cwd: string): Location {
  if (text === "-") return { kind: "stdio", text };
  if (text === "") throw new UsageError("an empty path or URI was given");
  if (text.includes("\0")) throw new UsageError("a path or URI contains a NUL character");
  const match = URI_PATTERN.exec(text);
  if (match) {
    const scheme = match[1]!.toLowerCase();
    const host = match[2]!;
    if (host.includes("@")) {
      throw new UsageError(
        `${redactSecrets(text)}: credentials in a URI are not accepted; use the backend's environment (e.g. AWS_ACCESS_KEY_ID) instead`,
      );
    }
    const path = (match[3] ?? "/").slice(1);
    if (LOCAL_SCHEMES.has(scheme)) {
      if (host !== "" && host !== "localhost") {
        throw new UsageError(`${text}: ${scheme}:// URIs name a local path (${scheme}:///absolute/path), got host ${JSON.stringify(host)}`);
      }
      // Keys are taken literally, as on every backend: no percent-decoding, and "..", "//" stay (the store refuses them).
      if (path.split("/").some((segment, i, all) => segment === ".." || segment === "." || (segment === "" && i < all.length - 1))) {
        throw new UsageError(`${text}: a key must not contain "..", "." or empty segments`);
      }
      return anchorLocal(scheme, `/${path}`, path === "" || path.endsWith("/"), text);
    }
    const base = `${scheme}://${host}/`;
    return { kind: "store", text: redactSecrets(text), scheme, storeUri: base, base, root: "", path, local: false };
  }
  if (/^[A-Za-z][A-Za-z0-9+.-]*:\/(?!\/)/.test(text)) {
    throw new UsageError(`${text}: a URI needs "//" after the scheme, e.g. s3://bucket/key or file:///abs/path`);
  }
  const absolute = resolve(cwd, text).split(sep).join("/");
  const directory = text.endsWith("/") || text.endsWith(sep) || text === "." || text === ".." || text.endsWith("/.") || text.endsWith("/..");
  return anchorLocal("file", absolute, directory, text);
}

/** Parses an argument that must name a store location (not "-"). */
export function parseStoreLocation(text: string, cwd: string, what = "this command"): StoreLocation {
  const location = parseLocation(text, cwd);
  if (location.kind === "stdio") throw new UsageError(`"-" (standard input/output) cannot be used with ${what}`);
  return location;
}

export function isPrefix(location: StoreLocation): boolean {
  return location.path === "" || location.path.endsWith("/");
}

/** A key path as a directory prefix: "" stays "", anything else ends with "/". */
export function asPrefix(path: string): string {
  return path === "" || path.endsWith("/") ? path : `${path}/`;
}

/** The location read as a prefix ("dir" → "dir/"); a local one is re-rooted on that directory. */
export function prefixOf(location: StoreLocation): StoreLocation {
  if (!location.local) return { ...location, path: asPrefix(location.path) };
  if (location.path === "") return location;
  return localLocation(location.scheme, `${location.root}${asPrefix(location.path)}`, "", location.text);
}

export function withPath(location: StoreLocation, path: string): StoreLocation {
  return { ...location, path };
}

/** `relative` below a prefix location. */
export function child(prefix: StoreLocation, relative: string): StoreLocation {
  return withPath(prefix, asPrefix(prefix.path) + relative);
}

/** The URI of `key` (a key of the location's store), for output. */
export function uriOf(location: StoreLocation, key: string = location.path): string {
  return `${location.base}${key}`;
}

/** The key as the user addresses it: for local stores the path below "/", elsewhere the store key. */
export function keyOf(location: StoreLocation, key: string = location.path): string {
  return location.local ? `${location.root.slice(1)}${key}` : key;
}

/** The absolute local path a local location names. */
export function localPath(location: StoreLocation): string {
  return `${location.root}${location.path}`;
}

/** The `file://` location of an absolute local path (a directory when it ends with "/"). */
export function fileLocation(absolutePath: string): StoreLocation {
  const path = absolutePath.split(sep).join("/");
  return anchorLocal("file", path, path.endsWith("/"), absolutePath);
}

/** Last segment of a key or path ("a/b/c.bin" → "c.bin"). */
export function baseName(key: string): string {
  const trimmed = key.endsWith("/") ? key.slice(0, -1) : key;
  return trimmed.slice(trimmed.lastIndexOf("/") + 1);
}

/** Whether `inner` lies in (or is) the prefix `outer`: the same file system tree, or the same store. */
export function contains(outer: StoreLocation, inner: StoreLocation): boolean {
  if (outer.local && inner.local) return asPrefix(localPath(inner)).startsWith(asPrefix(localPath(outer)));
  return outer.storeUri === inner.storeUri && asPrefix(inner.path).startsWith(asPrefix(outer.path));
}
