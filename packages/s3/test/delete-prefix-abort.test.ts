import { isAbortError, type RequestEvent } from "@range/core";
import { describe, expect, it } from "vitest";
import { createS3Store } from "../src/index.js";
import { BUCKET, RUN, connection } from "./helpers.js";

describe("deletePrefix({ signal }) on SeaweedFS", () => {
  it("an abort after the first DeleteObjects batch rejects at once; the other batches' objects stay", async () => {
    const store = createS3Store({ bucket: BUCKET, prefix: `${RUN}delete-abort/`, ...connection() });
    try {
      const total = 2600; // three DeleteObjects batches: 1000, 1000, 600
      const keys = Array.from({ length: total }, (_, i) => `k/${String(i).padStart(5, "0")}`);
      let next = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (next < keys.length) {
            const key = keys[next++]!;
            await store.put(key, new TextEncoder().encode(key));
          }
        }),
      );
      await store.put("other/keep", new Uint8Array([1]));

      const controller = new AbortController();
      const requests: RequestEvent[] = [];
      let abortedAt = 0;
      const off = store.onRequest!((event) => {
        requests.push(event);
        if (event.operation === "DeleteObjects" && abortedAt === 0) {
          abortedAt = performance.now();
          controller.abort();
        }
      });
      const error = await store.deletePrefix("k/", { signal: controller.signal }).catch((e: unknown) => e);
      const rejectedAfterMs = performance.now() - abortedAt;
      off();
      expect(isAbortError(error)).toBe(true);
      expect(rejectedAfterMs).toBeLessThan(1000);
      expect(requests.filter((e) => e.operation === "DeleteObjects")).toHaveLength(1);

      // The first batch (the first 1000 keys in listing order) is gone; every other object is there, whole.
      const left: string[] = [];
      for await (const meta of store.list("k/")) left.push(meta.key);
      expect(left).toEqual(keys.slice(1000));
      for (const key of [left[0]!, left[800]!, left.at(-1)!]) expect(new TextDecoder().decode(await store.get(key))).toBe(key);
      expect(await store.exists("other/keep")).toBe(true);

      // Not aborted, the rest goes.
      expect(await store.deletePrefix("k/")).toBe(total - 1000);
    } finally {
      await store.deletePrefix("");
      await store.close();
    }
  }, 120_000);
});
