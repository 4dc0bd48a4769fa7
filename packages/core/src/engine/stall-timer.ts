/**
 * Fires when the watched work makes no progress for `timeoutMs`. `touch()` restarts the countdown, so a slow but
 * moving transfer is never killed; only a silent one is.
 */
export class StallTimer {
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastProgress = performance.now();
  readonly #timeoutMs: number;
  readonly #onStall: () => void;

  constructor(timeoutMs: number, onStall: () => void) {
    this.#timeoutMs = timeoutMs;
    this.#onStall = onStall;
    if (Number.isFinite(timeoutMs)) this.#arm(timeoutMs);
  }

  /** Records progress. Cheap enough to call per received chunk: it only stores a time, the timer re-arms lazily. */
  touch(): void {
    this.#lastProgress = performance.now();
  }

  stop(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(delay: number): void {
    this.#timer = setTimeout(() => {
      const idle = performance.now() - this.#lastProgress;
      // Timers may fire up to a millisecond early; treat that as expired rather than spinning.
      if (idle >= this.#timeoutMs - 1) {
        this.#timer = undefined;
        this.#onStall();
      } else {
        this.#arm(this.#timeoutMs - idle);
      }
    }, delay);
  }
}
