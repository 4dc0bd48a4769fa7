import type * as FsModule from "node:fs";
import type * as WorkerThreadsModule from "node:worker_threads";
import type * as ZlibModule from "node:zlib";

/** Numbers per entry in a batch's Float64Array, and their positions. */
export const FIELDS = 9;
export const F_START = 0; // ms since the main thread's performance.timeOrigin
export const F_DURATION = 1; // ms
export const F_BYTES = 2;
export const F_OFFSET = 3; // -1: not a ranged read
export const F_FIRST_BYTE = 4; // ms since timeOrigin; -1: none
export const F_OBJECTS = 5;
export const F_OP = 6; // index into METHODS / OP_NAMES
export const F_THREAD = 7;
export const F_KEY_CHARS = 8; // the key's length in the key-character ring; -1: the key is in the batch's `keys` map

export interface InitMessage {
  type: "init";
  fd: number;
  format: "tsv" | "jsonl";
  compression: "gzip" | "zstd" | "none";
  level: number | undefined;
  timeOrigin: number;
  /**
   * [0]: entries written so far, [1]: key characters consumed so far (both mod 2^32), counted up by the writer after
   * each batch.
   */
  writtenCounter: Int32Array;
  /** The entries' numbers: FIELDS doubles per slot, slot = entry index mod (length / FIELDS). */
  ring: Float64Array;
  /** The entries' keys as UTF-16 code units, back to back in entry order, used round-robin like `ring`. */
  keyChars: Uint16Array;
  clientId: string;
  opNames: readonly string[];
  methods: readonly string[];
}

export interface BatchMessage {
  type: "batch";
  /** Index of the first entry (its slot is this mod the ring's capacity). */
  first: number;
  count: number;
  /** Where the batch's first key starts in the key-character ring, and how many characters its keys take there. */
  charStart: number;
  chars: number;
  /** Keys that were not put into the key-character ring (too long, or the ring was full), sparse by entry index. */
  keys: Map<number, string>;
  /** Sparse by entry index, like `endpoints` (the entries whose endpoint is not `endpoint`) and `destinations`. */
  errors: Map<number, string>;
  endpoint: string;
  endpoints: Map<number, string>;
  /** COPY's destination key per entry ("" for other operations). */
  destinations: Map<number, string>;
  /** Request lines' names (the backend's request name), sparse by entry index. */
  names: Map<number, string>;
  /** A time-based batch: also flush the compressor, so what is on disk can be read back (crash: ≤ 1 interval lost). */
  sync: boolean;
}

export type ToWriter = InitMessage | BatchMessage | { type: "flush"; id: number } | { type: "close"; id: number; dropped: number };

export type FromWriter =
  | { type: "written"; count: number }
  | { type: "flushed"; id: number }
  | { type: "closed"; id: number; bytesWritten: number }
  | { type: "failed"; message: string; code: string };

/**
 * The writer thread: formats entries into TSV or JSON lines, compresses them and writes the file, so none of that
 * work runs on the thread that issues storage operations (formatting and gzip cost ~1.5 µs of CPU per TSV line, 2.5 µs
 * per JSON line, measured; a memory-store `get` is ~10 µs). It runs from source text ({@link writerThreadSource}), so it must stay self-contained: the built-ins
 * it uses are parameters, and it refers to nothing else of this module. That keeps it working unchanged from the
 * built package, from TypeScript sources under a test runner, and inside bundles.
 */
