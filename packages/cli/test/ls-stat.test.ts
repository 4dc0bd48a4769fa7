import { beforeAll, describe, expect, it } from "vitest";
import { fileUri, range, useTempDir, writeTree } from "./helpers.js";

const tempDir = useTempDir();
let root: string;

beforeAll(async () => {
  root = tempDir();
  await writeTree(root, {
    "data/a.bin": Buffer.alloc(2048, 1),
    "data/b.txt": "hello\n",
    "data/sub/c.bin": Buffer.alloc(3 * 1024 * 1024, 2),
    "data/sub/deep/d.txt": "d",
    "data/.hidden": "h",
    "empty/.keep": "",
  });
});

const lines = (text: string) => text.split("\n").filter((l) => l !== "");

describe("range ls", () => {
  it("lists one level, sub-prefixes as PRE entries", async () => {
    const r = await range(["ls", `${root}/data/`]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([".hidden", "a.bin", "b.txt", "PRE sub/"]);
    expect(r.stderr).toBe("");
  });

  it("treats a path naming a directory (no trailing slash) as that prefix, and takes file:// URIs", async () => {
    const plain = await range(["ls", `${root}/data`]);
    const uri = await range(["ls", fileUri(`${root}/data/`)]);
    expect(plain.stdout).toBe(uri.stdout);
    expect(lines(uri.stdout)).toContain("PRE sub/");
  });

  it("resolves relative paths against the working directory", async () => {
    const r = await range(["ls", "data/sub"], { cwd: root });
    expect(lines(r.stdout)).toEqual(["c.bin", "PRE deep/"]);
  });

  it("-r lists every object below, keys relative to the prefix", async () => {
    const r = await range(["ls", "-r", `${root}/data/`]);
    expect(lines(r.stdout)).toEqual([".hidden", "a.bin", "b.txt", "sub/c.bin", "sub/deep/d.txt"]);
  });

  it("-l shows size, date and key; -h human sizes", async () => {
    const long = lines((await range(["ls", "-l", `${root}/data/`])).stdout);
    expect(long[1]).toMatch(/^\s+2048 {2}\d{4}-\d\d-\d\d \d\d:\d\d:\d\d {2}a\.bin$/);
    expect(long[3]).toMatch(/^\s+PRE\s+sub\/$/);
    const human = lines((await range(["ls", "-rh", `${root}/data/`])).stdout);
    expect(human.find((l) => l.endsWith("sub/c.bin"))).toMatch(/^\s+3 MiB {2}\d{4}-/);
    expect(human.find((l) => l.endsWith("a.bin"))).toMatch(/^\s+2 KiB {2}/);
    expect(human.find((l) => l.endsWith("b.txt"))).toMatch(/^\s+6 B {2}/);
  });

  it("--json prints one JSON array document", async () => {
    const r = await range(["ls", "-r", "--json", `${root}/data/`]);
    expect(r.code).toBe(0);
    const entries = JSON.parse(r.stdout) as { uri: string; name: string; size: number; lastModified: string; etag: string }[];
    expect(entries.map((e) => e.name)).toEqual([".hidden", "a.bin", "b.txt", "sub/c.bin", "sub/deep/d.txt"]);
    const c = entries.find((e) => e.name === "sub/c.bin")!;
    expect(c).toMatchObject({ uri: fileUri(`${root}/data/sub/c.bin`), size: 3 * 1024 * 1024 });
    expect(new Date(c.lastModified).getTime()).toBeGreaterThan(0);
    expect(typeof c.etag).toBe("string");
    const oneLevel = JSON.parse((await range(["ls", "--json", `${root}/data/`])).stdout) as { name: string; prefix?: boolean }[];
    expect(oneLevel.find((e) => e.name === "sub/")).toMatchObject({ prefix: true });
  });

  it("--json of an empty directory is []", async () => {
    const r = await range(["ls", "--json", `${root}/empty/`, "--exclude", ".keep"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([]);
  });

  it("--include / --exclude filter keys relative to the prefix", async () => {
    const bins = await range(["ls", "-r", "--include", "*.bin", `${root}/data/`]);
    expect(lines(bins.stdout)).toEqual(["a.bin", "sub/c.bin"]);
    const noSub = await range(["ls", "-r", "--exclude", "sub/**", "--exclude", ".*", `${root}/data/`]);
    expect(lines(noSub.stdout)).toEqual(["a.bin", "b.txt"]);
    const both = await range(["ls", "-r", "--include", "*.txt", "--exclude", "deep/**", `${root}/data/sub/`]);
    expect(lines(both.stdout)).toEqual([]);
    const oneLevel = await range(["ls", "--include", "*.txt", "--exclude", "sub", `${root}/data/`]);
    expect(lines(oneLevel.stdout)).toEqual(["b.txt"]);
  });

  it("lists a single object when the path names one", async () => {
    const r = await range(["ls", "-l", `${root}/data/b.txt`]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toHaveLength(1);
    expect(r.stdout).toMatch(/\s6 {2}.*b\.txt\n$/);
  });

  it("exits 3 when nothing is there", async () => {
    const r = await range(["ls", `${root}/missing`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^range: .*no such object or prefix\n$/);
    expect((await range(["ls", `${root}/missing/`])).code).toBe(3);
  });

  it("a scheme with no bucket lists the buckets (none yet in a fresh process for memory://)", async () => {
    const r = await range(["ls", "memory://"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("");
    expect((await range(["ls", "--json", "memory://"])).stdout).toBe("[]\n");
  });

  it('"list" is a deprecated alias: same output, one notice on stderr', async () => {
    const ls = await range(["ls", "-r", `${root}/data/`]);
    const list = await range(["list", "-r", `${root}/data/`]);
    expect(list.code).toBe(0);
    expect(list.stdout).toBe(ls.stdout);
    expect(list.stderr).toBe('range: "list" is deprecated; use "ls"\n');
  });
});

describe("range stat", () => {
  it("prints size, etag and last-modified", async () => {
    const r = await range(["stat", `${root}/data/sub/c.bin`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`uri:           ${fileUri(`${root}/data/sub/c.bin`)}`);
    expect(r.stdout).toContain("size:          3145728 (3 MiB)");
    expect(r.stdout).toMatch(/etag: +"[^"]+"/);
    expect(r.stdout).toMatch(/last-modified: \d{4}-\d\d-\d\dT/);
  });

  it("--json prints one document", async () => {
    const r = await range(["stat", "--json", fileUri(`${root}/data/b.txt`)]);
    const meta = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(meta).toMatchObject({ uri: fileUri(`${root}/data/b.txt`), size: 6 });
    expect(meta.etag).toEqual(expect.any(String));
    expect(meta.lastModified).toEqual(expect.any(String));
  });

  it("exits 3 for a missing object and 2 for a prefix", async () => {
    const missing = await range(["stat", `${root}/data/nope.bin`]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/^range: .*not found\n$/);
    const prefix = await range(["stat", `${root}/data/`]);
    expect(prefix.code).toBe(2);
  });
});
