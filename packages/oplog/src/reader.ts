import { createReadStream } from "node:fs";
import { open } from "node:fs/promises";
import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import * as zlib from "node:zlib";
import { NotFoundError, RangeConfigError } from "@range/core";
import { METHODS, methodOf, type OpMethod } from "./ops.js";

/** One operation read back from an op-log (ours, warp's, or s3dlio's TSV; our JSON lines). */
export interface OpRecord {
  idx: number;
  thread: number;
  /** The file's `op` name: GET, PUT, STAT, LIST, DELETE, DELETE_PREFIX, EXISTS (or whatever another tool wrote). */
  op: string;
  /** The ObjectStore call replay issues for it; undefined for an op it does not know, and for request lines. */
  method: OpMethod | undefined;
  clientId: string;
  objects: number;
  bytes: number;
  endpoint: string;
  /** The key (the `file` column). A prefix for LIST and DELETE_PREFIX. */
  key: string;
  /** Ranged reads only. */
  offset?: number;
  /** COPY only: the destination key (`key` is the source). */
  dst?: string;
  /** "" when the operation succeeded; its error code otherwise. */
  error: string;
  /** Epoch milliseconds (fractional: microsecond resolution survives). */
  start: number;
  firstByte?: number;
  end: number;
  durationNs: number;
}

/** Parses RFC 3339 (any number of fraction digits, `Z` or an offset) or integer nanoseconds since the epoch. */
export function parseTimestamp(text: string): number {
  if (/^\d+$/.test(text)) return Number(BigInt(text) / 1000n) / 1000;
  const match = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)$/i.exec(text);
  if (!match) return Number.NaN;
  const seconds = Date.parse(`${match[1]}${match[3]!.toUpperCase()}`);
  const fraction = match[2] ? Number(`0.${match[2]}`) * 1000 : 0;
  return seconds + fraction;
}

/** Splits one TSV record, honouring Go csv quoting ("a""b" → a"b). Returns undefined when a quoted field continues on the next line. */
function splitTsv(line: string): string[] | undefined {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let value = "";
      let j = i + 1;
      for (;;) {
        const q = line.indexOf('"', j);
        if (q < 0) return undefined;
        value += line.slice(j, q);
        if (line[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        i = q + 1;
        break;
      }
      fields.push(value);
    } else {
      const tab = line.indexOf("\t", i);
      fields.push(line.slice(i, tab < 0 ? line.length : tab));
      i = tab < 0 ? line.length : tab;
    }
    if (i >= line.length) return fields;
    i++; // the tab
  }
}

const numberOr = (text: string | undefined, fallback: number): number => {
  if (text === undefined || text === "") return fallback;
  const n = Number(text);
  return Number.isFinite(n) ? n : fallback;
};

/** What a reader needs of a file: its bytes, decompressed by what its first bytes say it is. */
async function openDecompressed(path: string): Promise<Readable> {
  let head: Buffer;
  try {
    const handle = await open(path, "r");
    try {
      head = Buffer.alloc(4);
      const { bytesRead } = await handle.read(head, 0, 4, 0);
      head = head.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "ENOENT") throw new NotFoundError(`no op-log file ${path}`, { cause: error });
    throw new RangeConfigError(`cannot read the op-log file ${path}: ${code ?? String(error)}`, { cause: error });
  }
  const file = createReadStream(path);
  // A log still being written (or cut short by a crash) ends without the compressed stream's trailer: read what
  // is there instead of failing on "unexpected end of file".
  if (head[0] === 0x1f && head[1] === 0x8b) return file.pipe(zlib.createGunzip({ finishFlush: zlib.constants.Z_SYNC_FLUSH }));
  if (head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) {
    const zstd = (zlib as { createZstdDecompress?: () => Readable & NodeJS.WritableStream }).createZstdDecompress;
    if (!zstd) {
      file.destroy();
      throw new RangeConfigError(`${path} is zstd-compressed, which needs Node 22.15 or later (this is ${process.version}); decompress it first (zstd -d)`);
    }
    return file.pipe(zstd());
  }
  return file;
}

/**
 * Reads an op-log: gzip, zstd (where Node has it) or plain; TSV with a header row (columns found by name, so warp's
 * and s3dlio's files read too; `#` lines are comments) or JSON lines. Records come in file order, which is the order
 * the operations finished; `replayOpLog` re-sorts them by start time.
 */
