import type { Readable } from "node:stream";
import { IntegrityError, abortErrorFrom } from "../errors.js";

/** The part of a Node readable stream (an HTTP response body, an SDK's body stream) that {@link readBodyInto} uses. */
export type BodyStream = Pick<Readable, "on" | "once" | "off" | "destroy">;

export interface ReadBodyOptions {
  signal?: AbortSignal | undefined;
  /** Called per chunk: restarts the engine's stall timer. */
  progress?: (() => void) | undefined;
  /**
   * Stop after `out.length` bytes and drop the rest (a server that ignored the Range header and sent the whole object).
   * Without it, more bytes than asked for is an {@link IntegrityError}.
   */
  allowMore?: boolean | undefined;
}

/**
 * Reads a response body straight into `out` (no per-chunk buffers kept, no join) and resolves with the bytes
 * written: `out.length`, or fewer when the body ended early (the caller decides whether that is an error). An abort,
 * a stream error or a close without `end` (a body cut short) rejects and destroys the stream.
 */
export function readBodyInto(body: BodyStream, out: Uint8Array, opts: ReadBodyOptions = {}): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let filled = 0;
    let settled = false;
    const finish = (error: unknown, value?: number) => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener("abort", onAbort);
      body.off("data", onData);
      body.off("end", onEnd);
      body.off("error", onError);
      body.off("close", onClose);
      if (error !== undefined) {
        body.destroy();
        reject(error);
      } else resolve(value!);
    };
    const onData = (chunk: Buffer) => {
      const room = out.length - filled;
      if (chunk.length > room) {
        if (!opts.allowMore) {
          finish(new IntegrityError(`the server sent more than the ${out.length} bytes requested`, { code: "E_LENGTH_MISMATCH", retryable: true }));
          return;
        }
        out.set(chunk.subarray(0, room), filled);
        filled += room;
        opts.progress?.();
        body.destroy();
        finish(undefined, filled);
        return;
      }
      out.set(chunk, filled);
      filled += chunk.length;
      opts.progress?.();
    };
    const onEnd = () => finish(undefined, filled);
    const onError = (error: unknown) => finish(error);
    // Closed without "end": the body was cut short.
    const onClose = () => finish(Object.assign(new Error("premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" }));
    const onAbort = () => finish(abortErrorFrom(opts.signal!));
    if (opts.signal?.aborted) return onAbort();
    opts.signal?.addEventListener("abort", onAbort, { once: true });
    body.on("data", onData);
    body.once("end", onEnd);
    body.once("error", onError);
    body.once("close", onClose);
  });
}
