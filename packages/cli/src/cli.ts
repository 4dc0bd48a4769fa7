#!/usr/bin/env node
import { runCli } from "./run.js";

const controller = new AbortController();
/** 128 + the signal's number once one arrived: 130 for SIGINT (Ctrl-C), 143 for SIGTERM. */
let signalExitCode: number | undefined;

// First signal: abort every request in flight and let the command clean up (temp files, multipart uploads), then
// exit. A second one leaves at once.
const onSignal = (code: number) => () => {
  if (signalExitCode !== undefined) {
    if (process.stderr.isTTY) process.stderr.write("\u001b[?25h"); // the progress bar may have hidden the cursor
    process.exit(signalExitCode);
  }
  signalExitCode = code;
  controller.abort(new Error("interrupted"));
};
process.on("SIGINT", onSignal(130));
process.on("SIGTERM", onSignal(143));

// `range get x - | head` closes the pipe early: stop quietly, like other Unix tools.
process.stdout.on("error", (error: NodeJS.ErrnoException) => {
  if (error.code === "EPIPE") process.exit(0);
  throw error;
});

const code = await runCli(process.argv.slice(2), { signal: controller.signal });
// Standard input may still be open (a `put -` that was interrupted): leave without waiting for it.
process.stdout.write("", () => process.exit(signalExitCode ?? code));
