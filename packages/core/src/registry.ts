import { createRequire } from "node:module";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { RangeConfigError } from "./errors.js";
import { createMemoryStore, memoryBucket, memoryBucketManager, type MemoryStoreOptions } from "./memory/memory-store.js";
import type { ObjectStore } from "./store/types.js";

export interface BackendPlugin<O = unknown> {
  /** URI scheme without the colon, e.g. "s3". */
  scheme: string;
  create(url: URL, options?: O): ObjectStore | Promise<ObjectStore>;
  /** Bucket (container) management, for backends whose URIs name one: `s3://bucket`, `az://container`, `gs://bucket`. */
  buckets?: BucketManager<O>;
}

/** A bucket (S3, GCS) or container (Azure). */
export interface BucketInfo {
  name: string;
  /** When the service reports it. */
  created?: Date;
}

export interface BucketCallOptions {
  signal?: AbortSignal;
}

/**
 * What a backend implements so {@link listBuckets}, {@link createBucket} and {@link deleteBucket} work for its
 * scheme. `options` are the same the backend's `create` takes (endpoint, credentials, ...). Errors are typed:
 * `NotFoundError` for a missing bucket, `BackendError` with code `E_BUCKET_EXISTS` / `E_BUCKET_NOT_EMPTY`.
 */
export interface BucketManager<O = unknown> {
  list(options: O | undefined, call: BucketCallOptions): AsyncIterable<BucketInfo>;
  create(name: string, options: O | undefined, call: BucketCallOptions): Promise<void>;
  /** Deletes an empty bucket. */
  delete(name: string, options: O | undefined, call: BucketCallOptions): Promise<void>;
}

export interface RegisterBackendOptions {
  /** Replace a backend already registered for the scheme instead of failing. */
  replace?: boolean;
}

/** Backends published by this project, imported on first use of their scheme. */
export const BACKEND_PACKAGES: Readonly<Record<string, string>> = Object.freeze({
  file: "@range/file",
  directio: "@range/directio",
  s3: "@range/s3",
  az: "@range/azure",
  gs: "@range/gcs",
});

const SCHEME_PATTERN = /^[a-z][a-z0-9+.-]*$/;

/** `memory://<bucket>/<prefix>`: a process-wide named bucket, like a real one shared by every store opened on it. */
export const memoryBackend: BackendPlugin<Omit<MemoryStoreOptions, "bucket" | "prefix">> = {
  scheme: "memory",
  create(url, options = {}) {
    const path = decodeURIComponent(url.pathname).replace(/^\/+/, "");
    const prefix = path === "" || path.endsWith("/") ? path : `${path}/`;
    return createMemoryStore({ ...options, bucket: memoryBucket(decodeURIComponent(url.host)), prefix });
  },
  buckets: memoryBucketManager,
};

const backends = new Map<string, BackendPlugin>([["memory", memoryBackend as BackendPlugin]]);
const loading = new Map<string, Promise<BackendPlugin>>();

function assertPlugin(plugin: unknown): asserts plugin is BackendPlugin {
  const p = plugin as BackendPlugin | null;
  if (typeof p !== "object" || p === null || typeof p.scheme !== "string" || typeof p.create !== "function") {
    throw new RangeConfigError("a backend plugin is an object { scheme: string, create(url, options) }", {
      code: "E_INVALID_BACKEND",
    });
  }
  if (p.buckets !== undefined && !["list", "create", "delete"].every((m) => typeof (p.buckets as unknown as Record<string, unknown>)[m] === "function")) {
    throw new RangeConfigError("a backend plugin's `buckets` has list(), create() and delete()", { code: "E_INVALID_BACKEND" });
  }
  if (!SCHEME_PATTERN.test(p.scheme)) {
    throw new RangeConfigError(`backend scheme ${JSON.stringify(p.scheme)} is not a valid URI scheme (lowercase, no ":")`, {
      code: "E_INVALID_BACKEND",
    });
  }
}

