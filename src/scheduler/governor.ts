/**
 * How many scheduled probes may run at once, chosen from the event loop's delay: probes
 * beyond what the loop can serve do not finish sooner, they only stretch each probe's
 * measured phases (the loop reads replies late), so the timings would be our queue's rather
 * than the server's. Additive increase while the loop keeps up and probes wait, halved when
 * it falls behind; never above the configured `concurrency`.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';

/** Above this p99 delay (ms) over a period, the loop is behind: halve. */
export const LAG_HIGH_MS = 50;
/** Below it, there is room: one more, if probes are waiting. */
export const LAG_LOW_MS = 20;

export class ConcurrencyGovernor {
  private current: number;

  constructor(private max: number) {
    this.current = max;
  }

  get limit(): number {
    return this.current;
  }

  setMax(max: number): number {
    this.max = max;
    this.current = Math.min(Math.max(this.current, 1), max);
    return this.current;
  }

  /** One period's p99 event-loop delay, and whether probes waited for a slot; the new limit. */
  sample(lagP99Ms: number, waiting: boolean): number {
    if (lagP99Ms > LAG_HIGH_MS) this.current = Math.max(1, Math.floor(this.current / 2));
    else if (lagP99Ms < LAG_LOW_MS && waiting) this.current = Math.min(this.max, this.current + 1);
    return this.current;
  }
}

/** Feeds the governor from the event-loop delay every `periodMs`; returns the stop function. */
export function watchEventLoop(periodMs: number, onPeriod: (lagP99Ms: number) => void): () => void {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  const timer = setInterval(() => {
    const p99 = histogram.percentile(99) / 1e6;
    histogram.reset();
    onPeriod(p99);
  }, periodMs);
  timer.unref();
  return () => {
    clearInterval(timer);
    histogram.disable();
  };
}
