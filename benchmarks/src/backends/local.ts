/** What file:// and directio:// share: a temp root, the local peers, and counting preads. */
import { execFileSync } from "node:child_process";
import { createReadStream } from "node:fs";
import { mkdir, open, readdir, readFile, stat, writeFile, type FileHandle } from "node:fs/promises";
import path from "node:path";
import { countFiles, opendalOperator, runDd } from "../lib/external.js";
import { makeTempDir, writeFileSynced } from "../lib/local.js";
import type { PeerImpl, PeerSpec, PeerTools, RequestCounter, RunningBackend } from "./types.js";

export function localPath(root: string, key: string): string {
  return path.join(root, ...key.split("/"));
}

/** A temp directory the objects are written to (fsynced: no writeback during a measurement). */
export function startLocal(label: string, describe: (dir: string) => string): RunningBackend {
  const { dir, cleanup } = makeTempDir(label);
  return {
    connection: { root: dir },
    description: describe(dir),
    async write(key, bytes) {
      const file = localPath(dir, key);
      await mkdir(path.dirname(file), { recursive: true });
      if (bytes.length >= 1024 * 1024) await writeFileSynced(file, bytes);
      else await writeFile(file, bytes);
    },
    async settle() {
      try {
        execFileSync("sync", ["-f", dir], { stdio: "ignore" });
      } catch {
        // best effort
      }
    },
    async stop() {
      cleanup();
    },
  };
}

let preadCount: { n: number } | undefined;

/**
 * Counts `FileHandle.read` calls in this process (the preads of @range/file and @range/directio, and of the pread
 * peer) by wrapping the method on FileHandle's prototype once. `fs.promises.readFile` reads through an internal
 * binding, so its reads are not counted (its cells show no request count rather than a wrong one).
 */
export async function preadCounter(extraContenders: string[]): Promise<RequestCounter> {
  if (!preadCount) {
    const counter = { n: 0 };
    const handle = await open(process.execPath, "r");
    const proto = Object.getPrototypeOf(handle) as { read: (...args: unknown[]) => unknown };
    await handle.close();
    const original = proto.read;
    proto.read = function countedRead(this: FileHandle, ...args: unknown[]) {
      counter.n++;
      return original.apply(this, args);
    };
    preadCount = counter;
  }
  const count = preadCount;
  return {
    scope: "FileHandle.read calls (one pread each)",
    read: async () => count.n,
    counts: (contender) => contender === "ours" || extraContenders.includes(contender),
  };
}

/** `fs.promises.readdir(dir, { recursive })` then a stat per file, all at once: the plain way to list with sizes. */
async function readdirAndStat(dir: string): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { recursive: true, withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return 0;
    throw error;
  }
  const files = entries.filter((e) => e.isFile());
  const sizes = await Promise.all(
    files.map((e) => stat(path.join((e as { parentPath?: string; path?: string }).parentPath ?? (e as { path: string }).path, e.name)).then((s) => s.size)),
  );
  return sizes.length;
}

/** One positioned read of `length` bytes at `offset`: open, pread, close (as `getRange` does per call). */
async function openPreadClose(file: string, offset: number, length: number): Promise<Uint8Array> {
  const handle = await open(file, "r");
  try {
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) throw new Error(`${file}: short read at ${offset + done}`);
      done += bytesRead;
    }
    return out;
  } finally {
    await handle.close();
  }
}

export const readFilePeer: PeerSpec = {
  id: "readFile",
  label: { get: "`fs.promises.readFile(path)`" },
  ops: ["get"],
  baselineFor: ["get"],
};
export const ddPeer = (direct: boolean): PeerSpec => ({
  id: "dd",
  label: { get: `\`dd bs=8M${direct ? " iflag=direct" : ""}\` to /dev/null (dd's own time)` },
  ops: ["get"],
  // With O_DIRECT the disk is the limit and dd is the natural baseline; from the page cache dd copies into one 8 MiB
  // buffer, not into a result of the object's size, so it does less work than a get.
  ...(direct ? { baselineFor: ["get"] } : { reference: "copies into one 8 MiB buffer, not into a result" }),
  minSize: 8 * 1024 * 1024,
  maxOpsPerRound: 2,
});
export const preadPeer: PeerSpec = {
  id: "pread",
  label: { range: "open + one `filehandle.read` + close per range" },
  ops: ["range"],
  baselineFor: ["range"],
};
export const readStreamPeer: PeerSpec = {
  id: "readStream",
  label: { stream: "`fs.createReadStream(path)` (64 KiB chunks)" },
  ops: ["stream"],
  baselineFor: ["stream"],
};
export const writeFilePeer: PeerSpec = {
  id: "writeFile",
  label: { put: "`fs.promises.writeFile(path, data)`" },
  ops: ["put"],
  baselineFor: ["put"],
};
export const readdirPeer: PeerSpec = {
  id: "readdir",
  label: { list: "`readdir(dir, { recursive: true })` + a stat per file" },
  ops: ["list"],
  baselineFor: ["list"],
};
export const opendalFsPeer: PeerSpec = {
  id: "opendal",
  label: {
    get: "OpenDAL `fs` read",
    range: "OpenDAL `fs` read { offset, size }",
    put: "OpenDAL `fs` write",
    list: "OpenDAL `fs` list { recursive } (names only: no stat, no sizes)",
  },
  ops: ["get", "range", "put", "list"],
  needs: "opendal",
};
export const s3dlioPeer = (scheme: "file" | "direct" | "s3" | "az", ops: PeerSpec["ops"]): PeerSpec => ({
  id: "s3dlio",
  label: {
    get: `s3dlio.get (Python, ${scheme}://)`,
    range: `s3dlio.get_range (Python threads, ${scheme}://)`,
    put: `s3dlio.put_bytes (Python, ${scheme}://)`,
    list: `s3dlio.list (Python, ${scheme}://, recursive)${scheme === "s3" || scheme === "az" ? "" : " (names only: no stat, no sizes)"}`,
  },
  ops,
  needs: "s3dlio",
});

/** The local peers' implementations, rooted at `root`. */
export function localPeer(id: string, root: string, tools: PeerTools, direct: boolean): PeerImpl {
  const file = (key: string) => localPath(root, key);
  switch (id) {
    case "readFile":
      return { get: (key) => readFile(file(key)) };
    case "dd":
      return { get: (key) => runDd(tools, file(key), direct) };
    case "pread":
      return { range: (key, offset, length) => openPreadClose(file(key), offset, length) };
    case "readStream":
      return {
        async *stream(key, firstByte) {
          let first = true;
          for await (const chunk of createReadStream(file(key))) {
            if (first) firstByte();
            first = false;
            yield chunk as Buffer;
          }
        },
      };
    case "writeFile":
      return {
        async put(key, data) {
          await mkdir(path.dirname(file(key)), { recursive: true });
          await writeFile(file(key), data);
        },
      };
    case "readdir":
      return { list: (prefix) => readdirAndStat(file(prefix.replace(/\/$/, ""))) };
    case "opendal": {
      const op = opendalOperator(tools, "fs", { root });
      return {
        get: (key) => op.read(key),
        range: (key, offset, length) => op.read(key, { offset: BigInt(offset), size: BigInt(length) }),
        put: async (key, data) => void (await op.write(key, Buffer.from(data.buffer, data.byteOffset, data.length))),
        list: async (prefix) => countFiles(await op.list(prefix, { recursive: true })),
      };
    }
    default:
      throw new Error(`no local peer ${id}`);
  }
}
