#!/usr/bin/env node
// Compiles native/aligned_memory.c into build/aligned_memory.node with the system C compiler and the Node-API
// headers from the `node-api-headers` npm package: no node-gyp, no header download, nothing beyond the registry.
//
//   node scripts/build-native.mjs             build; fail loudly if it cannot (used by `pnpm build` and CI)
//   node scripts/build-native.mjs --optional  build if possible; otherwise warn and leave the pure-JS fallback
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const optional = process.argv.includes("--optional");
const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const output = join(root, "build", "aligned_memory.node");

try {
  if (process.platform !== "linux") throw new Error(`the native allocator is Linux-only (this is ${process.platform})`);
  const require = createRequire(import.meta.url);
  const headers = join(dirname(require.resolve("node-api-headers/package.json")), "include");
  mkdirSync(dirname(output), { recursive: true });
  const compiler = process.env.CC || "cc";
  // NAPI_VERSION 8 is in every Node >= 12.22; undefined symbols resolve against the running node binary.
  // Built beside the target, then renamed over it: a process that has the old addon loaded keeps its own copy
  // (rewriting a mapped shared object in place can crash it, e.g. tests running while the package rebuilds).
  const temp = `${output}.${process.pid}.tmp`;
  try {
    execFileSync(
      compiler,
      ["-O2", "-fPIC", "-shared", "-Wall", "-Werror", "-DNAPI_VERSION=8", "-DNODE_GYP_MODULE_NAME=aligned_memory",
        `-I${headers}`, join(root, "native", "aligned_memory.c"), "-o", temp],
      { stdio: "inherit" },
    );
    renameSync(temp, output);
  } finally {
    rmSync(temp, { force: true });
  }
  console.log(`@range/aligned-memory: built ${output}`);
} catch (error) {
  if (!optional) throw error;
  console.warn(`@range/aligned-memory: native allocator not built (${error.message}); using the pure-JS fallback`);
}
