import { CommanderError } from "commander";
import {
  InvalidKeyError,
  NotFoundError,
  RangeConfigError,
  isAbortError,
  redactSecrets,
} from "@range/core";

/** The process exit codes, as documented in the README. */
export const ExitCode = Object.freeze({
  ok: 0,
  failure: 1,
  usage: 2,
  notFound: 3,
  /** 128 + SIGINT, what a shell reports for a command stopped with Ctrl-C. */
  interrupted: 130,
});

/** Bad input on the command line: exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(redactSecrets(message));
    this.name = "UsageError";
  }
}

/** A failure whose message is already complete and whose exit code is chosen by the command. */
export class CommandFailure extends Error {
  readonly exitCode: number;
  constructor(message: string, exitCode: number = ExitCode.failure) {
    super(redactSecrets(message));
    this.name = "CommandFailure";
    this.exitCode = exitCode;
  }
}

export function exitCodeFor(error: unknown, signal: AbortSignal | undefined): number {
  if (signal?.aborted && (isAbortError(error) || error === signal.reason)) return ExitCode.interrupted;
  if (error instanceof CommandFailure) return error.exitCode;
  if (error instanceof UsageError) return ExitCode.usage;
  if (error instanceof CommanderError) return error.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
  if (NotFoundError.isInstance(error)) return ExitCode.notFound;
  if (RangeConfigError.isInstance(error) || InvalidKeyError.isInstance(error)) return ExitCode.usage;
  if (signal?.aborted) return ExitCode.interrupted;
  return ExitCode.failure;
}

function describeCause(error: unknown, depth: number): string {
  if (depth > 5 || error === undefined) return "";
  const e = error as { stack?: string; message?: string; cause?: unknown };
  const text = e?.stack ?? e?.message ?? String(error);
  const cause = e && typeof e === "object" && "cause" in e ? describeCause(e.cause, depth + 1) : "";
  return `${text}${cause ? `\ncaused by: ${cause}` : ""}`;
}

/** The one line a user sees (`debug` adds the stack and causes). Secrets never pass. */
export function formatError(error: unknown, debug: boolean): string {
  if (debug) return redactSecrets(describeCause(error, 0));
  const message = error instanceof Error ? error.message : String(error);
  // One line: a multi-line SDK message keeps only its first line.
  return redactSecrets(message.split("\n")[0]!.trim() || (error as Error)?.name || "unknown error");
}
