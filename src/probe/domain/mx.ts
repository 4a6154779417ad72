/**
 * The MX hosts of a mail domain as a sender finds them (RFC 5321 §5.1, RFC 7505), with the
 * DNSSEC state of every RRset: a lookup failure is never read as "no MX", a null MX is a
 * statement, not an absence, and each host's addresses come through the same validating
 * resolver so that DANE can tell whether they are authentic.
 */
import ipaddr from 'ipaddr.js';
import type { DnsAnswer, DnsClient, DnsSecurity } from '../dns/types.js';
import { parseDnsName, parseIpLiteral } from '../host.js';
import { domainReason } from './reasons.js';
import type { DomainReason, MxAddress, MxFacts, MxHost } from './types.js';

/** A sender gives up long before this; a hostile zone must not make us probe hundreds of hosts. */
export const MAX_MX_HOSTS = 10;
/** Per host and family. */
export const MAX_HOST_ADDRESSES = 8;

const SECURITY_RANK: Record<DnsSecurity, number> = { secure: 0, insecure: 1, indeterminate: 2, bogus: 3 };

/** The weakest of several DNSSEC states (one bogus RRset makes the whole bogus). */
export function weakest(states: Iterable<DnsSecurity>): DnsSecurity {
  let out: DnsSecurity = 'secure';
  for (const s of states) if (SECURITY_RANK[s] > SECURITY_RANK[out]) out = s;
  return out;
}

/** The answer carries a usable statement: records, or a validated absence. */
const answered = (a: DnsAnswer) => a.rcode === 'NOERROR' || a.rcode === 'NXDOMAIN';

function failure(a: DnsAnswer): string {
  const ede = a.ede.map((e) => `EDE ${e.code}${e.text ? ` ${e.text}` : ''}`).join(', ');
  return [a.rcode, ede, a.error].filter(Boolean).join(', ');
}

/** The IANA special-purpose range of an address (ipaddr.js names it), or undefined for global unicast. */
export function specialRange(address: string): string | undefined {
  try {
    let ip = ipaddr.parse(address);
    if (ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress()) ip = (ip as ipaddr.IPv6).toIPv4Address();
    const range = ip.range();
    return range === 'unicast' ? undefined : range;
  } catch {
    return 'invalid';
  }
}

export interface MxLookup {
  facts: MxFacts;
  reasons: DomainReason[];
}

interface HostAddresses {
  host: MxHost;
  reasons: DomainReason[];
}

/** A and AAAA of one host, with the DNSSEC state of both RRsets. */
async function resolveHost(name: string, preference: number, implicit: boolean, dns: DnsClient, signal: AbortSignal): Promise<HostAddresses> {
  const [a, aaaa] = await Promise.all([dns.query(name, 'A', signal), dns.query(name, 'AAAA', signal)]);
  const reasons: DomainReason[] = [];
  const at = { mx: name };
  const answers = [a, aaaa].filter(answered);
  const cnames = [...new Set([...a.cnames, ...aaaa.cnames])];
  const addresses: MxAddress[] = [];
  for (const answer of answers) {
    for (const r of answer.records.slice(0, MAX_HOST_ADDRESSES)) {
      if (addresses.some((x) => x.address === r.address)) continue;
      const special = specialRange(r.address);
      addresses.push({ address: r.address, dnssec: answer.security, probe: null, ...(special ? { special } : {}) });
    }
  }
  const dnssec = weakest([a.security, aaaa.security]);
  const bogus = [a, aaaa].filter((x) => x.security === 'bogus');
  if (bogus.length) {
    reasons.push(domainReason('dnssec_bogus', `the ${bogus.map((x) => x.type).join(' and ')} records of ${name} fail DNSSEC validation (${bogus.map(failure).join('; ')})`, at));
  } else if (addresses.length === 0) {
    const failed = [a, aaaa].filter((x) => !answered(x));
    reasons.push(
      domainReason(
        'mx_host_unresolvable',
        failed.length
          ? `${name} has no usable address: the ${failed.map((x) => `${x.type} lookup failed (${failure(x)})`).join(', the ')}`
          : `${name} has no A or AAAA record`,
        at,
      ),
    );
  }
  if (cnames.length) {
    reasons.push(domainReason('mx_target_cname', `${name} is an alias (CNAME to ${cnames.join(' → ')}); RFC 2181 §10.3 wants the MX to name the host itself`, at));
  }
  const expiries = [a, aaaa].map((x) => x.signatureExpires).filter((x): x is string => x !== undefined).sort();
  const host: MxHost = { host: name, preference, implicit, cnames, dnssec, ...(expiries[0] ? { signatureExpires: expiries[0] } : {}), addresses, tlsa: null, mtaStsMatch: null };
  return { host, reasons };
}

function facts(kind: MxFacts['kind'], answer: DnsAnswer<'MX'>, hosts: MxHost[] = []): MxFacts {
  return {
    kind,
    rcode: answer.rcode,
    dnssec: answer.security,
    ...(answer.signatureExpires ? { signatureExpires: answer.signatureExpires } : {}),
    hosts,
  };
}

