import { readFile } from "node:fs/promises";
import type { Readable } from "node:stream";
import picomatch from "picomatch";
import { UsageError } from "./errors.js";

type KeyMatcher = (key: string) => boolean;

/**
 * `--include` / `--exclude` globs on keys relative to the command's prefix. A pattern without "/" matches the last
 * segment at any depth (`*.bin`), one with "/" matches the whole relative key (`train/**`). Dotfiles are matched.
 * With includes, a key must match one of them; a key that matches any exclude is dropped.
 */
export class KeyFilter {
  readonly #include: KeyMatcher | undefined;
  readonly #exclude: KeyMatcher | undefined;

  constructor(include: readonly string[] = [], exclude: readonly string[] = []) {
    const compile = (patterns: readonly string[], flag: string): KeyMatcher | undefined => {
      if (patterns.length === 0) return undefined;
      for (const p of patterns) if (p === "") throw new UsageError(`${flag} needs a non-empty glob pattern`);
      // picomatch's own `basename` option also applies to patterns with "/", so the two kinds are split here.
      const names = patterns.filter((p) => !p.includes("/"));
      const paths = patterns.filter((p) => p.includes("/"));
      const name = names.length > 0 ? picomatch(names, { dot: true }) : undefined;
      const path = paths.length > 0 ? picomatch(paths, { dot: true }) : undefined;
      return (key: string) => (name?.(key.slice(key.lastIndexOf("/") + 1)) ?? false) || (path?.(key) ?? false);
    };
    this.#include = compile(include, "--include");
    this.#exclude = compile(exclude, "--exclude");
  }

  get active(): boolean {
    return this.#include !== undefined || this.#exclude !== undefined;
  }

  /** Whether the object at `relativeKey` is selected. */
  matches(relativeKey: string): boolean {
    if (this.#include && !this.#include(relativeKey)) return false;
    return !this.#exclude?.(relativeKey);
  }

  /** Whether a sub-prefix (shown in a one-level listing) stays visible: only excludes hide it. */
  showsPrefix(relativePrefix: string): boolean {
    if (!this.#exclude) return true;
    const name = relativePrefix.replace(/\/$/, "");
    return !this.#exclude(name) && !this.#exclude(relativePrefix);
  }
}

/** All of a stream, or the signal's reason as soon as it aborts (a terminal or pipe may never end). */
function readAll(stream: Readable, signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const cleanup = () => {
      stream.off("data", onData);
      stream.off("end", onEnd);
      stream.off("error", onError);
      signal.removeEventListener("abort", onAbort);
    };
    const onData = (chunk: Buffer | string) => chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(chunks).toString("utf8"));
    };
    const onError = (error: unknown) => {
      cleanup();
      reject(error);
    };
    const onAbort = () => {
      cleanup();
      stream.pause();
      reject(signal.reason);
    };
    if (signal.aborted) return onAbort();
    stream.on("data", onData);
    stream.once("end", onEnd);
    stream.once("error", onError);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** One key per line (blank lines skipped, a trailing "\r" dropped); `-` reads them from standard input. */
export async function readKeyList(source: string, stdin: Readable, signal: AbortSignal): Promise<string[]> {
  let text: string;
  if (source === "-") {
    text = await readAll(stdin, signal);
  } else {
    try {
      text = await readFile(source, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError(`--keys-from ${source}: ${code === "ENOENT" ? "no such file" : (code ?? (error as Error).message)}`);
    }
  }
  return text
    .split("\n")
    .map((line) => (line.endsWith("\r") ? line.slice(0, -1) : line))
    .filter((line) => line.trim() !== "");
}
