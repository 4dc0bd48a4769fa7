/**
 * Deliberately broken stores, one fault each, built by wrapping a correct memory store. faults.test.ts runs the kit
 * against every one of them and checks that the tests meant to catch the fault fail: proof the kit can fail.
 */
import {
  AbortError,
  InvalidKeyError,
  NotFoundError,
  createMemoryStore,
  type GetOptions,
  type ListOptions,
  type MemoryStore,
  type ObjectMeta,
  type ObjectStore,
} from "@range/core";
import type { ConformanceOptions } from "../../src/index.js";

type Overrides = Partial<Omit<ObjectStore, typeof Symbol.asyncDispose>> & { [Symbol.asyncDispose]?: (() => Promise<void>) | undefined };

/** A store that delegates every method to `inner` except the overridden ones. */
export function wrap(inner: ObjectStore, overrides: Overrides = {}): ObjectStore {
  const base: ObjectStore = {
    scheme: inner.scheme,
    stat: (key) => inner.stat(key),
    get: (key, opts) => inner.get(key, opts),
    getRange: (key, offset, length, opts) => inner.getRange(key, offset, length, opts),
    getStream: (key, opts) => inner.getStream(key, opts),
    put: (key, data, opts) => inner.put(key, data, opts),
    list: (prefix, opts) => inner.list(prefix, opts),
    delete: (key) => inner.delete(key),
    deletePrefix: (prefix) => inner.deletePrefix(prefix),
    exists: (key) => inner.exists(key),
    close: () => inner.close(),
    [Symbol.asyncDispose]: () => inner.close(),
  };
  const store = Object.assign(base, overrides);
  if (Object.hasOwn(overrides, Symbol.asyncDispose) && overrides[Symbol.asyncDispose] === undefined) {
    delete (store as Partial<ObjectStore>)[Symbol.asyncDispose];
  }
  return store;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function isIterable(data: unknown): data is AsyncIterable<Uint8Array> {
  return typeof (data as AsyncIterable<Uint8Array> | null)?.[Symbol.asyncIterator] === "function";
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

async function* mapList(list: AsyncIterable<ObjectMeta>, fn: (meta: ObjectMeta) => ObjectMeta[]): AsyncIterable<ObjectMeta> {
  for await (const meta of list) yield* fn(meta);
}

export interface Fault {
  id: string;
  /** Tests that must fail against this store (exact titles). */
  caughtBy: string[];
  make: (inner: MemoryStore) => ObjectStore;
  options?: Partial<ConformanceOptions>;
}

const SMALL_SIZE = "65537 B";

export const FAULTS: Fault[] = [
  {
    id: "put stores the whole ArrayBuffer of a view",
    caughtBy: ["put of a Uint8Array view stores only the view's bytes", "1 B: get with default engine options equals the data"],
    make: (s) =>
      wrap(s, { put: (key, data, opts) => s.put(key, data instanceof Uint8Array ? new Uint8Array(data.buffer) : data, opts) }),
  },
  {
    id: "getRange corrupts the first byte",
    caughtBy: ["50 seeded random getRange calls equal the oracle's slices", `${SMALL_SIZE}: getRange of the last byte`],
    make: (s) =>
      wrap(s, {
        getRange: async (key, offset, length, opts) => {
          const bytes = await s.getRange(key, offset, length, opts);
          if (bytes.length > 0) bytes[0] = bytes[0]! ^ 0xff;
          return bytes;
        },
      }),
  },
  {
    id: "getStream swaps its first two chunks",
    caughtBy: ["getStream (small engine options) yields the bytes in order", `${SMALL_SIZE}: getStream equals the data`],
    make: (s) =>
      wrap(s, {
        getStream: (key, opts) =>
          (async function* () {
            let held: Uint8Array | undefined;
            let n = 0;
            for await (const chunk of s.getStream(key, opts)) {
              if (n++ === 0) held = chunk;
              else {
                yield chunk;
                if (held) yield held;
                held = undefined;
              }
            }
            if (held) yield held;
          })(),
      }),
  },
  {
    id: "getStream ignores the engine options (one chunk)",
    caughtBy: ["getStream (small engine options) yields the bytes in order"],
    make: (s) =>
      wrap(s, {
        getStream: (key, opts) =>
          (async function* () {
            yield await s.get(key, { ...opts, engine: false });
          })(),
      }),
  },
  {
    id: "signals are ignored",
    caughtBy: [
      "get aborted from onProgress after the first range rejects with AbortError",
      "get aborted from onProgress mid-download rejects with AbortError",
      "get with an already-aborted signal rejects with AbortError",
      "getRange with an already-aborted signal rejects with AbortError",
      "getStream with an already-aborted signal rejects with AbortError",
      "getStream aborted mid-iteration rejects with AbortError",
      "a put aborted while its AsyncIterable is yielding rejects with AbortError and leaves no object",
      "put with an already-aborted signal rejects with AbortError and writes nothing",
    ],
    make: (s) => {
      const strip = <T extends { signal?: AbortSignal }>(opts: T | undefined): T => {
        const { signal: _signal, ...rest } = opts ?? ({} as T);
        return rest as T;
      };
      return wrap(s, {
        get: (key, opts) => s.get(key, strip(opts)),
        getStream: (key, opts) => s.getStream(key, strip(opts)),
        getRange: (key, offset, length, opts) => s.getRange(key, offset, length, strip(opts)),
        put: (key, data, opts) => s.put(key, data, strip(opts)),
      });
    },
  },
  {
    id: "an abort rejects with the signal's reason",
    caughtBy: ["an abort with a custom reason still rejects with an error named AbortError"],
    make: (s) =>
      wrap(s, {
        get: async (key, opts) => {
          try {
            return await s.get(key, opts);
          } catch (error) {
            if (opts?.signal?.aborted) throw opts.signal.reason;
            throw error;
          }
        },
      }),
  },
  {
    id: "get does not call onProgress",
    caughtBy: ["get and getStream report progress that grows to the object size", "get aborted from onProgress after the first range rejects with AbortError"],
    make: (s) => wrap(s, { get: (key, opts) => s.get(key, { ...opts, onProgress: undefined } as GetOptions) }),
  },
  {
    id: "list yields every entry twice",
    caughtBy: ["recursive list returns every object under the prefix once, with its size", "special-character keys appear in list with the identical key string"],
    make: (s) => wrap(s, { list: (prefix, opts) => mapList(s.list(prefix, opts), (m) => [m, m]) }),
  },
  {
    id: "list ignores recursive: false",
    caughtBy: ["non-recursive list returns direct objects and sub-prefixes once each", "a non-recursive list with a partial prefix groups sub-prefixes"],
    make: (s) => wrap(s, { list: (prefix) => s.list(prefix) }),
  },
  {
    id: "list matches whole segments only",
    caughtBy: ["a partial prefix matches every key that starts with it"],
    make: (s) =>
      wrap(s, {
        list: (prefix = "", opts?: ListOptions) => s.list(prefix === "" || prefix.endsWith("/") ? prefix : `${prefix}/`, opts),
      }),
  },
  {
    id: "list drops empty objects",
    caughtBy: ["recursive list returns every object under the prefix once, with its size"],
    make: (s) => wrap(s, { list: (prefix, opts) => mapList(s.list(prefix, opts), (m) => (m.size === 0 && !m.isPrefix ? [] : [m])) }),
  },
  {
    id: "listed sub-prefixes lack the trailing slash",
    caughtBy: ["non-recursive list returns direct objects and sub-prefixes once each"],
    make: (s) => wrap(s, { list: (prefix, opts) => mapList(s.list(prefix, opts), (m) => [m.isPrefix ? { ...m, key: m.key.slice(0, -1) } : m]) }),
  },
  {
    id: "delete of a missing key throws",
    caughtBy: ["delete of a missing key resolves"],
    make: (s) =>
      wrap(s, {
        delete: async (key) => {
          if (!(await s.exists(key))) throw new NotFoundError(`no ${key}`);
          await s.delete(key);
        },
      }),
  },
  {
    id: "deletePrefix works on string prefixes without the slash",
    caughtBy: ["deletePrefix removes only the objects under the prefix and returns how many"],
    make: (s) => wrap(s, { deletePrefix: (prefix) => s.deletePrefix(prefix.replace(/\/$/, "")) }),
  },
  {
    id: "deletePrefix miscounts",
    caughtBy: ["deletePrefix of a prefix with nothing under it returns 0", "deletePrefix removes only the objects under the prefix and returns how many"],
    make: (s) => wrap(s, { deletePrefix: async (prefix) => (await s.deletePrefix(prefix)) + 1 }),
  },
  {
    id: "invalid keys are reported as not found",
    caughtBy: ["invalid keys reject InvalidKeyError from get", "invalid keys reject InvalidKeyError from stat"],
    make: (s) => {
      const notFound = <T>(work: () => Promise<T>) =>
        work().catch((error: unknown) => {
          throw (error as Error).name === "InvalidKeyError" ? new NotFoundError("not found") : error;
        });
      return wrap(s, { get: (key, opts) => notFound(() => s.get(key, opts)), stat: (key) => notFound(() => s.stat(key)) });
    },
  },
  {
    id: "get throws synchronously on a bad key",
    caughtBy: ["invalid keys reject InvalidKeyError from get"],
    make: (s) =>
      wrap(s, {
        get: (key, opts) => {
          if (key === "") throw new InvalidKeyError("key must not be empty");
          return s.get(key, opts);
        },
      }),
  },
  {
    id: "getRange clamps at the end instead of rejecting",
    caughtBy: ["getRange past the end of the object rejects InvalidRangeError"],
    make: (s) =>
      wrap(s, {
        getRange: async (key, offset, length, opts) => {
          const { size } = await s.stat(key);
          if (Number.isSafeInteger(offset) && Number.isSafeInteger(length) && offset >= 0 && length >= 0 && offset + length > size) {
            const start = Math.min(offset, size);
            return s.getRange(key, start, size - start, opts);
          }
          return s.getRange(key, offset, length, opts);
        },
      }),
  },
  {
    id: "getRange of 0 bytes never checks the object",
    caughtBy: ["get, getStream, stat and getRange of a missing key reject NotFoundError", "getRange past the end of the object rejects InvalidRangeError"],
    make: (s) =>
      wrap(s, {
        getRange: (key, offset, length, opts) =>
          length === 0 && Number.isSafeInteger(offset) && offset >= 0 ? Promise.resolve(new Uint8Array(0)) : s.getRange(key, offset, length, opts),
      }),
  },
  {
    id: "get ignores into",
    caughtBy: [`${SMALL_SIZE}: get into a larger buffer (small engine options) fills only a view at its start`],
    make: (s) => wrap(s, { get: (key, opts) => s.get(key, { ...opts, into: undefined } as GetOptions) }),
  },
  {
    id: "get returns all of into",
    caughtBy: [`${SMALL_SIZE}: get into a larger buffer (engine: false) fills only a view at its start`],
    make: (s) =>
      wrap(s, {
        get: async (key, opts) => {
          const out = await s.get(key, opts);
          if (!opts?.into) return out;
          opts.into.fill(0, out.length);
          return opts.into;
        },
      }),
  },
  {
    id: "engine options are ignored",
    caughtBy: ["invalid engine options reject RangeConfigError from get", "invalid engine options reject RangeConfigError from getStream"],
    make: (s) =>
      wrap(s, {
        get: (key, opts) => s.get(key, opts?.engine === false ? opts : { ...opts, engine: undefined } as GetOptions),
        getStream: (key, opts) => s.getStream(key, opts?.engine === false ? opts : { ...opts, engine: undefined } as GetOptions),
      }),
  },
  {
    id: "keys are percent-decoded in metadata",
    caughtBy: ['key "percent%20encoded.txt" round-trips through put, stat, get and getRange', "special-character keys appear in list with the identical key string"],
    make: (s) =>
      wrap(s, {
        stat: async (key) => {
          const meta = await s.stat(key);
          return { ...meta, key: decodeSafe(meta.key) };
        },
        list: (prefix, opts) => mapList(s.list(prefix, opts), (m) => [{ ...m, key: decodeSafe(m.key) }]),
      }),
  },
  {
    id: "stat reports keys with the store's root",
    caughtBy: ["0 B: stat reports the size and the key"],
    make: (s) =>
      wrap(s, {
        stat: async (key) => {
          const meta = await s.stat(key);
          return { ...meta, key: `root/${meta.key}` };
        },
      }),
  },
  {
    id: "an aborted put stores what it received",
    caughtBy: [
      "a put aborted while its AsyncIterable is yielding rejects with AbortError and leaves no object",
      "an aborted overwrite keeps the previous object",
    ],
    make: (s) =>
      wrap(s, {
        put: async (key, data, opts) => {
          if (!isIterable(data)) return s.put(key, data, opts);
          const chunks: Uint8Array[] = [];
          for await (const chunk of data) {
            if (opts?.signal?.aborted) {
              await s.put(key, Buffer.concat(chunks));
              throw new AbortError();
            }
            chunks.push(chunk.slice());
          }
          return s.put(key, Buffer.concat(chunks), opts);
        },
      }),
  },
  {
    id: "put writes progressively (a partial object is visible)",
    caughtBy: ["a put in progress is not visible until it completes"],
    make: (s) =>
      wrap(s, {
        put: async (key, data, opts) => {
          if (!isIterable(data)) return s.put(key, data, opts);
          const chunks: Uint8Array[] = [];
          let meta: ObjectMeta | undefined;
          for await (const chunk of data) {
            chunks.push(chunk.slice());
            meta = await s.put(key, Buffer.concat(chunks), opts);
          }
          return meta ?? s.put(key, new Uint8Array(0), opts);
        },
      }),
  },
  {
    id: "put keeps the caller's buffer",
    caughtBy: ["changing the caller's buffers after put does not change the stored object"],
    make: (s) => {
      const aliases = new Map<string, Uint8Array>();
      return wrap(s, {
        put: (key, data, opts) => {
          if (data instanceof Uint8Array) aliases.set(key, data);
          else aliases.delete(key);
          return s.put(key, data, opts);
        },
        get: async (key, opts) => {
          const alias = aliases.get(key);
          return alias && !opts?.into ? alias.slice() : s.get(key, opts);
        },
      });
    },
  },
  {
    id: "get hands out a cached buffer",
    caughtBy: ["changing a returned buffer does not change the stored object"],
    make: (s) => {
      const cache = new Map<string, Uint8Array>();
      return wrap(s, {
        put: (key, data, opts) => {
          cache.delete(key);
          return s.put(key, data, opts);
        },
        get: async (key, opts) => {
          if (opts?.into || opts?.signal) return s.get(key, opts);
          let bytes = cache.get(key);
          if (!bytes) cache.set(key, (bytes = await s.get(key, opts)));
          return bytes;
        },
      });
    },
  },
  {
    id: "getStream reads ranges without pinning the version",
    caughtBy: ["an object overwritten during a read is read whole from one version, or the read rejects IntegrityError"],
    make: (s) =>
      wrap(s, {
        getStream: (key) =>
          (async function* () {
            const { size } = await s.stat(key);
            for (let offset = 0; offset < size; offset += 65536) yield await s.getRange(key, offset, Math.min(65536, size - offset));
          })(),
      }),
  },
  {
    id: "requests stay in flight after a break",
    caughtBy: ["breaking out of getStream after the first chunk ends cleanly and leaves nothing in flight"],
    make: (s) => s,
    // Only the streaming suite: every check of the probe waits its full second before failing.
    options: { inFlight: () => 1, skip: ["abort"] },
  },
  {
    id: "no Symbol.asyncDispose",
    caughtBy: ["the store implements Symbol.asyncDispose"],
    make: (s) => wrap(s, { [Symbol.asyncDispose]: undefined }),
  },
  {
    id: "close fails the second time",
    caughtBy: ["close() can be called twice"],
    make: (s) => {
      let closed = false;
      return wrap(s, {
        close: async () => {
          if (closed) throw new Error("already closed");
          closed = true;
          await s.close();
        },
      });
    },
  },
  {
    id: "put accepts strings",
    caughtBy: ["put with data that is not bytes rejects RangeConfigError and writes nothing"],
    make: (s) => wrap(s, { put: (key, data, opts) => s.put(key, typeof data === "string" ? Buffer.from(data) : data, opts) }),
  },
  {
    id: "a slow backend ignores aborts",
    caughtBy: ["get aborted from onProgress mid-download rejects with AbortError"],
    make: (s) =>
      wrap(s, {
        get: async (key, opts) => {
          const out = await s.get(key, { ...opts, signal: undefined } as GetOptions);
          await sleep(1);
          return out;
        },
      }),
  },
  {
    id: "a typo in options.skip",
    caughtBy: ["options.skip names only tests and suites of the kit"],
    make: (s) => s,
    options: { skip: ["no such test"] },
  },
];

export function memory(): MemoryStore {
  return createMemoryStore();
}
