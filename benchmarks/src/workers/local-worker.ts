/**
 * Child process for the local-backend scenarios: measures `get` in a process whose environment differs from the
 * bench's — `RANGE_ALIGNED_MEMORY=wasm` (the allocator kind is fixed when @range/aligned-memory loads) or another
 * `UV_THREADPOOL_SIZE` (fixed when libuv starts its pool). Reads a JSON job on stdin, prints JSON results on stdout;
 * progress goes to stderr. Not a public entry point: `src/lib/local.ts` (runWorker) starts it.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";
import { allocateAligned, allocatorKind } from "@range/aligned-memory";
import type { ObjectStore, RangeEngineOptions } from "@range/core";
import { createDirectIoStore } from "@range/directio";
import { createFileStore } from "@range/file";
import { enableGc } from "../lib/gc.js";
import { interleave, settle, type Case, type Sample } from "../lib/local.js";

export interface WorkerCase {
  id: string;
  /** readFile: `fs.promises.readFile(path)`; get: `store.get(key)`; getInto: `store.get(key, { into })`, reused. */
  kind: "readFile" | "get" | "getInto";
  /** file store only: `createFileStore({ root, hugePages })`. */
  hugePages?: boolean;
  /** Passed as `GetOptions.engine`. */
  engine?: RangeEngineOptions;
}

export interface WorkerInput {
  store: "file" | "directio";
  root: string;
  key: string;
  /** Measured rounds, after one warm-up round that also verifies every case's bytes. */
  iterations: number;
  cases: WorkerCase[];
}

export interface WorkerOutput {
  allocatorKind: string;
  uvThreadpoolSize: string | null;
  size: number;
  /** Case ids whose warm-up result was compared with the reference read (Buffer.equals) and matched. */
  verified: string[];
  samples: Record<string, Sample[]>;
}

async function readStdin(): Promise<string> {
  let text = "";
  process.stdin.setEncoding("utf8");
  for await (const chunk of process.stdin) text += chunk as string;
  return text;
}

async function main(): Promise<void> {
  enableGc();
  const input = JSON.parse(await readStdin()) as WorkerInput;
  const file = path.join(input.root, ...input.key.split("/"));
  const log = (message: string) => process.stderr.write(`${message}\n`);

  const stores = new Map<string, ObjectStore>();
  const storeFor = (c: WorkerCase): ObjectStore => {
    const id = input.store === "directio" ? "directio" : `file:${c.hugePages ?? "default"}`;
    let store = stores.get(id);
    if (!store) {
      store =
        input.store === "directio"
          ? createDirectIoStore({ root: input.root })
          : createFileStore({ root: input.root, ...(c.hugePages !== undefined ? { hugePages: c.hugePages } : {}) });
      stores.set(id, store);
    }
    return store;
  };

  // The reference read, untimed: every case's warm-up result must equal it byte for byte.
  let reference: Buffer | undefined = await readFile(file);
  const size = reference.length;
  let into: Uint8Array | undefined;
  if (input.cases.some((c) => c.kind === "getInto")) {
    // directio needs aligned memory to read straight into; the file store takes any buffer.
    into = input.store === "directio" ? allocateAligned(size) : Buffer.allocUnsafeSlow(size);
    into.fill(0xa5); // touched: its pages are mapped before the first measurement
  }
  const verified: string[] = [];
  const cases: Case<Uint8Array>[] = input.cases.map((c) => {
    const opts = c.engine ? { engine: c.engine } : {};
    const run =
      c.kind === "readFile"
        ? () => readFile(file)
        : c.kind === "get"
          ? () => storeFor(c).get(input.key, opts)
          : () => storeFor(c).get(input.key, { ...opts, into: into! });
    return {
      id: c.id,
      run,
      ...(c.kind === "getInto" ? { prepare: () => into!.fill(0) } : {}),
      verify: (bytes: Uint8Array) => {
        const ok = bytes.length === size && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).equals(reference!);
        if (!ok) throw new Error(`WRONG BYTES: case ${c.id} (${c.kind}) returned bytes that differ from the reference read`);
        verified.push(c.id);
      },
    };
  });
  // Drop the reference once every case is verified (the warm-up round): it is 1 GiB the measurements do not need.
  const lastVerify = cases.at(-1)!;
  const originalVerify = lastVerify.verify!;
  lastVerify.verify = async (bytes) => {
    await originalVerify(bytes);
    reference = undefined;
  };

  log(`allocator ${allocatorKind}, UV_THREADPOOL_SIZE ${process.env.UV_THREADPOOL_SIZE ?? "(default 4)"}, ${input.cases.length} case(s)`);
  const samples = await interleave(cases, input.iterations, log);
  for (const store of stores.values()) await store.close();
  into = undefined;
  await settle();

  const output: WorkerOutput = {
    allocatorKind,
    uvThreadpoolSize: process.env.UV_THREADPOOL_SIZE ?? null,
    size,
    verified,
    samples: Object.fromEntries(samples),
  };
  process.stdout.write(`${JSON.stringify(output)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exitCode = error instanceof Error && error.message.startsWith("WRONG BYTES") ? 3 : 1;
});
