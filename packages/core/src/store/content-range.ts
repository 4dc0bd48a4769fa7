import { IntegrityError, InvalidRangeError } from "../errors.js";

/** `Content-Range: bytes start-end/total`, `end` inclusive; `total` undefined for `*`. */
export interface ContentRange {
  start: number;
  end: number;
  total: number | undefined;
}

/** Parses `bytes a-b/total` (or `bytes a-b/*`); undefined for anything else, `bytes *\/total` included. */
export function parseContentRange(header: string): ContentRange | undefined {
  const match = /^\s*bytes\s+(\d+)-(\d+)\/(\d+|\*)\s*$/i.exec(header);
  if (!match) return undefined;
  const start = Number(match[1]);
  const end = Number(match[2]);
  const total = match[3] === "*" ? undefined : Number(match[3]);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || end < start || (total !== undefined && !Number.isSafeInteger(total))) {
    return undefined;
  }
  return { start, end, total };
}

export interface RangeRequest {
  /** First byte asked for. */
  offset: number;
  /** Bytes asked for. */
  length: number;
  /**
   * The caller needs exactly `length` bytes (a planned range): a range that passes the object's end is an
   * {@link InvalidRangeError}. Otherwise (a probe for "up to `length` bytes"), a shorter answer at the end is fine.
   */
  exact: boolean;
  /** The object's size as the read saw it when it began; a response that names another total fails. */
  size?: number;
  /** Names the request in messages, e.g. `GetObject "a.bin"`. */
  what: string;
}

/**
 * Checks a ranged response's `Content-Range` (and `Content-Length`) against the request, before any of its bytes are
 * used: a server, proxy or cache that answers a different range, cuts it, or announces a total that contradicts
 * itself or the object's size would otherwise hand back wrong bytes or a truncated object without anyone noticing.
 * Returns the object's total size (undefined when the header gives none).
 *
 * Throws {@link InvalidRangeError} for a request past the end, and a retryable {@link IntegrityError} for an answer
 * that does not fit the request (`E_BAD_CONTENT_RANGE`) or names another total than `request.size`
 * (`E_SIZE_MISMATCH`).
 */
export function checkContentRange(header: string, contentLength: number | undefined, request: RangeRequest): number | undefined {
  const { offset, length, what } = request;
  const asked = `bytes ${offset}-${offset + length - 1}`;
  const mismatch = (detail: string) =>
    new IntegrityError(`${what}: asked for ${asked}, the response ${detail}`, { code: "E_BAD_CONTENT_RANGE", retryable: true });
  const range = parseContentRange(header);
  if (!range) throw mismatch(`has an unreadable Content-Range ${JSON.stringify(header)}`);
  const { start, end, total } = range;
  if (total !== undefined) {
    if (end >= total) throw mismatch(`claims bytes ${start}-${end} of a ${total}-byte object`);
    if (request.size !== undefined && total !== request.size) {
      // Retryable: with the version pinned, one of the two answers was wrong, and a wrong one may not repeat.
      throw new IntegrityError(`${what}: the response gives the object ${total} bytes, the read began with ${request.size}`, {
        code: "E_SIZE_MISMATCH",
        retryable: true,
      });
    }
    if (request.exact && offset + length > total) {
      throw new InvalidRangeError(`range [${offset}, ${offset + length}) passes the end of the object (${total} bytes): ${what}`);
    }
  }
  const lastAsked = offset + length - 1;
  const expectedEnd = total !== undefined ? Math.min(offset + length, total) - 1 : request.exact ? lastAsked : Math.min(end, lastAsked);
  if (start !== offset || end !== expectedEnd) throw mismatch(`holds bytes ${start}-${end}`);
  if (contentLength !== undefined && contentLength !== end - start + 1) {
    throw mismatch(`says bytes ${start}-${end} but has a ${contentLength}-byte body`);
  }
  return total;
}
