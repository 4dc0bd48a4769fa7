import { createHash, randomBytes as cryptoRandomBytes } from "node:crypto";
import { IntegrityError, InvalidRangeError, NotFoundError, RangeConfigError, TimeoutError, type ObjectStore } from "@range/core";
import { afterAll, describe, expect, it } from "vitest";
import { createCheckpointer, type CheckpointerOptions } from "../src/index.js";

const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic bytes (a seeded xorshift), so a failure names the exact data. */
export function bytes(size: number, seed: number): Uint8Array {
  const out = Buffer.allocUnsafe(size);
  let x = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out.writeUInt32LE(x, i);
  }
  for (let i = size - (size % 4); i < size; i++) out[i] = (seed + i) & 0xff;
  return out;
}

/** `data` as a stream of `chunk`-byte pieces. */
export async function* chunks(data: Uint8Array, chunk = 1 * MiB): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.length; i += chunk) yield data.subarray(i, i + chunk);
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function keysUnder(store: ObjectStore, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const meta of store.list(prefix)) keys.push(meta.key);
  return keys.sort();
}

async function rejection(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error as Error & { code?: string },
  );
}

/** A store that counts every call, to prove that bad input fails before any I/O. */
function counting(store: ObjectStore): { store: ObjectStore; calls: () => number } {
  let calls = 0;
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function") return value;
      return (...args: unknown[]) => {
        calls++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls: () => calls };
}

/**
 * The checkpoint tests, against one backend: `open()` gives a store; each test works under its own prefix.
 */
