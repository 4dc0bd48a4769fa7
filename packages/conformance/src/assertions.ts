import { isRangeStoreError } from "@range/core";

/** The typed errors the contract names, and the `code` each must carry (RangeConfigError's code varies). */
export const ERROR_CODES = {
  NotFoundError: "E_NOT_FOUND",
  InvalidKeyError: "E_INVALID_KEY",
  InvalidRangeError: "E_INVALID_RANGE",
  RangeConfigError: undefined,
  IntegrityError: undefined,
} as const;

export type ErrorName = keyof typeof ERROR_CODES;

export class ConformanceError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConformanceError";
  }
}

export function fail(message: string): never {
  throw new ConformanceError(message);
}

/** Short description of any value for a failure message. */
export function show(value: unknown): string {
  if (value instanceof Uint8Array) return `${value.constructor.name}(${value.length})`;
  if (value instanceof Error) {
    const code = (value as { code?: unknown }).code;
    return `${value.name}${code !== undefined ? ` [${String(code)}]` : ""}: ${value.message}`;
  }
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value === "object" && value !== null) {
    try {
      return JSON.stringify(value);
    } catch {
      return Object.prototype.toString.call(value);
    }
  }
  return String(value);
}

function hex(byte: number | undefined): string {
  return byte === undefined ? "end of data" : `0x${byte.toString(16).padStart(2, "0")}`;
}

/**
 * Compares bytes fast (Buffer.equals) and, on a mismatch, reports the first differing offset. Avoids
 * `expect(big).toEqual(big)`, which takes seconds on MiB-sized arrays and prints megabytes.
 */
export function assertBytes(actual: unknown, expected: Uint8Array, what: string): void {
  if (!(actual instanceof Uint8Array)) fail(`${what}: expected a Uint8Array, got ${show(actual)}`);
  const a = Buffer.from(actual.buffer, actual.byteOffset, actual.byteLength);
  const b = Buffer.from(expected.buffer, expected.byteOffset, expected.byteLength);
  if (a.length === b.length && a.equals(b)) return;
  const common = Math.min(a.length, b.length);
  let i = 0;
  // Skip equal 64 KiB blocks first, then find the byte.
  const block = 64 * 1024;
  while (i + block <= common && a.subarray(i, i + block).equals(b.subarray(i, i + block))) i += block;
  while (i < common && a[i] === b[i]) i++;
  const lengths = a.length === b.length ? `${a.length} bytes` : `got ${a.length} bytes, expected ${b.length}`;
  if (i === common) fail(`${what}: ${lengths}; the first ${common} bytes match`);
  fail(`${what}: ${lengths}; first difference at byte ${i}: got ${hex(a[i])}, expected ${hex(b[i])}`);
}

/** Checks that `error` is the named @range error: the cross-copy marker, the name, and the code. */
export function checkTypedError(error: unknown, expected: ErrorName | readonly ErrorName[], what: string): void {
  const names: readonly ErrorName[] = typeof expected === "string" ? [expected] : expected;
  const wanted = names.join(" or ");
  if (!isRangeStoreError(error)) {
    fail(`${what}: expected ${wanted} (a @range error), got ${show(error)}`);
  }
  const name = (error as Error).name as ErrorName;
  if (!names.includes(name)) fail(`${what}: expected ${wanted}, got ${show(error)}`);
  const code = ERROR_CODES[name];
  const actualCode = (error as { code?: unknown }).code;
  if (code !== undefined && actualCode !== code) {
    fail(`${what}: ${name} must carry code ${code}, got ${show(actualCode)}`);
  }
  if (typeof actualCode !== "string" || !actualCode.startsWith("E_")) {
    fail(`${what}: ${name} must carry a string code like "E_...", got ${show(actualCode)}`);
  }
}

/**
 * Calls `call` and expects the promise it returns to reject with the typed error. A synchronous throw fails too:
 * every promise-returning method of the contract reports errors by rejecting.
 */
export async function expectRejects(
  what: string,
  call: () => Promise<unknown>,
  expected: ErrorName | readonly ErrorName[],
): Promise<unknown> {
  let promise: Promise<unknown>;
  try {
    promise = call();
  } catch (error) {
    return fail(`${what} threw synchronously (${show(error)}); it must return a rejected promise`);
  }
  if (typeof (promise as Promise<unknown> | undefined)?.then !== "function") {
    fail(`${what} returned ${show(promise)} instead of a promise`);
  }
  let value: unknown;
  try {
    value = await promise;
  } catch (error) {
    checkTypedError(error, expected, what);
    return error;
  }
  return fail(`${what} resolved with ${show(value)} instead of rejecting with ${[expected].flat().join(" or ")}`);
}

/** Expects `promise` to reject with an error named "AbortError" within `withinMs`. */
export async function expectAbortError(what: string, promise: Promise<unknown>, withinMs = 2_000): Promise<void> {
  promise.catch(() => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), withinMs);
  });
  let outcome: { kind: "resolved"; value: unknown } | { kind: "rejected"; error: unknown } | "timeout";
  try {
    outcome = await Promise.race([
      promise.then(
        (value) => ({ kind: "resolved" as const, value }),
        (error: unknown) => ({ kind: "rejected" as const, error }),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
  if (outcome === "timeout") fail(`${what}: did not settle within ${withinMs} ms of the abort`);
  if (outcome.kind === "resolved") fail(`${what}: resolved with ${show(outcome.value)} instead of rejecting with an AbortError`);
  const error = outcome.error;
  if ((error as { name?: unknown } | null)?.name !== "AbortError") {
    fail(`${what}: expected an error named "AbortError", got ${show(error)}`);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Reads a whole stream into one buffer. */
export async function drain(stream: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) {
    if (!(chunk instanceof Uint8Array)) fail(`stream yielded ${show(chunk)}, expected Uint8Array chunks`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** Runs `fn` over `items` with at most `limit` calls in flight. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
