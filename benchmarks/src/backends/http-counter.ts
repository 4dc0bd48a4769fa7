import { subscribe } from "node:diagnostics_channel";
import type { RequestCounter } from "./types.js";

let count: { n: number } | undefined;

/**
 * Counts the HTTP requests this process starts, through Node's diagnostics channels: `http.client.request.start`
 * (node:http, which the Azure and AWS SDKs use) and `undici:request:create` (fetch). No SDK is modified; requests made
 * by native code (OpenDAL) or another process (s3dlio) are not seen, so only the listed contenders are counted.
 */
export function httpRequestCounter(contenders: string[]): RequestCounter {
  if (!count) {
    const counter = { n: 0 };
    const bump = () => void counter.n++;
    subscribe("http.client.request.start", bump);
    subscribe("undici:request:create", bump);
    count = counter;
  }
  const c = count;
  return {
    scope: "Node diagnostics channels (HTTP requests of this process; not OpenDAL's native client)",
    read: async () => c.n,
    counts: (contender) => contender === "ours" || contenders.includes(contender),
  };
}
