import {
  MemoryBucket,
  createMemoryStore,
  openStore,
  type MemoryStore,
  type ObjectStore,
} from "@range/core";
import { runObjectStoreConformance } from "../src/index.js";

/** Sums the reads in flight over every store a run created, so the probe covers whichever suite is running. */
function tracker() {
  const stores: MemoryStore[] = [];
  return {
    track<T extends ObjectStore>(store: T): T {
      stores.push(store as unknown as MemoryStore);
      return store;
    },
    inFlight: () => stores.reduce((n, store) => n + store.probe.activeReads, 0),
  };
}

// 1. The reference backend, with every optional capability.
const plain = tracker();
runObjectStoreConformance({
  name: "memory",
  create: async () => plain.track(createMemoryStore()),
  capabilities: { listPagination: true },
  inFlight: plain.inFlight,
});

// 2. Through the registry and a URI with a bucket and a root prefix.
const viaUri = tracker();
runObjectStoreConformance({
  name: "memory via openStore URI",
  create: async () => viaUri.track(await openStore("memory://conformance-bucket/some/prefix/")),
  inFlight: viaUri.inFlight,
});

// 3. With latency on every read, so aborts and early breaks hit requests in flight.
const slow = tracker();
runObjectStoreConformance({
  name: "memory with 2 ms latency",
  create: async () => slow.track(createMemoryStore({ latencyMs: 2 })),
  capabilities: { largePutSize: false, defaultThresholdObjects: false },
  inFlight: slow.inFlight,
});

// 4. Read-only: the kit must create its fixtures with `seed` and never write through the store.
const bucket = new MemoryBucket();
const writer = createMemoryStore({ bucket, prefix: "ro/" });
const readOnly = tracker();
runObjectStoreConformance({
  name: "memory, read-only (seeded)",
  create: async () => readOnly.track(withoutWrites(createMemoryStore({ bucket, prefix: "ro/" }))),
  capabilities: { write: false, listPagination: true, defaultThresholdObjects: false },
  seed: async (key, data) => {
    await writer.put(key, data);
  },
  inFlight: readOnly.inFlight,
});

/** A read-only view of the store: put/delete/deletePrefix reject, proving a read-only run never writes. */
function withoutWrites(store: MemoryStore): MemoryStore {
  const refuse = (method: string) => () =>
    Promise.reject(new Error(`the conformance kit called ${method}() on a store declared read-only`));
  return {
    scheme: store.scheme,
    probe: store.probe,
    stat: (key) => store.stat(key),
    get: (key, opts) => store.get(key, opts),
    getRange: (key, offset, length, opts) => store.getRange(key, offset, length, opts),
    getStream: (key, opts) => store.getStream(key, opts),
    list: (prefix, opts) => store.list(prefix, opts),
    exists: (key) => store.exists(key),
    put: refuse("put"),
    delete: refuse("delete"),
    deletePrefix: refuse("deletePrefix"),
    close: () => store.close(),
    [Symbol.asyncDispose]: () => store.close(),
  };
}
