import { readdirSync, readlinkSync } from "node:fs";
import { isRangeStoreError, type ObjectStore } from "@range/core";
import { startSeaweedFsCluster, type SeaweedFsServer } from "@range/test-servers";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createS3Store } from "../src/index.js";
import { bytes, equalBytes } from "./helpers.js";

const KiB = 1024;
const MiB = 1024 * KiB;
const BUCKET = "range-stress";
const GETS = 1_000;

/**
 * Mixed sizes: most objects are small (one request each), some mid-sized, a few large enough for the engine to split
 * (1 MiB ranges here, so a 2.5 MiB object is a head request plus 2 ranges). About 300 MiB per 1,000 gets: every
 * request waits in the client's socket queue until a socket frees up, and that wait counts against the stall timer
 * (rangeTimeoutMs, 30 s); this volume keeps the longest wait well below it on 2 cores.
 */
const OBJECTS = [
  ...Array.from({ length: 60 }, (_, i) => ({ key: `small/${i}.bin`, size: 1 * KiB + ((i * 997) % (32 * KiB)) })),
  ...Array.from({ length: 30 }, (_, i) => ({ key: `medium/${i}.bin`, size: 128 * KiB + i * 7919 })),
  ...Array.from({ length: 10 }, (_, i) => ({ key: `large/${i}.bin`, size: 2.5 * MiB + i * 4099 })),
].map((object, i) => ({ ...object, data: bytes(object.size, 7_000 + i) }));
const ENGINE = { minSplitSize: 1 * MiB, chunkSize: 1 * MiB, maxConcurrentRanges: 8 };

let server: SeaweedFsServer;

/**
 * Replication for one bucket, the way `weed shell fs.configure -locationPrefix=/buckets/<bucket>/ -replication=...`
 * does it: the filer's path configuration (/etc/seaweedfs/filer.conf, read back by the filer when it changes).
 * "001": every volume of the bucket gets a second copy on another volume server of the same rack.
 */
async function configureReplication(filerUrl: string, bucket: string, replication: string): Promise<void> {
  const conf = JSON.stringify({ version: 0, locations: [{ locationPrefix: `/buckets/${bucket}/`, replication }] });
  const form = new FormData();
  form.append("file", new Blob([conf]), "filer.conf");
  const response = await fetch(`${filerUrl}/etc/seaweedfs/filer.conf`, { method: "POST", body: form });
  if (!response.ok) throw new Error(`filer.conf upload failed: HTTP ${response.status} ${await response.text()}`);
}

interface VolumeStatus {
  Volumes?: { DataCenters?: Record<string, Record<string, Record<string, { Id: number; Collection: string; ReplicaPlacement?: { node?: number } }[]>>> };
}

/** Volume id → the volume servers holding a copy, for the bucket's collection. */
async function volumeCopies(masterUrl: string): Promise<Map<number, string[]>> {
  const status = (await (await fetch(`${masterUrl}/vol/status`)).json()) as VolumeStatus;
  const copies = new Map<number, string[]>();
  for (const racks of Object.values(status.Volumes?.DataCenters ?? {})) {
    for (const nodes of Object.values(racks)) {
      for (const [node, volumes] of Object.entries(nodes)) {
        for (const volume of volumes) {
          if (volume.Collection !== BUCKET) continue;
          copies.set(volume.Id, [...(copies.get(volume.Id) ?? []), node]);
        }
      }
    }
  }
  return copies;
}

function descriptors(): { all: number; sockets: number } {
  let sockets = 0;
  const fds = readdirSync("/proc/self/fd");
  for (const fd of fds) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:")) sockets++;
    } catch {
      // closed between readdir and readlink (the readdir's own descriptor, for one)
    }
  }
  return { all: fds.length, sockets };
}

/** Samples RSS every 20 ms until stopped; returns the peak. */
function rssSampler(): { stop: () => number } {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  return {
    stop: () => {
      clearInterval(timer);
      return Math.max(peak, process.memoryUsage.rss());
    },
  };
}

interface Tally {
  exact: number;
  wrong: number;
  typed: Record<string, number>;
  untyped: string[];
}

/** `GETS` gets at once, round-robin over the objects; every result is compared with its source as it arrives. */
async function concurrentGets(store: ObjectStore, onSettled?: (done: number) => void): Promise<Tally> {
  const tally: Tally = { exact: 0, wrong: 0, typed: {}, untyped: [] };
  let done = 0;
  await Promise.all(
    Array.from({ length: GETS }, async (_, i) => {
      const object = OBJECTS[(i * 37) % OBJECTS.length]!;
      try {
        const data = await store.get(object.key);
        if (equalBytes(data, object.data)) tally.exact++;
        else tally.wrong++;
      } catch (error) {
        if (isRangeStoreError(error)) {
          const kind = `${error.name}:${error.code}`;
          tally.typed[kind] = (tally.typed[kind] ?? 0) + 1;
        } else tally.untyped.push(String(error));
      }
      onSettled?.(++done);
    }),
  );
  return tally;
}

