/** The scheduler's log lines: one per probed address, one per domain check. */
import type { DomainResult } from '../probe/domain/types.js';
import type { Reason } from '../probe/index.js';

export interface SchedulerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** As the scheduler runs them: at start, on schedule, after a reload, or asked for. */
export type RunCause = 'start' | 'schedule' | 'reload' | 'manual';

/**
 * One line per domain check, with its status, reason codes and each sender's verdict.
 */
export function logDomain(log: SchedulerLogger, name: string, cause: RunCause, result: DomainResult): void {
  log.info(
    {
      target: name,
      domain: result.domain,
      cause,
      status: result.status,
      reasons: result.reasons.map((r) => (r.mx ? `${r.code}@${r.mx}` : r.code)),
      senders: Object.fromEntries(result.senders.map((s) => [s.sender, s.verdict])),
      durationMs: result.durationMs,
    },
    'domain check',
  );
}

/**
 * One line per probed address. A probe that could not run for a cause on this machine (out of
 * descriptors, memory or ports; a source address it cannot use) is an error of ours, logged as
 * such with the error code in `local`: it says nothing about the server.
 */
export function logProbe(log: SchedulerLogger, fields: Record<string, unknown>, reasons: readonly Reason[]): void {
  const local = reasons.find((r) => r.local);
  if (!local) return log.info(fields, 'probe');
  log.error({ ...fields, local: local.local, problem: local.message }, 'probe could not run: a problem of this machine, not of the server');
}
