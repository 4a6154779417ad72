/**
 * What each sender does with the facts of a domain: one verdict per sender, from the facts
 * alone (pure). `rfc` follows RFC 7672 (DANE) and RFC 8461 (MTA-STS), DANE first; `exo` is
 * Exchange Online, which uses DANE only when the MX and the host's addresses are authentic and
 * otherwise MTA-STS, and delivers in clear to a plain MX. Each sender tries MX hosts in
 * preference order and every address of a host: a failure another MX (or address) absorbs
 * delays mail, failures everywhere block it. An address that was not probed (refused by the
 * on-demand address policy, or `--no-smtp`) is never taken as working: with no probed MX
 * left that works, the verdict is `unknown`, not `deliver`.
 */
import type { AddressResult } from '../types.js';
import type { MtaStsFacts, MxFacts, MxHost, Sender, SenderResult, SenderVerdict } from './types.js';

export interface SenderFacts {
  domain: string;
  mx: MxFacts;
  mtaSts: MtaStsFacts;
  /** Whether the resolver validates: without it no DNSSEC state is known and DANE cannot be judged. */
  validating: boolean | null;
}

/** The address took no mail at all, whatever TLS would have done. */
export const CONNECTION_CODES = new Set([
  'dns_error', 'connect_refused', 'connect_timeout', 'connection_closed', 'greeting_timeout', 'greeting_rejected',
  'ehlo_rejected', 'smtp_timeout', 'smtp_protocol_error',
]);
/** No TLS session came up. */
export const NO_TLS_CODES = new Set(['starttls_not_offered', 'starttls_rejected', 'tls_handshake_failed', 'tls_handshake_timeout']);
/** What fails MTA-STS's certificate rules (RFC 8461 §4.2): WebPKI path, name, dates, TLS 1.2+. */
export const PKIX_CODES = new Set([
  'cert_name_mismatch', 'cert_expired', 'cert_not_yet_valid', 'cert_self_signed', 'cert_untrusted', 'cert_chain_incomplete',
  'cert_chain_invalid', 'cert_weak_signature', 'tls_version_too_low',
]);

const EXO_DNS = '450 4.4.312 DNS query failed';
const EXO_STARTTLS = '4.7.321 starttls-not-supported';
const EXO_EXPIRED = '4.7.322 certificate-expired';
const EXO_TLSA = '4.7.323 tlsa-invalid';
const EXO_DNSSEC = '4.7.324 dnssec-invalid';
const EXO_HOST_MISMATCH = '4.7.325 certificate-host-mismatch';
const EXO_CONNECT: Record<string, string> = {
  dns_error: EXO_DNS,
  connect_refused: '450 4.4.316 Connection refused',
  connect_timeout: '450 4.4.315 Connection timed out',
  greeting_timeout: '450 4.4.315 Connection timed out',
  smtp_timeout: '450 4.4.315 Connection timed out',
  connection_closed: '450 4.4.318 Connection was closed abruptly',
};
const exoConnect = (code: string) => EXO_CONNECT[code] ?? '450 4.4.317 Cannot connect to remote server';

/** How a sender treats one MX host: with DANE, under an MTA-STS policy, or opportunistically. */
export type HostRoute = 'dane' | 'mta-sts' | 'plain';

export interface HostOutcome {
  host: string;
  route: HostRoute;
  usable: boolean;
  /** Some but not all addresses failed (the sender loses time, the mail goes). */
  partial: boolean;
  /** Why unusable (or partial), for people. */
  problem?: string;
  /** Exchange Online's code for it. */
  exo?: string;
  /** The failure is the MTA-STS policy's (for 4.4.8). */
  mtaSts?: boolean;
  /**
   * DNS and policy allow the host, but none of its addresses was probed (refused by the
   * address policy, or `--no-smtp`): usable or not was not observed.
   */
  untested?: boolean;
  /** Addresses not probed, for people: `192.0.2.1 (refused: loopback)`. */
  notProbed?: string[];
}

const TEMPORARY_RCODES = new Set(['SERVFAIL', 'TIMEOUT', 'ERROR', 'REFUSED']);

/** Whether this sender applies DANE to the host, or finds it unusable on the way (TLSA lookup failed). */
export function daneFor(sender: Sender, host: MxHost, facts: SenderFacts): 'dane' | 'none' | { failed: string } {
  if (facts.validating === false || !host.tlsa) return 'none';
  // Exchange Online wants the MX RRset authentic as well (RFC senders MAY go on without it).
  if (sender === 'exo' && facts.mx.dnssec !== 'secure') return 'none';
  const tlsa = host.tlsa;
  if (tlsa.dnssec === 'bogus' || TEMPORARY_RCODES.has(tlsa.rcode)) {
    return { failed: `the TLSA lookup of _25._tcp.${host.host} failed (${tlsa.rcode}, ${tlsa.dnssec}) in a signed zone` };
  }
  if (tlsa.dnssec === 'secure' && tlsa.records.length > 0) return 'dane';
  return 'none';
}

