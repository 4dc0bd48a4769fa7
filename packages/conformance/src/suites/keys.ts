import { assertBytes, fail } from "../assertions.js";
import type { Kit } from "../kit.js";
import { fixtureBytes } from "../random.js";

/**
 * Keys every target accepts (S3, Azure Blob, GCS, POSIX filesystems): non-ASCII letters, CJK, an astral-plane emoji,
 * URL-significant characters that must not be decoded or re-encoded, and names that look like, but are not, `.`/`..`.
 */
export const SPECIAL_KEYS: readonly string[] = [
  "ünïcödé/日本語.bin",
  "Ωμέγα/русский/한국어.txt",
  "emoji-😀.bin",
  "space in name.txt",
  "nested dir/with space/file name.txt",
  "plus+and&=?.txt",
  "percent%20encoded.txt",
  "percent%2Fslash.txt",
  "hash#tag.bin",
  "quote'\"chars.txt",
  "tilde~(parens) [brackets] {braces}.txt",
  "comma,semi;at@dollar$excl!.txt",
  "dots..in..name.txt",
  ".hidden/.file",
  "...three-dots",
];

/** Suite 7: special-character keys round-trip unchanged through every method and listing. */
export function keysSuite(kit: Kit): void {
  kit.suite("unicode and special-character keys", "keys", (s) => {
    const title = (name: string) => `key ${JSON.stringify(name)} round-trips through put, stat, get and getRange`;
    const entries = SPECIAL_KEYS.map((name, i) => ({ name, key: s.key(`k/${name}`), data: fixtureBytes(`key-${i}`, 100 + i) }));

    // A long key: 1000 UTF-8 bytes in total, in segments of at most 100 bytes (filesystems cap a name at 255 bytes).
    const longKey = (() => {
      let key = s.key("long/");
      const budget = 1000;
      let n = 0;
      while (Buffer.byteLength(key) < budget - 101) key += `${"x".repeat(90)}-${String(n++).padStart(3, "0")}/`;
      return key + "y".repeat(budget - Buffer.byteLength(key));
    })();
    const longEntry = { name: "long", key: longKey, data: fixtureBytes("key-long", 77) };
    const longTitle = "a key of 1000 UTF-8 bytes round-trips";

    if (!kit.caps.write) {
      // A read-only store gets its keys from options.seed; keys whose test is skipped are not seeded.
      for (const e of entries) if (!kit.skip.has(title(e.name))) s.fixture(e.key.slice(s.prefix.length), e.data);
      if (!kit.skip.has(longTitle)) s.fixture(longEntry.key.slice(s.prefix.length), longEntry.data);
    }

    async function roundTrip(key: string, data: Uint8Array): Promise<void> {
      const k = JSON.stringify(key);
      if (kit.caps.write) {
        const meta = await s.store.put(key, data);
        if (meta.key !== key) fail(`put(${k}) returned key ${JSON.stringify(meta.key)}`);
      }
      const meta = await s.store.stat(key);
      if (meta.key !== key) fail(`stat(${k}) returned key ${JSON.stringify(meta.key)}`);
      if (meta.size !== data.length) fail(`stat(${k}).size is ${meta.size}, expected ${data.length}`);
      if (!(await s.store.exists(key))) fail(`exists(${k}) is false`);
      assertBytes(await s.store.get(key), data, `get(${k})`);
      assertBytes(await s.store.getRange(key, 1, data.length - 2), data.subarray(1, data.length - 1), `getRange(${k}, 1, ${data.length - 2})`);
    }

    for (const { name, key, data } of entries) {
      kit.test(title(name), () => roundTrip(key, data));
    }
    kit.test(longTitle, () => roundTrip(longEntry.key, longEntry.data));

    kit.test(
      "special-character keys appear in list with the identical key string",
      async () => {
        const wanted = entries.filter((e) => !kit.skip.has(title(e.name)));
        if (!kit.skip.has(longTitle)) wanted.push(longEntry);
        if (kit.caps.write) for (const e of wanted) await s.store.put(e.key, e.data);
        const listed = new Map<string, number>();
        for await (const meta of s.store.list(s.prefix)) {
          if (listed.has(meta.key)) fail(`list yielded ${JSON.stringify(meta.key)} twice`);
          listed.set(meta.key, meta.size);
        }
        for (const e of wanted) {
          if (!listed.has(e.key)) {
            const near = [...listed.keys()].filter((k) => k.normalize("NFC") === e.key.normalize("NFC") || decodeURIComponentSafe(k) === e.key);
            fail(`list did not yield ${JSON.stringify(e.key)}${near.length > 0 ? ` (it yielded ${near.map((k) => JSON.stringify(k)).join(", ")} instead)` : ""}`);
          }
          if (listed.get(e.key) !== e.data.length) fail(`list reports size ${listed.get(e.key)} for ${JSON.stringify(e.key)}, expected ${e.data.length}`);
        }
        const extra = [...listed.keys()].filter((k) => !wanted.some((e) => e.key === k));
        if (extra.length > 0) fail(`list yielded keys that were never written: ${extra.map((k) => JSON.stringify(k)).join(", ")}`);
      },
      { requires: ["list"] },
    );
  });
}

function decodeURIComponentSafe(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}
