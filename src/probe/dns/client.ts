/**
 * The DNS client domain mode asks: one validating resolver, reached directly so that the AD
 * bit, the RCODE and Extended DNS Errors reach us (Node's `dns` hides all three). UDP with one
 * retry, TCP when the reply is truncated. The caller's AbortSignal is the deadline of the whole
 * query; each try also has its own timeout so that a lost datagram leaves time for the retry.
 * Nothing the network or the resolver does makes `query` throw: such failures come back as
 * answers with rcode TIMEOUT or ERROR and an `error` text.
 */
import { parseIpLiteral } from '../host.js';
import { tcpTry, udpTry, type Outcome, type ResolverAddress } from './transport.js';
import type { DnsAnswer, DnsClient, RRType } from './types.js';
import { answerOf, buildQuery, failedAnswer, nameProblem, normalizeName, truncated } from './wire.js';

export type { ResolverAddress } from './transport.js';

export interface DnsClientOptions {
  /** Timeout of one UDP or TCP try, in ms (default 2000). The signal still bounds the whole query. */
  tryTimeoutMs?: number;
  /** UDP tries before giving up (default 2: one retry). */
  udpTries?: number;
}

/** `IP:port`, with brackets around an IPv6 address. */
export function resolverText(server: ResolverAddress): string {
  return server.address.includes(':') ? `[${server.address}]:${server.port}` : `${server.address}:${server.port}`;
}

function explain(o: Exclude<Outcome, { kind: 'reply' }>, tries: number): string {
  const base = o.kind === 'error'
    ? o.error
    : o.aborted ? 'the deadline passed before a reply came' : `no reply after ${tries} ${tries === 1 ? 'try' : 'tries'}`;
  return o.ignored ? `${base} (ignored ${o.ignored})` : base;
}

export function createDnsClient(server: ResolverAddress, options: DnsClientOptions = {}): DnsClient {
  const tryMs = options.tryTimeoutMs ?? 2000;
  const udpTries = Math.max(1, options.udpTries ?? 2);
  const label = resolverText(server);

  async function query<T extends RRType>(rawName: string, type: T, signal: AbortSignal): Promise<DnsAnswer<T>> {
    const name = normalizeName(rawName);
    const base = { name, type, server: label };
    const problem = nameProblem(name);
    if (problem) return failedAnswer(base, 'ERROR', `the name ${JSON.stringify(rawName)} ${problem}`);
    const q = buildQuery(name, type);
    let last: Exclude<Outcome, { kind: 'reply' }> = { kind: 'timeout', aborted: signal.aborted };
    let tries = 0;
    while (tries < udpTries && !signal.aborted) {
      tries++;
      let o = await udpTry(q, server, tryMs, signal);
      if (o.kind === 'reply' && truncated(o.reply)) o = await tcpTry(q, server, tryMs, signal);
      if (o.kind === 'reply') return answerOf(q as typeof q & { type: T }, o.reply, label);
      last = o;
      if (o.kind === 'timeout' && o.aborted) break;
    }
    if (signal.aborted && last.kind === 'timeout') last = { ...last, aborted: true };
    return failedAnswer(base, last.kind === 'error' ? 'ERROR' : 'TIMEOUT', explain(last, tries));
  }

  return { query, server: label };
}

const RESOLVER_FORM = 'an IP address, IP:PORT or [IPv6]:PORT (--resolver, dns.resolver)';

/**
 * The resolver as a user writes it: `IP`, `IP:PORT` or `[IPv6]:PORT` (a bare IPv6 address is
 * taken whole); port 53 by default. Names are refused: the resolver is what resolves names.
 * Throws an Error naming --resolver and dns.resolver.
 */
export function parseResolverAddress(text: string): ResolverAddress {
  const bad = (why: string) => new Error(`resolver ${JSON.stringify(text)} ${why}: expected ${RESOLVER_FORM}`);
  const whole = parseIpLiteral(text);
  if (whole) return { address: whole.address, port: 53 };
  const m = /^\[([^\]]+)\]:(.*)$/.exec(text) ?? /^([^:[\]]+):(.*)$/.exec(text);
  if (!m) throw bad('is not an IP address');
  const host = parseIpLiteral(m[1]!);
  if (!host) throw bad('is not an IP address');
  if (text.startsWith('[') !== (host.family === 6)) throw bad('puts brackets around an IPv4 address or none around an IPv6 address with a port');
  const port = m[2]!;
  if (!/^[1-9]\d{0,4}$/.test(port) || Number(port) > 65535) throw bad(`has a port "${port}" that is not a number from 1 to 65535`);
  return { address: host.address, port: Number(port) };
}

/**
 * The first `nameserver` of a resolv.conf text, or null when there is none usable. Comments
 * (`#`, `;`) and a zone ID on a link-local IPv6 address (which names a local interface) make
 * the line unusable, as does anything that is not an IP address.
 */
export function resolverFromResolvConf(text: string): ResolverAddress | null {
  for (const line of text.split(/\r?\n/)) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line.replace(/[#;].*$/, ''));
    const ip = m ? parseIpLiteral(m[1]!) : null;
    if (ip) return { address: ip.address, port: 53 };
  }
  return null;
}

/**
 * Whether the resolver validates DNSSEC: the DNSKEY of the domain's top-level zone, then of
 * the root, must come back with AD. true: one did. false: a NOERROR or NXDOMAIN came back
 * without AD. null: no conclusive reply (timeouts, errors, SERVFAIL, REFUSED), so nothing is
 * known about validation.
 */
export async function checkValidating(dns: DnsClient, domain: string, signal: AbortSignal): Promise<boolean | null> {
  const labels = normalizeName(domain).split('.');
  const tld = labels[labels.length - 1]!;
  let answered = false;
  for (const zone of tld === '.' || tld === '' ? ['.'] : [tld, '.']) {
    const a = await dns.query(zone, 'DNSKEY', signal);
    if (a.ad) return true;
    if (a.rcode === 'NOERROR' || a.rcode === 'NXDOMAIN') answered = true;
  }
  return answered ? false : null;
}