export function opLogWriterThread(
  { parentPort }: typeof WorkerThreadsModule,
  fs: typeof FsModule,
  zlib: typeof ZlibModule,
): void {
  const port = parentPort!;

  let init: InitMessage | undefined;
  let out: FsModule.WriteStream | undefined;
  let compressor: ZlibModule.Gzip | undefined;
  /** Resolves once everything handed to `out` so far is written to the file. */
  let lastWrite: Promise<void> = Promise.resolve();
  let failure: Error | undefined;
  let idx = 0;
  let originInt = 0;
  let originFrac = 0;
  let secondCache = -1;
  let secondPrefix = "";

  const fail = (error: Error) => {
    if (failure) return;
    failure = error;
    port.postMessage({ type: "failed", message: error.message, code: (error as { code?: string }).code ?? "" } satisfies FromWriter);
  };

  const writeOut = (chunk: Buffer | string) => {
    lastWrite = new Promise<void>((resolve) =>
      out!.write(chunk, (error) => {
        // Before the stream's own 'error' event: a batch whose bytes did not reach the file is never acknowledged.
        if (error) fail(error);
        resolve();
      }),
    );
  };

  /**
   * Hands `data` to the compressor (or the file) and waits until it is written to the file, so an acknowledged
   * batch holds no memory here and a slow disk slows the acknowledgements (the main thread's bound then applies).
   */
  const write = async (data: string | Buffer): Promise<void> => {
    if (compressor) await new Promise<void>((resolve, reject) => compressor!.write(data, (error) => (error ? reject(error) : resolve())));
    else writeOut(data);
    await lastWrite;
  };

  /** RFC 3339 with nanoseconds, as warp writes it (Go's time.RFC3339Nano, UTC). */
  const timestamp = (sinceOrigin: number): string => {
    const t = sinceOrigin + originFrac;
    let ms = Math.floor(t);
    let nanos = Math.round((t - ms) * 1e6);
    if (nanos >= 1e6) {
      ms += 1;
      nanos -= 1e6;
    }
    const epochMs = originInt + ms;
    const second = Math.floor(epochMs / 1000);
    if (second !== secondCache) {
      secondCache = second;
      secondPrefix = new Date(second * 1000).toISOString().slice(0, 19);
    }
    const fraction = String(((epochMs - second * 1000) * 1e6 + nanos) | 0).padStart(9, "0");
    return `${secondPrefix}.${fraction}Z`;
  };

  const small = (x: number): number => (x >= -1 && x < 0x40000000 ? x | 0 : x);
  const needsQuotes = /["\t\r\n]/;
  /** Quotes a field the way Go's encoding/csv (warp's reader) expects when it holds a quote, tab or line break. */
  const field = (text: string): string => (text === "" || !needsQuotes.test(text) ? text : `"${text.replace(/"/g, '""')}"`);
  let lastEndpoint = "";
  let lastEndpointField = "";

  /**
   * A batch's lines go straight into one reused buffer: building them as one long string made most of the writer's
   * time garbage collection (measured: GC 1.5 s of 3 s for 400 000 lines).
   */
  let buffer = Buffer.allocUnsafe(1 << 20);
  let used = 0;
  const append = (line: string) => {
    if (used + line.length * 3 > buffer.length) {
      const grown = Buffer.allocUnsafe(Math.max(buffer.length * 2, used + line.length * 3));
      buffer.copy(grown, 0, 0, used);
      buffer = grown;
    }
    used += buffer.write(line, used);
  };

  /**
   * A batch's keys as one string: its characters are copied out of the shared ring (unwrapped) and decoded at once,
   * then each key is a slice of it (measured: decoding key by key cost ~250 ns per entry more).
   */
  // ignoreBOM: keep a key's leading U+FEFF (the default strips it from the start of the text).
  const utf16 = new TextDecoder("utf-16le", { ignoreBOM: true });
  let scratch = new Uint16Array(1 << 16);
  const batchKeys = (ring: Uint16Array, from: number, count: number): string => {
    if (count === 0) return "";
    if (scratch.length < count) scratch = new Uint16Array(Math.max(count, scratch.length * 2));
    const head = Math.min(count, ring.length - from);
    scratch.set(ring.subarray(from, from + head));
    if (head < count) scratch.set(ring.subarray(0, count - head), head);
    return utf16.decode(scratch.subarray(0, count));
  };

  const formatBatch = (m: BatchMessage): Buffer => {
    const cfg = init!;
    const n = cfg.ring;
    const slots = n.length / 9;
    const keys = batchKeys(cfg.keyChars, m.charStart, m.chars);
    let keyAt = 0;
    const clientId = field(cfg.clientId);
    used = 0;
    for (let i = 0; i < m.count; i++) {
      const at = ((m.first + i) % slots) * 9; // FIELDS, in the order of the F_* constants above (this function cannot refer to them)
      const keyLength = n[at + 8]!;
      let key: string;
      if (keyLength < 0) key = m.keys.get(i) ?? "";
      else {
        key = keys.slice(keyAt, keyAt + keyLength);
        keyAt += keyLength;
      }
      // Numbers read from a Float64Array are doubles, and V8 turns doubles into text on a slow path; `| 0` makes the
      // (usual) small ones integers, which print several times faster.
      const start = n[at]!;
      const duration = n[at + 1]!;
      const bytes = small(n[at + 2]!);
      const offset = small(n[at + 3]!);
      const firstByte = n[at + 4]!;
      const objects = small(n[at + 5]!);
      const op = n[at + 6]! | 0;
      const thread = n[at + 7]! | 0;
      const startText = timestamp(start);
      const endText = timestamp(start + duration);
      const firstByteText = firstByte >= 0 ? timestamp(firstByte) : "";
      const durationNs = small(Math.round(duration * 1e6));
      const opName = m.names.size > 0 ? (m.names.get(i) ?? cfg.opNames[op]) : cfg.opNames[op];
      if (cfg.format === "tsv") {
        const endpoint = m.endpoints.get(i) ?? m.endpoint;
        if (endpoint !== lastEndpoint) {
          lastEndpoint = endpoint;
          lastEndpointField = field(endpoint);
        }
        append(
          `${idx}\t${thread}\t${field(opName!)}\t${clientId}\t${objects}\t${bytes}\t${lastEndpointField}\t${field(key)}\t` +
            `${field(m.errors.get(i) ?? "")}\t${startText}\t${firstByteText}\t${endText}\t${durationNs}\t${offset >= 0 ? offset : ""}\t${field(m.destinations.get(i) ?? "")}\n`,
        );
      } else {
        const record: Record<string, unknown> = {
          idx,
          thread,
          op: opName,
          method: cfg.methods[op],
          client_id: cfg.clientId,
          n_objects: objects,
          bytes,
          endpoint: m.endpoints.get(i) ?? m.endpoint,
          file: key,
          error: m.errors.get(i) ?? "",
          start: startText,
          end: endText,
          duration_ns: durationNs,
        };
        if (offset >= 0) record.offset = offset;
        const destination = m.destinations.get(i);
        if (destination !== undefined) record.dst = destination;
        if (firstByte >= 0) record.first_byte = firstByteText;
        append(`${JSON.stringify(record)}\n`);
      }
      idx++;
    }
    // A view of the reused buffer: safe, because `write` waits until it is written before the next batch.
    return buffer.subarray(0, used);
  };

  const flushCompressor = () =>
    new Promise<void>((resolve) => {
      if (!compressor) return resolve();
      compressor.flush(zlib.constants.Z_SYNC_FLUSH, () => resolve());
    });

  const handle = async (message: ToWriter): Promise<void> => {
    switch (message.type) {
      case "init": {
        init = message;
        originInt = Math.floor(message.timeOrigin);
        originFrac = message.timeOrigin - originInt;
        // The main thread opened the file and closes it (Node warns when a worker closes a descriptor it did not open).
        out = fs.createWriteStream("", { fd: message.fd, autoClose: false });
        out.on("error", fail);
        if (message.compression !== "none") {
          // gzip level 1 by default: measured on op-log lines, 3.5× faster than zlib's default 6 for 6% more bytes.
          const options = message.level === undefined ? (message.compression === "gzip" ? { level: 1 } : {}) : { level: message.level };
          compressor =
            message.compression === "gzip"
              ? zlib.createGzip(options)
              : (zlib as unknown as { createZstdCompress(): ZlibModule.Gzip }).createZstdCompress();
          compressor.on("data", (chunk: Buffer) => writeOut(chunk));
          compressor.on("error", fail);
        }
        if (message.format === "tsv") {
          await write("idx\tthread\top\tclient_id\tn_objects\tbytes\tendpoint\tfile\terror\tstart\tfirst_byte\tend\tduration_ns\toffset\tdst\n");
        }
        return;
      }
      case "batch": {
        if (!failure) {
          await write(formatBatch(message));
          if (message.sync) await flushCompressor();
        }
        // Not written: the main thread counts these entries as lost (still "at the writer") when it learns of the failure.
        if (failure) return;
        Atomics.add(init!.writtenCounter, 1, message.chars);
        Atomics.add(init!.writtenCounter, 0, message.count);
        port.postMessage({ type: "written", count: message.count } satisfies FromWriter);
        return;
      }
      case "flush": {
        await flushCompressor();
        await lastWrite;
        port.postMessage({ type: "flushed", id: message.id } satisfies FromWriter);
        return;
      }
      case "close": {
        if (message.dropped > 0 && !failure) {
          const note = `range-oplog: ${message.dropped} operations dropped (buffer full)`;
          await write(init!.format === "tsv" ? `# ${note}\n` : `${JSON.stringify({ comment: note, dropped: message.dropped })}\n`);
        }
        if (compressor) {
          const ended = new Promise<void>((resolve) => compressor!.once("end", () => resolve()));
          compressor.end();
          await ended;
        }
        await lastWrite;
        await new Promise<void>((resolve) => out!.end(() => resolve()));
        port.postMessage({ type: "closed", id: message.id, bytesWritten: out!.bytesWritten } satisfies FromWriter);
        return;
      }
    }
  };

  // One message at a time, in order: a batch's lines are written before the next batch's, and a flush or close
  // answers only after every batch before it.
  let queue: Promise<void> = Promise.resolve();
  port.on("message", (message: ToWriter) => {
    queue = queue.then(() => handle(message)).catch((error: unknown) => fail(error instanceof Error ? error : new Error(String(error))));
  });
}

/**
 * The worker's program. The modules are loaded with import(), which works whether the eval'd code runs as CommonJS
 * or as ESM (the worker inherits flags like `--input-type=module`); it sits in a string so that no transform (a test
 * runner's, a bundler's) rewrites it. Messages that arrive meanwhile wait in the port until the listener starts it.
 */
export function writerThreadSource(): string {
  return (
    'Promise.all([import("node:worker_threads"), import("node:fs"), import("node:zlib")])' +
    `.then(([workerThreads, fs, zlib]) => (${opLogWriterThread.toString()})(workerThreads, fs, zlib));`
  );
}
