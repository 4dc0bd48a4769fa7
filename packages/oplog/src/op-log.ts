import { closeSync, constants as fsConstants, openSync } from "node:fs";
import { Worker } from "node:worker_threads";
import * as zlib from "node:zlib";
import { BackendError, RangeConfigError } from "@range/core";
import { METHODS, OP_NAMES, REQUEST_OP } from "./ops.js";
import { FIELDS, writerThreadSource, type BatchMessage, type FromWriter, type ToWriter } from "./writer-thread.js";

export type OpLogFormat = "tsv" | "jsonl";
export type OpLogCompression = "gzip" | "zstd" | "none";
/**
 * What happens when `maxBufferedOps` entries wait for the writer thread (a disk slower than the operations):
 * `"drop"` records nothing more until there is room and counts what it missed (`stats().dropped`, and a comment at
 * the end of the file): the storage operations never wait for the log. `"block"` makes each operation wait for room
 * before it returns: nothing is lost, and the log can slow the workload down.
 */
export type OverflowPolicy = "drop" | "block";

export interface OpLogOptions {
  /** Default from the file name: `.jsonl` / `.ndjson` (before any `.gz` / `.zst`) → JSON lines, else TSV. */
  format?: OpLogFormat;
  /**
   * Default from the file name: `.gz` → gzip, `.zst` → zstd (needs a Node with `zlib.createZstdCompress`, 22.15+),
   * `.tsv` / `.jsonl` / `.ndjson` / `.txt` → none, anything else → gzip.
   */
  compression?: OpLogCompression;
  /** Compression level (default: gzip 1, which measured 3.5× faster than 6 on op-log lines for 6% more bytes; zstd 3). */
  level?: number;
  /** Entries that may wait for the writer thread before `onOverflow` applies (default 65 536, ~10 MB). */
  maxBufferedOps?: number;
  /** Default `"drop"`. */
  onOverflow?: OverflowPolicy;
  /** Entries per batch handed to the writer thread (default 4096). */
  batchSize?: number;
  /** A partly filled batch is written (and the compressor flushed) after this long (default 1000 ms). */
  flushIntervalMs?: number;
  /** The `client_id` column (default ""). */
  clientId?: string;
}

export interface OpLogStats {
  /** Operations entered into the log. */
  recorded: number;
  /** Operations not logged because the buffer was full (`onOverflow: "drop"`), the writer failed, or after close. */
  dropped: number;
  /** Entries the writer thread has written to the file. */
  written: number;
  /** Entries waiting (in the current batch or at the writer thread). */
  buffered: number;
  /** Compressed bytes in the file, once closed. */
  bytesWritten: number | undefined;
}

const DEFAULT_MAX_BUFFERED = 65_536;
const DEFAULT_BATCH = 4096;
const DEFAULT_FLUSH_MS = 1000;
/**
 * The key-character ring holds this many UTF-16 code units per buffered entry (2 bytes each). A key that does not fit
 * (longer than {@link MAX_RING_KEY}, or the ring is full of long keys) travels as a string in its batch's message
 * instead: slower, never lost.
 */
const KEY_CHARS_PER_ENTRY = 32;
const MAX_RING_KEY = 4096;

/** Format and compression a file name asks for (see {@link OpLogOptions}). */
export function opLogFileType(path: string): { format: OpLogFormat; compression: OpLogCompression } {
  const name = path.toLowerCase();
  const compression: OpLogCompression = name.endsWith(".gz")
    ? "gzip"
    : name.endsWith(".zst")
      ? "zstd"
      : /\.(tsv|jsonl|ndjson|txt)$/.test(name)
        ? "none"
        : "gzip";
  const base = name.replace(/\.(gz|zst)$/, "");
  return { format: /\.(jsonl|ndjson)$/.test(base) ? "jsonl" : "tsv", compression };
}

/** Whether this Node has zstd in `node:zlib` (22.15+; Node 20 has not). */
export function zstdAvailable(): boolean {
  return typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === "function";
}

interface Batch {
  /** Ring slot of the batch's first entry (the next ones follow, mod the ring's capacity). */
  first: number;
  count: number;
  /** Ring index (in code units, mod the capacity) of the batch's first key character, and its keys' characters there. */
  charStart: number;
  chars: number;
  /** Keys that are not in the key-character ring, sparse by entry index. */
  keys: Map<number, string>;
  /** Sparse, by entry index: most entries have no error, no destination and the batch's endpoint. */
  errors: Map<number, string>;
  endpoint: string;
  endpoints: Map<number, string>;
  destinations: Map<number, string>;
  /** Request lines: the backend's request name. */
  names: Map<number, string>;
}

