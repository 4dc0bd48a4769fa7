import { Agent as HttpAgent, type AgentOptions } from "node:http";
import { createConnection, type NetConnectOpts, type Socket } from "node:net";
import type { Readable } from "node:stream";
import { IntegrityError, RangeConfigError, abortErrorFrom } from "../errors.js";

export interface ReadAgentOptions extends AgentOptions {
  /** Bytes one socket read may return (the size of the agent's read buffer). Default 1 MiB. */
  readBufferSize?: number;
}

/**
 * A plain-HTTP keep-alive agent built for large response bodies. Node's sockets allocate a new Buffer for every read
 * (at most 64 KiB), which the HTTP parser then copies into the body chunk it emits: on loopback that allocation, its
 * page faults and garbage cost more CPU than the bytes. This agent's sockets read into one reused buffer instead
 * (Node's `onread`), up to `readBufferSize` bytes at a time, so there are fewer, larger chunks and no per-read garbage.
 * One buffer serves every socket of the agent: each read is parsed synchronously before any other socket reads, and
 * the parser copies everything it keeps (headers, body chunks), so nothing holds on to the buffer.
 *
 * For `https` keep Node's agent (TLS sockets do not take `onread`). Not for protocol upgrades (WebSocket, CONNECT),
 * whose first bytes Node hands over uncopied.
 */
export function createReadAgent(options: ReadAgentOptions = {}): HttpAgent {
  const { readBufferSize = 1024 * 1024, ...agentOptions } = options;
  if (!Number.isSafeInteger(readBufferSize) || readBufferSize < 4096) {
    throw new RangeConfigError(`readBufferSize must be an integer of at least 4096, got ${String(readBufferSize)}`, { code: "E_INVALID_OPTION" });
  }
  let shared: Buffer | undefined;
  const agent = new HttpAgent(agentOptions);
  // Agent.createConnection is Node's documented hook for the sockets an agent opens; @types/node does not declare it.
  (agent as unknown as { createConnection: (opts: object) => Socket }).createConnection = (opts) => {
    const socket = createConnection({
      ...(opts as NetConnectOpts),
      onread: {
        // Allocated on the first connection; the same buffer for every read of every socket.
        buffer: () => (shared ??= Buffer.allocUnsafeSlow(readBufferSize)),
        callback(bytes: number, buffer: Uint8Array) {
          socket.emit("data", Buffer.from(buffer.buffer, buffer.byteOffset, bytes));
          // Keep reading: an http response that cannot take more pauses the socket itself.
          return true;
        },
      },
    });
    return socket;
  };
  return agent;
}

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
