import { isAbortError, isRangeStoreError } from "@range/core";

/** The `ObjectStore` method an entry records. */
export type OpMethod =
  | "get"
  | "getRange"
  | "getStream"
  | "readTo"
  | "put"
  | "stat"
  | "list"
  | "delete"
  | "deletePrefix"
  | "exists"
  | "copy";

/**
 * Methods by their numeric code in a batch (the index). The order is part of the protocol with the writer thread, not
 * of the file format: files carry names.
 */
export const METHODS: readonly OpMethod[] = ["get", "getRange", "getStream", "readTo", "put", "stat", "list", "delete", "deletePrefix", "exists", "copy"];

/**
 * The `op` column per method: warp's names where warp has the operation (GET, PUT, STAT, LIST, DELETE), ours for
 * those it has not. A ranged read is a GET whose `offset` column is set; a COPY's destination is in `dst`.
 */
export const OP_NAMES: readonly string[] = ["GET", "GET", "GET", "GET", "PUT", "STAT", "LIST", "DELETE", "DELETE_PREFIX", "EXISTS", "COPY"];

export const OpCode = Object.freeze({
  get: 0,
  getRange: 1,
  getStream: 2,
  readTo: 3,
  put: 4,
  stat: 5,
  list: 6,
  delete: 7,
  deletePrefix: 8,
  exists: 9,
  copy: 10,
} satisfies Record<OpMethod, number>);

/**
 * The op code of a request line (`withOpLog(store, { requests: true })`): its `op` column is the backend's request
 * name (`GetObject`, ...), carried per entry; `REQUEST` / `request` are the fallbacks.
 */
export const REQUEST_OP = METHODS.length;

/** The method a file's `op` name (and offset) stands for; undefined for operations replay cannot issue. */
export function methodOf(op: string, hasOffset: boolean): OpMethod | undefined {
  switch (op.toUpperCase()) {
    case "GET":
      return hasOffset ? "getRange" : "get";
    case "PUT":
      return "put";
    case "STAT":
    case "HEAD":
      return "stat";
    case "LIST":
      return "list";
    case "DELETE":
      return "delete";
    case "DELETE_PREFIX":
      return "deletePrefix";
    case "EXISTS":
      return "exists";
    case "COPY":
      return "copy";
    default:
      return undefined;
  }
}

/**
 * The `error` column: a stable code, never a message (messages can be long and, from third-party stores, may
 * carry things that should not land in a log file). `E_*` for @range errors, `E_ABORTED` for aborts, the errno
 * code (`ENOENT`, ...) for Node errors, else the error's name.
 */
export function errorCode(error: unknown): string {
  if (isRangeStoreError(error)) return error.code;
  if (isAbortError(error)) return "E_ABORTED";
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && code !== "") return code;
  const name = (error as { name?: unknown } | null)?.name;
  return typeof name === "string" && name !== "" ? name : "Error";
}
