import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** The monorepo root (the directory holding pnpm-workspace.yaml) above `from`, or undefined. */
export function findWorkspaceRoot(from: string = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = resolve(from); ; dir = dirname(dir)) {
    if (existsSync(join(dir, "pnpm-workspace.yaml"))) return dir;
    if (dirname(dir) === dir) return undefined;
  }
}

/**
 * Where installed servers are kept: `$RANGE_TEST_SERVERS_CACHE`, else `<repo>/.cache/test-servers` (git-ignored), else
 * a folder in the system temp dir when the kit runs outside the repository.
 */
export function cacheRoot(): string {
  const fromEnv = process.env.RANGE_TEST_SERVERS_CACHE;
  if (fromEnv) return resolve(fromEnv);
  const root = findWorkspaceRoot();
  return root ? join(root, ".cache", "test-servers") : join(tmpdir(), "range-test-servers-cache");
}
