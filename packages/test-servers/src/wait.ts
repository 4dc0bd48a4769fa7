import type { ServerProcess } from "./process.js";

export interface WaitOptions {
  /** What is awaited, for the timeout message, e.g. "SeaweedFS S3 gateway". */
  what: string;
  timeoutMs?: number;
  intervalMs?: number;
  /** Fail at once, with its log, if one of these exits while we wait. */
  processes?: readonly ServerProcess[];
}

/** Thrown by a probe to stop waiting at once: the thing will never become ready (e.g. a 400 from the server). */
export class FatalProbeError extends Error {
  override readonly name = "FatalProbeError";
}

/** Polls `probe` until it returns true. A throwing probe counts as "not yet"; its last error is in the timeout message. */
export async function waitUntil(probe: () => Promise<boolean>, options: WaitOptions): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 60_000;
  const intervalMs = options.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    for (const p of options.processes ?? []) {
      const exit = p.exitInfo;
      if (exit) {
        throw new Error(
          `${p.name} exited (code ${exit.code}, signal ${exit.signal}) while waiting for ${options.what}; log ${p.logFile}:\n${p.logTail()}`,
        );
      }
    }
    try {
      if (await probe()) return;
      last = undefined;
    } catch (error) {
      if (error instanceof FatalProbeError) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const tails = (options.processes ?? []).map((p) => `--- ${p.name} (${p.logFile}):\n${p.logTail(15)}`).join("\n");
      throw new Error(
        `${options.what} not ready after ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message ?? String(last)})` : ""}\n${tails}`,
      );
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** True when an HTTP request to `url` gets any response (the port is served), false on a connection error. */
export async function httpResponds(url: string, expectStatus?: (status: number) => boolean): Promise<boolean> {
  const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  await response.arrayBuffer().catch(() => {});
  return expectStatus ? expectStatus(response.status) : true;
}