interface AddressOutcome {
  usable: boolean;
  problem?: string;
  exo?: string;
}

const codesOf = (p: AddressResult) => p.reasons.map((r) => r.code as string);

function judgeAddress(sender: Sender, route: HostRoute, enforce: boolean, probe: AddressResult): AddressOutcome {
  const codes = codesOf(probe);
  const connect = codes.find((c) => CONNECTION_CODES.has(c));
  if (connect) return { usable: false, problem: `${probe.address}: ${connect}`, exo: exoConnect(connect) };
  const noTls = codes.find((c) => NO_TLS_CODES.has(c));
  if (route === 'dane') {
    if (noTls) return { usable: false, problem: `${probe.address}: ${noTls} under DANE`, exo: EXO_STARTTLS };
    const dane = probe.dane;
    const usableRecords = dane?.matches.some((m) => m.record.usability === 'usable') ?? false;
    // Only unusable records: TLS is mandatory but unauthenticated (RFC 7672 §2.2).
    if (usableRecords && !dane?.authenticated) {
      const exo = dane?.failure === 'expired' ? EXO_EXPIRED : dane?.failure === 'name-mismatch' ? EXO_HOST_MISMATCH : dane?.failure === 'no-tls' ? EXO_STARTTLS : EXO_TLSA;
      return { usable: false, problem: `${probe.address}: ${dane?.problem ?? 'no TLSA record matched'}`, exo };
    }
    if (sender === 'exo' && usableRecords) {
      if (dane?.leafInDate === false || codes.includes('cert_expired')) return { usable: false, problem: `${probe.address}: certificate expired (Exchange Online checks dates under DANE)`, exo: EXO_EXPIRED };
      if (dane?.leafNamesMatch === false || codes.includes('cert_name_mismatch')) return { usable: false, problem: `${probe.address}: certificate does not name the MX host (Exchange Online checks it under DANE)`, exo: EXO_HOST_MISMATCH };
    }
    return { usable: true };
  }
  if (route === 'mta-sts' && enforce) {
    const pkix = noTls ?? codes.find((c) => PKIX_CODES.has(c));
    if (pkix) return { usable: false, problem: `${probe.address}: ${pkix} under MTA-STS enforce`, exo: `4.7.5 Remote certificate failed MTA-STS validation. Reason: ${pkix}` };
  }
  // Opportunistic TLS (and Exchange Online without a policy) deliver in clear if TLS fails.
  return { usable: true };
}

/** One MX host through one sender's eyes. */
export function judgeHost(sender: Sender, host: MxHost, facts: SenderFacts): HostOutcome {
  const mode = facts.mtaSts.mode;
  const dane = daneFor(sender, host, facts);
  // A TLSA lookup that failed in a signed zone stops the sender on its DANE path.
  const route: HostRoute = dane !== 'none' ? 'dane' : mode === 'enforce' || mode === 'testing' ? 'mta-sts' : 'plain';
  const out = (usable: boolean, problem?: string, exo?: string, mtaSts?: boolean): HostOutcome => ({
    host: host.host,
    route,
    usable,
    partial: false,
    ...(problem ? { problem } : {}),
    ...(sender === 'exo' && exo ? { exo } : {}),
    ...(mtaSts ? { mtaSts } : {}),
  });
  if (host.dnssec === 'bogus') return out(false, `the addresses of ${host.host} fail DNSSEC validation`, facts.mx.dnssec === 'secure' ? EXO_DNSSEC : EXO_DNS);
  if (host.addresses.length === 0) return out(false, `${host.host} has no usable address`, EXO_DNS);
  if (typeof dane === 'object') return out(false, dane.failed, EXO_DNSSEC);
  const enforce = route === 'mta-sts' && mode === 'enforce';
  if (enforce && host.mtaStsMatch === false) {
    return out(false, `${host.host} is not listed in the MTA-STS policy`, `4.4.8 MX hosts of ${facts.domain} failed MTA-STS validation`, true);
  }
  // An address not probed says nothing either way: the host is judged on what was observed.
  const skipped = host.addresses.filter((a) => a.probe === null).map((a) => `${a.address}${a.refused ? ` (refused: ${a.refused})` : ''}`);
  const notProbed = skipped.length ? { notProbed: skipped } : {};
  if (skipped.length === host.addresses.length) return { ...out(true), untested: true, ...notProbed };
  const results = host.addresses.flatMap((a) => (a.probe ? [judgeAddress(sender, route, enforce, a.probe)] : []));
  const good = results.filter((r) => r.usable).length;
  const bad = results.find((r) => !r.usable);
  if (!bad) return { ...out(true), ...notProbed };
  const o = { ...out(good > 0, bad.problem, bad.exo), ...notProbed };
  o.partial = good > 0;
  return o;
}