/** Makes `openStore("<scheme>://...")` use `plugin`. A second plugin for the same scheme fails unless `replace`. */
export function registerBackend(plugin: BackendPlugin<any>, options: RegisterBackendOptions = {}): void {
  assertPlugin(plugin);
  const existing = backends.get(plugin.scheme);
  if (existing && existing !== plugin && !options.replace) {
    throw new RangeConfigError(
      `a backend for "${plugin.scheme}://" is already registered; pass { replace: true } to replace it`,
      { code: "E_DUPLICATE_BACKEND" },
    );
  }
  backends.set(plugin.scheme, plugin);
}

/** Removes the backend for `scheme`; returns whether there was one. */
export function unregisterBackend(scheme: string): boolean {
  return backends.delete(scheme);
}

/** Schemes that can be opened now (registered) or on demand (a known package). */
export function registeredSchemes(): string[] {
  return [...backends.keys()].sort();
}

function isMissingModule(error: unknown, specifier: string): boolean {
  const e = error as { code?: string; message?: string } | null;
  return (
    (e?.code === "ERR_MODULE_NOT_FOUND" || e?.code === "MODULE_NOT_FOUND") &&
    typeof e.message === "string" &&
    e.message.includes(`'${specifier}'`)
  );
}

/**
 * Imports a backend package. First from here (works when the package manager hoists it), then from the
 * application's working directory: with pnpm's strict layout, core cannot see packages the app installed beside it.
 */
async function importBackendPackage(specifier: string): Promise<Record<string, unknown>> {
  try {
    return (await import(specifier)) as Record<string, unknown>;
  } catch (error) {
    if (!isMissingModule(error, specifier)) throw error;
  }
  let resolved: string;
  try {
    resolved = createRequire(join(process.cwd(), "package.json")).resolve(specifier);
  } catch {
    return {};
  }
  return (await import(pathToFileURL(resolved).href)) as Record<string, unknown>;
}

async function loadBackend(scheme: string): Promise<BackendPlugin> {
  const specifier = BACKEND_PACKAGES[scheme];
  if (specifier === undefined) {
    throw new RangeConfigError(
      `no backend for "${scheme}://"; known schemes: ${[...new Set([...backends.keys(), ...Object.keys(BACKEND_PACKAGES)])].sort().join(", ")}. ` +
        "A third-party backend must be registered with registerBackend() first.",
      { code: "E_UNKNOWN_SCHEME" },
    );
  }
  let module: Record<string, unknown>;
  try {
    module = await importBackendPackage(specifier);
  } catch (error) {
    throw new RangeConfigError(`loading ${specifier} for "${scheme}://" failed: ${(error as Error)?.message ?? String(error)}`, {
      code: "E_BACKEND_LOAD",
      cause: error,
    });
  }
  const plugin = module.backend ?? (module.default as Record<string, unknown> | undefined)?.backend;
  if (plugin === undefined) {
    throw new RangeConfigError(
      `"${scheme}://" needs the ${specifier} package, which is not installed. Install it with \`pnpm add ${specifier}\` ` +
        `(or \`npm install ${specifier}\`).`,
      { code: "E_BACKEND_NOT_INSTALLED" },
    );
  }
  assertPlugin(plugin);
  if (!backends.has(scheme)) backends.set(scheme, plugin);
  return backends.get(scheme)!;
}

