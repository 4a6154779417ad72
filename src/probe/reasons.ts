/**
 * The reason codes: stable strings, part of the public contract (DESIGN.md).
 * Catalogue order is also the order in which we pick the reason Exchange Online would
 * most likely report: what stops the dialogue first, then the name (the seed case shows
 * SubjectMismatch reported for a certificate that was also self-signed), then trust and dates.
 */
import type { ExchangeOnlineHint, Reason, Status } from './types.js';

/** `unknown`: the probe itself could not run (bad input, internal fault). */
export type Severity = 'warning' | 'critical' | 'unknown';

interface ReasonInfo {
  severity: Severity;
  exchangeOnline?: ExchangeOnlineHint;
}

/*
 * Exchange Online's words for a connector deferral. The status codes and the texts are those of
 * Microsoft's "Mail flow intelligence" documentation; a `[Message=…]` detail is verbatim only
 * for STARTTLS and SubjectMismatch (seen in message traces). The other details are our names for
 * the Windows chain errors (see README). Which code it picks for each of our reasons is our reading.
 */
const timedOut: ExchangeOnlineHint = { code: '450 4.4.315', msg: 'Connection timed out' };
const cannotConnect = (detail?: string): ExchangeOnlineHint => ({
  code: '450 4.4.317',
  msg: `Cannot connect to remote server${detail ? ` [Message=${detail}]` : ''}`,
});
const certFailed = (detail?: string): ExchangeOnlineHint => ({
  code: '450 4.7.320',
  msg: `Certificate validation failed${detail ? ` [Message=${detail}]` : ''}`,
});

export const REASONS = {
  dns_error: { severity: 'critical', exchangeOnline: { code: '450 4.4.312', msg: 'DNS query failed' } },
  connect_refused: { severity: 'critical', exchangeOnline: { code: '450 4.4.316', msg: 'Connection refused' } },
  connect_timeout: { severity: 'critical', exchangeOnline: timedOut },
  connection_closed: { severity: 'critical', exchangeOnline: { code: '450 4.4.318', msg: 'Connection was closed abruptly' } },
  greeting_timeout: { severity: 'critical', exchangeOnline: timedOut },
  greeting_rejected: { severity: 'critical', exchangeOnline: cannotConnect() },
  ehlo_rejected: { severity: 'critical', exchangeOnline: cannotConnect() },
  smtp_timeout: { severity: 'critical', exchangeOnline: timedOut },
  smtp_protocol_error: { severity: 'critical', exchangeOnline: cannotConnect() },
  starttls_not_offered: { severity: 'critical', exchangeOnline: cannotConnect('451 5.7.3 STARTTLS is required to send mail') },
  starttls_rejected: { severity: 'critical', exchangeOnline: cannotConnect() },
  tls_handshake_failed: { severity: 'critical', exchangeOnline: cannotConnect() },
  tls_handshake_timeout: { severity: 'critical', exchangeOnline: timedOut },
  cert_name_mismatch: { severity: 'critical', exchangeOnline: certFailed('SubjectMismatch') },
  cert_expired: { severity: 'critical', exchangeOnline: certFailed('CertificateExpired') },
  cert_not_yet_valid: { severity: 'critical', exchangeOnline: certFailed('CertificateNotYetValid') },
  cert_self_signed: { severity: 'critical', exchangeOnline: certFailed('UntrustedRoot') },
  cert_untrusted: { severity: 'critical', exchangeOnline: certFailed('UntrustedRoot') },
  cert_chain_incomplete: { severity: 'critical', exchangeOnline: certFailed('PartialChain') },
  cert_chain_invalid: { severity: 'critical', exchangeOnline: certFailed() },
  cert_weak_signature: { severity: 'critical', exchangeOnline: certFailed('WeakSignature') },
  tls_version_too_low: { severity: 'critical', exchangeOnline: cannotConnect() },
  cert_thumbprint_mismatch: { severity: 'critical' },
  probe_error: { severity: 'unknown' },
  cert_name_cn_only: { severity: 'warning' },
  cert_weak_key: { severity: 'warning' },
  cert_expiring_soon: { severity: 'warning' },
  cert_inconsistent: { severity: 'warning' },
} as const satisfies Record<string, ReasonInfo>;

export type ReasonCode = keyof typeof REASONS;

export const REASON_CODES = Object.keys(REASONS) as ReasonCode[];

export function reason(code: ReasonCode, message: string, local?: string): Reason {
  return { code, severity: REASONS[code].severity, message, ...(local ? { local } : {}) };
}

/**
 * Errors that say this machine ran out of something, whatever the server does: they must
 * not count against the server as a timeout or a refusal.
 */
const LOCAL_ERRORS: Readonly<Record<string, string>> = {
  EMFILE: 'this process has no file descriptor left',
  ENFILE: 'the system has no file descriptor left',
  ENOBUFS: 'no buffer space left for a socket',
  ENOMEM: 'out of memory for a socket',
};

/** What the error code says about this machine, or null when it is not a local shortage. */
export function localShortage(code: string | undefined): string | null {
  return (code && LOCAL_ERRORS[code]) || null;
}

const RANK: Record<Status, number> = { ok: 0, warning: 1, unknown: 2, critical: 3 };

/** The worst of several statuses; `ok` for none. */
export function worst(statuses: Iterable<Status>): Status {
  let result: Status = 'ok';
  for (const s of statuses) if (RANK[s] > RANK[result]) result = s;
  return result;
}

export function statusOf(reasons: readonly Reason[]): Status {
  return worst(reasons.map((r) => r.severity));
}

/** What Exchange Online would most likely report for these reasons, or null if it would deliver. */
export function exchangeOnlineHint(reasons: readonly Reason[]): ExchangeOnlineHint | null {
  const present = new Set(reasons.map((r) => r.code));
  for (const code of REASON_CODES) {
    const info: ReasonInfo = REASONS[code];
    if (present.has(code) && info.exchangeOnline) return info.exchangeOnline;
  }
  return null;
}
