import { onAbort } from '../probe/abort.js';

/** A counting semaphore: at most `size` holders; waiters queue in order and can give up. */
export class Semaphore {
  private active = 0;
  private readonly queue: Array<() => void> = [];

  constructor(private size: number) {}

  get running(): number {
    return this.active;
  }

  get waiting(): number {
    return this.queue.length;
  }

  resize(size: number): void {
    this.size = size;
    this.drain();
  }

  /** Resolves with true once a slot is held, false if the signal aborted first. */
  acquire(signal?: AbortSignal): Promise<boolean> {
    if (signal?.aborted) return Promise.resolve(false);
    if (this.active < this.size && this.queue.length === 0) {
      this.active++;
      return Promise.resolve(true);
    }
    return new Promise<boolean>((resolve) => {
      // Every waiter shares the caller's signal (the scheduler's shutdown): one listener for all.
      let stop = (): void => undefined;
      const grant = () => {
        stop();
        this.active++;
        resolve(true);
      };
      this.queue.push(grant);
      if (signal) {
        stop = onAbort(signal, () => {
          const i = this.queue.indexOf(grant);
          if (i !== -1) this.queue.splice(i, 1);
          resolve(false);
        });
      }
    });
  }

  release(): void {
    this.active = Math.max(0, this.active - 1);
    this.drain();
  }

  private drain(): void {
    while (this.active < this.size && this.queue.length) this.queue.shift()!();
  }
}
