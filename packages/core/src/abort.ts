/**
 * Settles like `work`, or rejects as soon as `signal` aborts (with `reasonOf(signal)`, by default the signal's
 * reason) without waiting for work that ignores its signal. A late rejection of `work` is swallowed.
 */
export function raceAbort<T>(
  work: Promise<T>,
  signal: AbortSignal,
  reasonOf: (signal: AbortSignal) => unknown = (s) => s.reason,
): Promise<T> {
  if (signal.aborted) {
    work.catch(() => {});
    return Promise.reject(reasonOf(signal));
  }
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => {
      work.catch(() => {});
      reject(reasonOf(signal));
    });
    work.then(
      (value) => {
        stop();
        resolve(value);
      },
      (error: unknown) => {
        stop();
        reject(error);
      },
    );
  });
}

/** Per caller signal: the callbacks of our operations waiting on it, behind ONE listener. */
const waiting = new WeakMap<AbortSignal, Set<() => void>>();

/**
 * Calls `callback` once when `signal` aborts; returns the function that unregisters it. However many operations share
 * one signal (a loader passing its signal to every get, the ranges of one download), it carries a single listener of
 * ours, so Node's MaxListenersExceededWarning never fires because of us. `signal` must not be aborted yet: callers
 * check `signal.aborted` first.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  let callbacks = waiting.get(signal);
  if (!callbacks) {
    const registered = new Set<() => void>();
    callbacks = registered;
    waiting.set(signal, registered);
    signal.addEventListener(
      "abort",
      () => {
        waiting.delete(signal);
        for (const cb of registered) cb();
      },
      { once: true },
    );
  }
  const set = callbacks;
  set.add(callback);
  return () => {
    set.delete(callback);
  };
}
