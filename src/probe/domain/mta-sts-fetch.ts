/**
 * Fetching `https://mta-sts.<domain>/.well-known/mta-sts.txt` as a sender does (RFC 8461
 * §3.3), with the SSRF rules of the on-demand probe: the policy host is resolved through
 * the injected resolver, each address passes the address policy, and the connection goes
 * to that vetted address itself; Node never resolves the name.
 */
import type { DnsAnswer, DnsClient } from '../dns/types.js';
import { parseIpLiteral } from '../host.js';
import { fetchFromAddress, POLICY_PATH, type Attempt, type PolicyCertificate } from './policy-https.js';
import type { MtaStsFacts } from './types.js';

/** RFC 8461 §3.3 suggests about a minute for the whole fetch; the caller's deadline may be shorter. */
export const POLICY_TIMEOUT_MS = 60_000;
/** Addresses of the policy host tried at most: a zone listing hundreds must not make us connect to all. */
export const MAX_POLICY_ADDRESSES = 4;

export interface PolicyFetchDeps {
  dns: DnsClient;
  /** The on-demand address policy: the refused class of an address, or null to allow it. */
  refuse?: (address: string) => string | null;
  /** Trust store (PEM) for the policy host; Node's bundled roots when absent. */
  policyCa?: string;
  /** Tests only: the policy host's port (senders always use 443). */
  policyPort?: number;
  now?: () => Date;
}

export type PolicyFetchFacts = NonNullable<MtaStsFacts['fetch']>;

export interface PolicyFetch {
  facts: PolicyFetchFacts;
  /** The body of a 200 answer within the limits, from a host with a valid certificate. */
  body: Buffer | null;
  /** certificate: the host could not prove it is mta-sts.<domain>. fetch: anything else. */
  failure: { kind: 'fetch' | 'certificate'; message: string } | null;
  /** Not fatal for senders, worth fixing (a Content-Type other than text/plain). */
  warnings: string[];
}

const names = (answer: DnsAnswer<'A' | 'AAAA'>) => `${answer.type} ${answer.rcode}${answer.error ? ` (${answer.error})` : ''}`;

async function resolvePolicyHost(dns: DnsClient, host: string, signal: AbortSignal): Promise<{ addresses: string[]; problem?: string }> {
  const ask = async <T extends 'A' | 'AAAA'>(type: T): Promise<DnsAnswer<'A' | 'AAAA'>> => {
    try {
      return await dns.query(host, type, signal);
    } catch (e) {
      // The contract says a client never throws; a broken one must not break the check.
      return { name: host, type, rcode: 'ERROR', ad: false, security: 'indeterminate', ede: [], records: [], cnames: [], error: (e as Error).message, server: dns.server };
    }
  };
  const answers = await Promise.all([ask('A'), ask('AAAA')]);
  // Only what parses as an address is ever connected to.
  const addresses = answers.flatMap((a) => (a.rcode === 'NOERROR' ? a.records.map((r) => parseIpLiteral(r.address)?.address ?? null) : [])).filter((a): a is string => a !== null);
  if (addresses.length > 0) return { addresses: [...new Set(addresses)] };
  if (answers.every((a) => a.rcode === 'NXDOMAIN')) return { addresses, problem: `${host} does not exist (NXDOMAIN)` };
  if (answers.every((a) => a.rcode === 'NOERROR' || a.rcode === 'NXDOMAIN')) return { addresses, problem: `${host} has no A or AAAA record` };
  return { addresses, problem: `${host} could not be resolved: ${answers.map(names).join(', ')}` };
}

/**
 * One fetch under one deadline (the caller's signal, capped at a minute). Never throws;
 * every socket it opens is closed before it returns.
 */
export async function fetchMtaStsPolicy(domain: string, deps: PolicyFetchDeps, signal: AbortSignal): Promise<PolicyFetch> {
  const started = Date.now();
  const host = `mta-sts.${domain}`;
  const url = `https://${host}${POLICY_PATH}`;
  const cap = new AbortController();
  const timer = setTimeout(() => cap.abort(), POLICY_TIMEOUT_MS);
  const deadline = AbortSignal.any([signal, cap.signal]);
  const result = (facts: Partial<PolicyFetchFacts>, failure: PolicyFetch['failure'], body: Buffer | null = null, warnings: string[] = []): PolicyFetch => ({
    facts: { url, ...facts, ...(failure ? { error: failure.message } : {}), durationMs: Date.now() - started },
    body,
    failure,
    warnings,
  });
  try {
    const resolved = await resolvePolicyHost(deps.dns, host, deadline);
    if (deadline.aborted) return result({}, { kind: 'fetch', message: `the deadline was reached resolving ${host}` });
    if (resolved.problem) return result({}, { kind: 'fetch', message: resolved.problem });
    const refused = resolved.addresses.map((a) => [a, deps.refuse?.(a) ?? null] as const).filter(([, why]) => why !== null);
    const allowed = resolved.addresses.filter((a) => !refused.some(([r]) => r === a));
    if (allowed.length === 0) {
      const list = refused.map(([a, why]) => `${a} (${why})`).join(', ');
      return result({}, { kind: 'fetch', message: `every address of ${host} is refused by the address policy: ${list}` });
    }
    const misses: string[] = [];
    for (const address of allowed.slice(0, MAX_POLICY_ADDRESSES)) {
      const a: Attempt = await fetchFromAddress({ address, port: deps.policyPort ?? 443, host, ...(deps.policyCa ? { ca: deps.policyCa } : {}), now: deps.now ?? (() => new Date()) }, deadline);
      if (a.kind === 'network') {
        misses.push(a.message);
        continue;
      }
      return fromAttempt(a, address, result);
    }
    const untried = allowed.length > MAX_POLICY_ADDRESSES ? ` (${allowed.length - MAX_POLICY_ADDRESSES} more not tried)` : '';
    return result({}, { kind: 'fetch', message: `no address of ${host} answered: ${misses.join('; ')}${untried}` });
  } finally {
    clearTimeout(timer);
  }
}

type Build = (facts: Partial<PolicyFetchFacts>, failure: PolicyFetch['failure'], body?: Buffer | null, warnings?: string[]) => PolicyFetch;

function fromAttempt(a: Exclude<Attempt, { kind: 'network' }>, address: string, result: Build): PolicyFetch {
  const cert = (c: PolicyCertificate | undefined) => (c ? { certificate: c } : {});
  switch (a.kind) {
    case 'timeout':
      return result({ address }, { kind: 'fetch', message: a.message });
    case 'certificate':
      return result({ address, ...cert(a.certificate) }, { kind: 'certificate', message: a.message });
    case 'http': {
      const { kind: _k, message, certificate, ...http } = a;
      return result({ address, ...cert(certificate), ...http }, { kind: 'fetch', message });
    }
    case 'ok': {
      const warnings: string[] = [];
      const media = a.contentType?.split(';')[0]?.trim().toLowerCase();
      if (media !== 'text/plain') {
        warnings.push(`the policy is served as ${a.contentType === undefined ? 'no Content-Type' : JSON.stringify(a.contentType.slice(0, 100))}; RFC 8461 §3.3 requires text/plain`);
      }
      const contentType = a.contentType !== undefined ? { contentType: a.contentType } : {};
      return result({ address, certificate: a.certificate, status: 200, ...contentType, bytes: a.body.length }, null, a.body, warnings);
    }
  }
}