/** The MX target as written: '' for the root (null MX), else lowercase without trailing dot. */
const exchangeName = (exchange: string) => exchange.trim().toLowerCase().replace(/\.$/, '');

/** MX lookup and classification of `domain` (A-label, lowercase), with every host's addresses. */
export async function lookupMx(domain: string, dns: DnsClient, signal: AbortSignal): Promise<MxLookup> {
  const answer = await dns.query(domain, 'MX', signal);
  const reasons: DomainReason[] = [];
  if (answer.security === 'bogus') {
    reasons.push(domainReason('dnssec_bogus', `the MX records of ${domain} fail DNSSEC validation (${failure(answer)}): senders that validate cannot deliver`));
    return { facts: facts('error', answer), reasons };
  }
  if (answer.rcode === 'NXDOMAIN') {
    reasons.push(domainReason('domain_not_found', `${domain} does not exist (NXDOMAIN)`));
    return { facts: facts('none', answer), reasons };
  }
  if (answer.rcode !== 'NOERROR') {
    reasons.push(domainReason('mx_lookup_failed', `the MX lookup of ${domain} failed (${failure(answer)}): senders queue and retry, this is not "no MX"`));
    return { facts: facts('error', answer), reasons };
  }
  if (answer.records.length === 0) return implicitMx(domain, answer, dns, signal);

  const records = [...answer.records].sort((x, y) => x.preference - y.preference || exchangeName(x.exchange).localeCompare(exchangeName(y.exchange)));
  const nulls = records.filter((r) => exchangeName(r.exchange) === '');
  if (nulls.length === records.length) {
    if (records.length !== 1 || records[0]!.preference !== 0) {
      reasons.push(domainReason('mx_null_conflict', `${domain} publishes a null MX in a form RFC 7505 does not define (${records.map((r) => `MX ${r.preference} .`).join(', ')})`));
    } else {
      reasons.push(domainReason('mx_null', `${domain} publishes a null MX (RFC 7505): it accepts no mail, senders bounce at once (556 5.1.10)`));
    }
    return { facts: facts('null', answer), reasons };
  }
  if (nulls.length) {
    reasons.push(domainReason('mx_null_conflict', `${domain} publishes a null MX ("MX 0 .") beside other MX records: RFC 7505 §3 forbids it; senders disagree on what it means`));
  }
  const seen = new Set<string>();
  const wanted: Array<{ name: string; preference: number }> = [];
  const invalid: MxHost[] = [];
  for (const r of records) {
    const raw = exchangeName(r.exchange);
    if (raw === '' || seen.has(raw)) continue;
    seen.add(raw);
    if (wanted.length + invalid.length >= MAX_MX_HOSTS) break;
    const literal = parseIpLiteral(raw.replace(/^\[(.*)\]$/, '$1'));
    const name = parseDnsName(raw);
    if (literal || !name.ok) {
      const why = literal ? 'is an IP address, not a host name (RFC 5321 §5.1; senders look it up as a name and fail)' : `is not a host name: it ${name.ok ? '' : name.problem}`;
      reasons.push(domainReason('mx_target_invalid', `MX ${r.preference} ${raw} ${why}`, { mx: raw }));
      invalid.push({ host: raw, preference: r.preference, implicit: false, cnames: [], dnssec: answer.security, addresses: [], tlsa: null, mtaStsMatch: null });
      continue;
    }
    wanted.push({ name: name.value, preference: r.preference });
  }
  const resolved = await Promise.all(wanted.map((w) => resolveHost(w.name, w.preference, false, dns, signal)));
  const hosts = [...resolved.map((r) => r.host), ...invalid].sort((x, y) => x.preference - y.preference || x.host.localeCompare(y.host));
  for (const r of resolved) reasons.push(...r.reasons);
  return { facts: facts('explicit', answer, hosts), reasons };
}

/** No MX record: the domain's own addresses are the MX (RFC 5321 §5.1), or there is nowhere to deliver. */
async function implicitMx(domain: string, answer: DnsAnswer<'MX'>, dns: DnsClient, signal: AbortSignal): Promise<MxLookup> {
  const { host, reasons } = await resolveHost(domain, 0, true, dns, signal);
  const bogus = reasons.find((r) => r.code === 'dnssec_bogus');
  if (bogus) return { facts: facts('error', answer, [host]), reasons: [bogus] };
  if (host.addresses.length === 0) {
    const failed = reasons.find((r) => r.code === 'mx_host_unresolvable' && /lookup failed/.test(r.message));
    const out = failed
      ? domainReason('mx_lookup_failed', `${domain} has no MX record and the lookup of its own addresses failed: ${failed.message}`)
      : domainReason('mx_none', `${domain} has no MX record and no A or AAAA record: mail to it cannot be delivered`);
    return { facts: facts(failed ? 'error' : 'none', answer), reasons: [out] };
  }
  return {
    facts: facts('implicit', answer, [host]),
    reasons: [
      domainReason('mx_implicit', `${domain} has no MX record: senders deliver to its own address records (implicit MX, RFC 5321 §5.1); publish an MX`),
      ...reasons,
    ],
  };
}
