import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createFileStore } from "@range/file";
import { afterAll } from "vitest";
import { checkpointSuite } from "./suite.js";

const roots: string[] = [];
afterAll(async () => {
  for (const root of roots) await rm(root, { recursive: true, force: true });
});

checkpointSuite("the file backend", async () => {
  const root = await mkdtemp(join(tmpdir(), "range-checkpoint-"));
  roots.push(root);
  return createFileStore({ root, fsync: true });
});
