/**
 * The deadline of an on-demand probe from what the caller sends: the `timeout` parameter, or
 * Prometheus' scrape timeout header. Seconds become whole milliseconds here, once: Node's
 * timers and AbortSignal.timeout throw on a fractional delay (1.2345 s is 1234.5 ms), and an
 * exception there was a 500.
 */

export const SCRAPE_TIMEOUT_HEADER = 'x-prometheus-scrape-timeout-seconds';
/** Finish this long before Prometheus gives up, so that the scrape gets an answer (as blackbox_exporter). */
export const SCRAPE_OFFSET_MS = 500;
/** A shorter deadline than this cannot even connect; Prometheus' own minimum is far above. */
export const MIN_SCRAPE_DEADLINE_MS = 500;
/** Longest scrape timeout header we take (Prometheus' scrape_timeout is at most its interval). */
export const MAX_HEADER_SECONDS = 86_400;

export type Deadline = { ok: true; ms: number } | { ok: false; problem: string };

/** Seconds (finite, > 0, <= maxSeconds) to whole milliseconds, at least 1. */
export function secondsToMs(seconds: number, maxSeconds: number): Deadline {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return { ok: false, problem: 'must be a finite number of seconds' };
  if (seconds <= 0) return { ok: false, problem: 'must be > 0' };
  if (seconds > maxSeconds) return { ok: false, problem: `must be <= ${maxSeconds}` };
  const ms = Math.round(seconds * 1000);
  if (ms < 1) return { ok: false, problem: 'must be at least 0.001 (one millisecond)' };
  return { ok: true, ms };
}

/** The scrape timeout header's value (text, as sent) to the probe's deadline in whole ms. */
export function scrapeDeadlineMs(header: string): Deadline {
  const text = header.trim();
  // Number('') is 0 and Number('0x10') is 16: only a plain decimal is a number of seconds here.
  if (!/^(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?$/i.test(text)) return { ok: false, problem: 'must be a number of seconds' };
  const given = secondsToMs(Number(text), MAX_HEADER_SECONDS);
  if (!given.ok) return given;
  return { ok: true, ms: Math.max(MIN_SCRAPE_DEADLINE_MS, given.ms - SCRAPE_OFFSET_MS) };
}
