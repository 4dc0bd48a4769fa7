import { createFileStore } from "@range/file";
import { fsTypeOf } from "../lib/local.js";
import {
  ddPeer,
  localPeer,
  opendalFsPeer,
  preadCounter,
  preadPeer,
  readdirPeer,
  readFilePeer,
  readStreamPeer,
  s3dlioPeer,
  startLocal,
  writeFilePeer,
} from "./local.js";
import type { BenchBackend } from "./types.js";

/** file:// on a temp directory; objects are written once and stay in the page cache. */
export const fileBackend: BenchBackend = {
  name: "file",
  title: "file:// (page-cached files)",
  embedded: true,
  peers: [
    readFilePeer,
    // Not a peer: our store with its other allocation setting, so the report shows what the default costs or saves.
    {
      id: "range-no-hugepages",
      label: { get: "@range `store.get(key)` of `createFileStore({ root, hugePages: false })`" },
      ops: ["get"],
      minSize: 32 * 1024 * 1024,
      reference: "our own store with another setting",
    },
    ddPeer(false),
    preadPeer,
    readStreamPeer,
    writeFilePeer,
    readdirPeer,
    opendalFsPeer,
    s3dlioPeer("file", ["get", "range", "put", "list"]),
  ],
  async start() {
    return startLocal("file", (dir) => `@range/file on ${fsTypeOf(dir)} (${dir}), page-cached`);
  },
  async connect(connection) {
    const root = connection.root as string;
    return {
      store: (engine) => createFileStore({ root, ...(engine ? { engine } : {}) }),
      peer: async (id, tools) => {
        if (id === "range-no-hugepages") {
          const store = createFileStore({ root, hugePages: false });
          return { get: (key) => store.get(key), close: () => store.close() };
        }
        return localPeer(id, root, tools, false);
      },
      requests: await preadCounter(["pread", "range-no-hugepages"]),
      external: { uri: (key) => `file://${root}/${key}`, env: {} },
      close: async () => {},
    };
  },
};