function storeOnCluster(): ObjectStore {
  return createS3Store({
    endpoint: server.endpoint,
    region: server.region,
    credentials: { accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey },
    bucket: BUCKET,
    engine: ENGINE,
  });
}

beforeAll(async () => {
  server = await startSeaweedFsCluster({ volumes: 3, volumeSizeLimitMB: 64 });
  await configureReplication(server.filerUrl, BUCKET, "001");
  await server.createBucket(BUCKET);
  const writer = storeOnCluster();
  for (let i = 0; i < OBJECTS.length; i += 10) {
    await Promise.all(OBJECTS.slice(i, i + 10).map((o) => writer.put(o.key, o.data)));
  }
  await writer.close();
}, 180_000);

afterAll(async () => {
  await server?.stop();
});

describe(`stress: ${GETS} concurrent gets of mixed sizes on a 3-volume-server SeaweedFS cluster (replication 001)`, () => {
  it("every volume of the bucket has two copies on different volume servers", async () => {
    const copies = await volumeCopies(server.masterUrl);
    expect(copies.size).toBeGreaterThan(0);
    for (const nodes of copies.values()) {
      expect(nodes.length).toBe(2);
      expect(new Set(nodes).size).toBe(2);
    }
  });

  it("all exact; sockets and descriptors back to baseline after close; RSS bounded", async () => {
    const before = descriptors();
    const rssBefore = process.memoryUsage.rss();
    const store = storeOnCluster();
    const rss = rssSampler();
    const started = performance.now();
    let peakDuring = before;
    const tally = await concurrentGets(store, (done) => {
      if (done % 100 === 0) {
        const now = descriptors();
        if (now.sockets > peakDuring.sockets) peakDuring = now;
      }
    });
    const seconds = (performance.now() - started) / 1000;
    const peakRss = rss.stop();
    await store.close();
    // Closed sockets leave /proc/self/fd once their handles are released: give the event loop a moment.
    let after = descriptors();
    for (let i = 0; i < 50 && (after.all > before.all || after.sockets > before.sockets); i++) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = descriptors();
    }
    const totalBytes = Array.from({ length: GETS }, (_, i) => OBJECTS[(i * 37) % OBJECTS.length]!.size).reduce((a, b) => a + b, 0);
    console.info(
      `stress: ${GETS} gets, ${(totalBytes / MiB).toFixed(0)} MiB in ${seconds.toFixed(2)} s; ` +
        `descriptors ${before.all} → peak sockets ${peakDuring.sockets} → ${after.all} (sockets ${before.sockets} → ${after.sockets}); ` +
        `RSS ${(rssBefore / MiB).toFixed(0)} MiB → peak ${(peakRss / MiB).toFixed(0)} MiB`,
    );
    expect(tally).toEqual({ exact: GETS, wrong: 0, typed: {}, untyped: [] });
    // The keep-alive agent caps sockets per host (default 2 × 32); none is left open after close().
    expect(peakDuring.sockets - before.sockets).toBeLessThanOrEqual(64);
    expect(after.sockets).toBeLessThanOrEqual(before.sockets);
    expect(after.all).toBeLessThanOrEqual(before.all);
    // Generous: the gets hold at most ~300 MiB of results at once, if every one of them were alive together.
    expect(peakRss - rssBefore).toBeLessThan(1.5 * 1024 * MiB);
  });

  it("a volume server killed mid-run: reads of replicated data still return exact bytes (or typed errors, counted)", async () => {
    // The victim: a volume server that holds copies of the bucket's volumes (its log names its address).
    const holders = new Set([...(await volumeCopies(server.masterUrl)).values()].flat());
    const victim = server.processes
      .filter((p) => p.name.startsWith("seaweedfs volume-"))
      .find((p) => [...holders].some((address) => p.logTail(10_000).includes(address)));
    console.info(`holders ${[...holders].join(", ")}; victim ${victim?.name}`);
    if (!victim) throw new Error(`no volume server log names one of ${[...holders].join(", ")}`);
    const store = storeOnCluster();
    let killed: Promise<void> | undefined;
    let killedAt = 0;
    const tally = await concurrentGets(store, (done) => {
      if (done === 100) {
        killedAt = done;
        killed = victim.stop(0);
      }
    });
    await killed;
    await store.close();
    console.info(`volume server killed after ${killedAt} of ${GETS} gets (${victim.name}): ${JSON.stringify(tally)}`);
    expect(victim.exitInfo).toBeDefined();
    expect(tally.wrong).toBe(0);
    expect(tally.untyped).toEqual([]);
    // What this cluster does with replication 001: every read still succeeds, served by the surviving copy.
    expect(tally.exact).toBe(GETS);
  });
});
