export interface RangeStats {
  /** Bytes delivered. */
  bytes: number;
  /** Ranges completed. */
  ranges: number;
  /** Attempts beyond the first, summed over all ranges. */
  retries: number;
  elapsedMs: number;
  /** Time until the first byte arrived (a fetcher's first progress report, else its first completed range). */
  firstByteMs: number;
  throughputBytesPerSec: number;
  /** Most range requests in flight at once (hedged requests included). */
  maxInFlight: number;
  /** Second requests issued for lagging ranges (engine option `hedge`). */
  hedges: number;
  /** Hedged requests that answered before the request they duplicated. */
  hedgeWins: number;
}

export interface DownloadProgress {
  /** Bytes of completed ranges so far. */
  bytes: number;
  total: number;
  /** Ranges completed so far. */
  ranges: number;
}

/** Accumulates the numbers of one download. */
export class StatsRecorder {
  readonly #start = performance.now();
  #firstByteAt: number | undefined;
  bytes = 0;
  ranges = 0;
  retries = 0;
  hedges = 0;
  hedgeWins = 0;
  inFlight = 0;
  maxInFlight = 0;

  markFirstByte(): void {
    this.#firstByteAt ??= performance.now();
  }

  requestStarted(): void {
    this.inFlight++;
    if (this.inFlight > this.maxInFlight) this.maxInFlight = this.inFlight;
  }

  requestEnded(): void {
    this.inFlight--;
  }

  rangeCompleted(length: number): void {
    this.markFirstByte();
    this.bytes += length;
    this.ranges++;
  }

  snapshot(): RangeStats {
    const now = performance.now();
    const elapsedMs = now - this.#start;
    return {
      bytes: this.bytes,
      ranges: this.ranges,
      retries: this.retries,
      elapsedMs,
      firstByteMs: this.#firstByteAt === undefined ? 0 : this.#firstByteAt - this.#start,
      throughputBytesPerSec: elapsedMs > 0 ? (this.bytes * 1000) / elapsedMs : 0,
      maxInFlight: this.maxInFlight,
      hedges: this.hedges,
      hedgeWins: this.hedgeWins,
    };
  }
}
