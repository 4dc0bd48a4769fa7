import { azureBackend } from "./azure.js";
import { directioBackend } from "./directio.js";
import { fileBackend } from "./file.js";
import { gcsBackend } from "./gcs.js";
import { memoryBackend } from "./memory.js";
import { s3Backend } from "./s3.js";
import type { BenchBackend } from "./types.js";

/**
 * Every backend the suite knows, in report order. A new backend is one module exporting a {@link BenchBackend}
 * (how to start it, how a worker opens our store and its peers on it) and one line here.
 */
export const backends: BenchBackend[] = [memoryBackend, fileBackend, directioBackend, s3Backend, azureBackend, gcsBackend];

export function backendNamed(name: string): BenchBackend | undefined {
  return backends.find((b) => b.name === name);
}

/**
 * `--backends`: undefined → the embedded ones (no server); `all` → every backend; otherwise a comma-separated list
 * that may also contain `all` or `embedded`.
 */
export function selectBackends(spec: string | undefined): { selected: BenchBackend[]; unknown: string[] } {
  const names = (spec ?? "embedded").split(",").map((s) => s.trim()).filter(Boolean);
  const picked = new Set<BenchBackend>();
  const unknown: string[] = [];
  for (const name of names) {
    if (name === "all") backends.forEach((b) => picked.add(b));
    else if (name === "embedded") backends.filter((b) => b.embedded).forEach((b) => picked.add(b));
    else {
      const backend = backendNamed(name);
      if (backend) picked.add(backend);
      else unknown.push(name);
    }
  }
  return { selected: backends.filter((b) => picked.has(b)), unknown };
}
