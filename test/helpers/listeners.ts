/**
 * Watching for MaxListenersExceededWarning. Node >= 22.12 sets no listener limit on an
 * AbortSignal, so a signal gathering one listener per probe stays silent there; older Node
 * and any signal given a limit warn at 11. While watching, every AbortController created gets
 * that limit back, so a listener count that grows with the load shows as the warning.
 */
import { setMaxListeners } from 'node:events';

export interface ListenerWatch {
  /** Messages of the MaxListenersExceededWarnings seen so far. */
  warnings(): Promise<string[]>;
  stop(): void;
}

export function watchListenerWarnings(limit = 10): ListenerWatch {
  const seen: string[] = [];
  const onWarning = (w: Error) => {
    if (w.name === 'MaxListenersExceededWarning') seen.push(w.message);
  };
  process.on('warning', onWarning);
  const Original = globalThis.AbortController;
  globalThis.AbortController = class extends Original {
    constructor() {
      super();
      setMaxListeners(limit, this.signal);
    }
  };
  return {
    async warnings() {
      // Warnings are emitted on the next tick.
      await new Promise((r) => setImmediate(r));
      return [...seen];
    },
    stop() {
      globalThis.AbortController = Original;
      process.off('warning', onWarning);
    },
  };
}
