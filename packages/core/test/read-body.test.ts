import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { IntegrityError, readBodyInto } from "../src/index.js";

function body(chunks: number[][], end = true): PassThrough {
  const stream = new PassThrough();
  setImmediate(() => {
    for (const chunk of chunks) stream.write(Buffer.from(chunk));
    if (end) stream.end();
  });
  return stream;
}

describe("readBodyInto", () => {
  it("writes the chunks in place and reports progress per chunk", async () => {
    const out = new Uint8Array(5);
    let progress = 0;
    expect(await readBodyInto(body([[1, 2], [3, 4, 5]]), out, { progress: () => progress++ })).toBe(5);
    expect([...out]).toEqual([1, 2, 3, 4, 5]);
    expect(progress).toBe(2);
  });

  it("reports a short body as fewer bytes, and a longer one as IntegrityError unless allowMore", async () => {
    expect(await readBodyInto(body([[1, 2]]), new Uint8Array(4))).toBe(2);
    await expect(readBodyInto(body([[1, 2, 3]]), new Uint8Array(2))).rejects.toBeInstanceOf(IntegrityError);
    const out = new Uint8Array(2);
    const stream = body([[7, 8, 9]], false);
    expect(await readBodyInto(stream, out, { allowMore: true })).toBe(2);
    expect([...out]).toEqual([7, 8]);
    expect(stream.destroyed).toBe(true);
  });

  it("rejects a body closed without end, and on abort, destroying the stream", async () => {
    const cut = body([[1]], false);
    setTimeout(() => cut.destroy(), 10);
    await expect(readBodyInto(cut, new Uint8Array(4))).rejects.toMatchObject({ code: "ERR_STREAM_PREMATURE_CLOSE" });
    const controller = new AbortController();
    const stalled = body([[1]], false);
    const reading = readBodyInto(stalled, new Uint8Array(4), { signal: controller.signal });
    setTimeout(() => controller.abort(), 10);
    await expect(reading).rejects.toMatchObject({ name: "AbortError" });
    expect(stalled.destroyed).toBe(true);
  });
});
