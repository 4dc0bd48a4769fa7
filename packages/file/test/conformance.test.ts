import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { runObjectStoreConformance } from "@range/conformance";
import { createFileStore } from "../src/index.js";

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "range-file-conformance-"));
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

runObjectStoreConformance({
  name: "file",
  create: async () => createFileStore({ root }),
  capabilities: { listPagination: true },
});

runObjectStoreConformance({
  name: "file (fsync, follow symlinks)",
  create: async () => createFileStore({ root, fsync: true, followSymlinks: true }),
  capabilities: { largePutSize: false, defaultThresholdObjects: false },
});
