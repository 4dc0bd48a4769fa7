import { createServer, type Server } from "node:net";

export const LOOPBACK = "127.0.0.1";

function listen(port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port, host: LOOPBACK, exclusive: true }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * `count` distinct free TCP ports on 127.0.0.1, found by binding port 0 and releasing it. All are held until the last
 * is found, so one call never returns the same port twice. Another process may still take one before the server
 * binds it: starters retry on a failed start.
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    while (servers.length < count) servers.push(await listen(0));
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === "string") throw new Error("unexpected server address");
      return address.port;
    });
  } finally {
    await Promise.all(servers.map(close));
  }
}

/** One free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}
