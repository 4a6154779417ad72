/**
 * Consistency over time, which one probe cannot see: an address that goes back to a
 * certificate it had stopped serving (A, B, A within 24 h) has several servers behind it
 * that disagree. A renewal (A, then B from then on) is a change, never an inconsistency.
 */
import { remediation, statusOf, worst, REASONS } from '../probe/index.js';
import type { TargetResult } from '../probe/types.js';

interface Seen {
  subject: string;
  lastSeen: number;
  count: number;
}

/** Per `target\0address`, the certificates seen within the window. Bounded by the window. */
export class RecentCertificates {
  static readonly WINDOW_MS = 24 * 3_600_000;
  private readonly by = new Map<string, Map<string, Seen>>();

  add(key: string, thumbprint: string, subject: string, at: number, count: number): void {
    let m = this.by.get(key);
    if (!m) this.by.set(key, (m = new Map()));
    const s = m.get(thumbprint);
    if (s) {
      s.lastSeen = Math.max(s.lastSeen, at);
      s.count += count;
    } else {
      m.set(thumbprint, { subject, lastSeen: at, count });
    }
  }

  /** The certificates seen within the window before `now`; older ones are forgotten. */
  within(key: string, now: number): Map<string, Seen> {
    const m = this.by.get(key);
    if (!m) return new Map();
    for (const [t, s] of m) if (s.lastSeen < now - RecentCertificates.WINDOW_MS) m.delete(t);
    if (m.size === 0) this.by.delete(key);
    return m;
  }

  distinct(key: string, now: number): number {
    return this.within(key, now).size;
  }
}

/**
 * Adds cert_inconsistent to each address of `result` whose certificate differs from the last
 * one seen there and was itself seen there within the window. Mutates `result`.
 */
export function flagReturns(
  target: string,
  result: TargetResult,
  last: ReadonlyMap<string, { thumbprint: string }>,
  recent: RecentCertificates,
  at: number,
): void {
  let flagged = false;
  for (const a of result.addresses) {
    const c = a.certificate;
    if (!c || a.reasons.some((r) => r.code === 'cert_inconsistent')) continue;
    const key = `${target}\0${a.address}`;
    const before = last.get(key)?.thumbprint;
    if (!before || before === c.thumbprint) continue;
    const seen = recent.within(key, at);
    if (!seen.has(c.thumbprint)) continue;
    const list = [...seen.entries()].map(([t, s]) => `${t} ("${s.subject}") ${s.count} time${s.count === 1 ? '' : 's'}`).join(', ');
    a.reasons = [
      ...a.reasons,
      {
        code: 'cert_inconsistent',
        severity: REASONS.cert_inconsistent.severity,
        message: `${a.address} went back to ${c.thumbprint} ("${c.subject}") after serving ${before} within 24 h: several servers answer here with different certificates. Seen here in the last 24 h: ${list}`,
      },
    ];
    a.status = worst([a.status, statusOf(a.reasons)]);
    a.remediation = remediation(a.reasons, a.certificate, a.names);
    flagged = true;
  }
  if (flagged) result.status = worst([result.status, ...result.addresses.map((x) => x.status)]);
}