export async function* readOpLog(path: string): AsyncGenerator<OpRecord, void, undefined> {
  const input = await openDecompressed(path);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  let columns: Map<string, number> | undefined;
  let json: boolean | undefined;
  let pending: string | undefined;
  let lineNumber = 0;
  try {
    for await (const raw of lines) {
      lineNumber++;
      const line = pending === undefined ? raw : `${pending}\n${raw}`;
      if (pending === undefined && (line.trim() === "" || line.startsWith("#"))) continue;
      if (json === undefined) json = line.trimStart().startsWith("{");
      if (json) {
        pending = undefined;
        let value: Record<string, unknown>;
        try {
          value = JSON.parse(line) as Record<string, unknown>;
        } catch {
          throw new RangeConfigError(`${path}:${lineNumber}: not a JSON object`);
        }
        if (typeof value.op !== "string") continue; // comments ({"comment": ...}) and other metadata
        yield fromJson(value);
        continue;
      }
      const fields = splitTsv(line);
      if (!fields) {
        pending = line;
        continue;
      }
      pending = undefined;
      if (!columns) {
        columns = new Map(fields.map((name, i) => [name.trim(), i]));
        for (const needed of ["op", "file", "start"]) {
          if (!columns.has(needed)) throw new RangeConfigError(`${path}: not an op-log (the header has no "${needed}" column)`);
        }
        continue;
      }
      yield fromTsv(fields, columns, `${path}:${lineNumber}`);
    }
  } finally {
    lines.close();
    input.destroy();
  }
}

function fromTsv(fields: string[], columns: Map<string, number>, where: string): OpRecord {
  const get = (name: string): string | undefined => {
    const i = columns.get(name);
    return i === undefined ? undefined : fields[i];
  };
  const op = get("op") ?? "";
  const start = parseTimestamp(get("start") ?? "");
  if (Number.isNaN(start)) throw new RangeConfigError(`${where}: bad start time ${JSON.stringify(get("start"))}`);
  const offsetText = get("offset");
  const offset = offsetText === undefined || offsetText === "" ? undefined : numberOr(offsetText, 0);
  const durationText = get("duration_ns");
  const endText = get("end");
  const end = endText ? parseTimestamp(endText) : Number.NaN;
  const durationNs = durationText ? numberOr(durationText, 0) : Number.isNaN(end) ? 0 : Math.round((end - start) * 1e6);
  const firstByteText = get("first_byte");
  const firstByte = firstByteText ? parseTimestamp(firstByteText) : Number.NaN;
  const record: OpRecord = {
    idx: numberOr(get("idx"), 0),
    thread: numberOr(get("thread"), 0),
    op,
    method: methodOf(op, offset !== undefined),
    clientId: get("client_id") ?? "",
    objects: numberOr(get("n_objects"), 1),
    bytes: numberOr(get("bytes"), 0),
    endpoint: get("endpoint") ?? "",
    key: get("file") ?? "",
    error: get("error") ?? "",
    start,
    end: Number.isNaN(end) ? start + durationNs / 1e6 : end,
    durationNs,
  };
  if (offset !== undefined) record.offset = offset;
  const dst = get("dst");
  if (dst) record.dst = dst;
  if (!Number.isNaN(firstByte)) record.firstByte = firstByte;
  return record;
}

function fromJson(value: Record<string, unknown>): OpRecord {
  const text = (v: unknown) => (typeof v === "string" ? v : v === undefined || v === null ? "" : String(v));
  const num = (v: unknown, fallback: number) => (typeof v === "number" && Number.isFinite(v) ? v : numberOr(typeof v === "string" ? v : undefined, fallback));
  const op = text(value.op);
  const start = parseTimestamp(text(value.start));
  const offset = value.offset === undefined || value.offset === null ? undefined : num(value.offset, 0);
  const durationNs = num(value.duration_ns, 0);
  const end = value.end === undefined ? start + durationNs / 1e6 : parseTimestamp(text(value.end));
  // A request line (`requests: true`) is no operation to replay, whatever its request is called.
  const method =
    value.method === "request" ? undefined : METHODS.includes(value.method as OpMethod) ? (value.method as OpMethod) : methodOf(op, offset !== undefined);
  const record: OpRecord = {
    idx: num(value.idx, 0),
    thread: num(value.thread, 0),
    op,
    method,
    clientId: text(value.client_id),
    objects: num(value.n_objects, 1),
    bytes: num(value.bytes, 0),
    endpoint: text(value.endpoint),
    key: text(value.file ?? value.key),
    error: text(value.error),
    start,
    end,
    durationNs,
  };
  if (offset !== undefined) record.offset = offset;
  if (typeof value.dst === "string" && value.dst !== "") record.dst = value.dst;
  if (value.first_byte !== undefined) record.firstByte = parseTimestamp(text(value.first_byte));
  return record;
}