function positiveInteger(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1) throw new RangeConfigError(`${name} must be a positive integer, got ${String(value)}`);
  return value;
}

/**
 * An op-log file: the buffer the storage operations append to (a few typed-array stores per operation, nothing
 * else on their thread) and the writer thread that formats, compresses and writes batches of them. Share one
 * between several stores with `withOpLog(store, { log })`.
 */
export class OpLog {
  readonly path: string;
  readonly format: OpLogFormat;
  readonly compression: OpLogCompression;
  readonly #worker: Worker;
  readonly #fd: number;
  readonly #batchSize: number;
  readonly #maxBuffered: number;
  readonly #block: boolean;
  readonly #flushMs: number;
  #batch: Batch;
  /**
   * Entries posted to the writer and not yet written, as last computed from `#posted` and the writer's shared counter.
   * The counter is shared memory, not a message: a workload that never yields to the event loop (a memory store
   * answers in microtasks) would otherwise never see the writer's progress and fill the buffer for nothing.
   */
  #atWriter = 0;
  /** Entries posted, modulo 2^32 (as is the shared counter, so the difference stays right when both wrap). */
  #posted = 0;
  /** [0]: entries the writer has written, [1]: key characters it has consumed (both mod 2^32). */
  readonly #writtenCounter = new Int32Array(new SharedArrayBuffer(8));
  /**
   * The entries' numbers, shared with the writer: `maxBufferedOps` slots of FIELDS doubles (72 bytes each), used
   * round-robin. A slot is reused only after the writer has formatted its entry (the buffer bound guarantees it), so
   * the hot path allocates nothing per batch (a fresh 256 KiB array per batch made the main thread's GC busy).
   */
  readonly #ring: Float64Array;
  /**
   * The keys, as UTF-16 code units copied into shared memory, back to back: a key string kept in a batch until it is
   * posted outlives garbage collections on this thread (more scavenge work), and cloning 4096 of them into each
   * message is main-thread work too.
   */
  readonly #keyChars: Uint16Array;
  /** Where the next key character goes (mod the ring's length). */
  #keyHead = 0;
  /** Key characters posted to the writer, mod 2^32 (compared with the writer's shared counter). */
  #charsPosted = 0;
  /** Free key characters, as last computed (only ever an underestimate: the writer frees more behind our back). */
  #charsFree = 0;
  /** Entries appended since the start: the ring index of the next one. */
  #appended = 0;
  /** The ring slot of the next entry (`#appended` mod the ring's slots). */
  #slot = 0;
  /**
   * Entries that can still be appended before the bound has to be looked at again: the room as last computed (the
   * writer only ever makes more), 0 once the log is closing or failed. The hot path's one check.
   */
  #room = 0;
  #dropped = 0;
  #written = 0;
  #bytesWritten: number | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failure: Error | undefined;
  #closing: Promise<void> | undefined;
  #closed = false;
  #nextRequest = 0;
  readonly #requests = new Map<number, { resolve: (value: number) => void; reject: (error: Error) => void }>();
  /** Operations waiting for room (`onOverflow: "block"`). */
  #roomWaiters: (() => void)[] = [];
  /** Free "thread" numbers: the column is the slot an operation held among those in flight, as warp's workers are. */
  readonly #freeThreads: number[] = [];
  #threads = 0;
  /** Answers (acknowledgements, flushes, room) the writer owes; the worker is ref'd while there are any. */
  #pending = 0;
  readonly #onBeforeExit = () => void this.close().catch(() => {});

