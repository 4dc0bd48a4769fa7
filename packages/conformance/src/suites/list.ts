import type { ListOptions, ObjectMeta } from "@range/core";
import { assertBytes, fail, mapLimit, show } from "../assertions.js";
import { HEAVY_TEST_TIMEOUT_MS, type Kit, type SuiteStore } from "../kit.js";
import { fixtureBytes } from "../random.js";

/** Relative name → size. Names chosen so that "-", "." and "/" sort around each other. */
const TREE: Record<string, number> = {
  "a.txt": 3,
  "b.bin": 0,
  "dir-a/x": 5,
  "dir.txt": 7,
  "dir/file1": 11,
  "dir/file2": 13,
  "dir/sub/deep1": 17,
  "dir/sub/deep2": 1,
  "dir/sub/deeper/x": 2,
  "dir2/y": 19,
  "dirz": 23,
  "zz/top": 29,
};

const PAGE_KEYS = 1100;

interface Entry {
  size: number;
  isPrefix: boolean;
}

/** Lists into a map, failing on a duplicate key or malformed entry. */
async function collect(s: SuiteStore, prefix: string, opts: ListOptions | undefined, what: string): Promise<Map<string, Entry>> {
  const seen = new Map<string, Entry>();
  const iterable = opts === undefined ? s.store.list(prefix) : s.store.list(prefix, opts);
  for await (const meta of iterable as AsyncIterable<ObjectMeta>) {
    if (typeof meta?.key !== "string") fail(`${what} yielded ${show(meta)}, expected ObjectMeta`);
    if (seen.has(meta.key)) fail(`${what} yielded ${JSON.stringify(meta.key)} more than once`);
    if (!meta.key.startsWith(prefix)) fail(`${what} yielded ${JSON.stringify(meta.key)}, which does not start with the prefix ${JSON.stringify(prefix)}`);
    seen.set(meta.key, { size: meta.size, isPrefix: meta.isPrefix === true });
  }
  return seen;
}

function compare(actual: Map<string, Entry>, expected: Map<string, Entry>, what: string): void {
  const missing = [...expected.keys()].filter((k) => !actual.has(k));
  const extra = [...actual.keys()].filter((k) => !expected.has(k));
  if (missing.length > 0 || extra.length > 0) {
    const list = (keys: string[]) => keys.slice(0, 10).map((k) => JSON.stringify(k)).join(", ") + (keys.length > 10 ? ", ..." : "");
    fail(
      `${what}: ` +
        [missing.length > 0 ? `missing ${missing.length}: ${list(missing)}` : "", extra.length > 0 ? `unexpected ${extra.length}: ${list(extra)}` : ""]
          .filter(Boolean)
          .join("; "),
    );
  }
  for (const [key, want] of expected) {
    const got = actual.get(key)!;
    if (got.isPrefix !== want.isPrefix) {
      fail(`${what}: ${JSON.stringify(key)} has isPrefix ${got.isPrefix}, expected ${want.isPrefix}`);
    }
    if (want.isPrefix) {
      if (!key.endsWith("/")) fail(`${what}: the sub-prefix entry ${JSON.stringify(key)} must end with "/"`);
    } else if (got.size !== want.size) {
      fail(`${what}: ${JSON.stringify(key)} has size ${got.size}, expected ${want.size}`);
    }
  }
}

