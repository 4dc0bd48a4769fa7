import { describe, expect, it } from "vitest";
import {
  BackendError,
  PartReader,
  authError,
  isNetworkFailure,
  maxStreamSize,
  parseRetryAfter,
  partSizeForLength,
  sanitizedErrorCause,
  streamPartSize,
  transientHttpError,
  type PartLimits,
} from "../src/index.js";

const MiB = 1024 * 1024;

describe("http error helpers", () => {
  it("parses Retry-After as seconds or an HTTP date", () => {
    expect(parseRetryAfter("3")).toBe(3000);
    expect(parseRetryAfter("1.5")).toBe(1500);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 4_000)).toBe(6_000);
    expect(parseRetryAfter(new Date(1_000).toUTCString(), 4_000)).toBe(0);
    for (const bad of ["soon", "", "  ", "-1", undefined, null]) expect(parseRetryAfter(bad)).toBeUndefined();
  });

  it("tells network failures from HTTP answers", () => {
    expect(isNetworkFailure({ code: "ECONNRESET" })).toBe(true);
    expect(isNetworkFailure({ code: "UND_ERR_SOCKET" })).toBe(true);
    expect(isNetworkFailure({ message: "socket hang up" })).toBe(true);
    expect(isNetworkFailure({ message: "aborted" })).toBe(true);
    expect(isNetworkFailure({ message: "request aborted by the user" })).toBe(false);
    expect(isNetworkFailure({ code: "ENOENT" })).toBe(false);
    // Anything that got an HTTP status back was answered by the server.
    expect(isNetworkFailure({ code: "ECONNRESET" }, 500)).toBe(false);
  });

  it("classifies retryable status classes and keeps Retry-After", () => {
    const cause = new Error("x");
    const cases: [Parameters<typeof transientHttpError>[1], string | undefined][] = [
      [{ status: 429, cause }, "E_THROTTLED"],
      [{ status: 503, cause }, "E_THROTTLED"],
      [{ status: 400, throttled: true, cause }, "E_THROTTLED"],
      [{ status: 500, cause }, "E_SERVER"],
      [{ status: 408, cause }, "E_SERVER"],
      [{ status: 409, serverFault: true, cause }, "E_SERVER"],
      [{ status: undefined, network: true, cause }, "E_NETWORK"],
      [{ status: 400, cause }, undefined],
      [{ status: undefined, cause }, undefined],
    ];
    for (const [failure, code] of cases) {
      const error = transientHttpError("GET x failed", failure);
      if (code === undefined) {
        expect(error, JSON.stringify(failure)).toBeUndefined();
        continue;
      }
      expect(error).toBeInstanceOf(BackendError);
      expect(error).toMatchObject({ code, retryable: true, message: "GET x failed", cause });
    }
    expect(transientHttpError("m", { status: 503, retryAfterMs: 2000, cause })?.retryAfterMs).toBe(2000);
    expect(transientHttpError("m", { status: 503, cause })?.retryAfterMs).toBeUndefined();
  });

  it("auth errors are not retryable and carry the hint", () => {
    const error = authError("GET x failed: AccessDenied (HTTP 403).", "Check the credentials", undefined);
    expect(error).toMatchObject({ code: "E_AUTH", retryable: false, message: "GET x failed: AccessDenied (HTTP 403). Check the credentials" });
  });

  it("a sanitized cause keeps only the listed fields, redacted", () => {
    const cause = sanitizedErrorCause({
      name: "RestError",
      message: "failed https://acct.blob.core.windows.net/c/b?sv=2024&sig=SECRETSIG Authorization: SharedKey acct:SECRETKEY",
      code: "AuthenticationFailed",
      statusCode: 403,
      requestId: "r-1",
      errno: "not a number",
      syscall: "read",
    });
    expect(cause.name).toBe("RestError");
    expect(cause.message).not.toMatch(/SECRETSIG|SECRETKEY/);
    expect({ ...cause }).toEqual({ name: "RestError", code: "AuthenticationFailed", statusCode: 403, requestId: "r-1", syscall: "read" });
    expect(sanitizedErrorCause({ message: "token abc" }, (text) => text.replace("abc", "***")).message).toBe("token ***");
  });
});

describe("part sizing", () => {
  const limits: PartLimits = { maxParts: 10_000, maxPartSize: 5 * 1024 * MiB, partsPerStep: 900 };

  it("raises the part size only when the object needs more parts than allowed", () => {
    expect(partSizeForLength(100 * MiB, 8 * MiB, limits)).toBe(8 * MiB);
    const big = 200 * 1024 * MiB;
    const size = partSizeForLength(big, 8 * MiB, limits);
    expect(size % MiB).toBe(0);
    expect(Math.ceil(big / size)).toBeLessThanOrEqual(limits.maxParts);
    expect(partSizeForLength(1e15, 8 * MiB, limits)).toBe(limits.maxPartSize);
  });

  it("doubles stream parts every step and sums a partial last step", () => {
    expect(streamPartSize(0, 8 * MiB, limits)).toBe(8 * MiB);
    expect(streamPartSize(899, 8 * MiB, limits)).toBe(8 * MiB);
    expect(streamPartSize(900, 8 * MiB, limits)).toBe(16 * MiB);
    let total = 0;
    for (let index = 0; index < limits.maxParts; index++) total += streamPartSize(index, 8 * MiB, limits);
    expect(maxStreamSize(8 * MiB, limits)).toBe(total);
  });
});

describe("PartReader", () => {
  async function* chunks(sizes: number[]): AsyncGenerator<Uint8Array> {
    let value = 0;
    for (const size of sizes) {
      const chunk = new Uint8Array(size);
      for (let i = 0; i < size; i++) chunk[i] = value++ & 0xff;
      yield chunk;
    }
  }

  it("cuts chunks into parts of the asked sizes with the bytes in order", async () => {
    const reader = new PartReader(chunks([3, 0, 10, 1, 7]));
    const parts = [await reader.read(4), await reader.read(4), await reader.read(100), await reader.read(4)];
    expect(parts.map((p) => p.length)).toEqual([4, 4, 13, 0]);
    const all = Buffer.concat(parts);
    expect([...all]).toEqual(Array.from({ length: 21 }, (_, i) => i));
    expect(reader.done).toBe(true);
  });

  it("close stops the source", async () => {
    let finished = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        for (;;) yield new Uint8Array(4);
      } finally {
        finished = true;
      }
    }
    const reader = new PartReader(source());
    expect((await reader.read(6)).length).toBe(6);
    await reader.close();
    expect(finished).toBe(true);
    expect(reader.done).toBe(true);
  });
});
