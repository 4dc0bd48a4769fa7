import { fail } from "../assertions.js";
import type { Kit } from "../kit.js";

/** Suite 10: identity and disposal. */
export function closeSuite(kit: Kit): void {
  kit.suite("close", "close", (s) => {
    kit.test("the store has a URI scheme", async () => {
      const scheme: unknown = s.store.scheme;
      if (typeof scheme !== "string" || !/^[a-z][a-z0-9+.-]*$/.test(scheme)) {
        fail(`store.scheme is ${JSON.stringify(scheme)}, expected a lowercase URI scheme without ":"`);
      }
    });

    kit.test("the store implements Symbol.asyncDispose", async () => {
      const store = await kit.options.create();
      try {
        const dispose = (store as unknown as Record<symbol, unknown>)[Symbol.asyncDispose];
        if (typeof dispose !== "function") fail("store[Symbol.asyncDispose] is not a function");
        const result: unknown = (dispose as () => unknown).call(store);
        if (typeof (result as Promise<unknown> | undefined)?.then !== "function") fail("store[Symbol.asyncDispose]() did not return a promise");
        await result;
      } finally {
        await store.close();
      }
    });

    kit.test("close() can be called twice", async () => {
      const store = await kit.options.create();
      await store.close();
      await store.close();
    });
  });
}