/** Suite 6: recursive and one-level listing, partial prefixes and (optionally) pagination. */
export function listSuite(kit: Kit): void {
  kit.suite(
    "list",
    "list",
    (s) => {
      const root = s.key("tree/");
      for (const [name, size] of Object.entries(TREE)) s.fixture(`tree/${name}`, fixtureBytes(`list-${name}`, size));

      /** The expected listing of `prefix` computed from TREE, the oracle. */
      function expected(prefix: string, recursive: boolean): Map<string, Entry> {
        const out = new Map<string, Entry>();
        for (const [name, size] of Object.entries(TREE)) {
          const key = root + name;
          if (!key.startsWith(prefix)) continue;
          const slash = recursive ? -1 : key.indexOf("/", prefix.length);
          if (slash === -1) out.set(key, { size, isPrefix: false });
          else out.set(key.slice(0, slash + 1), { size: 0, isPrefix: true });
        }
        return out;
      }

      kit.test("recursive list returns every object under the prefix once, with its size", async () => {
        compare(await collect(s, root, undefined, "list(prefix)"), expected(root, true), "list(prefix)");
        compare(await collect(s, root, { recursive: true }, "list(prefix, { recursive: true })"), expected(root, true), "list(prefix, { recursive: true })");
      });

      kit.test("non-recursive list returns direct objects and sub-prefixes once each", async () => {
        const want = expected(root, false);
        if (![...want.values()].some((e) => e.isPrefix)) throw new Error("@range/conformance: bad oracle");
        compare(await collect(s, root, { recursive: false }, "list(prefix, { recursive: false })"), want, "list(prefix, { recursive: false })");
        const nested = root + "dir/";
        compare(await collect(s, nested, { recursive: false }, "list(nested, { recursive: false })"), expected(nested, false), `list(${JSON.stringify(nested)}, { recursive: false })`);
        const deeper = root + "dir/sub/";
        compare(await collect(s, deeper, { recursive: false }, "list(deeper, { recursive: false })"), expected(deeper, false), `list(${JSON.stringify(deeper)}, { recursive: false })`);
      });

      kit.test("a partial prefix matches every key that starts with it", async () => {
        for (const partial of ["dir/fi", "dir", "di", "dir/sub/deep", "a", "zz/t"]) {
          const prefix = root + partial;
          compare(await collect(s, prefix, undefined, `list(${JSON.stringify(prefix)})`), expected(prefix, true), `list(${JSON.stringify(prefix)})`);
        }
      });

      kit.test("a non-recursive list with a partial prefix groups sub-prefixes", async () => {
        for (const partial of ["dir", "dir/s", "d"]) {
          const prefix = root + partial;
          compare(
            await collect(s, prefix, { recursive: false }, `list(${JSON.stringify(prefix)}, { recursive: false })`),
            expected(prefix, false),
            `list(${JSON.stringify(prefix)}, { recursive: false })`,
          );
        }
      });

      kit.test("a listing's metadata pins a read: get(key, { knownMeta }) returns the object", async () => {
        // A loader plans reads from the listing (no stat per object): the etag a listing reports must be the one a
        // read checks against (spelled the same), or every such read fails as "changed".
        for await (const meta of s.store.list(root, { recursive: true })) {
          if (meta.isPrefix) continue;
          const expected = s.fixtures.get(meta.key) ?? fail(`list(${JSON.stringify(root)}) yielded ${JSON.stringify(meta.key)}, which was never written`);
          assertBytes(await s.store.get(meta.key, { knownMeta: meta }), expected, `get(${JSON.stringify(meta.key)}, { knownMeta: <its listing entry> })`);
        }
      });

      kit.test("list of a prefix with nothing under it yields nothing", async () => {
        for (const prefix of [s.key("nothing-here/"), root + "dir/nope", root + "zz/top/"]) {
          for (const recursive of [true, false]) {
            const got = await collect(s, prefix, { recursive }, `list(${JSON.stringify(prefix)})`);
            if (got.size > 0) fail(`list(${JSON.stringify(prefix)}, { recursive: ${recursive} }) yielded ${[...got.keys()].map((k) => JSON.stringify(k)).join(", ")}`);
          }
        }
      });

      kit.test(
        `list returns more than 1000 keys (${PAGE_KEYS}), each exactly once`,
        async () => {
          const prefix = s.key("page/");
          const keys = Array.from({ length: PAGE_KEYS }, (_, i) => `${prefix}k-${String(i).padStart(4, "0")}`);
          const one = new Uint8Array([7]);
          await mapLimit(keys, 32, (key) => s.write(key, one));
          const want = new Map(keys.map((k) => [k, { size: 1, isPrefix: false }] as const));
          compare(await collect(s, prefix, undefined, "list(1100 keys)"), want, "list of 1100 keys");
          compare(await collect(s, prefix, { recursive: false }, "list(1100 keys, { recursive: false })"), want, "non-recursive list of 1100 keys");
        },
        { requires: ["listPagination"], timeout: HEAVY_TEST_TIMEOUT_MS },
      );
    },
    { requires: ["list"] },
  );
}
