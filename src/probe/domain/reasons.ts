/**
 * Domain mode's reason codes: stable strings, part of the public contract (README's reason
 * table). The default severity is the one a code has when it hurts every sender; the
 * orchestrator lowers it to `warning` when another MX absorbs the failure (delayed, not blocked).
 */
import type { DomainReason, DomainSeverity } from './types.js';

export const DOMAIN_REASONS = {
  resolver_not_validating: 'unknown',
  domain_not_found: 'critical',
  mx_lookup_failed: 'critical',
  mx_none: 'critical',
  mx_implicit: 'warning',
  mx_null: 'info',
  mx_null_conflict: 'critical',
  mx_target_invalid: 'critical',
  mx_target_cname: 'warning',
  mx_host_unresolvable: 'critical',
  mx_unreachable: 'critical',
  mx_not_probed: 'unknown',
  dnssec_bogus: 'critical',
  mta_sts_record_invalid: 'warning',
  mta_sts_policy_fetch_failed: 'critical',
  mta_sts_policy_invalid: 'critical',
  mta_sts_mx_mismatch: 'critical',
  mta_sts_cert_invalid: 'critical',
  mta_sts_testing: 'warning',
  dane_tlsa_insecure: 'warning',
  dane_mx_insecure: 'warning',
  dane_tlsa_unusable: 'warning',
  dane_tlsa_mismatch: 'critical',
  dane_ta_not_sent: 'critical',
  dane_starttls_missing: 'critical',
  dane_no_rollover: 'warning',
  tls_rpt_missing: 'warning',
  tls_rpt_invalid: 'warning',
  expect_mismatch: 'critical',
} as const satisfies Record<string, DomainSeverity>;

export type DomainReasonCode = keyof typeof DOMAIN_REASONS;
export const DOMAIN_REASON_CODES = Object.keys(DOMAIN_REASONS) as DomainReasonCode[];

export function domainReason(
  code: DomainReasonCode,
  message: string,
  where: { mx?: string; address?: string; severity?: DomainSeverity } = {},
): DomainReason {
  const { severity, ...at } = where;
  return { code, severity: severity ?? DOMAIN_REASONS[code], message, ...at };
}
