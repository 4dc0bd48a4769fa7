import { resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { openStore, resolveEngineOptions, type ObjectStore, type RangeEngineOptions } from "@range/core";
import { createOpLog, withOpLog, type OpLog } from "@range/oplog";
import type { StoreLocation } from "./location.js";
import { NO_PROGRESS, TransferProgress, type Progress, type ProgressOptions } from "./progress.js";

/** Where the CLI reads and writes; `runCli` defaults each to the process's own. */
export interface CliIo {
  stdin: Readable & { isTTY?: boolean };
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable & { isTTY?: boolean };
  /** Resolves plain paths. */
  cwd: string;
  /** Aborting it stops the running command (the `range` binary aborts it on Ctrl-C): exit code 130. */
  signal?: AbortSignal;
}

/** The options every command takes (see `range --help`). */
export interface GlobalOptions {
  chunkSize?: number;
  concurrency?: number;
  timeout?: number;
  json?: boolean;
  quiet?: boolean;
  progress?: boolean;
  endpoint?: string;
  debug?: boolean;
  /** --oplog FILE: record every storage operation of the command (see @range/oplog). */
  oplog?: string;
}

/** Schemes that take no `endpoint` option. */
const NO_ENDPOINT = new Set(["file", "directio", "memory"]);

/** What a running command needs: output, options, the abort signal, and the stores it opened (closed at the end). */
export class CommandContext {
  readonly io: CliIo;
  readonly options: GlobalOptions;
  readonly signal: AbortSignal;
  /** Engine settings from --chunk-size / --concurrency / --timeout; undefined leaves each store's defaults. */
  readonly engine: RangeEngineOptions | undefined;
  readonly #stores = new Map<string, Promise<ObjectStore>>();
  readonly #progress = new Set<Progress>();
  /** The --oplog file, opened with the first store. */
  #opLog: OpLog | undefined;

  constructor(io: CliIo, options: GlobalOptions, signal: AbortSignal) {
    this.io = io;
    this.options = options;
    this.signal = signal;
    const engine: RangeEngineOptions = {
      ...(options.chunkSize !== undefined ? { chunkSize: options.chunkSize } : {}),
      ...(options.concurrency !== undefined ? { maxConcurrentRanges: options.concurrency } : {}),
      ...(options.timeout !== undefined ? { rangeTimeoutMs: options.timeout } : {}),
    };
    // Checked now, before any I/O: a bad value is a usage error (RangeConfigError → exit 2).
    if (Object.keys(engine).length > 0) resolveEngineOptions(engine);
    this.engine = Object.keys(engine).length > 0 ? engine : undefined;
  }

  get json(): boolean {
    return this.options.json === true;
  }

  get quiet(): boolean {
    return this.options.quiet === true;
  }

  /** `{ engine }` for GetOptions when any engine flag was given. */
  get engineOption(): { engine?: RangeEngineOptions } {
    return this.engine ? { engine: this.engine } : {};
  }

  /** What the command line sets for a backend (`--endpoint`); undefined leaves it all to the environment. */
  backendOptions(scheme: string): { endpoint: string } | undefined {
    return this.options.endpoint !== undefined && !NO_ENDPOINT.has(scheme) ? { endpoint: this.options.endpoint } : undefined;
  }

  /** Opens (once per command) the store a location lives in. */
  open(location: StoreLocation): Promise<ObjectStore> {
    let store = this.#stores.get(location.storeUri);
    if (!store) {
      store = openStore(location.storeUri, this.backendOptions(location.scheme));
      if (this.options.oplog !== undefined) store = store.then((opened) => withOpLog(opened, { log: this.#openOpLog() }));
      store.catch(() => {});
      this.#stores.set(location.storeUri, store);
    }
    return store;
  }

  /** Writes text to stdout, waiting when the pipe is full (a listing of millions of keys stays in bounded memory). */
  async write(data: string | Uint8Array): Promise<void> {
    if (!this.io.stdout.write(data)) await waitForDrain(this.io.stdout, this.signal);
  }

  async line(text: string): Promise<void> {
    await this.write(`${text}\n`);
  }

  /** A human-facing status line on stderr (suppressed by --quiet and --json). */
  note(text: string): void {
    if (!this.quiet && !this.json) this.io.stderr.write(`${text}\n`);
  }

  /** One JSON document on stdout. */
  async printJson(value: unknown): Promise<void> {
    await this.write(`${JSON.stringify(value, null, 2)}\n`);
  }

  /** A progress bar on stderr when it is a terminal and nobody asked for quiet or machine output. */
  progress(options: ProgressOptions = {}): Progress {
    const enabled = this.io.stderr.isTTY === true && !this.json && !this.quiet && this.options.progress !== false;
    if (!enabled) return NO_PROGRESS;
    const progress = new TransferProgress(this.io.stderr, options);
    this.#progress.add(progress);
    return progress;
  }

  /** Stops progress bars and closes every store the command opened. */
  async close(): Promise<void> {
    for (const progress of this.#progress) progress.stop();
    const stores = await Promise.allSettled(this.#stores.values());
    await Promise.allSettled(stores.map((s) => (s.status === "fulfilled" ? s.value.close() : undefined)));
    // After the stores: their last operations are in the log before it ends.
    await this.#opLog?.close();
  }

  #openOpLog(): OpLog {
    this.#opLog ??= createOpLog(resolve(this.io.cwd, this.options.oplog!));
    return this.#opLog;
  }
}

export function waitForDrain(stream: Writable, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off("drain", onDrain);
      stream.off("error", onError);
      stream.off("close", onDrain);
      signal.removeEventListener("abort", onAbort);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onError = (error: unknown) => {
      cleanup();
      reject(error);
    };
    const onAbort = () => {
      cleanup();
      reject(signal.reason);
    };
    stream.once("drain", onDrain);
    stream.once("error", onError);
    stream.once("close", onDrain);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