  constructor(path: string, options: OpLogOptions = {}) {
    if (typeof path !== "string" || path === "") throw new RangeConfigError("the op-log needs a file path");
    const inferred = opLogFileType(path);
    const format = options.format ?? inferred.format;
    const compression = options.compression ?? inferred.compression;
    if (format !== "tsv" && format !== "jsonl") throw new RangeConfigError(`op-log format must be "tsv" or "jsonl", got ${String(format)}`);
    if (compression !== "gzip" && compression !== "zstd" && compression !== "none") {
      throw new RangeConfigError(`op-log compression must be "gzip", "zstd" or "none", got ${String(compression)}`);
    }
    if (compression === "zstd" && !zstdAvailable()) {
      throw new RangeConfigError(`zstd needs Node 22.15 or later (this is ${process.version}); name the op-log *.gz for gzip`);
    }
    if (options.onOverflow !== undefined && options.onOverflow !== "drop" && options.onOverflow !== "block") {
      throw new RangeConfigError(`onOverflow must be "drop" or "block", got ${String(options.onOverflow)}`);
    }
    if (options.level !== undefined && !Number.isInteger(options.level)) throw new RangeConfigError(`level must be an integer, got ${String(options.level)}`);
    this.#maxBuffered = positiveInteger("maxBufferedOps", options.maxBufferedOps, DEFAULT_MAX_BUFFERED);
    this.#batchSize = Math.min(positiveInteger("batchSize", options.batchSize, DEFAULT_BATCH), this.#maxBuffered);
    this.#flushMs = positiveInteger("flushIntervalMs", options.flushIntervalMs, DEFAULT_FLUSH_MS);
    this.#block = options.onOverflow === "block";
    this.#room = this.#maxBuffered;
    this.#ring = new Float64Array(new SharedArrayBuffer(this.#maxBuffered * FIELDS * Float64Array.BYTES_PER_ELEMENT));
    // At most 2^30 code units: the counters are mod 2^32 and the difference must stay a positive int32.
    const keyCapacity = Math.min(this.#maxBuffered * KEY_CHARS_PER_ENTRY, 1 << 30);
    this.#keyChars = new Uint16Array(new SharedArrayBuffer(keyCapacity * Uint16Array.BYTES_PER_ELEMENT));
    this.#charsFree = keyCapacity;
    this.path = path;
    this.format = format;
    this.compression = compression;
    this.#batch = this.#newBatch();

    // Opened here, synchronously: a bad path fails now, before any operation, not later on the writer thread.
    let fd: number;
    try {
      fd = openSync(path, fsConstants.O_WRONLY | fsConstants.O_CREAT | fsConstants.O_TRUNC, 0o644);
    } catch (error) {
      throw new RangeConfigError(`cannot create the op-log file ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, { cause: error });
    }
    this.#fd = fd;
    try {
      this.#worker = new Worker(writerThreadSource(), { eval: true, name: "range-oplog-writer" });
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    this.#worker.on("message", (message: FromWriter) => this.#onMessage(message));
    this.#worker.on("error", (error) => this.#fail(error));
    this.#worker.on("exit", (code) => {
      if (!this.#closed) this.#fail(new Error(`the op-log writer thread exited (code ${code})`));
    });
    this.#worker.unref();
    this.#send({
      type: "init",
      fd,
      format,
      compression,
      level: options.level,
      timeOrigin: performance.timeOrigin,
      writtenCounter: this.#writtenCounter,
      ring: this.#ring,
      keyChars: this.#keyChars,
      clientId: options.clientId ?? "",
      opNames: withRequest(OP_NAMES, "REQUEST"),
      methods: withRequest(METHODS, "request"),
    });
    // A process that ends without close() still gets its last entries and a complete file.
    process.on("beforeExit", this.#onBeforeExit);
  }

  /** True with `onOverflow: "block"`: then an operation may have to wait for room before it returns. */
  get blocking(): boolean {
    return this.#block;
  }

  /** Takes a free `thread` number for an operation that starts now; {@link add} gives it back. */
  acquireThread(): number {
    return this.#freeThreads.length > 0 ? this.#freeThreads.pop()! : this.#threads++;
  }

  /**
   * Appends one finished operation. The hot path: numbers into a typed array, the key's characters into another,
   * no formatting, nothing allocated. Returns a promise only when the operation has to wait for room (`onOverflow: "block"`).
   */
  add(
    op: number,
    key: string,
    bytes: number,
    objects: number,
    offset: number,
    start: number,
    duration: number,
    firstByte: number,
    thread: number,
    error: string,
    endpoint: string,
    destination = "",
    name = "",
  ): Promise<void> | undefined {
    this.#freeThreads.push(thread);
    if (this.#room <= 0 && this.#refreshRoom() <= 0) {
      if (this.#closing || this.#failure || !this.#block) {
        this.#dropped++;
        return undefined;
      }
      return this.#appendWhenRoom(op, key, bytes, objects, offset, start, duration, firstByte, thread, error, endpoint, destination, name);
    }
    this.#append(op, key, bytes, objects, offset, start, duration, firstByte, thread, error, endpoint, destination, name);
    return undefined;
  }

  #refreshRoom(): number {
    this.#room = this.#closing || this.#failure ? 0 : this.#maxBuffered - this.#batch.count - this.#refreshAtWriter();
    return this.#room;
  }

  async #appendWhenRoom(...entry: Required<Parameters<OpLog["add"]>>): Promise<void> {
    while (this.#batch.count + this.#refreshAtWriter() >= this.#maxBuffered && !this.#closing && !this.#failure) {
      this.#post(false); // what waits here must reach the writer for room to come
      await this.#waitForRoom();
    }
    if (this.#closing || this.#failure) this.#dropped++;
    else this.#append(...entry);
  }

  #append(
    op: number,
    key: string,
    bytes: number,
    objects: number,
    offset: number,
    start: number,
    duration: number,
    firstByte: number,
    thread: number,
    error: string,
    endpoint: string,
    destination: string,
    name: string,
  ): void {
    const batch = this.#batch;
    const slot = this.#slot;
    this.#slot = slot + 1 === this.#maxBuffered ? 0 : slot + 1;
    this.#room--;
    const at = slot * FIELDS;
    const numbers = this.#ring;
    numbers[at] = start;
    numbers[at + 1] = duration;
    numbers[at + 2] = bytes;
    numbers[at + 3] = offset;
    numbers[at + 4] = firstByte;
    numbers[at + 5] = objects;
    numbers[at + 6] = op;
    numbers[at + 7] = thread;
    const i = batch.count;
    const length = key.length;
    if (length <= MAX_RING_KEY && (length <= this.#charsFree || length <= this.#refreshCharsFree())) {
      const chars = this.#keyChars;
      let head = this.#keyHead;
      if (head + length < chars.length) {
        for (let c = 0; c < length; c++) chars[head + c] = key.charCodeAt(c);
        head += length;
      } else {
        for (let c = 0; c < length; c++) {
          chars[head] = key.charCodeAt(c);
          if (++head === chars.length) head = 0;
        }
      }
      this.#keyHead = head;
      this.#charsFree -= length;
      batch.chars += length;
      numbers[at + 8] = length;
    } else {
      // Long keys, and what a caller passed as a key that is not a string (the store rejected it): a symbol would not
      // survive the message to the writer thread, and would take the log down with it.
      batch.keys.set(i, typeof key === "string" ? key : String(key));
      numbers[at + 8] = -1;
    }
    if (error !== "") batch.errors.set(i, error);
    if (i === 0) batch.endpoint = endpoint;
    else if (endpoint !== batch.endpoint) batch.endpoints.set(i, endpoint);
    if (destination !== "") batch.destinations.set(i, destination);
    if (name !== "") batch.names.set(i, name);
    this.#appended++;
    if (++batch.count === this.#batchSize) this.#post(false);
    else if (batch.count === 1) this.#armTimer();
  }

  stats(): OpLogStats {
    return {
      recorded: this.#appended,
      dropped: this.#dropped,
      written: this.#written,
      buffered: this.#batch.count + this.#refreshAtWriter(),
      bytesWritten: this.#bytesWritten,
    };
  }

  /** Resolves once every operation recorded so far is in the file (readable with `readOpLog`). */
  async flush(): Promise<void> {
    if (this.#closed) return this.#throwIfFailed();
    this.#post(false);
    await this.#request((id) => ({ type: "flush", id }));
  }

  /** Writes what is buffered, ends the compressed stream, closes the file and stops the writer thread. Idempotent. */
  close(): Promise<void> {
    this.#room = 0;
    this.#closing ??= (async () => {
      process.off("beforeExit", this.#onBeforeExit);
      this.#post(false);
      try {
        if (!this.#failure) this.#bytesWritten = await this.#request((id) => ({ type: "close", id, dropped: this.#dropped }));
      } finally {
        this.#closed = true;
        for (const wake of this.#roomWaiters.splice(0)) wake();
        await this.#worker.terminate();
        closeSync(this.#fd);
      }
      this.#throwIfFailed();
    })();
    return this.#closing;
  }

  #refreshAtWriter(): number {
    this.#atWriter = this.#failure ? 0 : (this.#posted - Atomics.load(this.#writtenCounter, 0)) | 0;
    return this.#atWriter;
  }

  /** Free key characters: the ring's length minus those not yet consumed by the writer (posted or in this batch). */
  #refreshCharsFree(): number {
    const atWriter = this.#failure ? 0 : (this.#charsPosted - Atomics.load(this.#writtenCounter, 1)) | 0;
    this.#charsFree = this.#keyChars.length - atWriter - this.#batch.chars;
    return this.#charsFree;
  }

  #newBatch(): Batch {
    return {
      count: 0,
      first: this.#slot,
      charStart: this.#keyHead,
      chars: 0,
      keys: new Map(),
      errors: new Map(),
      endpoint: "",
      endpoints: new Map(),
      destinations: new Map(),
      names: new Map(),
    };
  }

  #armTimer(): void {
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#post(true);
    }, this.#flushMs);
    this.#timer.unref();
  }

  #post(sync: boolean): void {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const batch = this.#batch;
    if (batch.count === 0 || this.#failure) return;
    this.#batch = this.#newBatch();
    this.#atWriter += batch.count;
    this.#posted = (this.#posted + batch.count) | 0;
    this.#charsPosted = (this.#charsPosted + batch.chars) | 0;
    this.#retain();
    const { first, count, charStart, chars, keys, errors, endpoint, endpoints, destinations, names } = batch;
    const message: BatchMessage = { type: "batch", first, count, charStart, chars, keys, errors, endpoint, endpoints, destinations, names, sync };
    this.#worker.postMessage(message);
  }

  #send(message: ToWriter): void {
    this.#worker.postMessage(message);
  }

  #request(make: (id: number) => ToWriter): Promise<number> {
    this.#throwIfFailed();
    const id = this.#nextRequest++;
    return new Promise<number>((resolve, reject) => {
      this.#requests.set(id, { resolve, reject });
      this.#retain();
      this.#send(make(id));
    }).finally(() => this.#release());
  }

  #waitForRoom(): Promise<void> {
    this.#retain();
    return new Promise<void>((resolve) => this.#roomWaiters.push(resolve)).finally(() => this.#release());
  }

  /** Keeps the process alive while the writer owes an answer (the worker is unref'd otherwise). */
  #retain(): void {
    if (this.#pending++ === 0) this.#worker.ref();
  }
  #release(): void {
    if (this.#pending > 0 && --this.#pending === 0) this.#worker.unref();
  }

  #onMessage(message: FromWriter): void {
    switch (message.type) {
      case "written": {
        this.#written += message.count;
        this.#release();
        while (this.#roomWaiters.length > 0 && this.#batch.count + this.#refreshAtWriter() < this.#maxBuffered) this.#roomWaiters.shift()!();
        return;
      }
      case "flushed":
      case "closed": {
        const request = this.#requests.get(message.id);
        this.#requests.delete(message.id);
        request?.resolve(message.type === "closed" ? message.bytesWritten : 0);
        return;
      }
      case "failed":
        this.#fail(Object.assign(new Error(message.message), { code: message.code }));
        return;
    }
  }

  #fail(error: Error): void {
    if (this.#failure) return;
    const lost = this.#batch.count + this.#refreshAtWriter();
    this.#room = 0;
    const code = (error as { code?: string }).code;
    this.#failure = new BackendError(`op-log ${this.path}: writing failed${code ? ` (${code})` : ""}`, { cause: error, code: "E_OPLOG_WRITE" });
    for (const request of this.#requests.values()) request.reject(this.#failure);
    this.#requests.clear();
    for (const wake of this.#roomWaiters.splice(0)) wake();
    // Entries still waiting are lost: count them.
    this.#dropped += lost;
    this.#batch = this.#newBatch();
    this.#atWriter = 0;
    // Nothing more will be answered: stop holding the process open (later releases are no-ops at 0).
    this.#pending = 0;
    this.#worker.unref();
  }

  #throwIfFailed(): void {
    if (this.#failure) throw this.#failure;
  }
}

function withRequest(names: readonly string[], request: string): string[] {
  const all = [...names];
  all[REQUEST_OP] = request;
  return all;
}

/** Opens an op-log file (see {@link OpLogOptions}); bad options or an unwritable path throw `RangeConfigError` now. */
export function createOpLog(path: string, options: OpLogOptions = {}): OpLog {
  return new OpLog(path, options);
}
