import { describe, expect, it } from "vitest";
import { IntegrityError, MiB, createMemoryStore, createObjectStore, type StoreDriver } from "../src/index.js";
import { equalBytes, patternBytes } from "./helpers.js";

/** A driver over a memory store whose readHead hands core a whole-object check that records what it was given. */
function verifyingDriver(check: (bytes: Uint8Array) => void) {
  const backing = createMemoryStore();
  const seen: Uint8Array[] = [];
  const driver: StoreDriver = {
    scheme: "verifying",
    stat: (key) => backing.stat(key),
    read: async (key, offset, length, opts) => {
      const bytes = await backing.getRange(key, offset, length);
      if (!opts.target) return bytes;
      opts.target.set(bytes);
      return opts.target;
    },
    async readHead(key, length) {
      const meta = await backing.stat(key);
      return {
        meta,
        data: await backing.getRange(key, 0, Math.min(length, meta.size)),
        verifyWhole: (bytes) => {
          seen.push(bytes.slice());
          check(bytes);
        },
      };
    },
    write: (key, data, opts) => backing.put(key, data, opts),
    list: (prefix, opts) => backing.list(prefix, opts),
    delete: (key) => backing.delete(key),
  };
  return { store: createObjectStore(driver, { engine: { minSplitSize: 1 * MiB, chunkSize: 1 * MiB } }), backing, seen };
}

describe("DriverHead.verifyWhole", () => {
  it("get() hands the assembled object to the driver's check once the engine has fetched every range", async () => {
    const { store, backing, seen } = verifyingDriver(() => {});
    const data = patternBytes(5 * MiB + 123);
    await backing.put("big", data);
    const got = await store.get("big");
    expect(equalBytes(got, data)).toBe(true);
    expect(seen).toHaveLength(1);
    expect(equalBytes(seen[0]!, data)).toBe(true);
    // Also into a caller's buffer: the check sees exactly the object's bytes.
    const into = new Uint8Array(6 * MiB);
    await store.get("big", { into });
    expect(seen).toHaveLength(2);
    expect(seen[1]!.length).toBe(data.length);
  });

  it("a failing check fails the get with the driver's error", async () => {
    const { store, backing } = verifyingDriver(() => {
      throw new IntegrityError("checksum mismatch", { code: "E_CHECKSUM" });
    });
    await backing.put("big", patternBytes(3 * MiB));
    await expect(store.get("big")).rejects.toMatchObject({ name: "IntegrityError", code: "E_CHECKSUM" });
  });

  it("is not called when readHead returned the whole object, nor by getRange, getStream or readTo", async () => {
    const { store, backing, seen } = verifyingDriver(() => {
      throw new Error("must not be called");
    });
    await backing.put("small", patternBytes(1000));
    await backing.put("big", patternBytes(3 * MiB));
    expect((await store.get("small")).length).toBe(1000);
    expect((await store.getRange("big", 0, 3 * MiB)).length).toBe(3 * MiB);
    let streamed = 0;
    for await (const chunk of store.getStream("big")) streamed += chunk.length;
    expect(streamed).toBe(3 * MiB);
    await store.readTo!("big", () => {});
    expect(seen).toHaveLength(0);
  });
});
