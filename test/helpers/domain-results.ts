/**
 * Canned DomainResults for the service's tests (scheduler, API, metrics), standing in for
 * probeDomain: one healthy domain and one where everything that can go wrong does. Dates are
 * relative to now.
 */
import type { TlsaRecordFacts } from '../../src/probe/dane/types.js';
import type { DomainResult, DomainTarget } from '../../src/probe/domain/types.js';
import { domainReason } from '../../src/probe/domain/reasons.js';
import type { AddressResult } from '../../src/probe/types.js';
import type { DomainProbeFn } from '../../src/scheduler/scheduler.js';

const DAY = 86_400_000;
export const iso = (msFromNow: number) => new Date(Date.now() + msFromNow).toISOString();

function tlsa(usage: number, data: string): TlsaRecordFacts {
  return { usage, selector: 1, matchingType: 1, data, usability: 'usable', text: `${usage} 1 1 ${data.slice(0, 12)}…` };
}

/** An address that answered SMTP and TLS; `dane` when TLSA applied. */
function smtpAddress(address: string, dane?: { record: TlsaRecordFacts; matched: boolean }): AddressResult {
  return {
    address,
    status: dane && !dane.matched ? 'critical' : 'ok',
    reasons: [],
    timings: { connectMs: 1, totalMs: 12 },
    smtp: { greeting: '220 mx ESMTP', ehloHost: 'mx', extensions: ['STARTTLS'] },
    tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', servername: null, authorizationError: null },
    certificate: null,
    chain: [],
    names: [],
    exchangeOnline: null,
    remediation: [],
    ...(dane
      ? {
          dane: {
            sni: 'mx',
            matches: [{ record: dane.record, matched: dane.matched, depth: dane.matched ? 0 : null, against: dane.matched ? 'leaf SPKI' : null }],
            authenticated: dane.matched,
            ...(dane.matched ? {} : { problem: 'no usable record matched' }),
          },
        }
      : {}),
  };
}

/** example.test: two MX, DNSSEC, DANE with a rollover record, MTA-STS enforce covering both, TLS-RPT. */
export function healthyDomain(domain = 'example.test'): DomainResult {
  const current = tlsa(3, 'aa'.repeat(32));
  const next = tlsa(3, 'bb'.repeat(32));
  const mx = (host: string, preference: number, address: string) => ({
    host,
    preference,
    implicit: false,
    cnames: [],
    dnssec: 'secure' as const,
    signatureExpires: iso(20 * DAY),
    addresses: [{ address, dnssec: 'secure' as const, probe: smtpAddress(address, { record: current, matched: true }) }],
    tlsa: { rcode: 'NOERROR', dnssec: 'secure' as const, records: [current, next], signatureExpires: iso(21 * DAY) },
    mtaStsMatch: true,
    mtaStsPattern: `*.${domain}`,
  });
  return {
    domain,
    status: 'ok',
    startedAt: iso(-1000),
    durationMs: 420,
    resolver: { server: '127.0.0.1:5353', validating: true },
    reasons: [],
    mx: {
      kind: 'explicit',
      rcode: 'NOERROR',
      dnssec: 'secure',
      signatureExpires: iso(10 * DAY),
      hosts: [mx(`mx1.${domain}`, 10, '127.0.0.2'), mx(`mx2.${domain}`, 20, '127.0.0.3')],
    },
    mtaSts: {
      record: { status: 'valid', rcode: 'NOERROR', dnssec: 'secure', raw: ['v=STSv1; id=20260101'], id: '20260101' },
      fetch: {
        url: `https://mta-sts.${domain}/.well-known/mta-sts.txt`,
        address: '127.0.0.4',
        status: 200,
        contentType: 'text/plain',
        bytes: 80,
        certificate: { subject: `CN=mta-sts.${domain}`, issuer: 'CN=Lab CA', notAfter: iso(60 * DAY), dnsNames: [`mta-sts.${domain}`], authorizationError: null },
        durationMs: 30,
      },
      policy: { version: 'STSv1', mode: 'enforce', maxAge: 86400, mx: [`*.${domain}`] },
      mode: 'enforce',
    },
    tlsRpt: { status: 'valid', rcode: 'NOERROR', dnssec: 'secure', raw: [`v=TLSRPTv1; rua=mailto:tls@${domain}`], rua: [`mailto:tls@${domain}`] },
    senders: [
      { sender: 'rfc', verdict: 'deliver', route: 'dane', message: 'DANE authenticates every MX', usableMx: [`mx1.${domain}`, `mx2.${domain}`] },
      { sender: 'exo', verdict: 'deliver', route: 'dane', message: 'DANE authenticates every MX', usableMx: [`mx1.${domain}`, `mx2.${domain}`] },
    ],
  };
}

