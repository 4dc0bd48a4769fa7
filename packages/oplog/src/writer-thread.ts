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
 * work runs on the thread that issues storage operations (formatting and gzip cost ~1 µs of CPU per TSV line, ~1.6 µs
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

  /**
   * Lines are written byte by byte into one reused buffer, with no string per line or per field: building lines as
   * strings made the writer allocate ~600 bytes per entry, and its garbage collections compete with the operations'
   * thread for V8's shared helper threads (measured: 59 collections here per 281 on the operations' thread).
   */
  let buffer = Buffer.allocUnsafe(1 << 20);
  let used = 0;
  /**
   * Room for `more` bytes and then SPARE: the variable-length writers (`raw`, `text`, `ringKey`) make sure of it,
   * so that the fixed-size pieces between them (numbers, timestamps, separators: < SPARE bytes in any line) can
   * write without checking.
   */
  const SPARE = 512;
  const ensure = (more: number) => {
    more += SPARE;
    if (used + more <= buffer.length) return;
    const grown = Buffer.allocUnsafe(Math.max(buffer.length * 2, used + more));
    buffer.copy(grown, 0, 0, used);
    buffer = grown;
  };
  const byte = (b: number) => {
    buffer[used++] = b;
  };
  /**
   * A string whose bytes are not worth caching (rare fields): encoded by Buffer, as UTF-8. What is not a string (an
   * out-of-range op code's missing name, a caller's number as an endpoint) is written as its String(), as a template
   * string would: a wrong value must cost a line its field, never the log.
   */
  const text = (value: string) => {
    const s = typeof value === "string" ? value : String(value);
    ensure(s.length * 3);
    used += buffer.write(s, used);
  };
  const raw = (bytes: Uint8Array) => {
    const length = bytes.length;
    ensure(length);
    const out = buffer;
    const u = used;
    // A loop: these are short (names, separators), where a native set() costs more than it copies.
    for (let i = 0; i < length; i++) out[u + i] = bytes[i]!;
    used = u + length;
  };
  /** Whether the lines are JSON (set per batch): a number that is not finite is then `null`, as JSON.stringify writes it. */
  let jsonNumbers = false;
  const other = (x: number) => text(jsonNumbers && !Number.isFinite(x) ? "null" : String(x));
  /** A number as JavaScript prints it; integers (all the usual ones) digit by digit, without a string. */
  const number = (x: number) => {
    if (x >= 0 && x <= 0x7fffffff) {
      // Digits counted first, then written from the last: no scratch array, int arithmetic only.
      let v = x | 0;
      if (v !== x) return other(x);
      let width = 1;
      for (let t = v; t >= 10; t = (t / 10) | 0) width++;
      const out = buffer;
      let at = used + width;
      used = at;
      do {
        const q = (v / 10) | 0;
        out[--at] = 0x30 + v - q * 10;
        v = q;
      } while (v > 0);
      return;
    }
    other(x);
  };

  /** RFC 3339 with nanoseconds, as warp writes it (Go's time.RFC3339Nano, UTC): the date part is made once a second. */
  let secondCache = Number.NaN;
  const secondPrefix = new Uint8Array(19);
  const timestamp = (sinceOrigin: number) => {
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
      const iso = new Date(second * 1000).toISOString();
      for (let i = 0; i < 19; i++) secondPrefix[i] = iso.charCodeAt(i);
    }
    const out = buffer;
    let u = used;
    for (let i = 0; i < 19; i++) out[u + i] = secondPrefix[i]!;
    u += 19;
    out[u] = 0x2e; // .
    let fraction = ((epochMs - second * 1000) * 1e6 + nanos) | 0;
    for (let i = u + 9; i > u; i--) {
      const q = (fraction / 10) | 0;
      out[i] = 0x30 + (fraction - q * 10);
      fraction = q;
    }
    out[u + 10] = 0x5a; // Z
    used = u + 11;
  };

  /** A timestamp as a JSON string. */
  const quotedTimestamp = (sinceOrigin: number) => {
    byte(0x22);
    timestamp(sinceOrigin);
    byte(0x22);
  };

  const needsQuotes = /["\t\r\n]/;
  /** A field quoted the way Go's encoding/csv (warp's reader) expects when it holds a quote, tab or line break. */
  const tsvField = (value: string): string => {
    const s = typeof value === "string" ? value : String(value);
    return s === "" || !needsQuotes.test(s) ? s : `"${s.replace(/"/g, '""')}"`;
  };
  /** The encoded field of the strings that repeat (operation names, endpoints, the client id), made once each. */
  const encoded = new Map<string, Buffer>();
  const repeated = (s: string): Buffer => {
    let bytes = encoded.get(s);
    if (bytes === undefined) {
      bytes = Buffer.from(init!.format === "tsv" ? tsvField(s) : JSON.stringify(typeof s === "string" ? s : String(s)));
      if (encoded.size < 1024) encoded.set(s, bytes);
    }
    return bytes;
  };

  const hex = (d: number) => (d < 10 ? 0x30 + d : 0x57 + d); // lower case, as JSON.stringify writes \u escapes
  /**
   * A key straight from the shared character ring (UTF-16 code units) into the buffer as UTF-8, exactly as Buffer
   * would encode the key's string (a lone surrogate becomes U+FFFD) or, in JSON, as JSON.stringify writes it (a lone
   * surrogate becomes a \u escape). Returns false, writing nothing, if a TSV key needs quotes (rare: the caller then
   * takes the string path).
   */
  const ringKey = (ring: Uint16Array, from: number, length: number, json: boolean): boolean => {
    ensure(length * 6 + 2);
    const out = buffer;
    const size = ring.length;
    let u = used;
    if (json) out[u++] = 0x22;
    for (let i = 0, at = from; i < length; i++, at = at + 1 === size ? 0 : at + 1) {
      let c = ring[at]!;
      if (c < 0x80) {
        if (c >= 0x20 && c !== 0x22 && c !== 0x5c) out[u++] = c;
        else if (!json) {
          if (c === 0x22 || c === 0x09 || c === 0x0a || c === 0x0d) return false; // nothing written: `used` unchanged
          out[u++] = c;
        } else {
          out[u++] = 0x5c; // backslash
          const short = c === 0x22 ? 0x22 : c === 0x5c ? 0x5c : c === 0x08 ? 0x62 : c === 0x0c ? 0x66 : c === 0x0a ? 0x6e : c === 0x0d ? 0x72 : c === 0x09 ? 0x74 : 0;
          if (short !== 0) out[u++] = short;
          else {
            out[u++] = 0x75;
            out[u++] = 0x30;
            out[u++] = 0x30;
            out[u++] = hex(c >> 4);
            out[u++] = hex(c & 15);
          }
        }
      } else if (c < 0x800) {
        out[u++] = 0xc0 | (c >> 6);
        out[u++] = 0x80 | (c & 0x3f);
      } else if (c >= 0xd800 && c <= 0xdfff) {
        const next = i + 1 < length ? ring[at + 1 === size ? 0 : at + 1]! : 0;
        if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
          out[u++] = 0xf0 | (c >> 18);
          out[u++] = 0x80 | ((c >> 12) & 0x3f);
          out[u++] = 0x80 | ((c >> 6) & 0x3f);
          out[u++] = 0x80 | (c & 0x3f);
          i++;
          at = at + 1 === size ? 0 : at + 1;
        } else if (json) {
          out[u++] = 0x5c;
          out[u++] = 0x75;
          out[u++] = hex(c >> 12);
          out[u++] = hex((c >> 8) & 15);
          out[u++] = hex((c >> 4) & 15);
          out[u++] = hex(c & 15);
        } else {
          out[u++] = 0xef;
          out[u++] = 0xbf;
          out[u++] = 0xbd;
        }
      } else {
        out[u++] = 0xe0 | (c >> 12);
        out[u++] = 0x80 | ((c >> 6) & 0x3f);
        out[u++] = 0x80 | (c & 0x3f);
      }
    }
    if (json) out[u++] = 0x22;
    used = u;
    return true;
  };
  /** A key's string out of the ring (the rare TSV key that needs quotes). */
  const ringString = (ring: Uint16Array, from: number, length: number): string => {
    let s = "";
    for (let i = 0, at = from; i < length; i++, at = at + 1 === ring.length ? 0 : at + 1) s += String.fromCharCode(ring[at]!);
    return s;
  };

  const TAB = 0x09;
  /** JSON member names, each with its opening quote, closing quote and colon (and the comma before all but the first). */
  const names = Object.fromEntries(
    ["idx", "thread", "op", "method", "client_id", "n_objects", "bytes", "endpoint", "file", "error", "start", "end", "duration_ns", "offset", "dst", "first_byte"].map(
      (name, i) => [name, Buffer.from(`${i === 0 ? "{" : ","}"${name}":`)],
    ),
  ) as Record<string, Buffer>;

  const formatBatch = (m: BatchMessage): Buffer => {
    const cfg = init!;
    const json = cfg.format === "jsonl";
    jsonNumbers = json;
    const n = cfg.ring;
    const chars = cfg.keyChars;
    const slots = n.length / 9;
    const clientId = repeated(cfg.clientId);
    const emptyString = repeated("");
    let keyAt = m.charStart;
    used = 0;
    for (let i = 0; i < m.count; i++) {
      const at = ((m.first + i) % slots) * 9; // FIELDS, in the order of the F_* constants above (this function cannot refer to them)
      const keyLength = n[at + 8]!;
      const start = n[at]!;
      const duration = n[at + 1]!;
      const bytes = n[at + 2]!;
      const offset = n[at + 3]!;
      const firstByte = n[at + 4]!;
      const objects = n[at + 5]!;
      const op = n[at + 6]! | 0;
      const thread = n[at + 7]! | 0;
      const opName = m.names.size > 0 ? (m.names.get(i) ?? cfg.opNames[op]!) : cfg.opNames[op]!;
      const endpoint = m.endpoints.size > 0 ? (m.endpoints.get(i) ?? m.endpoint) : m.endpoint;
      const error = m.errors.size > 0 ? m.errors.get(i) : undefined;
      const destination = m.destinations.size > 0 ? m.destinations.get(i) : undefined;
      const durationNs = Math.round(duration * 1e6);
      ensure(0);
      if (!json) {
        number(idx);
        byte(TAB);
        number(thread);
        byte(TAB);
        raw(repeated(opName));
        byte(TAB);
        raw(clientId);
        byte(TAB);
        number(objects);
        byte(TAB);
        number(bytes);
        byte(TAB);
        raw(repeated(endpoint));
        byte(TAB);
        if (keyLength < 0) text(tsvField(m.keys.get(i) ?? ""));
        else if (!ringKey(chars, keyAt, keyLength, false)) text(tsvField(ringString(chars, keyAt, keyLength)));
        byte(TAB);
        if (error !== undefined) text(tsvField(error));
        byte(TAB);
        timestamp(start);
        byte(TAB);
        if (firstByte >= 0) timestamp(firstByte);
        byte(TAB);
        timestamp(start + duration);
        byte(TAB);
        number(durationNs);
        byte(TAB);
        if (offset >= 0) number(offset);
        byte(TAB);
        if (destination !== undefined) text(tsvField(destination));
        byte(0x0a);
      } else {
        raw(names.idx!);
        number(idx);
        raw(names.thread!);
        number(thread);
        raw(names.op!);
        raw(repeated(opName));
        raw(names.method!);
        raw(repeated(cfg.methods[op]!));
        raw(names.client_id!);
        raw(clientId);
        raw(names.n_objects!);
        number(objects);
        raw(names.bytes!);
        number(bytes);
        raw(names.endpoint!);
        raw(repeated(endpoint));
        raw(names.file!);
        if (keyLength < 0) text(JSON.stringify(m.keys.get(i) ?? ""));
        else ringKey(chars, keyAt, keyLength, true);
        raw(names.error!);
        if (error !== undefined) text(JSON.stringify(error));
        else raw(emptyString);
        raw(names.start!);
        quotedTimestamp(start);
        raw(names.end!);
        quotedTimestamp(start + duration);
        raw(names.duration_ns!);
        number(durationNs);
        if (offset >= 0) {
          raw(names.offset!);
          number(offset);
        }
        if (destination !== undefined) {
          raw(names.dst!);
          text(JSON.stringify(destination));
        }
        if (firstByte >= 0) {
          raw(names.first_byte!);
          quotedTimestamp(firstByte);
        }
        byte(0x7d); // }
        byte(0x0a);
      }
      if (keyLength > 0) {
        keyAt += keyLength;
        if (keyAt >= chars.length) keyAt -= chars.length;
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
