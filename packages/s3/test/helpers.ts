import { randomBytes } from "node:crypto";
import { randomBytes as fixtureRandomBytes } from "@range/conformance";
import { createObjectStore, type ObjectStore, type RangeEngineOptions } from "@range/core";
import { inject } from "vitest";
import { S3Driver, type S3StoreOptions } from "../src/index.js";

export const BUCKET = "range-s3-test";

/** A fresh key prefix per test file run, so reruns against one server never collide. */
export const RUN = `run-${randomBytes(4).toString("hex")}/`;

export function connection() {
  const s3 = inject("s3");
  return {
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey },
  };
}

export interface RecordedRequest {
  command: string;
  headers: Record<string, string>;
  input: Record<string, unknown>;
}

/** Every request a store's client sends, with the HTTP headers it carried, and how many ran at once per command. */
export class RequestLog {
  readonly requests: RecordedRequest[] = [];
  readonly maxInFlight = new Map<string, number>();
  readonly #inFlight = new Map<string, number>();
  /** Called before a request is sent; may delay it. */
  before: ((request: RecordedRequest) => Promise<void> | void) | undefined;

  count(command: string): number {
    return this.requests.filter((r) => r.command === command).length;
  }

  clear(): void {
    this.requests.length = 0;
    this.maxInFlight.clear();
  }

  enter(command: string): void {
    const n = (this.#inFlight.get(command) ?? 0) + 1;
    this.#inFlight.set(command, n);
    this.maxInFlight.set(command, Math.max(n, this.maxInFlight.get(command) ?? 0));
  }

  leave(command: string): void {
    this.#inFlight.set(command, (this.#inFlight.get(command) ?? 1) - 1);
  }
}

/** A store (and its driver) whose client records every request in `log` (SDK middleware at the finalize step). */
export async function recordedStore(
  options: Partial<S3StoreOptions> & { engine?: RangeEngineOptions } = {},
): Promise<{ store: ObjectStore; driver: S3Driver; log: RequestLog }> {
  const driver = new S3Driver({ ...connection(), bucket: BUCKET, prefix: RUN, ...options });
  const log = new RequestLog();
  const client = await driver.client();
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const command = String(context.commandName ?? "").replace(/Command$/, "");
      const request = args.request as { headers?: Record<string, string> };
      const recorded: RecordedRequest = { command, headers: { ...(request.headers ?? {}) }, input: args.input as Record<string, unknown> };
      log.requests.push(recorded);
      await log.before?.(recorded);
      log.enter(command);
      try {
        return await next(args);
      } finally {
        log.leave(command);
      }
    },
    { step: "finalizeRequest", name: "rangeTestRequestLog" },
  );
  // Direct reads (GetObject on http:) bypass the SDK's middleware: the driver's hook shows them the same way. They
  // are logged when sent; `maxInFlight` counts SDK requests only (a direct read has no "response done" point here).
  driver.directRequestHook = async (request) => {
    const recorded: RecordedRequest = { command: request.operation, headers: request.headers, input: request.input };
    log.requests.push(recorded);
    await log.before?.(recorded);
  };
  return { store: createObjectStore(driver, options.engine ? { engine: options.engine } : {}), driver, log };
}

/** Deterministic bytes, from the conformance kit. */
export function bytes(size: number, seed: number): Uint8Array {
  return fixtureRandomBytes(size, seed);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}