function parseStoreUri(uri: unknown): URL {
  if (typeof uri !== "string" || uri.trim() === "") {
    throw new RangeConfigError(`a store URI must be a non-empty string like "s3://bucket/prefix", got ${typeof uri === "string" ? '""' : typeof uri}`, {
      code: "E_INVALID_URI",
    });
  }
  let url: URL;
  try {
    url = new URL(uri);
  } catch {
    throw new RangeConfigError(`malformed store URI ${JSON.stringify(uri)}: expected <scheme>://<location>, e.g. "file:///data"`, {
      code: "E_INVALID_URI",
    });
  }
  const scheme = url.protocol.slice(0, -1);
  if (!SCHEME_PATTERN.test(scheme) || !uri.slice(scheme.length + 1).startsWith("//")) {
    throw new RangeConfigError(`malformed store URI ${JSON.stringify(uri)}: expected <scheme>://<location>`, { code: "E_INVALID_URI" });
  }
  // The URL parser would resolve "a/../b" to "b": a store rooted somewhere else than the URI says.
  const location = uri.slice(scheme.length + 3).split(/[?#]/)[0]!;
  if (location.split("/").some((segment) => /^(\.|%2e){1,2}$/i.test(segment))) {
    throw new RangeConfigError(`store URI ${JSON.stringify(uri)} has a "." or ".." segment: name the root directly`, { code: "E_INVALID_URI" });
  }
  return url;
}

/**
 * Opens the store a URI names: `memory://bucket/prefix` with core alone; `file://`, `directio://`, `s3://`, `az://`,
 * `gs://` by importing the matching `@range/*` package on first use (with an install hint when it is missing); any
 * other scheme once a plugin is registered for it. `options` go to the backend.
 */
export async function openStore(uri: string, options?: unknown): Promise<ObjectStore> {
  const url = parseStoreUri(uri);
  const plugin = await pluginFor(url.protocol.slice(0, -1));
  return plugin.create(url, options);
}

async function pluginFor(scheme: string): Promise<BackendPlugin> {
  const plugin = backends.get(scheme);
  if (plugin) return plugin;
  let pending = loading.get(scheme);
  if (!pending) {
    pending = loadBackend(scheme).finally(() => loading.delete(scheme));
    loading.set(scheme, pending);
  }
  return pending;
}

/** The bucket a URI names (`s3://name`, with nothing after it) and the plugin that manages it. */
async function bucketTarget(uri: string, what: string): Promise<{ name: string; manager: BucketManager; scheme: string }> {
  const url = parseStoreUri(uri);
  const scheme = url.protocol.slice(0, -1);
  const name = decodeURIComponent(url.host);
  if (name === "" || url.pathname.replace(/^\/+$/, "") !== "" || url.search !== "" || url.hash !== "") {
    throw new RangeConfigError(`${what} takes a bucket URI like "${scheme}://name" with no path, got ${JSON.stringify(uri)}`, {
      code: "E_INVALID_URI",
    });
  }
  return { name, scheme, manager: managerOf(await pluginFor(scheme), scheme) };
}

function managerOf(plugin: BackendPlugin, scheme: string): BucketManager {
  if (!plugin.buckets) {
    throw new RangeConfigError(`"${scheme}://" has no buckets to manage`, { code: "E_UNSUPPORTED" });
  }
  return plugin.buckets;
}

/** Buckets (containers) visible with `options`' credentials on the service `scheme` names ("s3" or "s3://"). */
export async function* listBuckets(scheme: string, options?: unknown, call: BucketCallOptions = {}): AsyncIterable<BucketInfo> {
  const name = typeof scheme === "string" ? scheme.replace(/:(\/\/)?$/, "") : scheme;
  if (typeof name !== "string" || !SCHEME_PATTERN.test(name)) {
    throw new RangeConfigError(`listBuckets takes a scheme like "s3" or "s3://", got ${JSON.stringify(scheme)}`, { code: "E_INVALID_URI" });
  }
  call.signal?.throwIfAborted();
  yield* managerOf(await pluginFor(name), name).list(options, call);
}

/** Creates the bucket `uri` names (`s3://name`). Fails with code `E_BUCKET_EXISTS` when it already exists. */
export async function createBucket(uri: string, options?: unknown, call: BucketCallOptions = {}): Promise<void> {
  const { name, manager } = await bucketTarget(uri, "createBucket");
  call.signal?.throwIfAborted();
  await manager.create(name, options, call);
}

/** Deletes the empty bucket `uri` names. `NotFoundError` when missing, code `E_BUCKET_NOT_EMPTY` when not empty. */
export async function deleteBucket(uri: string, options?: unknown, call: BucketCallOptions = {}): Promise<void> {
  const { name, manager } = await bucketTarget(uri, "deleteBucket");
  call.signal?.throwIfAborted();
  await manager.delete(name, options, call);
}
