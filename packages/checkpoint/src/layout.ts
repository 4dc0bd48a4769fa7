import { RangeConfigError } from "@range/core";

/**
 * Where everything lives, under the checkpointer's prefix:
 *
 * ```
 * latest.json                                              the pointer: written after the manifest it names
 * steps/step-0000000000000100/manifest.json                written last, by rank 0
 * steps/step-0000000000000100/attempt-0/rank-00003/model.bin   a shard
 * steps/step-0000000000000100/attempt-0/done/rank-00003.json   rank 3's completion marker
 * ```
 *
 * Steps are zero-padded so that listings come in step order.
 */
export const LATEST_KEY = "latest.json";
export const STEPS_DIR = "steps/";
export const MANIFEST_NAME = "manifest.json";

const STEP_DIGITS = 16;
const NAME = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const ATTEMPT = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,63}$/;

export function configError(message: string, code = "E_INVALID_OPTION"): RangeConfigError {
  return new RangeConfigError(`checkpoint: ${message}`, { code });
}

export function checkStep(step: unknown): number {
  if (typeof step !== "number" || !Number.isSafeInteger(step) || step < 0) {
    throw configError(`step must be a non-negative safe integer, got ${String(step)}`);
  }
  return step;
}

export function checkShardName(name: string): string {
  if (!NAME.test(name)) {
    throw configError(`shard name ${JSON.stringify(name)} must be 1-128 characters of A-Z a-z 0-9 . _ - (not starting with . or -)`);
  }
  return name;
}

export function checkAttempt(attempt: unknown): string {
  const text = typeof attempt === "number" && Number.isSafeInteger(attempt) && attempt >= 0 ? String(attempt) : attempt;
  if (typeof text !== "string" || !ATTEMPT.test(text)) {
    throw configError(`attempt must be a non-negative integer or 1-64 characters of A-Z a-z 0-9 . _ -, got ${JSON.stringify(attempt)}`);
  }
  return text;
}

export function stepDir(step: number): string {
  return `${STEPS_DIR}step-${String(step).padStart(STEP_DIGITS, "0")}/`;
}

/** The step of a `steps/step-…/` directory key, or undefined for anything else. */
export function stepOfDir(key: string): number | undefined {
  const match = /^steps\/step-(\d+)\/$/.exec(key);
  if (!match) return undefined;
  const step = Number(match[1]);
  return Number.isSafeInteger(step) ? step : undefined;
}

export function attemptDir(step: number, attempt: string): string {
  return `${stepDir(step)}attempt-${attempt}/`;
}

const rankPart = (rank: number) => `rank-${String(rank).padStart(5, "0")}`;

export function shardKey(step: number, attempt: string, rank: number, name: string): string {
  return `${attemptDir(step, attempt)}${rankPart(rank)}/${name}`;
}

export function markerKey(step: number, attempt: string, rank: number): string {
  return `${attemptDir(step, attempt)}done/${rankPart(rank)}.json`;
}

export function manifestKey(step: number): string {
  return `${stepDir(step)}${MANIFEST_NAME}`;
}
