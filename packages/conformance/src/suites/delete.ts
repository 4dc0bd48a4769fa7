import type { ObjectStore } from "@range/core";
import { expectRejects, fail } from "../assertions.js";
import type { Kit } from "../kit.js";

const ONE = new Uint8Array([1]);

async function listKeys(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const meta of store.list(prefix)) keys.push(meta.key);
  return keys.sort();
}

/** Suite 8: exists, idempotent delete, and deletePrefix that stays inside its prefix. */
export function deleteSuite(kit: Kit): void {
  kit.suite(
    "delete, exists and deletePrefix",
    "delete",
    (s) => {
      kit.test("exists is true for an object and false for a missing key", async () => {
        const key = s.key("exists.bin");
        await s.store.put(key, ONE);
        if ((await s.store.exists(key)) !== true) fail(`exists(${key}) is not true for an object just written`);
        if ((await s.store.exists(s.key("missing.bin"))) !== false) fail("exists() of a missing key is not false");
      });

      kit.test("delete of a missing key resolves", async () => {
        const key = s.key("never-written.bin");
        await s.store.delete(key);
        await s.store.delete(key);
      });

      kit.test("delete removes the object: exists is false, stat and get reject NotFoundError", async () => {
        const key = s.key("doomed.bin");
        await s.store.put(key, ONE);
        await s.store.delete(key);
        if (await s.store.exists(key)) fail("exists() is still true after delete()");
        await expectRejects("stat() after delete()", () => s.store.stat(key), "NotFoundError");
        await expectRejects("get() after delete()", () => s.store.get(key), "NotFoundError");
        await s.store.delete(key);
      });

      kit.test("delete of a key that is only a prefix of other objects removes nothing", async () => {
        const inner = s.key("dirlike/inner.bin");
        await s.store.put(inner, ONE);
        await s.store.delete(s.key("dirlike"));
        if (!(await s.store.exists(inner))) fail(`delete(${JSON.stringify(s.key("dirlike"))}) removed ${JSON.stringify(inner)}`);
      });

      kit.test("deletePrefix removes only the objects under the prefix and returns how many", async () => {
        const base = s.key("dp/");
        const doomed = ["a/1", "a/2", "a/sub/3"].map((n) => base + n);
        const survivors = ["ab/1", "ab/2", "abc.txt", "b/a/1"].map((n) => base + n);
        for (const key of [...doomed, ...survivors]) await s.store.put(key, ONE);
        const count = await s.store.deletePrefix(base + "a/");
        if (count !== doomed.length) fail(`deletePrefix("…/a/") returned ${String(count)}, expected ${doomed.length}`);
        for (const key of doomed) if (await s.store.exists(key)) fail(`deletePrefix left ${JSON.stringify(key)}`);
        for (const key of survivors) if (!(await s.store.exists(key))) fail(`deletePrefix("…/a/") removed ${JSON.stringify(key)}`);
        if (kit.caps.list) {
          const left = await listKeys(s.store, base);
          if (left.join("\n") !== [...survivors].sort().join("\n")) fail(`after deletePrefix the listing is ${JSON.stringify(left)}`);
        }
      });

      kit.test("deletePrefix with a partial prefix removes every key that starts with it", async () => {
        const base = s.key("dpp/");
        const doomed = ["ab/1", "abc.txt", "ab-x/2"].map((n) => base + n);
        const survivors = ["a/1", "b/ab"].map((n) => base + n);
        for (const key of [...doomed, ...survivors]) await s.store.put(key, ONE);
        const count = await s.store.deletePrefix(base + "ab");
        if (count !== doomed.length) fail(`deletePrefix("…/ab") returned ${String(count)}, expected ${doomed.length}`);
        for (const key of doomed) if (await s.store.exists(key)) fail(`deletePrefix("…/ab") left ${JSON.stringify(key)}`);
        for (const key of survivors) if (!(await s.store.exists(key))) fail(`deletePrefix("…/ab") removed ${JSON.stringify(key)}`);
      });

      kit.test("deletePrefix of a prefix with nothing under it returns 0", async () => {
        const count = await s.store.deletePrefix(s.key("empty-prefix/"));
        if (count !== 0) fail(`deletePrefix of an empty prefix returned ${String(count)}, expected 0`);
      });
    },
    { requires: ["write"] },
  );
}
