import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { beforeEach, describe, expect, it } from "vitest";
import { fileUri, finish, range, start, useTempDir, writeTree } from "./helpers.js";

const parent = useTempDir();
let root: string;

beforeEach(async () => {
  root = await mkdtemp(join(parent(), "case-"));
  await writeTree(root, {
    "d/a.bin": "a",
    "d/b.tmp": "b",
    "d/sub/c.bin": "c",
    "d/sub/d.tmp": "d",
    "keep.txt": "k",
  });
});

describe("range rm", () => {
  it("deletes one object", async () => {
    const r = await range(["rm", fileUri(`${root}/d/a.bin`)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`deleted ${fileUri(`${root}/d/a.bin`)}\n`);
    expect(existsSync(join(root, "d/a.bin"))).toBe(false);
  });

  it("exits 3 for a missing object, 0 with -f", async () => {
    const r = await range(["rm", `${root}/d/nope`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^range: no object at .*nope/);
    expect((await range(["rm", "-f", `${root}/d/nope`])).code).toBe(0);
  });

  it("a prefix needs -r", async () => {
    expect((await range(["rm", `${root}/d/`])).code).toBe(2);
    expect(existsSync(join(root, "d/a.bin"))).toBe(true);
  });

  it("-r without --yes and without a terminal exits 2 and deletes nothing", async () => {
    const r = await range(["rm", "-r", `${root}/d`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^range: this would delete 4 objects under .*; pass --yes to confirm/);
    expect(r.stderr.split("\n")).toHaveLength(2);
    expect((await readdir(join(root, "d"))).sort()).toEqual(["a.bin", "b.tmp", "sub"]);
  });

  it("-r --yes deletes everything under the prefix and nothing beside it", async () => {
    const r = await range(["rm", "-r", "--yes", `${root}/d/`, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ deleted: 4, prefix: fileUri(`${root}/d/`) });
    expect(existsSync(join(root, "d/a.bin"))).toBe(false);
    expect(existsSync(join(root, "d/sub/c.bin"))).toBe(false);
    expect(existsSync(join(root, "keep.txt"))).toBe(true);
  });

  it("-r is interrupted by Ctrl-C mid-way: exit 130 soon after, the objects not yet deleted stay, whole", async () => {
    const dir = join(root, "many");
    const dirs = 16;
    const perDir = 1000;
    for (let d = 0; d < dirs; d++) {
      const sub = join(dir, String(d).padStart(2, "0"));
      await mkdir(sub, { recursive: true });
      await Promise.all(Array.from({ length: perDir }, (_, i) => writeFile(join(sub, `f${i}`), `${d}/${i}`)));
    }
    const child = start(["rm", "-r", "--yes", `${dir}/`]);
    const done = finish(child);
    // Interrupt once the deletion has started: the first directory (first batch) is being emptied.
    const first = join(dir, "00");
    for (let i = 0; i < 2000; i++) {
      if (!existsSync(first) || (await readdir(first)).length < perDir) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const interruptedAt = performance.now();
    child.kill("SIGINT");
    const r = await done;
    const exitMs = performance.now() - interruptedAt;
    expect(r.code, r.stderr).toBe(130);
    expect(r.stderr).toBe("range: interrupted\n");
    expect(exitMs).toBeLessThan(3000);
    let left = 0;
    for (let d = 0; d < dirs; d++) {
      const sub = join(dir, String(d).padStart(2, "0"));
      if (!existsSync(sub)) continue;
      for (const name of await readdir(sub)) {
        left++;
        // No half-done object: every file left is whole (and no temporary file was left behind).
        expect(await readFile(join(sub, name), "utf8")).toBe(`${d}/${name.slice(1)}`);
      }
    }
    expect(left).toBeGreaterThan(0);
    expect(left).toBeLessThan(dirs * perDir);
    expect(existsSync(join(root, "keep.txt"))).toBe(true);
  }, 120_000);

  it("-r with --include / --exclude deletes only the selected keys", async () => {
    const r = await range(["rm", "-r", "-y", "--include", "*.tmp", "--exclude", "sub/**", `${root}/d/`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^deleted 1 object under /);
    expect((await readdir(join(root, "d"))).sort()).toEqual(["a.bin", "sub"]);
    expect((await readdir(join(root, "d/sub"))).sort()).toEqual(["c.bin", "d.tmp"]);
  });

  it("--keys-from deletes the listed keys (with --yes)", async () => {
    await writeFile(join(root, "keys"), "a.bin\nsub/c.bin\n");
    expect((await range(["rm", "--keys-from", join(root, "keys"), `${root}/d/`])).code).toBe(2);
    const r = await range(["rm", "--keys-from", join(root, "keys"), "--yes", `${root}/d/`]);
    expect(r.code).toBe(0);
    expect((await readdir(join(root, "d"))).sort()).toEqual(["b.tmp", "sub"]);
  });

  it("never removes the directory it was pointed at (the file store prunes empty directories only below it)", async () => {
    await writeTree(root, { "only/one.bin": "1", "tree/x/y/z.bin": "z" });
    expect((await range(["rm", `${root}/only/one.bin`])).code).toBe(0);
    expect(await readdir(join(root, "only"))).toEqual([]);
    expect((await range(["rm", "-r", "--yes", `${root}/tree/`])).code).toBe(0);
    expect(await readdir(join(root, "tree"))).toEqual([]); // x/y/ pruned, tree/ kept
  });

  it("refuses to delete everything under /", async () => {
    const r = await range(["rm", "-r", "--yes", "file:///"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing/);
  });
});

describe("range mb / rb", () => {
  it("mb makes a directory for file://, rb removes it when empty", async () => {
    const made = await range(["mb", fileUri(`${root}/bucket/nested`)]);
    expect(made.code).toBe(0);
    expect(made.stdout).toBe(`made ${fileUri(`${root}/bucket/nested/`)}\n`);
    expect(existsSync(join(root, "bucket/nested"))).toBe(true);
    expect((await range(["mb", `${root}/bucket/nested`])).code).toBe(0); // already there: fine, like mkdir -p
    const removed = await range(["rb", fileUri(`${root}/bucket/nested`), "--json"]);
    expect(removed.code).toBe(0);
    expect(JSON.parse(removed.stdout)).toEqual({ removed: fileUri(`${root}/bucket/nested/`) });
    expect(existsSync(join(root, "bucket/nested"))).toBe(false);
  });

  it("rb of a non-empty directory fails (1), of a missing one exits 3", async () => {
    const full = await range(["rb", `${root}/d`]);
    expect(full.code).toBe(1);
    expect(full.stderr).toMatch(/is not empty/);
    expect((await range(["rb", `${root}/missing`])).code).toBe(3);
  });

  it("rb -r deletes the objects (with --yes) and the empty directories, then the directory", async () => {
    await mkdir(join(root, "d/empty/deeper"), { recursive: true });
    const asked = await range(["rb", "-r", `${root}/d`]);
    expect(asked.code).toBe(2);
    expect(asked.stderr).toMatch(/^range: this would delete 4 objects under .*pass --yes/);
    expect(existsSync(join(root, "d/a.bin"))).toBe(true);
    const r = await range(["rb", "-r", "--yes", "--json", `${root}/d`]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ removed: fileUri(`${root}/d/`), deleted: 4 });
    expect(existsSync(join(root, "d"))).toBe(false);
    expect(existsSync(join(root, "keep.txt"))).toBe(true);
  });

  it("rb -r stops at what is not an object (a symbolic link) and says so", async () => {
    await symlink(join(root, "keep.txt"), join(root, "d/link"));
    const r = await range(["rb", "-r", "--yes", `${root}/d/`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/still holds entries that are not objects/);
    expect(await readdir(join(root, "d"))).toEqual(["link"]);
    expect(existsSync(join(root, "keep.txt"))).toBe(true);
  });

  it("rb of a file is an error, and mb / rb take a bucket, not a key", async () => {
    expect((await range(["rb", `${root}/keep.txt`])).stderr).toMatch(/is not a directory/);
    for (const args of [["mb", "memory://"], ["mb", "memory://b/key"], ["rb", "memory://b/prefix/"], ["rb", "file:///"]]) {
      const r = await range(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr).toMatch(/^range: .*(needs a bucket name|takes a bucket|needs a directory below)/);
    }
  });
});

describe("range bench", () => {
  it("writes, reads and deletes a test object on file://", async () => {
    await mkdir(join(root, "bench"));
    const r = await range(["bench", "--size", "5MiB", "--iterations", "2", "--json", fileUri(`${root}/bench/`)]);
    expect(r.code, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { size: number; iterations: number; write: { mbPerSec: number }; reads: unknown[]; readMedianMbPerSec: number };
    expect(result).toMatchObject({ size: 5 * 1024 * 1024, iterations: 2 });
    expect(result.reads).toHaveLength(2);
    expect(result.readMedianMbPerSec).toBeGreaterThan(0);
    expect(result.write.mbPerSec).toBeGreaterThan(0);
    expect(await readdir(join(root, "bench"))).toEqual([]);
  });

  it("deletes the test object when interrupted (exit 130)", async () => {
    const dir = join(root, "bench-int");
    await mkdir(dir);
    const child = start(["bench", "--size", "256MiB", "--iterations", "50", `${dir}/`]);
    const done = finish(child);
    // Interrupt in the read phase, once the object is in place (no temp file any more).
    for (let i = 0; i < 400; i++) {
      const names = await readdir(dir);
      if (names.some((n) => n.startsWith(".range-bench-") && !n.endsWith(".range-tmp"))) break;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect((await readdir(dir)).filter((n) => !n.endsWith(".range-tmp"))).toHaveLength(1);
    child.kill("SIGINT");
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).toBe("range: interrupted\n");
    expect(await readdir(dir)).toEqual([]);
  });

  it("prints a readable report", async () => {
    await mkdir(join(root, "bench2"));
    const r = await range(["bench", "--size", "1MiB", "--iterations", "1", `${root}/bench2`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^bench file:\/\/.*\/bench2\/: one 1 MiB object, 1 read\n {2}write +[\d.]+ MB\/s/);
    expect(r.stdout).toMatch(/read median +[\d.]+ MB\/s\n$/);
    expect(await readdir(join(root, "bench2"))).toEqual([]);
  });
});
