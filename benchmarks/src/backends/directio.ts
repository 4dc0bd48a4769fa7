import { createDirectIoStore } from "@range/directio";
import { fsTypeOf } from "../lib/local.js";
import { ddPeer, localPeer, preadCounter, readdirPeer, s3dlioPeer, startLocal, writeFilePeer } from "./local.js";
import type { BenchBackend } from "./types.js";

/** directio:// (O_DIRECT) on a temp directory: reads bypass the page cache and hit the disk. */
export const directioBackend: BenchBackend = {
  name: "directio",
  title: "directio:// (O_DIRECT, the disk)",
  embedded: true,
  peers: [ddPeer(true), writeFilePeer, readdirPeer, s3dlioPeer("direct", ["get", "range"])],
  async start() {
    return startLocal("directio", (dir) => `@range/directio on ${fsTypeOf(dir)} (${dir}), O_DIRECT`);
  },
  async connect(connection) {
    const root = connection.root as string;
    return {
      store: (engine) => createDirectIoStore({ root, ...(engine ? { engine } : {}) }),
      peer: async (id, tools) => localPeer(id, root, tools, true),
      requests: await preadCounter([]),
      external: { uri: (key) => `direct://${root}/${key}`, env: {} },
      close: async () => {},
    };
  },
};
