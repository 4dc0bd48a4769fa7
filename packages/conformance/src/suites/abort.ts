import { assertBytes, expectAbortError, fail } from "../assertions.js";
import { smallEngine, type Kit } from "../kit.js";
import { fixtureBytes } from "../random.js";

const SIZE = 1024 * 1024 + 4_099;

/** Suite 4: aborting reads (and writes) rejects with an AbortError and leaves nothing running. */
export function abortSuite(kit: Kit): void {
  kit.suite("abort", "abort", (s) => {
    const data = fixtureBytes("abort", SIZE);
    const key = s.fixture("abort.bin", data);

    /** Aborts from the `abortAt`-th onProgress call of a multi-range get. */
    async function abortFromProgress(abortAt: number, what: string): Promise<void> {
      const controller = new AbortController();
      let calls = 0;
      const promise = s.store.get(key, {
        ...smallEngine(),
        signal: controller.signal,
        onProgress: () => {
          if (++calls === abortAt) controller.abort();
        },
      });
      promise.catch(() => {});
      try {
        await expectAbortError(what, promise);
      } catch (error) {
        if (calls < abortAt) fail(`${what}: onProgress was called ${calls} time(s), so the abort never happened; ${(error as Error).message}`);
        throw error;
      }
      await kit.expectNothingInFlight(what);
      assertBytes(await s.store.get(key, smallEngine()), data, `get after ${what}`);
    }

    kit.test("get aborted from onProgress after the first range rejects with AbortError", async () => {
      await abortFromProgress(1, "get aborted at the first onProgress");
    });

    kit.test("get aborted from onProgress mid-download rejects with AbortError", async () => {
      await abortFromProgress(2, "get aborted at the second onProgress");
    });

    kit.test("get with an already-aborted signal rejects with AbortError", async () => {
      await expectAbortError("get(signal: aborted)", s.store.get(key, { ...smallEngine(), signal: AbortSignal.abort() }));
      await expectAbortError("get(signal: aborted, engine: false)", s.store.get(key, { engine: false, signal: AbortSignal.abort() }));
      await kit.expectNothingInFlight("after get with an aborted signal");
    });

    kit.test("an abort with a custom reason still rejects with an error named AbortError", async () => {
      const reason = new Error("custom abort reason");
      await expectAbortError("get(signal aborted with an Error reason)", s.store.get(key, { signal: AbortSignal.abort(reason) }));
      const controller = new AbortController();
      const promise = s.store.get(key, {
        ...smallEngine(),
        signal: controller.signal,
        onProgress: () => controller.abort(reason),
      });
      await expectAbortError("get aborted mid-download with an Error reason", promise);
      await kit.expectNothingInFlight("after aborts with a custom reason");
    });

    kit.test("getRange with an already-aborted signal rejects with AbortError", async () => {
      await expectAbortError("getRange(signal: aborted)", s.store.getRange(key, 10, 1000, { signal: AbortSignal.abort() }));
      await kit.expectNothingInFlight("after getRange with an aborted signal");
    });

    kit.test("getStream with an already-aborted signal rejects with AbortError", async () => {
      const stream = s.store.getStream(key, { ...smallEngine(), signal: AbortSignal.abort() });
      await expectAbortError(
        "getStream(signal: aborted)",
        (async () => {
          for await (const _ of stream) void _;
        })(),
      );
      await kit.expectNothingInFlight("after getStream with an aborted signal");
    });

    kit.test("getStream aborted mid-iteration rejects with AbortError", async () => {
      for (const abortAfter of [1, 2]) {
        const controller = new AbortController();
        const iterator = s.store.getStream(key, { ...smallEngine(), signal: controller.signal })[Symbol.asyncIterator]();
        let received = 0;
        for (let i = 0; i < abortAfter; i++) {
          const first = await iterator.next();
          if (first.done) fail(`getStream ended after ${received} bytes, before the abort`);
          received += first.value.length;
        }
        if (received >= SIZE) fail(`getStream delivered the whole object before the abort; cannot test it`);
        controller.abort();
        // Chunks that had already arrived may still be handed out; the stream must then fail, not complete.
        const rest = (async () => {
          for (;;) {
            const next = await iterator.next();
            if (next.done) return received;
            received += next.value.length;
          }
        })();
        await expectAbortError(`getStream aborted after ${abortAfter} chunk(s)`, rest);
        await kit.expectNothingInFlight(`after aborting getStream after ${abortAfter} chunk(s)`);
      }
    });

    kit.test(
      "put with an already-aborted signal rejects with AbortError and writes nothing",
      async () => {
        const target = s.key("aborted-before-put.bin");
        await expectAbortError("put(Uint8Array, signal: aborted)", s.store.put(target, data.subarray(0, 1000), { signal: AbortSignal.abort() }));
        async function* chunks(): AsyncGenerator<Uint8Array> {
          yield data.subarray(0, 1000);
        }
        await expectAbortError("put(AsyncIterable, signal: aborted)", s.store.put(target, chunks(), { signal: AbortSignal.abort() }));
        if (await s.store.exists(target)) fail("a put rejected for an aborted signal still created the object");
      },
      { requires: ["write"] },
    );
  });
}
