import { CommanderError } from "commander";
import { registerBackends } from "./backends.js";
import type { CliIo } from "./context.js";
import { ExitCode, exitCodeFor, formatError } from "./errors.js";
import { createProgram } from "./program.js";

/**
 * Runs the `range` command line (`argv` without the node and script paths) and resolves with its exit code; it never
 * calls `process.exit`. `io` defaults to the process's streams and working directory; abort `io.signal` to interrupt
 * (exit code 130). Errors are printed as one line, `range: <message>`, with secrets redacted.
 */
export async function runCli(argv: readonly string[], io: Partial<CliIo> = {}): Promise<number> {
  const signal = io.signal ?? new AbortController().signal;
  const fullIo: CliIo = {
    stdin: io.stdin ?? process.stdin,
    stdout: io.stdout ?? process.stdout,
    stderr: io.stderr ?? process.stderr,
    cwd: io.cwd ?? process.cwd(),
    signal,
  };
  const debug = argv.includes("--debug");
  let exitCode: number = ExitCode.ok;
  try {
    await registerBackends();
    const program = createProgram({ io: fullIo, signal, setExitCode: (code) => (exitCode = code) });
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    // Commander has printed its own message (or the help/version text) already.
    if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    const code = exitCodeFor(error, signal);
    fullIo.stderr.write(code === ExitCode.interrupted && !debug ? "range: interrupted\n" : `range: ${formatError(error, debug)}\n`);
    return code;
  }
}
