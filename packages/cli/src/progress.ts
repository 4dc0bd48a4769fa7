import cliProgress from "cli-progress";
import { formatRate, formatSize } from "./sizes.js";

/** Progress of one command's transfers: bytes moved and objects finished. */
export interface Progress {
  add(bytes: number): void;
  objectDone(): void;
  /** Removes the bar (if shown). Idempotent. */
  stop(): void;
}

export const NO_PROGRESS: Progress = Object.freeze({ add() {}, objectDone() {}, stop() {} });

export interface ProgressOptions {
  /** Total bytes, when known (a stdin upload has none). */
  totalBytes?: number | undefined;
  /** Objects in the transfer; shown as "3/10 objects" when more than one. */
  totalObjects?: number | undefined;
  /** Nothing is drawn before this (short transfers print nothing). Default 500 ms. */
  delayMs?: number;
}

/** Rates are averaged over this window, so the figure follows the transfer without jumping on every update. */
const RATE_WINDOW_MS = 3_000;

function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "--";
  const s = Math.ceil(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

/** A cli-progress bar on a terminal stream: bytes, rate, ETA; drawn only once the transfer has lasted `delayMs`. */
export class TransferProgress implements Progress {
  readonly #stream: NodeJS.WritableStream;
  readonly #totalBytes: number | undefined;
  readonly #totalObjects: number | undefined;
  readonly #start = performance.now();
  readonly #samples: { at: number; bytes: number }[] = [];
  #bytes = 0;
  #objects = 0;
  #bar: cliProgress.SingleBar | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(stream: NodeJS.WritableStream, options: ProgressOptions = {}) {
    this.#stream = stream;
    this.#totalBytes = options.totalBytes;
    this.#totalObjects = options.totalObjects;
    this.#timer = setTimeout(() => this.#show(), options.delayMs ?? 500);
    this.#timer.unref();
  }

  add(bytes: number): void {
    this.#bytes += bytes;
    this.#bar?.update(this.#bytes);
  }

  objectDone(): void {
    this.#objects++;
    this.#bar?.update(this.#bytes);
  }

  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#bar?.stop();
    this.#bar = undefined;
  }

  #rate(now: number): number {
    this.#samples.push({ at: now, bytes: this.#bytes });
    while (this.#samples.length > 2 && now - this.#samples[0]!.at > RATE_WINDOW_MS) this.#samples.shift();
    const first = this.#samples[0]!;
    const elapsed = now - first.at;
    // Until the window has a span worth measuring, the average since the start.
    if (elapsed < 250) return (this.#bytes * 1000) / Math.max(1, now - this.#start);
    return ((this.#bytes - first.bytes) * 1000) / elapsed;
  }

  #line(barText: string): string {
    const rate = this.#rate(performance.now());
    const total = this.#totalBytes;
    const parts: string[] = [];
    if (total !== undefined && total > 0) {
      const ratio = Math.min(1, this.#bytes / total);
      parts.push(`${barText} ${String(Math.floor(ratio * 100)).padStart(3)}%`);
      parts.push(`${formatSize(this.#bytes)} / ${formatSize(total)}`);
    } else {
      parts.push(formatSize(this.#bytes));
    }
    parts.push(formatRate(rate));
    if (total !== undefined && total > 0) parts.push(`ETA ${formatEta(rate > 0 ? (total - this.#bytes) / rate : Number.NaN)}`);
    if (this.#totalObjects !== undefined && this.#totalObjects > 1) parts.push(`${this.#objects}/${this.#totalObjects} objects`);
    return parts.join(" | ");
  }

  #show(): void {
    if (this.#stopped) return;
    const bar = new cliProgress.SingleBar({
      stream: this.#stream,
      format: (options, params) => this.#line(cliProgress.Format.BarFormat(params.progress, options)),
      barsize: 24,
      barCompleteChar: "\u2588",
      barIncompleteChar: "\u2591",
      hideCursor: true,
      clearOnComplete: true,
      gracefulExit: false,
      linewrap: false,
      fps: 8,
    });
    bar.start(this.#totalBytes ?? 0, this.#bytes);
    this.#bar = bar;
  }
}
