import { randomBytes } from "node:crypto";
import { createServer, request, type Agent, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RangeConfigError, createReadAgent, readBodyInto } from "../src/index.js";

const MiB = 1024 * 1024;
const bodies = Array.from({ length: 6 }, (_, i) => randomBytes(2 * MiB + i * 4099));
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const index = Number(req.url!.slice(1));
    if (index === 99) {
      // Half a body, then the connection dies.
      res.writeHead(200, { "content-length": String(MiB) });
      res.write(bodies[0]!.subarray(0, MiB / 2), () => res.destroy());
      return;
    }
    res.writeHead(200, { "content-length": String(bodies[index]!.length) });
    res.end(bodies[index]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

function get(agent: Agent, index: number): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => request(`${base}/${index}`, { agent }, resolve).on("error", reject).end());
}

/** A consumer that keeps every chunk it is given (as the SDKs' body collectors do). */
async function collect(res: IncomingMessage, pauseMs = 0): Promise<Buffer> {
  if (pauseMs) {
    res.pause();
    await new Promise((r) => setTimeout(r, pauseMs));
  }
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("createReadAgent", () => {
  // The agent's one read buffer is overwritten by every read: a chunk that still pointed into it would go wrong here.
  it("delivers exact bytes to readBodyInto, to consumers that keep chunks, and to paused streams, all at once", async () => {
    const agent = createReadAgent({ keepAlive: true, maxSockets: 16, readBufferSize: 16 * 1024 });
    for (let round = 0; round < 2; round++) {
      const reads = bodies.map(async (expected, i) => {
        const res = await get(agent, i);
        if (i % 3 === 0) {
          const out = Buffer.alloc(expected.length);
          expect(await readBodyInto(res, out)).toBe(expected.length);
          return out;
        }
        return collect(res, i % 3 === 2 ? 30 : 0);
      });
      const got = await Promise.all(reads);
      got.forEach((bytes, i) => expect(bytes.equals(bodies[i]!)).toBe(true));
    }
    agent.destroy();
  });

  it("reuses keep-alive sockets and reports a body cut short", async () => {
    const agent = createReadAgent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<unknown>();
    for (let i = 0; i < 3; i++) {
      const res = await get(agent, 2);
      sockets.add(res.socket);
      await readBodyInto(res, Buffer.alloc(bodies[2]!.length));
    }
    expect(sockets.size).toBe(1);
    const cut = await get(agent, 99);
    await expect(readBodyInto(cut, Buffer.alloc(MiB))).rejects.toMatchObject({ code: expect.stringMatching(/ECONNRESET|ERR_STREAM_PREMATURE_CLOSE/) });
    agent.destroy();
  });

  it("rejects a read buffer below 4 KiB", () => {
    expect(() => createReadAgent({ readBufferSize: 100 })).toThrow(RangeConfigError);
  });
});