export function checkpointSuite(name: string, open: () => Promise<ObjectStore>): void {
  describe(`checkpoints on ${name}`, () => {
    const run = `run-${cryptoRandomBytes(4).toString("hex")}/`;
    let opened: ObjectStore | undefined;
    const store = async () => (opened ??= await open());
    const make = async (test: string, options: CheckpointerOptions = {}) => createCheckpointer(await store(), { prefix: `${run}${test}/`, ...options });

    afterAll(async () => {
      if (!opened) return;
      await opened.deletePrefix(run);
      await opened.close();
    });

    it("saves named shards (a buffer and a stream large enough for multipart) and loads them back verified", async () => {
      const ckpt = await make("basic");
      expect(await ckpt.latest()).toBeUndefined();
      const model = bytes(3 * MiB + 11, 1);
      const optimizer = bytes(18 * MiB + 5, 2);
      const saved = await ckpt.save(7, { "model.bin": model, "optim.bin": chunks(optimizer) }, { metadata: { epoch: 2, loss: 0.25, tags: ["a"] } });
      expect(saved.bytes).toBe(model.length + optimizer.length);
      expect(saved.manifest).toMatchObject({
        step: 7,
        attempt: "0",
        worldSize: 1,
        metadata: { epoch: 2, loss: 0.25, tags: ["a"] },
        totalBytes: model.length + optimizer.length,
      });
      // Checksums computed here, independently of the package.
      expect(saved.manifest!.shards.map((s) => [s.rank, s.name, s.size, s.sha256])).toEqual([
        [0, "model.bin", model.length, sha256(model)],
        [0, "optim.bin", optimizer.length, sha256(optimizer)],
      ]);
      expect(await ckpt.latest()).toBe(7);
      expect(await ckpt.steps()).toEqual([7]);

      const loaded = await ckpt.load();
      expect(loaded.step).toBe(7);
      expect(loaded.bytes).toBe(model.length + optimizer.length);
      expect(equal(loaded.shard("model.bin"), model)).toBe(true);
      expect(equal(loaded.shard("optim.bin"), optimizer)).toBe(true);
      const one = await ckpt.load({ step: 7, names: ["model.bin"] });
      expect(one.shards.map((s) => s.name)).toEqual(["model.bin"]);
      expect(() => one.shard("optim.bin")).toThrow(/not loaded/);
      // A single buffer is one shard named "shard.bin".
      await ckpt.save(8, bytes(1000, 3));
      expect(equal((await ckpt.load()).shard("shard.bin"), bytes(1000, 3))).toBe(true);
    });

    it("several ranks: each writes its shards, rank 0 waits for every marker, then writes the manifest", async () => {
      const worldSize = 3;
      const ranks = await Promise.all(Array.from({ length: worldSize }, (_, rank) => make("ranks", { rank, worldSize, pollIntervalMs: 20 })));
      const data = (rank: number, shard: number) => bytes(1 * MiB + 100 * rank + shard, 10 * rank + shard);
      // Rank 0 starts first and has to wait for the others, which start late.
      const saves = ranks.map(async (ckpt, rank) => {
        if (rank > 0) await new Promise((resolve) => setTimeout(resolve, 150 * rank));
        return ckpt.save(100, { "a.bin": data(rank, 0), "b.bin": chunks(data(rank, 1), 256 * KiB) }, { metadata: { who: "test" } });
      });
      const results = await Promise.all(saves);
      expect(results[0]!.manifest!.shards.map((s) => `${s.rank}/${s.name}`)).toEqual(["0/a.bin", "0/b.bin", "1/a.bin", "1/b.bin", "2/a.bin", "2/b.bin"]);
      expect(results[1]!.manifest).toBeUndefined();
      expect((await ranks[2]!.waitForCheckpoint(100)).worldSize).toBe(3);
      for (const [rank, ckpt] of ranks.entries()) {
        const own = await ckpt.load();
        expect(own.shards.map((s) => s.rank)).toEqual([rank, rank]);
        expect(equal(own.shard("a.bin"), data(rank, 0))).toBe(true);
        expect(equal(own.shard("b.bin"), data(rank, 1))).toBe(true);
      }
      // Re-sharding: a job of another size reads whichever ranks it needs, not "own".
      const single = await make("ranks");
      expect((await rejection(single.load())).code).toBe("E_WORLD_SIZE");
      const all = await single.load({ ranks: "all" });
      expect(all.shards).toHaveLength(6);
      expect(equal(all.shard("b.bin", 2), data(2, 1))).toBe(true);
      const some = await single.load({ ranks: [1], names: ["a.bin"] });
      expect(some.shards.map((s) => `${s.rank}/${s.name}`)).toEqual(["1/a.bin"]);
    });

    it("rank 0 gives up after timeoutMs when a rank never finishes; latest stays where it was", async () => {
      const solo = await make("timeout");
      await solo.save(1, bytes(4 * KiB, 20));
      const rank0 = await make("timeout", { worldSize: 3, timeoutMs: 400, pollIntervalMs: 50 });
      const rank2 = await make("timeout", { worldSize: 3, rank: 2 });
      await rank2.save(2, bytes(4 * KiB, 22));
      const started = performance.now();
      const error = await rejection(rank0.save(2, bytes(4 * KiB, 21)));
      expect(TimeoutError.isInstance(error)).toBe(true);
      expect(error.code).toBe("E_CHECKPOINT_TIMEOUT");
      expect(error.message).toContain("rank(s) 1 ");
      expect(performance.now() - started).toBeLessThan(5_000);
      expect(await solo.latest()).toBe(1);
      expect(await solo.steps()).toEqual([1]);
      expect((await rejection(solo.manifest(2))).code).toBe("E_NO_CHECKPOINT");
      expect(equal((await solo.load()).shard("shard.bin"), bytes(4 * KiB, 20))).toBe(true);
    });

    it("a shard that no longer matches its checksum fails the load with IntegrityError", async () => {
      const ckpt = await make("corrupt");
      const good = bytes(2 * MiB, 30);
      const { manifest } = await ckpt.save(5, { "w.bin": good, "x.bin": bytes(1000, 31) });
      const entry = manifest!.shards.find((s) => s.name === "w.bin")!;
      const s = await store();
      // Same size, one byte flipped: only the checksum can tell.
      const flipped = Buffer.from(good);
      flipped[123_456]! ^= 0xff;
      await s.put(entry.key, flipped);
      const error = await rejection(ckpt.load());
      expect(IntegrityError.isInstance(error)).toBe(true);
      expect(error.code).toBe("E_CHECKSUM_MISMATCH");
      expect(equal((await ckpt.load({ verify: false, names: ["w.bin"] })).shard("w.bin"), flipped)).toBe(true);
      // Shorter than the manifest says: a typed error too, never short data.
      await s.put(entry.key, good.subarray(0, good.length - 10));
      const short = await rejection(ckpt.load({ names: ["w.bin"] }));
      expect(IntegrityError.isInstance(short) || InvalidRangeError.isInstance(short)).toBe(true);
      // A manifest that is not one.
      await s.put(`${ckpt.prefix}steps/step-0000000000000005/manifest.json`, Buffer.from("{not json"));
      expect((await rejection(ckpt.load())).code).toBe("E_BAD_MANIFEST");
    });

    it("keepLast: older checkpoints and abandoned saves are deleted only after latest has moved", async () => {
      const ckpt = await make("retention", { keepLast: 2 });
      const s = await store();
      const deleted: number[][] = [];
      for (const step of [10, 20, 30]) deleted.push((await ckpt.save(step, bytes(10 * KiB, step))).deleted ?? []);
      // A save of step 35 that never completed (a shard, no marker, no manifest).
      await s.put(`${ckpt.prefix}steps/step-0000000000000035/attempt-0/rank-00000/shard.bin`, bytes(100, 35));
      deleted.push((await ckpt.save(40, bytes(10 * KiB, 40))).deleted ?? []);
      expect(deleted).toEqual([[], [], [10], [20, 35]]);
      expect(await ckpt.steps()).toEqual([30, 40]);
      const keys = await keysUnder(s, `${ckpt.prefix}steps/`);
      expect(keys.every((k) => k.includes("step-0000000000000030/") || k.includes("step-0000000000000040/"))).toBe(true);
      expect(keys.filter((k) => k.endsWith("manifest.json"))).toHaveLength(2);
      expect(equal((await ckpt.load({ step: 30 })).shard("shard.bin"), bytes(10 * KiB, 30))).toBe(true);
      expect((await rejection(ckpt.load({ step: 10 }))).code).toBe("E_NO_CHECKPOINT");
    });

    it("saving a step again needs a new attempt; the new attempt replaces the old one's files", async () => {
      const ckpt = await make("attempt");
      const s = await store();
      await ckpt.save(3, bytes(5 * KiB, 50));
      const again = await rejection(ckpt.save(3, bytes(5 * KiB, 51)));
      expect(RangeConfigError.isInstance(again)).toBe(true);
      expect(again.code).toBe("E_CHECKPOINT_EXISTS");
      const second = await ckpt.save(3, bytes(5 * KiB, 52), { attempt: "restart-1" });
      expect(second.manifest!.attempt).toBe("restart-1");
      expect(equal((await ckpt.load()).shard("shard.bin"), bytes(5 * KiB, 52))).toBe(true);
      const keys = await keysUnder(s, `${ckpt.prefix}steps/`);
      expect(keys.some((k) => k.includes("/attempt-0/"))).toBe(false);
      expect(keys.some((k) => k.includes("/attempt-restart-1/"))).toBe(true);
    });

    it("bad input is a RangeConfigError before any I/O; missing checkpoints are NotFoundError", async () => {
      const { store: counted, calls } = counting(await store());
      const ckpt = createCheckpointer(counted, { prefix: `${run}bad/` });
      const bad: (() => Promise<unknown>)[] = [
        () => ckpt.save(-1, bytes(1, 1)),
        () => ckpt.save(1.5, bytes(1, 1)),
        () => ckpt.save(1, {}),
        () => ckpt.save(1, { "../escape": bytes(1, 1) }),
        () => ckpt.save(1, { "a/b": bytes(1, 1) }),
        () => ckpt.save(1, { ok: "text" as never }),
        () => ckpt.save(1, bytes(1, 1), { metadata: { n: 10n } as never }),
        () => ckpt.save(1, bytes(1, 1), { metadata: [] as never }),
        () => ckpt.save(1, bytes(1, 1), { attempt: "has space" }),
        () => ckpt.save(1, bytes(1, 1), { attempt: -1 }),
        () => ckpt.load({ step: -3 }),
        () => ckpt.load({ ranks: "some" as never }),
        () => ckpt.load({ names: "a" as never }),
      ];
      for (const call of bad) expect(RangeConfigError.isInstance(await rejection(call()))).toBe(true);
      for (const options of [{ rank: 2, worldSize: 2 }, { worldSize: 0 }, { keepLast: 0 }, { timeoutMs: -1 }, { concurrency: 0 }, { prefix: 3 as never }]) {
        expect(() => createCheckpointer(counted, options)).toThrow(RangeConfigError);
      }
      expect(() => createCheckpointer({} as never)).toThrow(RangeConfigError);
      expect(calls()).toBe(0);
      const none = await rejection(ckpt.load());
      expect(NotFoundError.isInstance(none)).toBe(true);
      expect(none.code).toBe("E_NO_CHECKPOINT");
    });
  });
}