/**
 * broken.test: mx1's TLSA does not match what it serves, mx2's TLSA is bogus, the MTA-STS
 * policy cannot be fetched, no TLS-RPT; both senders blocked.
 */
export function brokenDomain(domain = 'broken.test'): DomainResult {
  const wrong = tlsa(3, 'cc'.repeat(32));
  const mx1 = `mx1.${domain}`;
  const mx2 = `mx2.${domain}`;
  return {
    domain,
    status: 'critical',
    startedAt: iso(-2000),
    durationMs: 1800,
    resolver: { server: '127.0.0.1:5353', validating: true },
    reasons: [
      domainReason('dane_tlsa_mismatch', 'no TLSA record matches the certificate served', { mx: mx1, address: '127.0.0.5' }),
      domainReason('dane_no_rollover', 'one TLSA record only', { mx: mx1 }),
      domainReason('dnssec_bogus', 'the TLSA RRset failed validation (EDE 6)', { mx: mx2 }),
      domainReason('mta_sts_policy_fetch_failed', 'HTTP 404'),
      domainReason('tls_rpt_missing', 'no _smtp._tls record'),
    ],
    mx: {
      kind: 'explicit',
      rcode: 'NOERROR',
      dnssec: 'secure',
      signatureExpires: iso(2 * DAY),
      hosts: [
        {
          host: mx1,
          preference: 10,
          implicit: false,
          cnames: [],
          dnssec: 'secure',
          addresses: [{ address: '127.0.0.5', dnssec: 'secure', probe: smtpAddress('127.0.0.5', { record: wrong, matched: false }) }],
          tlsa: { rcode: 'NOERROR', dnssec: 'secure', records: [wrong] },
          mtaStsMatch: null,
        },
        {
          host: mx2,
          preference: 20,
          implicit: false,
          cnames: [],
          dnssec: 'secure',
          addresses: [{ address: '127.0.0.6', dnssec: 'secure', probe: null, refused: 'loopback' }],
          tlsa: { rcode: 'SERVFAIL', dnssec: 'bogus', records: [] },
          mtaStsMatch: null,
        },
      ],
    },
    mtaSts: {
      record: { status: 'valid', rcode: 'NOERROR', dnssec: 'insecure', raw: ['v=STSv1; id=1'], id: '1' },
      fetch: { url: `https://mta-sts.${domain}/.well-known/mta-sts.txt`, address: '127.0.0.7', status: 404, error: 'HTTP 404', durationMs: 20 },
      policy: null,
      mode: null,
    },
    tlsRpt: { status: 'absent', rcode: 'NXDOMAIN', dnssec: 'secure', raw: [], rua: [] },
    senders: [
      { sender: 'rfc', verdict: 'blocked', route: 'dane', message: 'no MX passes DANE', usableMx: [] },
      { sender: 'exo', verdict: 'blocked', route: 'dane', code: '4.7.323 tlsa-invalid', message: 'no MX passes DANE', usableMx: [] },
    ],
  };
}

/**
 * A stand-in for probeDomain: answers `results[domain]` (or a healthy result), records each call
 * with its options, and fails for a domain mapped to an Error.
 */
export function fakeProbeDomain(results: Record<string, DomainResult | Error> = {}) {
  const calls: Array<{ target: DomainTarget; timeoutMs: number; refuse?: (address: string) => string | null }> = [];
  const probe: DomainProbeFn = async (target, options) => {
    calls.push({ target, timeoutMs: options.timeoutMs, ...(options.refuse ? { refuse: options.refuse } : {}) });
    const r = results[target.domain];
    if (r instanceof Error) throw r;
    return { ...(r ?? healthyDomain(target.domain)), startedAt: new Date().toISOString() };
  };
  return { probe, calls };
}
