/**
 * How a request ended, in the words of {@link EndpointOutcome}: `ok` (the server answered, a "not found" included),
 * `error` (it reported a problem that says nothing about its health, e.g. throttling), `failed` (it could not
 * serve: refused, reset, 5xx, stalled), `aborted` (the caller gave up).
 */
export type RequestOutcome = "ok" | "error" | "failed" | "aborted";

/** One request a backend sent: what a {@link RequestListener} receives once the request (and its body) is done. */
export interface RequestEvent {
  /** The backend's name for the request, e.g. S3's `GetObject`, `PutObject`, `UploadPart`, `ListObjectsV2`. */
  readonly operation: string;
  /**
   * The key it was about, relative to the store's root (the prefix, for a listing page); "" for a request on no
   * single key (a batch delete).
   */
  readonly key: string;
  /** Where it went: the endpoint's URL for a network backend (with several endpoints, the one that served it). */
  readonly endpoint: string;
  /** Body bytes sent and received. */
  readonly bytes: number;
  /** When it started: `performance.now()` of this thread. */
  readonly start: number;
  /** From the start until the response (and its body) was done, in ms. */
  readonly durationMs: number;
  readonly outcome: RequestOutcome;
  /** The error, when the outcome is not `ok` or the answer was an error (a 404 is outcome `ok` with an error). */
  readonly error?: unknown;
}

export type RequestListener = (event: RequestEvent) => void;

/**
 * The per-request hook of a backend: the driver (or the {@link EndpointPool} it sends through) reports each request
 * it sends here, and `ObjectStore.onRequest` subscribes to it. Free when nobody listens: a driver checks
 * {@link listening} before it takes a clock reading or builds an event.
 */
export class RequestEvents {
  #listeners: readonly RequestListener[] = [];

  /** True while at least one listener is subscribed. */
  get listening(): boolean {
    return this.#listeners.length > 0;
  }

  /** Subscribes `listener`; returns the function that unsubscribes it. */
  on(listener: RequestListener): () => void {
    if (typeof listener !== "function") throw new TypeError("a request listener must be a function");
    // Copy on write: an emit in progress keeps the list it started with.
    this.#listeners = [...this.#listeners, listener];
    let subscribed = true;
    return () => {
      if (!subscribed) return;
      subscribed = false;
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    };
  }

  /**
   * Hands `event` to every listener. A listener that throws does not fail the request: the error is reported on
   * the next tick as an uncaught exception, as an EventEmitter listener's would be.
   */
  emit(event: RequestEvent): void {
    for (const listener of this.#listeners) {
      try {
        listener(event);
      } catch (error) {
        queueMicrotask(() => {
          throw error;
        });
      }
    }
  }
}
