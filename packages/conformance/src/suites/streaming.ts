import type { GetOptions } from "@range/core";
import { assertBytes, fail, show } from "../assertions.js";
import { smallEngine, type Kit } from "../kit.js";
import { fixtureBytes } from "../random.js";

const SIZE = 1024 * 1024 + 333;

/**
 * Reads the stream, checking each chunk against the oracle at the offset the previous chunks add up to, then checks
 * the kept chunks again once the stream ended (a chunk must stay valid after the next one is requested).
 */
async function checkStream(stream: AsyncIterable<Uint8Array>, data: Uint8Array, what: string): Promise<number> {
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for await (const chunk of stream) {
    if (!(chunk instanceof Uint8Array)) fail(`${what}: chunk ${chunks.length} is ${show(chunk)}, expected a Uint8Array`);
    if (offset + chunk.length > data.length) {
      fail(`${what}: chunk ${chunks.length} (${chunk.length} B at offset ${offset}) runs past the object's ${data.length} bytes`);
    }
    assertBytes(chunk, data.subarray(offset, offset + chunk.length), `${what}: chunk ${chunks.length} at offset ${offset}`);
    chunks.push(chunk);
    offset += chunk.length;
  }
  if (offset !== data.length) fail(`${what}: the stream ended after ${offset} bytes, expected ${data.length}`);
  assertBytes(Buffer.concat(chunks), data, `${what}: the chunks, concatenated after the stream ended`);
  return chunks.length;
}

/** Suite 3: getStream yields the bytes in order and stops cleanly. */
export function streamingSuite(kit: Kit): void {
  kit.suite("streaming order", "stream", (s) => {
    const data = fixtureBytes("stream", SIZE);
    const key = s.fixture("stream.bin", data);

    kit.test("getStream (small engine options) yields the bytes in order", async () => {
      const chunks = await checkStream(s.store.getStream(key, smallEngine()), data, "getStream(small engine)");
      if (chunks < 2) fail(`getStream(small engine) of ${SIZE} B yielded ${chunks} chunk(s); with 64 KiB ranges expected several`);
    });

    kit.test("getStream (default engine options) yields the bytes in order", async () => {
      await checkStream(s.store.getStream(key), data, "getStream()");
    });

    kit.test("getStream with engine: false yields the bytes in order", async () => {
      await checkStream(s.store.getStream(key, { engine: false }), data, "getStream(engine: false)");
    });

    kit.test("two interleaved getStreams of one object each yield the bytes in order", async () => {
      const a = s.store.getStream(key, smallEngine())[Symbol.asyncIterator]();
      const b = s.store.getStream(key, smallEngine())[Symbol.asyncIterator]();
      const got: Uint8Array[][] = [[], []];
      let doneA = false;
      let doneB = false;
      while (!doneA || !doneB) {
        if (!doneA) {
          const r = await a.next();
          if (r.done) doneA = true;
          else got[0]!.push(r.value);
        }
        if (!doneB) {
          const r = await b.next();
          if (r.done) doneB = true;
          else got[1]!.push(r.value);
        }
      }
      assertBytes(Buffer.concat(got[0]!), data, "first interleaved stream");
      assertBytes(Buffer.concat(got[1]!), data, "second interleaved stream");
    });

    kit.test("get and getStream report progress that grows to the object size", async () => {
      for (const [what, read] of [
        ["get", (o: GetOptions) => s.store.get(key, o)],
        ["getStream", async (o: GetOptions) => { for await (const _ of s.store.getStream(key, o)) void _; }],
      ] as const) {
        const seen: { bytes: number; total: number }[] = [];
        await read({ ...smallEngine(), onProgress: (p) => seen.push({ bytes: p.bytes, total: p.total }) });
        if (seen.length === 0) fail(`${what}(small engine) never called onProgress`);
        let last = 0;
        for (const p of seen) {
          if (p.total !== SIZE) fail(`${what}: onProgress reported total ${p.total}, expected ${SIZE}`);
          if (p.bytes < last || p.bytes > SIZE) fail(`${what}: onProgress bytes went ${last} -> ${p.bytes} (total ${SIZE})`);
          last = p.bytes;
        }
        if (last !== SIZE) fail(`${what}: the last onProgress reported ${last} bytes, expected ${SIZE}`);
      }
    });

    kit.test("breaking out of getStream after the first chunk ends cleanly and leaves nothing in flight", async () => {
      // After 1 chunk (often a head request) and after 2 (the engine's ranges are then in flight).
      for (const stopAfter of [1, 2]) {
        let received = 0;
        let chunks = 0;
        for await (const chunk of s.store.getStream(key, smallEngine())) {
          received += chunk.length;
          if (++chunks === stopAfter) break;
        }
        if (received >= SIZE) fail(`the stream delivered the whole object in ${chunks} chunk(s); cannot test an early break`);
        await kit.expectNothingInFlight(`after breaking out of getStream after ${stopAfter} chunk(s)`);
        assertBytes(await s.store.get(key, smallEngine()), data, `get after breaking out of getStream after ${stopAfter} chunk(s)`);
      }
    });
  });
}
