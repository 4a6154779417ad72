/**
 * MTA-STS for one domain (RFC 8461): the TXT record, the policy fetch, the policy body, and
 * the mode senders apply. Matching the MX hosts against the policy is per MX: the
 * orchestrator calls mtaStsMxMatch for each.
 */
import type { DnsClient } from '../dns/types.js';
import { fetchMtaStsPolicy, type PolicyFetchDeps } from './mta-sts-fetch.js';
import { parseMtaStsPolicy } from './mta-sts-policy.js';
import { judgeStsRecord } from './mta-sts-record.js';
import { coveringPattern } from './mx-pattern.js';
import { domainReason } from './reasons.js';
import type { DomainReason, MtaStsFacts } from './types.js';

export type MtaStsDeps = PolicyFetchDeps & { dns: DnsClient };

export interface MtaStsCheck {
  facts: MtaStsFacts;
  reasons: DomainReason[];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export async function checkMtaSts(domain: string, deps: MtaStsDeps, signal: AbortSignal): Promise<MtaStsCheck> {
  const name = `_mta-sts.${domain}`;
  const record = judgeStsRecord(await deps.dns.query(name, 'TXT', signal));
  const none = (reasons: DomainReason[], fetch: MtaStsFacts['fetch'] = null): MtaStsCheck => ({ facts: { record, fetch, policy: null, mode: null }, reasons });
  switch (record.status) {
    case 'absent':
      return none([]);
    case 'error':
      // Not "no MTA-STS": a sender with a cached policy keeps applying it; we cannot tell.
      return none([domainReason('mta_sts_record_invalid', `${record.problem}; senders keep a cached policy or apply none`, { severity: 'unknown' })]);
    case 'invalid':
    case 'multiple':
      return none([domainReason('mta_sts_record_invalid', `${name}: ${record.problem}; senders apply no MTA-STS policy`)]);
    case 'valid':
      break;
  }
  const fetched = await fetchMtaStsPolicy(domain, deps, signal);
  if (fetched.failure || !fetched.body) {
    const message = `${fetched.facts.url}: ${fetched.failure?.message ?? 'no body'}; senders without a cached policy apply none`;
    const code = fetched.failure?.kind === 'certificate' ? 'mta_sts_cert_invalid' : 'mta_sts_policy_fetch_failed';
    return none([domainReason(code, message)], fetched.facts);
  }
  const reasons = fetched.warnings.map((w) => domainReason('mta_sts_policy_invalid', w, { severity: 'warning' }));
  let text: string;
  try {
    text = utf8.decode(fetched.body);
  } catch {
    return none([...reasons, domainReason('mta_sts_policy_invalid', `${fetched.facts.url}: the body is not UTF-8 text`)], fetched.facts);
  }
  const parsed = parseMtaStsPolicy(text);
  if (!parsed.ok) {
    return none([...reasons, domainReason('mta_sts_policy_invalid', `${fetched.facts.url}: ${parsed.problems.join('; ')}`)], fetched.facts);
  }
  const policy = parsed.policy;
  if (policy.mode === 'testing') {
    reasons.push(domainReason('mta_sts_testing', 'the MTA-STS policy is in testing mode: senders report failures (TLS-RPT) but deliver anyway'));
  }
  return { facts: { record, fetch: fetched.facts, policy, mode: policy.mode }, reasons };
}

/**
 * What the policy says of one MX host: the fields of MxHost and, when the host is not
 * covered, the reason (critical under enforce, a warning under testing; no policy or mode
 * none: nothing to match).
 */
export function mtaStsMxMatch(facts: MtaStsFacts, host: string): { mtaStsMatch: boolean | null; mtaStsPattern: string | null; reason: DomainReason | null } {
  const policy = facts.policy;
  if (!policy || facts.mode === null || facts.mode === 'none') return { mtaStsMatch: null, mtaStsPattern: null, reason: null };
  const pattern = coveringPattern(policy.mx, host);
  if (pattern !== null) return { mtaStsMatch: true, mtaStsPattern: pattern, reason: null };
  const consequence = facts.mode === 'enforce' ? 'senders applying the policy skip this MX' : 'senders report it (testing mode) and deliver anyway';
  const reason = domainReason('mta_sts_mx_mismatch', `${host} is not covered by the policy's mx patterns (${policy.mx.join(', ')}): ${consequence}`, {
    mx: host,
    ...(facts.mode === 'testing' ? { severity: 'warning' as const } : {}),
  });
  return { mtaStsMatch: false, mtaStsPattern: null, reason };
}
