/**
 * Stopping the on-demand probe with the service. A caller chooses its `timeout` (up to
 * onDemand.maxTimeout), so a running /probe must not decide when the process may exit: new
 * requests are refused as soon as the service stops, running probes get the same grace
 * period as scheduled ones and are then aborted.
 */

/** The abort reason of a probe cut by the shutdown, told apart from the caller hanging up. */
export class ShuttingDown extends Error {
  constructor() {
    super('the service is shutting down');
    this.name = 'ShuttingDown';
  }
}

/**
 * An aborted probe ends at its next I/O step; a resolver that ignores its signal might not.
 * The wait after the abort is bounded so that such a step cannot stretch the shutdown.
 */
const AFTER_ABORT_MS = 300;

export class OnDemandDrain {
  #stopping = false;
  // Controllers, not listeners on one shared signal: any number of probes, no listener pile-up.
  readonly #running = new Set<AbortController>();
  #idle: (() => void) | null = null;

  get stopping(): boolean {
    return this.#stopping;
  }

  /** Registers a running probe's controller; call the returned function when it ends. */
  hold(controller: AbortController): () => void {
    this.#running.add(controller);
    return () => {
      this.#running.delete(controller);
      if (this.#running.size === 0) this.#idle?.();
    };
  }

  /** Refuse new probes; let the running ones finish within graceMs, then abort them. */
  async drain(graceMs: number): Promise<void> {
    this.#stopping = true;
    if (this.#running.size === 0) return;
    const idle = new Promise<void>((resolve) => (this.#idle = resolve));
    await waitAtMost(idle, graceMs);
    for (const controller of this.#running) controller.abort(new ShuttingDown());
    await waitAtMost(idle, AFTER_ABORT_MS);
  }
}

async function waitAtMost(promise: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]);
  clearTimeout(timer);
}
