/**
 * Waiting on a signal that many share: the service's shutdown signal (every probe queued or
 * running), one probe's deadline (each of up to 32 addresses). Each waiter adding its own
 * listener makes the listener count grow with the load, which Node reports as a
 * MaxListenersExceededWarning where the signal's limit applies (Node < 22.12, or any limit
 * set on it). Here a signal carries one listener while anyone waits, and none after.
 */
interface Waiters {
  listener: () => void;
  callbacks: Set<() => void>;
}

const bySignal = new WeakMap<AbortSignal, Waiters>();

/**
 * Call `callback` once when `signal` aborts (at once if it already has). Returns the
 * function that stops waiting; call it when the work ends, aborted or not.
 */
export function onAbort(signal: AbortSignal, callback: () => void): () => void {
  if (signal.aborted) {
    callback();
    return () => undefined;
  }
  let w = bySignal.get(signal);
  if (!w) {
    const callbacks = new Set<() => void>();
    const listener = () => {
      bySignal.delete(signal);
      for (const cb of [...callbacks]) cb();
      callbacks.clear();
    };
    signal.addEventListener('abort', listener, { once: true });
    w = { listener, callbacks };
    bySignal.set(signal, w);
  }
  const own = w;
  const entry = () => callback();
  own.callbacks.add(entry);
  return () => {
    if (!own.callbacks.delete(entry) || own.callbacks.size > 0) return;
    signal.removeEventListener('abort', own.listener);
    if (bySignal.get(signal) === own) bySignal.delete(signal);
  };
}
