/**
 * A small helper process that spawns commands for the bench (dd in the directio scenario). Spawning from the bench
 * itself would fork a process holding several GiB: fork copies its page tables and write-protects all its memory,
 * so the bench's next writes to a buffer take copy-on-write faults (131,000 on a 1 GiB 4 KiB-page buffer, measured)
 * that belong to no contender. This process is started before the big buffers exist and stays small.
 *
 * Protocol: one JSON request per stdin line `{ cmd, args }`, one JSON reply per stdout line
 * `{ code, stderr, wallMs }`, in order.
 */
import { spawn } from "node:child_process";
import { createInterface } from "node:readline";

interface Request {
  cmd: string;
  args: string[];
}

const lines = createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on("line", (line) => {
  const request = JSON.parse(line) as Request;
  queue = queue.then(
    () =>
      new Promise<void>((resolve) => {
        const t0 = performance.now();
        const child = spawn(request.cmd, request.args, { env: { ...process.env, LC_ALL: "C" }, stdio: ["ignore", "ignore", "pipe"] });
        let stderr = "";
        child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
        const reply = (code: number | null, error?: string) => {
          process.stdout.write(`${JSON.stringify({ code, stderr: error ?? stderr, wallMs: performance.now() - t0 })}\n`);
          resolve();
        };
        child.on("error", (error) => reply(-1, error.message));
        child.on("close", (code) => reply(code));
      }),
  );
});
