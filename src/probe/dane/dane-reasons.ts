/**
 * DANE facts as domain reasons. Severities are the defaults of the reason table; the
 * orchestrator lowers them when another MX absorbs the failure.
 */
import type { TlsaRecord } from '../dns/types.js';
import { domainReason } from '../domain/reasons.js';
import type { DomainReason } from '../domain/types.js';
import { hasRollover, tlsaFacts } from './tlsa.js';
import type { DaneAddressFacts } from './types.js';

/** Why one address of an MX host with secure TLSA records is not DANE-authenticated; [] when it is. */
export function daneReasons(mx: string, address: string, facts: DaneAddressFacts): DomainReason[] {
  if (facts.authenticated) return [];
  const at = { mx, address };
  const records = facts.matches.map((m) => m.record.text).join(', ') || 'none';
  const problem = facts.problem ?? 'not authenticated';
  switch (facts.failure) {
    case 'no-tls':
      return [domainReason('dane_starttls_missing', `${mx} publishes TLSA records, so TLS is mandatory, but ${address} gave no TLS session: ${problem}`, at)];
    case 'no-usable-records':
      return [domainReason('dane_tlsa_unusable', `${mx} at ${address}: ${problem} (records: ${records})`, at)];
    case 'ta-not-sent':
      return [domainReason('dane_ta_not_sent', `${mx} at ${address}: ${problem} (records: ${records})`, at)];
    default:
      return [domainReason('dane_tlsa_mismatch', `the TLSA records of ${mx} do not authenticate ${address}: ${problem} (records: ${records})`, at)];
  }
}

/**
 * dane_no_rollover when an MX host's usable TLSA records leave no room for the next key or
 * certificate (RFC 7671 §8.1); nothing when none is usable (dane_tlsa_unusable says more).
 */
export function rolloverReasons(mx: string, records: readonly TlsaRecord[]): DomainReason[] {
  const usable = records.map(tlsaFacts).filter((f) => f.usability === 'usable');
  if (usable.length === 0 || hasRollover(records)) return [];
  return [
    domainReason(
      'dane_no_rollover',
      `${mx} has one usable TLSA record (${usable[0]!.text}): publish the next key's record beside it before the certificate or key changes, or mail is deferred until the DNS catches up`,
      { mx },
    ),
  ];
}
