import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { PassThrough, Writable } from "node:stream";
import { beforeAll, describe, expect, it } from "vitest";
import { createMemoryStore, createObjectStore, registerBackend, unregisterBackend, type StoreDriver } from "@range/core";
import { runCli } from "../src/index.js";
import { CLI, finish, range, start, useTempDir, writeTree } from "./helpers.js";

const tempDir = useTempDir();
let root: string;

beforeAll(async () => {
  root = tempDir();
  await writeTree(root, { "data/a.bin": "aaaa", "data/b.bin": "bb" });
});

const COMMANDS = ["ls", "stat", "get", "put", "cp", "rm", "mb", "rb", "bench", "completion"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("help and version", () => {
  it("range --help lists every command, the global options, examples and exit codes", async () => {
    const r = await range(["--help"]);
    expect(r.code).toBe(0);
    for (const command of COMMANDS) expect(r.stdout).toMatch(new RegExp(`^  ${command} `, "m"));
    for (const option of ["--chunk-size", "--concurrency", "--timeout", "--json", "--quiet", "--no-progress", "--endpoint", "--debug"]) {
      expect(r.stdout).toContain(option);
    }
    expect(r.stdout).toContain("Examples:");
    expect(r.stdout).toContain("Exit codes: 0 ok, 1 failure, 2 usage error, 3 not found");
    expect(r.stdout).not.toMatch(/^ {2}list /m); // the deprecated alias stays out of the listing
  });

  it.each(COMMANDS)("range %s --help shows its usage, options, the global options and examples", async (command) => {
    const r = await range([command, "--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage: range ${command} `));
    expect(r.stdout).toContain("Global Options:");
    expect(r.stdout).toContain("Examples:");
  });

  it("-h is help everywhere but on ls, where it means --human-readable", async () => {
    expect((await range(["-h"])).stdout).toMatch(/^Usage: range /);
    expect((await range(["cp", "-h"])).stdout).toMatch(/^Usage: range cp /);
    const ls = await range(["ls", "-h", `${root}/data/`]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^\s+4 B {2}\d{4}-.* a\.bin\n/);
  });

  it("global options work before or after the command name", async () => {
    const before = await range(["--json", "stat", `${root}/data/a.bin`]);
    const after = await range(["stat", `${root}/data/a.bin`, "--json"]);
    expect(JSON.parse(before.stdout)).toEqual(JSON.parse(after.stdout));
  });

  it("range help <command> works too, and --version prints the version", async () => {
    expect((await range(["help", "cp"])).stdout).toMatch(/^Usage: range cp /);
    expect((await range(["--version"])).stdout).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});

describe("--json and --quiet on every command", () => {
  /** Each command once, on a fresh tree under `dir`; commands that print nothing but data are left out (get -). */
  const commands = (dir: string): string[][] => [
    ["mb", `${dir}/bucket`],
    ["put", `${dir}/src/a.bin`, `${dir}/bucket/a.bin`],
    ["ls", "-r", `${dir}/bucket/`],
    ["ls", "memory://"],
    ["stat", `${dir}/bucket/a.bin`],
    ["get", `${dir}/bucket/a.bin`, `${dir}/got.bin`],
    ["get", "--offset", "1", "--length", "2", `${dir}/bucket/a.bin`, `${dir}/range.bin`],
    ["cp", `${dir}/bucket/a.bin`, `${dir}/bucket/b.bin`],
    ["cp", "-r", `${dir}/bucket/`, `${dir}/copy/`],
    ["bench", "--size", "1MiB", "--iterations", "1", `${dir}/copy/`],
    ["rm", `${dir}/copy/a.bin`],
    ["rm", "-r", "--yes", `${dir}/copy/`],
    ["rb", "-r", "--yes", `${dir}/bucket`],
  ];

  it("--json: each prints exactly one JSON document on stdout and nothing on stderr", async () => {
    const dir = join(root, "json-all");
    await writeTree(dir, { "src/a.bin": "abcdef" });
    for (const args of commands(dir)) {
      const r = await range([...args, "--json"]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      expect(() => JSON.parse(r.stdout), args.join(" ")).not.toThrow(); // two documents, or text around one, would not parse
      expect(r.stderr, args.join(" ")).toBe("");
    }
  });

  it("--quiet: each prints nothing at all on success", async () => {
    const dir = join(root, "quiet-all");
    await writeTree(dir, { "src/a.bin": "abcdef" });
    for (const args of commands(dir).filter(([command]) => command !== "ls" && command !== "stat")) {
      const r = await range([...args, "--quiet"]);
      expect(r.code, `${args.join(" ")}: ${r.stderr}`).toBe(0);
      expect(r.stdout + r.stderr, args.join(" ")).toBe("");
    }
    expect(existsSync(join(dir, "bucket"))).toBe(false);
    expect((await readdir(dir)).sort()).toEqual(["copy", "got.bin", "range.bin", "src"]); // rm -r keeps the directory named
  });
});

describe("exit codes and error lines", () => {
  it.each([
    [["ls"], /missing required argument 'uri'/],
    [["ls", "--bogus", "x"], /unknown option '--bogus'/],
    [["frobnicate"], /unknown command 'frobnicate'/],
    [["get", "--chunk-size", "lots", "x"], /invalid size "lots"/],
    [["get", "--concurrency", "0", "x"], /expected a positive integer/],
    [["get", "--timeout", "soon", "x"], /invalid duration "soon"/],
    [["cp", "-r", "--jobs", "-3", "a", "b"], /./],
  ])("%j is a usage error: exit 2, one line", async (args, message) => {
    const r = await range(args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^range: .+\n$/);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe("");
  });

  it("an engine option the core rejects is a usage error too", async () => {
    const r = await range(["stat", "--chunk-size", "5TiB", `${root}/data/a.bin`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^range: chunkSize must be an integer between/);
  });

  it("an unknown scheme is a usage error naming the known ones", async () => {
    const r = await range(["ls", "nope://bucket/"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^range: no backend for "nope:\/\/"; known schemes: .*file/);
  });

  it("not found is exit 3", async () => {
    expect((await range(["stat", `${root}/data/missing.bin`])).code).toBe(3);
  });

  it("--debug adds the stack", async () => {
    const r = await range(["stat", "--debug", `${root}/data/missing.bin`]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/^range: NotFoundError: .*\n\s+at /);
  });
});

describe("secrets", () => {
  it("credentials in a URI never reach the output", async () => {
    const r = await range(["ls", "s3://AKIAEXAMPLE:SECRETKEY123@bucket/x"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^range: .*credentials in a URI are not accepted/);
    expect(r.stderr).not.toContain("SECRETKEY123");
    const debug = await range(["cp", "--debug", "memory://AKIAEXAMPLE:SECRETKEY123@bucket/x", "-"]);
    expect(debug.stderr).not.toContain("SECRETKEY123");
  });

  it("a signature in a key is redacted from error messages, with and without --debug", async () => {
    for (const flag of [[], ["--debug"]]) {
      const r = await range(["stat", ...flag, `file://${root}/data/x.bin?X-Amz-Signature=SIGSECRET0123&X-Amz-Credential=CREDSECRET`]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain("X-Amz-Signature=[REDACTED]");
      expect(r.stderr).not.toContain("SIGSECRET0123");
      expect(r.stderr).not.toContain("CREDSECRET");
    }
  });
});

describe("progress", () => {
  it("draws nothing when stderr is not a terminal, even for a long transfer", async () => {
    const child = start(["put", "-", `${root}/progress/piped.bin`]);
    const done = finish(child);
    for (let i = 0; i < 6; i++) {
      child.stdin!.write(Buffer.alloc(256 * 1024, i));
      await sleep(200);
    }
    child.stdin!.end();
    const r = await done;
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^uploaded 1 object, 1.5 MiB/);
  });

  /** A fake terminal for stderr: what a user would see, as written. */
  class Terminal extends Writable {
    readonly isTTY = true;
    readonly columns = 120;
    text = "";
    override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
      this.text += chunk.toString("utf8");
      callback();
    }
  }

  async function slowPut(args: string[], writes: number, pauseMs = 150): Promise<{ code: number; stderr: string; stdout: string }> {
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const stderr = new Terminal();
    let out = "";
    stdout.on("data", (d: Buffer) => (out += d.toString()));
    const running = runCli(["put", ...args, "-", `${root}/progress/tty-${writes}-${args.join("")}.bin`], { stdin, stdout, stderr, cwd: root });
    for (let i = 0; i < writes; i++) {
      stdin.write(Buffer.alloc(512 * 1024, i));
      await sleep(pauseMs);
    }
    stdin.end();
    const code = await running;
    return { code, stderr: stderr.text, stdout: out };
  }

  it("on a terminal, draws bytes and rate once a transfer has lasted half a second, then clears it", async () => {
    const r = await slowPut([], 8);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/\d+(\.\d+)? (KiB|MiB) \| [\d.]+ MB\/s/);
    expect(r.stdout).toMatch(/^uploaded 1 object, 4 MiB/);
  });

  it("on a terminal, draws nothing for a short transfer or with --no-progress / --json / --quiet", async () => {
    expect((await slowPut([], 2, 0)).stderr).toBe("");
    for (const flag of ["--no-progress", "--json", "--quiet"]) expect((await slowPut([flag], 6)).stderr).toBe("");
  });

  it("put of a file: percent and ETA, counted as the backend takes the bytes (core's put onProgress)", async () => {
    // A backend that stores each 1 MiB chunk 150 ms after it asked for it: the upload itself is the slow part.
    const backing = createMemoryStore();
    const driver: StoreDriver = {
      scheme: "slowput",
      stat: (key) => backing.stat(key),
      read: (key, offset, length) => backing.getRange(key, offset, length),
      async write(key, data) {
        const chunks: Uint8Array[] = [];
        if (data instanceof Uint8Array) chunks.push(data);
        else {
          for await (const chunk of data) {
            chunks.push(chunk);
            await sleep(150);
          }
        }
        return backing.put(key, Buffer.concat(chunks));
      },
      list: (prefix, opts) => backing.list(prefix, opts),
      delete: (key) => backing.delete(key),
    };
    registerBackend({ scheme: "slowput", create: () => createObjectStore(driver) }, { replace: true });
    const file = join(root, "progress/known-size.bin");
    await writeTree(root, { "progress/known-size.bin": Buffer.alloc(6 * 1024 * 1024, 5) });
    const stderr = new Terminal();
    const stdout = new PassThrough();
    let out = "";
    stdout.on("data", (d: Buffer) => (out += d.toString()));
    try {
      const code = await runCli(["put", file, "slowput://b/known.bin"], { stdin: new PassThrough(), stdout, stderr, cwd: root });
      expect(code).toBe(0);
    } finally {
      unregisterBackend("slowput");
    }
    expect(stderr.text).toMatch(/ \d+% \| [\d.]+ MiB \/ 6 MiB \| [\d.]+ MB\/s \| ETA \d+s/);
    // Frames only ever show what the backend had taken: whole MiB, rising.
    const shown = [...stderr.text.matchAll(/\| ([\d.]+) MiB \/ 6 MiB/g)].map((m) => Number(m[1]));
    expect(shown.length).toBeGreaterThan(0);
    for (const mib of shown) expect(Number.isInteger(mib)).toBe(true);
    expect(shown).toEqual([...shown].sort((a, b) => a - b));
    expect(out).toMatch(/^uploaded 1 object, 6 MiB/);
    expect((await backing.stat("known.bin")).size).toBe(6 * 1024 * 1024);
  });
});

describe("progress on a real terminal (a pseudo-terminal from script(1))", () => {
  const hasScript = (() => {
    try {
      execFileSync("script", ["--version"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  })();

  /** Runs a shell pipeline with a pseudo-terminal as its stderr; returns everything the terminal showed. */
  function onTerminal(pipeline: string): string {
    return execFileSync("script", ["-qfec", pipeline, "/dev/null"], { encoding: "utf8", timeout: 60_000, env: process.env });
  }

  /** A reader that stalls 20 ms per chunk: range waits on the pipe, so the transfer lasts long enough to draw. */
  const slowReader = `${JSON.stringify(process.execPath)} -e 'process.stdin.on("data",()=>{process.stdin.pause();setTimeout(()=>process.stdin.resume(),20)})'`;

  it.skipIf(!hasScript)("draws the bar with percent, sizes, rate and ETA, then removes it and restores the cursor", async () => {
    const source = join(root, "tty-source.bin");
    await writeFile(source, Buffer.alloc(6 * 1024 * 1024, 1));
    const shown = onTerminal(`${JSON.stringify(process.execPath)} ${CLI} get ${source} - | ${slowReader}`);
    expect(shown).toMatch(/\u2588+\u2591* +\d+% \| [\d.]+ (KiB|MiB) \/ 6 MiB \| [\d.]+ MB\/s \| ETA \d+s/);
    expect(shown).toContain("\u001b[?25l"); // cursor hidden while drawing
    expect(shown.slice(shown.lastIndexOf("%"))).toContain("\u001b[?25h"); // and shown again after the last frame
    expect(shown).not.toMatch(/at .*\.js:\d+/); // no stack
  });

  it.skipIf(!hasScript)("draws nothing on the terminal with --no-progress, --quiet or --json", async () => {
    const source = join(root, "tty-source-quiet.bin");
    await writeFile(source, Buffer.alloc(4 * 1024 * 1024, 2));
    for (const flag of ["--no-progress", "--quiet", "--json"]) {
      expect(onTerminal(`${JSON.stringify(process.execPath)} ${CLI} get ${flag} ${source} - | ${slowReader}`), flag).toBe("");
    }
  });
});

describe("rm -r on a terminal", () => {
  async function rmWithAnswer(dir: string, answer: string): Promise<{ code: number; prompt: string }> {
    const stdin = Object.assign(new PassThrough(), { isTTY: true });
    const stderr = new PassThrough();
    let prompt = "";
    stderr.on("data", (d: Buffer) => (prompt += d.toString()));
    const running = runCli(["rm", "-r", dir], { stdin, stdout: new PassThrough(), stderr, cwd: root });
    while (!prompt.includes("[y/N]")) await sleep(10);
    stdin.write(answer);
    return { code: await running, prompt };
  }

  it("asks before deleting and deletes on y", async () => {
    await writeTree(root, { "ask/a": "1", "ask/b/c": "2" });
    const r = await rmWithAnswer(`${root}/ask/`, "y\n");
    expect(r.prompt).toBe(`Delete 2 objects under file://${root}/ask/? [y/N] `);
    expect(r.code).toBe(0);
    expect(await readdir(join(root, "ask"))).toEqual([]);
  });

  it("deletes nothing on any other answer (exit 1)", async () => {
    await writeTree(root, { "keep/a": "1" });
    const r = await rmWithAnswer(`${root}/keep`, "\n");
    expect(r.code).toBe(1);
    expect(await readdir(join(root, "keep"))).toEqual(["a"]);
  });
});

describe("Ctrl-C", () => {
  it("aborts a put from a stdin that stays open: exit 130, no object, no temp file", async () => {
    const dir = join(root, "interrupt");
    const child = start(["put", "-", `file://${dir}/key.bin`]);
    const done = finish(child);
    for (let i = 0; i < 3; i++) {
      child.stdin!.write(Buffer.alloc(1024 * 1024, i));
      await sleep(100);
    }
    // The upload is under way once its temporary file exists.
    for (let i = 0; i < 100 && !(existsSync(dir) && (await readdir(dir)).some((f) => f.endsWith(".range-tmp"))); i++) await sleep(50);
    expect((await readdir(dir)).some((f) => f.endsWith(".range-tmp"))).toBe(true);
    child.kill("SIGINT"); // the pipe stays open: only the abort can end the upload
    const r = await done;
    expect(r.code).toBe(130);
    expect(r.stderr).toBe("range: interrupted\n");
    expect(existsSync(join(dir, "key.bin"))).toBe(false);
    expect((await readdir(dir)).filter((f) => f.includes(".range-tmp"))).toEqual([]);
    child.stdin!.destroy();
  });

  it("SIGTERM aborts the same way, with exit code 143", async () => {
    const dir = join(root, "terminate");
    const child = start(["cp", "-", `${dir}/key.bin`]);
    const done = finish(child);
    child.stdin!.write(Buffer.alloc(1024 * 1024));
    for (let i = 0; i < 200 && !(existsSync(dir) && (await readdir(dir)).some((f) => f.endsWith(".range-tmp"))); i++) await sleep(25);
    child.kill("SIGTERM");
    const r = await done;
    expect(r.code).toBe(143);
    expect(await readdir(dir)).toEqual([]);
    child.stdin!.destroy();
  });

  it("aborts a bulk get waiting on --keys-from - : exit 130, no partial files", async () => {
    const dest = join(root, "interrupt-get");
    const child = start(["get", "--keys-from", "-", `${root}/data/`, `${dest}/`]);
    const done = finish(child);
    // More keys than a pipe holds: the write completes only once the CLI is reading them (its Ctrl-C handler is in
    // place by then, however slowly the process started); then the list never ends, stdin stays open.
    await new Promise<void>((resolve, reject) =>
      child.stdin!.write("a.bin\n".repeat(200_000), (error) => (error ? reject(error) : resolve())),
    );
    child.kill("SIGINT");
    const r = await done;
    expect(r.code).toBe(130);
    expect(existsSync(dest)).toBe(false);
    child.stdin!.destroy();
  });
});

describe("completion", () => {
  it("prints a bash script with every command that bash accepts", async () => {
    const r = await range(["completion", "bash"]);
    expect(r.code).toBe(0);
    for (const command of COMMANDS) expect(r.stdout).toContain(command);
    expect(r.stdout).toContain("--chunk-size");
    expect(r.stdout).toContain("complete -o default -o filenames -F _range_complete range");
    const file = join(root, "completion.bash");
    await writeFile(file, r.stdout);
    execFileSync("bash", ["-n", file]);
    // And it completes: "range c<TAB>" offers cp and completion.
    const offered = execFileSync("bash", ["-c", `source ${file}; COMP_WORDS=(range c); COMP_CWORD=1; _range_complete; echo "\${COMPREPLY[@]}"`], {
      encoding: "utf8",
    });
    expect(offered.trim().split(" ").sort()).toEqual(["completion", "cp"]);
  });

  it("zsh gets the same script through bashcompinit; other shells are a usage error", async () => {
    expect((await range(["completion", "zsh"])).stdout).toMatch(/^autoload -U \+X bashcompinit && bashcompinit\n/);
    expect((await range(["completion", "fish"])).code).toBe(2);
  });
});
