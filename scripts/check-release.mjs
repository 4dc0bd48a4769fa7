#!/usr/bin/env node
// Release readiness, as a user would meet it (run by .ci/run; `pnpm check:release`):
//  1. install story: `pnpm pack` the packages, install the tarballs into a fresh project OUTSIDE the workspace, open
//     stores there, and check that no cloud SDK came along that the user did not ask for;
//  2. changesets: `changeset version` on a copy of the repository writes a CHANGELOG.md entry for every package a
//     pending changeset names, and bumps its version.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("..", import.meta.url));
const SDK_SCOPES = { aws: "@aws-sdk", azure: "@azure", google: "@google-cloud" };
let failures = 0;

function check(ok, message) {
  console.log(`${ok ? "ok  " : "FAIL"} ${message}`);
  if (!ok) failures++;
}

function run(command, args, cwd, env = {}) {
  return execFileSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
}

function pack(pkg, destination) {
  const out = run("pnpm", ["pack", "--pack-destination", destination], join(repo, "packages", pkg));
  return out.trim().split("\n").filter((line) => line.endsWith(".tgz")).pop();
}

/** A fresh npm project in the system temp dir with the given tarballs installed, like a user's app. */
function installProject(name, tarballs) {
  const dir = mkdtempSync(join(tmpdir(), `range-install-${name}-`));
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: `install-${name}`, private: true, type: "module" }));
  // NODE_PATH cleared: pnpm exports its hoisted store there for scripts, which a user's app does not have.
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", ...tarballs], dir, { NODE_PATH: "" });
  return dir;
}

function scopesIn(dir) {
  const modules = join(dir, "node_modules");
  return Object.entries(SDK_SCOPES).filter(([, scope]) => existsSync(join(modules, scope))).map(([name]) => name);
}

function runScript(dir, source) {
  writeFileSync(join(dir, "check.mjs"), source);
  return run(process.execPath, ["check.mjs"], dir, { NODE_PATH: "" }).trim();
}

// 1. Install story.
const packs = mkdtempSync(join(tmpdir(), "range-packs-"));
try {
  const tarball = (pkg) => {
    const packed = pack(pkg, packs);
    return isAbsolute(packed) ? packed : join(packs, packed);
  };
  const core = tarball("core");
  // Not on a registry yet: every workspace package a tarball depends on is installed from its own tarball too.
  const alignedMemory = tarball("aligned-memory");
  const local = installProject("file", [core, tarball("file"), alignedMemory]);
  const output = runScript(
    local,
    `import { mkdtempSync } from "node:fs";
     import { tmpdir } from "node:os";
     import { pathToFileURL } from "node:url";
     import { openStore } from "@range/core";
     const memory = await openStore("memory://install/");
     await memory.put("a.txt", new TextEncoder().encode("from memory"));
     const file = await openStore(pathToFileURL(mkdtempSync(tmpdir() + "/range-install-data-")).href);
     await file.put("b.txt", new TextEncoder().encode("from file"));
     const texts = [await memory.get("a.txt"), await file.get("b.txt")].map((b) => new TextDecoder().decode(b));
     const hint = await openStore("az://container/x").then(() => "opened?!", (e) => e.message);
     console.log(JSON.stringify({ texts, hint }));`,
  );
  const result = JSON.parse(output);
  check(result.texts[0] === "from memory" && result.texts[1] === "from file", "core + file tarballs: memory:// and file:// read back what was written");
  check(/pnpm add @range\/azure/.test(result.hint), `az:// without @range/azure gives the install hint (${result.hint})`);
  check(scopesIn(local).length === 0, `core + file bring no cloud SDK (found: ${scopesIn(local).join(", ") || "none"})`);
  rmSync(local, { recursive: true, force: true });

  if (existsSync(join(repo, "packages", "s3", "package.json"))) {
    const s3 = installProject("s3", [core, tarball("s3"), alignedMemory]);
    const scopes = scopesIn(s3);
    check(scopes.length === 1 && scopes[0] === "aws", `core + s3 bring only the AWS SDK (found: ${scopes.join(", ") || "none"})`);
    const opened = runScript(s3, `import { openStore } from "@range/core";
      const store = await openStore("s3://bucket/prefix/", { endpoint: "http://127.0.0.1:9", region: "us-east-1", credentials: { accessKeyId: "a", secretAccessKey: "b" } });
      console.log(store.scheme);`);
    check(opened === "s3", "openStore(\"s3://…\") loads @range/s3 from the installed tarball");
    rmSync(s3, { recursive: true, force: true });
  }
} finally {
  rmSync(packs, { recursive: true, force: true });
}

// 2. Changesets produce a CHANGELOG per package.
const pending = readdirSync(join(repo, ".changeset")).filter((f) => f.endsWith(".md") && f !== "README.md");
const copy = mkdtempSync(join(tmpdir(), "range-changeset-"));
try {
  cpSync(repo, copy, {
    recursive: true,
    filter: (src) => !/[\\/](node_modules|\.git|\.turbo|\.cache|dist|build)([\\/]|$)/.test(src.slice(repo.length)),
  });
  const named = new Map(); // package → summaries
  const majors = new Set(); // packages a changeset bumps by major
  for (const file of pending) {
    const [, front, body] = /^---\n([\s\S]*?)\n---\n([\s\S]*)$/.exec(readFileSync(join(repo, ".changeset", file), "utf8")) ?? [];
    for (const match of (front ?? "").matchAll(/"([^"]+)":\s*(major|minor|patch)/g)) {
      named.set(match[1], [...(named.get(match[1]) ?? []), body.trim().split("\n")[0]]);
      if (match[2] === "major") majors.add(match[1]);
    }
  }
  const before = new Map();
  const dirs = readdirSync(join(copy, "packages")).filter((d) => existsSync(join(copy, "packages", d, "package.json")));
  for (const d of dirs) before.set(d, JSON.parse(readFileSync(join(copy, "packages", d, "package.json"), "utf8")).version);
  run(process.execPath, [join(repo, "node_modules", "@changesets", "cli", "bin.js"), "version"], copy);
  check(readdirSync(join(copy, ".changeset")).every((f) => !pending.includes(f)), `changeset version consumed the ${pending.length} pending changesets`);
  for (const d of dirs) {
    const manifest = JSON.parse(readFileSync(join(copy, "packages", d, "package.json"), "utf8"));
    const major = (version) => Number(version.split(".")[0]);
    check(
      majors.has(manifest.name) || major(manifest.version) === major(before.get(d)),
      `${manifest.name}: no major bump nobody asked for (${before.get(d)} → ${manifest.version}; a peer range that core's next version leaves would force one)`,
    );
    const summaries = named.get(manifest.name);
    if (!summaries) continue;
    const changelog = join(copy, "packages", d, "CHANGELOG.md");
    const text = existsSync(changelog) ? readFileSync(changelog, "utf8") : "";
    check(
      manifest.version !== before.get(d) && text.includes(`## ${manifest.version}`) && summaries.every((s) => text.includes(s.slice(0, 40))),
      `${manifest.name}: ${before.get(d)} → ${manifest.version}, CHANGELOG.md has the entry`,
    );
  }
} finally {
  rmSync(copy, { recursive: true, force: true });
}

console.log(`${failures === 0 ? "release checks passed" : `${failures} release check(s) FAILED`}`);
process.exit(failures === 0 ? 0 : 1);
