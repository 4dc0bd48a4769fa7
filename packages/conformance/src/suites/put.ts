import type { ObjectMeta } from "@range/core";
import { assertBytes, checkTypedError, expectAbortError, expectRejects, fail, sleep } from "../assertions.js";
import { HEAVY_TEST_TIMEOUT_MS, smallEngine, type Kit } from "../kit.js";
import { fixtureBytes } from "../random.js";

const MiB = 1024 * 1024;

async function* fromChunks(chunks: readonly Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const chunk of chunks) {
    await Promise.resolve();
    yield chunk;
  }
}

function checkMeta(meta: ObjectMeta, key: string, size: number, what: string): void {
  if (typeof meta !== "object" || meta === null) fail(`${what} resolved with ${String(meta)}, expected ObjectMeta`);
  if (meta.size !== size) fail(`${what}: meta.size is ${meta.size}, expected ${size}`);
  if (meta.key !== key) fail(`${what}: meta.key is ${JSON.stringify(meta.key)}, expected ${JSON.stringify(key)}`);
}

/** Suite 5: writes, overwrites, streamed and large writes, and aborted writes. */
export function putSuite(kit: Kit): void {
  kit.suite(
    "put and overwrite",
    "put",
    (s) => {
      const put = (key: string, data: Uint8Array | AsyncIterable<Uint8Array>, opts?: { signal?: AbortSignal; contentType?: string }) =>
        s.store.put(key, data, opts);

      async function expectObject(key: string, data: Uint8Array, what: string): Promise<void> {
        const meta = await s.store.stat(key);
        if (meta.size !== data.length) fail(`${what}: stat().size is ${meta.size}, expected ${data.length}`);
        assertBytes(await s.store.get(key), data, `${what}: get()`);
        assertBytes(await s.store.get(key, smallEngine()), data, `${what}: get(small engine)`);
      }

      kit.test("put of a Uint8Array then get returns the same bytes", async () => {
        const key = s.key("simple.bin");
        const data = fixtureBytes("put-simple", 300 * 1024 + 5);
        checkMeta(await put(key, data), key, data.length, "put(Uint8Array)");
        await expectObject(key, data, "after put");
      });

      kit.test("put resolves with the metadata stat reports", async () => {
        const key = s.key("meta.bin");
        const data = fixtureBytes("put-meta", 4321);
        const meta = await put(key, data);
        const stat = await s.store.stat(key);
        checkMeta(meta, key, data.length, "put()");
        checkMeta(stat, key, data.length, "stat() after put");
        if (meta.etag !== undefined && stat.etag !== undefined && meta.etag !== stat.etag) {
          fail(`put() returned etag ${meta.etag} but stat() reports ${stat.etag} for the same version`);
        }
      });

      kit.test("put of a Uint8Array view stores only the view's bytes", async () => {
        const key = s.key("view.bin");
        const backing = fixtureBytes("put-view", 10_000);
        const view = backing.subarray(1_234, 1_234 + 5_000);
        checkMeta(await put(key, view), key, view.length, "put(view)");
        await expectObject(key, view.slice(), "after put(view)");
      });

      for (const [label, firstSize, secondSize] of [
        ["a smaller", 200_001, 70_001],
        ["a larger", 70_003, 300_007],
      ] as const) {
        kit.test(`overwrite with ${label} object replaces size and content`, async () => {
          const key = s.key(`overwrite-${firstSize}-${secondSize}.bin`);
          const first = fixtureBytes("overwrite-1", firstSize);
          const second = fixtureBytes("overwrite-2", secondSize);
          await put(key, first);
          const before = await s.store.stat(key);
          checkMeta(await put(key, second), key, secondSize, "overwriting put()");
          await expectObject(key, second, "after the overwrite");
          assertBytes(await s.store.getRange(key, 0, secondSize), second, "getRange of the whole new object");
          const after = await s.store.stat(key);
          if (before.etag !== undefined && after.etag !== undefined && before.etag === after.etag) {
            fail(`the etag did not change on overwrite (${after.etag})`);
          }
          if (secondSize < firstSize) {
            await expectRejects(
              "getRange past the end of the new, smaller object",
              () => s.store.getRange(key, secondSize, 1),
              "InvalidRangeError",
            );
          }
        });
      }

      kit.test("put from an AsyncIterable stores the concatenation of its chunks", async () => {
        const key = s.key("iterable.bin");
        const data = fixtureBytes("put-iterable", 1 + 65_536 + 100_003 + 7 + 65_535);
        const cuts = [0, 1, 1 + 65_536, 1 + 65_536, 1 + 65_536 + 100_003, 1 + 65_536 + 100_003 + 7, data.length];
        const chunks = cuts.slice(1).map((end, i) => data.subarray(cuts[i]!, end)); // includes one empty chunk
        checkMeta(await put(key, fromChunks(chunks)), key, data.length, "put(AsyncIterable)");
        await expectObject(key, data, "after put(AsyncIterable)");
      });

      kit.test("put of 0 bytes stores an empty object", async () => {
        const key = s.key("empty.bin");
        checkMeta(await put(key, new Uint8Array(0)), key, 0, "put(0 bytes)");
        if (!(await s.store.exists(key))) fail("exists() is false after putting an empty object");
        await expectObject(key, new Uint8Array(0), "after put(0 bytes)");
        const key2 = s.key("empty-iterable.bin");
        checkMeta(await put(key2, fromChunks([])), key2, 0, "put(AsyncIterable of no chunks)");
        await expectObject(key2, new Uint8Array(0), "after put(AsyncIterable of no chunks)");
      });

      kit.test("put with a contentType stores the object", async () => {
        const key = s.key("typed.json");
        const data = new TextEncoder().encode('{"hello":"world"}');
        checkMeta(await put(key, data, { contentType: "application/json" }), key, data.length, "put(contentType)");
        await expectObject(key, data, "after put(contentType)");
      });

      kit.test("changing the caller's buffers after put does not change the stored object", async () => {
        const key = s.key("mutate.bin");
        const source = fixtureBytes("put-mutate", 100_000).slice();
        const expected = source.slice();
        await put(key, source);
        source.fill(0);
        await expectObject(key, expected, "after zeroing the buffer given to put(Uint8Array)");

        const key2 = s.key("mutate-iterable.bin");
        const parts = [fixtureBytes("put-mutate-a", 70_000).slice(), fixtureBytes("put-mutate-b", 30_000).slice()];
        const expected2 = Buffer.concat(parts);
        await put(key2, fromChunks(parts));
        for (const part of parts) part.fill(0);
        await expectObject(key2, expected2, "after zeroing the chunks given to put(AsyncIterable)");
      });

      kit.test(
        "large put from an AsyncIterable of 1 MiB chunks reads back exactly",
        async () => {
          const size = kit.caps.largePutSize as number;
          const key = s.key("large.bin");
          const data = fixtureBytes("put-large", size);
          const chunks: Uint8Array[] = [];
          for (let offset = 0; offset < size; offset += MiB) chunks.push(data.subarray(offset, Math.min(size, offset + MiB)));
          checkMeta(await put(key, fromChunks(chunks)), key, size, `put(${size} B from ${chunks.length} chunks)`);
          const meta = await s.store.stat(key);
          if (meta.size !== size) fail(`stat().size is ${meta.size} after the large put, expected ${size}`);
          assertBytes(await s.store.get(key), data, `get() of the ${size} B object`);
          const mid = Math.min(5 * MiB, size) - 3;
          if (mid > 0 && mid + 10 <= size) {
            assertBytes(await s.store.getRange(key, mid, 10), data.subarray(mid, mid + 10), `getRange(${mid}, 10)`);
          }
        },
        { timeout: HEAVY_TEST_TIMEOUT_MS, enabled: kit.caps.largePutSize !== false },
      );

      kit.test("concurrent puts to one key leave exactly one of the written objects", async () => {
        const key = s.key("contended.bin");
        const versions = Array.from({ length: 8 }, (_, i) => fixtureBytes(`put-contended-${i}`, 50_000 + 1_000 * i));
        await Promise.all(versions.map((v) => put(key, v)));
        const got = await s.store.get(key);
        const winner = versions.findIndex((v) => v.length === got.length);
        if (winner === -1) fail(`after 8 concurrent puts the object has ${got.length} bytes, which none of them wrote`);
        assertBytes(got, versions[winner]!, `after concurrent puts, the object (must be whole version #${winner})`);
        const meta = await s.store.stat(key);
        if (meta.size !== got.length) fail(`stat().size is ${meta.size} but get() returned ${got.length} bytes`);
      });

      kit.test("a put in progress is not visible until it completes", async () => {
        const key = s.key("in-progress.bin");
        const fresh = s.key("in-progress-new.bin");
        const old = fixtureBytes("put-progress-old", 30_000);
        const next = fixtureBytes("put-progress-new", 3 * 64 * 1024 + 5);
        await put(key, old);
        for (const [target, before] of [[key, old], [fresh, undefined]] as const) {
          let release!: () => void;
          const gate = new Promise<void>((resolve) => (release = resolve));
          let waiting = false;
          const source = (async function* () {
            yield next.subarray(0, 64 * 1024);
            yield next.subarray(64 * 1024, 2 * 64 * 1024);
            waiting = true;
            await gate;
            yield next.subarray(2 * 64 * 1024);
          })();
          const pending = put(target, source);
          pending.catch(() => {});
          try {
            const deadline = Date.now() + 5_000;
            while (!waiting && Date.now() < deadline) await sleep(2);
            if (!waiting) fail("put() did not read the first chunks of its AsyncIterable within 5 s");
            if (before) {
              assertBytes(await s.store.get(key), before, "get() while an overwrite is in progress (must be the old object)");
            } else if (await s.store.exists(target)) {
              fail("a new object is visible (exists() is true) before its put() completed");
            }
          } finally {
            release();
          }
          await pending;
          await expectObject(target, next, "after the put completed");
        }
      });

      kit.test("an object overwritten during a read is read whole from one version, or the read rejects IntegrityError", async () => {
        const key = s.key("changing.bin");
        const first = fixtureBytes("put-changing-1", 16 * 64 * 1024 + 3);
        const second = fixtureBytes("put-changing-2", first.length);
        const check = (got: Uint8Array, what: string) => {
          const a = Buffer.from(got.buffer, got.byteOffset, got.length);
          if (a.equals(first) || a.equals(second)) return;
          assertBytes(got, first, `${what}: the bytes are a mix of two versions of the object (compared with the first)`);
        };
        async function settle(what: string, read: () => Promise<Uint8Array>): Promise<void> {
          let got: Uint8Array;
          try {
            got = await read();
          } catch (error) {
            checkTypedError(error, "IntegrityError", what);
            return;
          }
          check(got, what);
        }

        // getStream: overwrite after the first chunk; the ranges fetched afterwards must not come from the new version.
        await put(key, first);
        await settle("getStream overwritten mid-read", async () => {
          const chunks: Uint8Array[] = [];
          for await (const chunk of s.store.getStream(key, smallEngine())) {
            chunks.push(chunk);
            if (chunks.length === 1) await put(key, second);
          }
          return Buffer.concat(chunks);
        });

        // get: overwrite from the first progress report.
        await put(key, first);
        let started: Promise<unknown> | undefined;
        await settle("get overwritten mid-read", () =>
          s.store.get(key, { ...smallEngine(), onProgress: () => void (started ??= put(key, second)) }),
        );
        await started;
      });

      /** An iterable that yields 3 chunks, aborts, then keeps yielding (slowly) as a real producer would. */
      function abortingSource(controller: AbortController, data: Uint8Array): AsyncGenerator<Uint8Array> {
        return (async function* () {
          const chunk = 64 * 1024;
          for (let i = 0; i * chunk < data.length; i++) {
            if (i === 3) controller.abort();
            if (i >= 3) await sleep(5);
            yield data.subarray(i * chunk, Math.min(data.length, (i + 1) * chunk));
          }
        })();
      }

      kit.test("a put aborted while its AsyncIterable is yielding rejects with AbortError and leaves no object", async () => {
        const key = s.key("aborted.bin");
        const controller = new AbortController();
        const data = fixtureBytes("put-aborted", 6 * 64 * 1024 + 17);
        await expectAbortError("put aborted mid-stream", put(key, abortingSource(controller, data), { signal: controller.signal }));
        if (await s.store.exists(key)) fail("an aborted put left an object behind");
      });

      kit.test("an aborted overwrite keeps the previous object", async () => {
        const key = s.key("aborted-overwrite.bin");
        const old = fixtureBytes("put-aborted-old", 50_001);
        await put(key, old);
        const controller = new AbortController();
        const data = fixtureBytes("put-aborted-new", 6 * 64 * 1024 + 17);
        await expectAbortError("overwrite aborted mid-stream", put(key, abortingSource(controller, data), { signal: controller.signal }));
        await expectObject(key, old, "after an aborted overwrite");
      });
    },
    { requires: ["write"] },
  );
}
