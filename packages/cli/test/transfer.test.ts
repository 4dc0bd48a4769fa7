import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { fileUri, pattern, range, useTempDir, writeTree } from "./helpers.js";

const tempDir = useTempDir();
let root: string;
const big = pattern(9 * 1024 * 1024 + 123, 7); // above the engine's split threshold: several ranges

beforeAll(async () => {
  root = tempDir();
  await writeTree(root, {
    "src/big.bin": big,
    "src/small.txt": "small\n",
    "src/sub/a.bin": pattern(5000, 2),
    "src/sub/b.tmp": "tmp",
    "src/sub/deep/c.bin": pattern(70_000, 3),
  });
});

/** Every file below `dir`, as relative paths, sorted. */
async function tree(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe("range get", () => {
  it("downloads to the key's name in the working directory by default", async () => {
    const cwd = join(root, "get-default");
    await mkdir(cwd);
    const r = await range(["get", fileUri(`${root}/src/big.bin`)], { cwd });
    expect(r.code).toBe(0);
    // file:// to a local file: the kernel copies it (fs.copyFile), nothing passes through range.
    expect(r.stdout).toMatch(/^downloaded 1 object, 9 MiB in [\d.]+ s \([\d.]+ MB\/s\), server-side\n$/);
    expect((await readFile(join(cwd, "big.bin"))).equals(big)).toBe(true);
  });

  it("downloads into a directory (existing, or named with a trailing slash) or to a file name", async () => {
    await mkdir(join(root, "get-dir"));
    expect((await range(["get", `${root}/src/small.txt`, join(root, "get-dir")])).code).toBe(0);
    expect(await readFile(join(root, "get-dir/small.txt"), "utf8")).toBe("small\n");
    expect((await range(["get", `${root}/src/small.txt`, `${root}/get-new/`])).code).toBe(0);
    expect(await readFile(join(root, "get-new/small.txt"), "utf8")).toBe("small\n");
    expect((await range(["get", `${root}/src/big.bin`, `${root}/get-new/renamed.bin`, "--chunk-size", "1MiB", "--concurrency", "4"])).code).toBe(0);
    expect((await readFile(join(root, "get-new/renamed.bin"))).equals(big)).toBe(true);
    expect((await readdir(join(root, "get-new"))).sort()).toEqual(["renamed.bin", "small.txt"]); // no temp files left
  });

  it("streams to stdout with -", async () => {
    const r = await range(["get", fileUri(`${root}/src/big.bin`), "-"]);
    expect(r.code).toBe(0);
    expect(r.stdoutBytes.equals(big)).toBe(true);
    expect(r.stderr).toBe("");
  });

  it("--offset / --length read a byte range, to stdout or a file", async () => {
    const r = await range(["get", "--offset", "1000", "--length", "4096", `${root}/src/big.bin`, "-"]);
    expect(r.code).toBe(0);
    expect(r.stdoutBytes.equals(big.subarray(1000, 5096))).toBe(true);
    const tail = await range(["get", "--offset", "9MiB", `${root}/src/big.bin`, "-"]);
    expect(tail.stdoutBytes.equals(big.subarray(9 * 1024 * 1024))).toBe(true);
    const head = await range(["get", "--length", "10", `${root}/src/big.bin`, `${root}/range/head.bin`]);
    expect(head.code).toBe(0);
    expect((await readFile(join(root, "range/head.bin"))).equals(big.subarray(0, 10))).toBe(true);
  });

  it("a range past the end is a usage error (2); a missing object exits 3", async () => {
    const past = await range(["get", "--offset", "2", "--length", "10", `${root}/src/small.txt`, "-"]);
    expect(past.code).toBe(2);
    expect(past.stderr).toMatch(/^range: --offset 2 --length 10 passes the end of .* \(6 bytes\)\n$/);
    expect((await range(["get", "--offset", "7", `${root}/src/small.txt`, "-"])).code).toBe(2);
    const missing = await range(["get", `${root}/src/nope.bin`, `${root}/nope/`]);
    expect(missing.code).toBe(3);
    expect(existsSync(join(root, "nope"))).toBe(false);
  });

  it("--keys-from downloads the listed keys into the destination directory", async () => {
    await writeFile(join(root, "keys.txt"), "big.bin\nsub/deep/c.bin\n\n");
    const r = await range(["get", "--keys-from", join(root, "keys.txt"), fileUri(`${root}/src/`), `${root}/many`, "--json"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ objects: 2, bytes: big.length + 70_000, failed: [] });
    expect(await tree(join(root, "many"))).toEqual(["big.bin", "sub/deep/c.bin"]);
    expect((await readFile(join(root, "many/sub/deep/c.bin"))).equals(pattern(70_000, 3))).toBe(true);
  });

  it("--keys-from - reads the keys from stdin; a key with .. is refused", async () => {
    const r = await range(["get", "--keys-from", "-", `${root}/src/`, `${root}/stdin-keys/`], { input: "small.txt\n" });
    expect(r.code).toBe(0);
    expect(await tree(join(root, "stdin-keys"))).toEqual(["small.txt"]);
    const bad = await range(["get", "--keys-from", "-", `${root}/src/sub/`, `${root}/escape/`], { input: "../small.txt\n" });
    expect(bad.code).toBe(2);
    expect(existsSync(join(root, "small.txt"))).toBe(false);
  });
});

describe("range put", () => {
  it("uploads a file to a key, or under a prefix with its name", async () => {
    const r = await range(["put", `${root}/src/big.bin`, fileUri(`${root}/put/x/copy.bin`)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^uploaded 1 object, 9 MiB in/);
    expect((await readFile(join(root, "put/x/copy.bin"))).equals(big)).toBe(true);
    expect((await range(["put", "src/small.txt", "put/y/"], { cwd: root })).code).toBe(0);
    expect(await readFile(join(root, "put/y/small.txt"), "utf8")).toBe("small\n");
  });

  it("uploads stdin with -", async () => {
    const r = await range(["put", "-", `${root}/put/stdin.bin`, "--json"], { input: pattern(100_000, 9) });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ objects: 1, bytes: 100_000, src: "-", dst: fileUri(`${root}/put/stdin.bin`) });
    expect((await readFile(join(root, "put/stdin.bin"))).equals(pattern(100_000, 9))).toBe(true);
  });

  it("exits 3 for a missing file and 2 for a directory", async () => {
    expect((await range(["put", `${root}/src/nope`, `${root}/put/nope`])).code).toBe(3);
    const dir = await range(["put", `${root}/src/sub`, `${root}/put/sub`]);
    expect(dir.code).toBe(2);
    expect(dir.stderr).toMatch(/is a directory; use "range cp -r/);
  });
});

describe("range cp", () => {
  it("copies one object file → file, into a directory, or to stdout", async () => {
    const r = await range(["cp", fileUri(`${root}/src/big.bin`), fileUri(`${root}/cp1/one.bin`)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^copied 1 object, 9 MiB in [\d.]+ s \([\d.]+ MB\/s\), server-side\n$/);
    expect((await readFile(join(root, "cp1/one.bin"))).equals(big)).toBe(true);
    expect((await range(["cp", `${root}/src/small.txt`, `${root}/cp1`])).code).toBe(0);
    expect(await readFile(join(root, "cp1/small.txt"), "utf8")).toBe("small\n");
    const out = await range(["cp", `${root}/src/small.txt`, "-"]);
    expect(out.stdout).toBe("small\n");
  });

  it("copies to directio:// through put", async () => {
    const r = await range(["cp", `${root}/src/sub/a.bin`, `directio://${root}/cp-directio/a.bin`]);
    expect(r.code, r.stderr).toBe(0);
    expect((await readFile(join(root, "cp-directio/a.bin"))).equals(pattern(5000, 2))).toBe(true);
  });

  it("-r copies a prefix with --include / --exclude and --jobs, printing a JSON summary", async () => {
    const r = await range(["cp", "-r", "--exclude", "*.tmp", "--jobs", "3", "--json", `${root}/src/`, fileUri(`${root}/cp2/`)]);
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(summary).toMatchObject({ objects: 4, bytes: big.length + 6 + 5000 + 70_000, failed: [] });
    expect(summary.seconds).toEqual(expect.any(Number));
    expect(summary.mbPerSec).toEqual(expect.any(Number));
    expect(await tree(join(root, "cp2"))).toEqual(["big.bin", "small.txt", "sub/a.bin", "sub/deep/c.bin"]);
    expect((await readFile(join(root, "cp2/sub/deep/c.bin"))).equals(pattern(70_000, 3))).toBe(true);

    const only = await range(["cp", "-r", "--include", "*.bin", "--exclude", "deep/**", `${root}/src/sub`, `${root}/cp3`]);
    expect(only.code).toBe(0);
    expect(only.stdout).toMatch(/^copied 1 object, /);
    expect(await tree(join(root, "cp3"))).toEqual(["a.bin"]);
  });

  it("file:// to file:// is copied by the kernel; to directio:// and through a symlinked directory, by range", async () => {
    const kernel = await range(["cp", "-r", "--json", `${root}/src/`, `${root}/kernel/`]);
    expect(JSON.parse(kernel.stdout)).toMatchObject({ objects: 5, serverSideCopies: 5 });
    expect((await readFile(join(root, "kernel/big.bin"))).equals(big)).toBe(true);
    expect(await tree(join(root, "kernel"))).toEqual(["big.bin", "small.txt", "sub/a.bin", "sub/b.tmp", "sub/deep/c.bin"]);

    const direct = await range(["cp", "--json", `${root}/src/sub/a.bin`, `directio://${root}/kernel-directio/a.bin`]);
    expect(JSON.parse(direct.stdout)).toMatchObject({ objects: 1, serverSideCopies: 0 });

    // A store opened on the common directory refuses a path through a symlink that leads out of it: range copies.
    const outside = await mkdtemp(join(tmpdir(), "range-cli-outside-"));
    await writeTree(outside, { "linked.bin": pattern(3000, 4) });
    await symlink(outside, join(root, "src-link"));
    onTestFinished(() => rm(outside, { recursive: true, force: true }));
    const linked = await range(["cp", "--json", `${root}/src-link/linked.bin`, `${root}/kernel-link/linked.bin`]);
    expect(linked.code, linked.stderr).toBe(0);
    expect(JSON.parse(linked.stdout)).toMatchObject({ objects: 1, serverSideCopies: 0 });
    expect((await readFile(join(root, "kernel-link/linked.bin"))).equals(pattern(3000, 4))).toBe(true);
  });

  it("--keys-from copies the listed keys", async () => {
    const r = await range(["cp", "--keys-from", "-", `${root}/src/`, `${root}/cp4/`], { input: "sub/a.bin\nsmall.txt\n" });
    expect(r.code).toBe(0);
    expect(await tree(join(root, "cp4"))).toEqual(["small.txt", "sub/a.bin"]);
  });

  it("a missing key in a bulk copy is reported and exits 1, the others are copied", async () => {
    const r = await range(["cp", "--keys-from", "-", `${root}/src/`, `${root}/cp5/`], { input: "small.txt\nnope.bin\n" });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^range: .*nope\.bin → .*: .*not found\n$/);
    expect(r.stdout).toMatch(/^copied 1 object, 1 failed/);
    expect(await tree(join(root, "cp5"))).toEqual(["small.txt"]);
  });

  it("usage errors: a prefix without -r, a destination inside the source, filters without -r", async () => {
    expect((await range(["cp", `${root}/src/`, `${root}/x/`])).code).toBe(2);
    expect((await range(["cp", "-r", `${root}/src/`, `${root}/src/inner/`])).code).toBe(2);
    expect((await range(["cp", "--include", "*.bin", `${root}/src/big.bin`, `${root}/x/`])).code).toBe(2);
    expect((await range(["cp", "-r", `${root}/nothing/`, `${root}/x/`])).code).toBe(3);
    expect(existsSync(join(root, "x"))).toBe(false);
  });

  it("--quiet prints nothing on success", async () => {
    const r = await range(["cp", "-q", `${root}/src/small.txt`, `${root}/quiet/`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("");
  });

  it("--endpoint is accepted and ignored by local backends", async () => {
    const r = await range(["cp", "--endpoint", "http://127.0.0.1:9", `${root}/src/small.txt`, `${root}/endpoint/`]);
    expect(r.code, r.stderr).toBe(0);
  });
});