const ROUTE_WORDS: Record<HostRoute, string> = { dane: 'DANE', 'mta-sts': 'MTA-STS', plain: 'opportunistic TLS' };

function oneSender(sender: Sender, facts: SenderFacts): SenderResult {
  const { mx, domain } = facts;
  const base = { sender, usableMx: [] as string[] };
  if (mx.kind === 'null') {
    return { ...base, verdict: 'blocked', route: 'null-mx', message: `${domain} accepts no mail (null MX): senders bounce at once with 556 5.1.10`, ...(sender === 'exo' ? { code: '556 5.1.10' } : {}) };
  }
  if (mx.kind === 'none') {
    const why = mx.rcode === 'NXDOMAIN' ? 'does not exist (NXDOMAIN)' : 'has no MX and no address';
    return { ...base, verdict: 'blocked', route: 'no-mx', message: `${domain} ${why}: mail to it bounces` };
  }
  if (mx.kind === 'error') {
    return { ...base, verdict: 'blocked', route: 'dns', message: `the MX lookup of ${domain} fails: mail stays queued until it works`, ...(sender === 'exo' ? { code: EXO_DNS } : {}) };
  }
  const hosts = mx.hosts.map((h) => judgeHost(sender, h, facts));
  // Only a probe seen to work makes a host usable; one DNS and policy allow but nobody probed is untested.
  const usable = hosts.filter((h) => h.usable && !h.untested);
  const untested = hosts.filter((h) => h.untested);
  const failed = hosts.filter((h) => !h.usable || h.partial);
  const route: SenderResult['route'] = hosts.some((h) => h.route === 'dane') ? 'dane' : hosts.some((h) => h.route === 'mta-sts') ? 'mta-sts' : 'plain';
  const verdict: SenderVerdict = usable.length > 0 ? (failed.length ? 'delayed' : 'deliver') : untested.length > 0 ? 'unknown' : 'blocked';
  const problems = failed.map((h) => (h.problem?.startsWith(`${h.host} `) && !h.usable ? h.problem : `${h.host}${h.usable ? ' (partly)' : ''}: ${h.problem}`));
  let code: string | undefined;
  if (sender === 'exo' && (verdict === 'delayed' || verdict === 'blocked')) {
    code = usable.length === 0 && hosts.every((h) => h.mtaSts) ? `4.4.8 MX hosts of ${domain} failed MTA-STS validation` : failed.find((h) => h.exo)?.exo;
  }
  const via = (list: HostOutcome[]) => [...new Set(list.map((h) => ROUTE_WORDS[h.route]))].join(', ');
  const skipped = hosts.flatMap((h) => (h.notProbed ? [`${h.host} ${h.notProbed.join(', ')}`] : []));
  const unobserved = skipped.length ? `; not probed: ${skipped.join('; ')}` : '';
  const failures = problems.length ? ` after failures: ${problems.join('; ')}` : '';
  const message =
    verdict === 'deliver'
      ? `delivers to ${usable[0]!.host} (${via(usable)})${unobserved}`
      : verdict === 'delayed'
        ? `delivers to ${usable.map((h) => h.host).join(', ')} (${via(usable)})${failures}${unobserved}`
        : verdict === 'unknown'
          ? `not known: DNS and policy leave ${untested.map((h) => h.host).join(', ')} (${via(untested)}), but it was not probed over SMTP (${skipped.join('; ')}), so whether it takes the mail was not observed${failures}`
          : `no usable MX, mail stays queued: ${problems.join('; ')}`;
  const usableMx = (verdict === 'unknown' ? untested : usable).map((h) => h.host);
  return { ...base, verdict, route, ...(code ? { code } : {}), message, usableMx };
}

/** One verdict per requested sender, in the order asked. */
export function senderVerdicts(facts: SenderFacts, senders: readonly Sender[]): SenderResult[] {
  return senders.map((s) => oneSender(s, facts));
}
