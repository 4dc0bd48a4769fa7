import { createMemoryStore, MemoryBucket, type MemoryStore } from "@range/core";
import type { BenchBackend, PeerImpl } from "./types.js";

/**
 * memory:// in the worker process: no I/O at all, so it measures the store and engine overhead. Its objects are
 * regenerated in each worker from their seed; the baseline is a plain copy of the stored bytes.
 */
export const memoryBackend: BenchBackend = {
  name: "memory",
  title: "memory:// (in the worker process)",
  embedded: true,
  peers: [
    {
      id: "memcpy",
      label: {
        get: "memcpy of the stored bytes into a fresh buffer",
        range: "memcpy of the range into a fresh buffer",
        put: "memcpy of the data into a fresh buffer",
      },
      ops: ["get", "range", "put"],
      baselineFor: ["get", "range", "put"],
    },
  ],
  async start() {
    return { connection: {}, description: "@range/core memory store, objects regenerated in each worker", stop: async () => {} };
  },
  async connect() {
    const bucket = new MemoryBucket();
    const stores: MemoryStore[] = [];
    const stored = (key: string): Uint8Array => {
      const object = bucket.objects.get(key);
      if (!object) throw new Error(`memory object ${key} missing`);
      return object.data;
    };
    const copy = (bytes: Uint8Array): Uint8Array => {
      const out = Buffer.allocUnsafeSlow(bytes.length);
      out.set(bytes);
      return out;
    };
    const memcpy: PeerImpl = {
      get: async (key) => copy(stored(key)),
      range: async (key, offset, length) => copy(stored(key).subarray(offset, offset + length)),
      put: async (_key, data) => void copy(data),
      persists: false,
    };
    return {
      store: (engine) => {
        const store = createMemoryStore({ bucket, ...(engine ? { engine } : {}) });
        stores.push(store);
        return store;
      },
      peer: async (id) => {
        if (id !== "memcpy") throw new Error(`no memory peer ${id}`);
        return memcpy;
      },
      requests: {
        scope: "memory store probe (reads + stats)",
        read: async () => stores.reduce((n, s) => n + s.probe.readRequests + s.probe.statRequests, 0),
        counts: (contender) => contender === "ours",
      },
      close: async () => {},
    };
  },
};
