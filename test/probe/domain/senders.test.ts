/**
 * Sender verdicts from facts (pure): RFC 7672 + RFC 8461 sender vs Exchange Online, one row per
 * rule, asserting verdict, route, Exchange Online's code and the usable MX hosts.
 */
import t from 'tap';
import { senderVerdicts, type SenderFacts } from '../../../src/probe/domain/senders.js';
import type { MtaStsFacts, MxFacts, MxHost } from '../../../src/probe/domain/types.js';
import type { DnsSecurity } from '../../../src/probe/dns/types.js';
import type { AddressResult } from '../../../src/probe/types.js';
import type { DaneAddressFacts, TlsaRecordFacts } from '../../../src/probe/dane/types.js';

const EE: TlsaRecordFacts = { usage: 3, selector: 1, matchingType: 1, data: 'ab'.repeat(32), usability: 'usable', text: '3 1 1 abababababab…' };
const PKIX: TlsaRecordFacts = { usage: 1, selector: 1, matchingType: 1, data: 'cd'.repeat(32), usability: 'unusable', unusableWhy: 'pkix-ee', text: '1 1 1 cdcdcdcdcdcd…' };

function probe(address: string, codes: string[] = [], dane?: Partial<DaneAddressFacts>): AddressResult {
  return {
    address,
    status: codes.length ? 'critical' : 'ok',
    reasons: codes.map((code) => ({ code, severity: 'critical', message: code })),
    timings: { totalMs: 1 },
    smtp: { extensions: [] },
    tls: null,
    certificate: null,
    chain: [],
    names: [],
    exchangeOnline: null,
    remediation: [],
    ...(dane ? { dane: { sni: 'x', matches: [], authenticated: false, ...dane } } : {}),
  } as AddressResult;
}

interface HostSpec {
  dnssec?: DnsSecurity;
  probes?: Array<AddressResult | null>;
  tlsa?: MxHost['tlsa'];
  match?: boolean | null;
  noAddress?: boolean;
}

function host(name: string, preference: number, s: HostSpec = {}): MxHost {
  const probes = s.noAddress ? [] : (s.probes ?? [probe('192.0.2.1')]);
  return {
    host: name,
    preference,
    implicit: false,
    cnames: [],
    dnssec: s.dnssec ?? 'secure',
    addresses: probes.map((p, i) => ({ address: p?.address ?? `192.0.2.${100 + i}`, dnssec: s.dnssec ?? 'secure', probe: p })),
    tlsa: s.tlsa ?? null,
    mtaStsMatch: s.match ?? null,
  };
}

const noSts: MtaStsFacts = { record: { status: 'absent', rcode: 'NXDOMAIN', dnssec: 'secure', raw: [] }, fetch: null, policy: null, mode: null };
const sts = (mode: 'enforce' | 'testing'): MtaStsFacts => ({
  record: { status: 'valid', rcode: 'NOERROR', dnssec: 'secure', raw: ['v=STSv1; id=1'], id: '1' },
  fetch: { url: 'https://mta-sts.example.test/.well-known/mta-sts.txt', status: 200, durationMs: 1 },
  policy: { version: 'STSv1', mode, maxAge: 86400, mx: ['mx1.example.test'] },
  mode,
});
const secureTlsa = (records = [EE]): MxHost['tlsa'] => ({ rcode: 'NOERROR', dnssec: 'secure', records });

function facts(hosts: MxHost[], o: { mtaSts?: MtaStsFacts; mxDnssec?: DnsSecurity; kind?: MxFacts['kind']; validating?: boolean | null } = {}): SenderFacts {
  return {
    domain: 'example.test',
    mx: { kind: o.kind ?? 'explicit', rcode: 'NOERROR', dnssec: o.mxDnssec ?? 'secure', hosts },
    mtaSts: o.mtaSts ?? noSts,
    validating: o.validating ?? true,
  };
}

type Expect = [verdict: string, route: string, code?: string, usable?: string[]];
interface Row { name: string; facts: SenderFacts; rfc: Expect; exo: Expect }

const authenticated = { matches: [{ record: EE, matched: true, depth: 0, against: 'leaf SPKI' }], authenticated: true };
const mismatched = { matches: [{ record: EE, matched: false, depth: null, against: null }], authenticated: false, problem: 'no usable record matched' };

const rows: Row[] = [
  { name: 'plain MX, all well', facts: facts([host('mx1.example.test', 10)]), rfc: ['deliver', 'plain'], exo: ['deliver', 'plain'] },
  { name: 'plain MX without STARTTLS: both deliver in clear', facts: facts([host('mx1.example.test', 10, { probes: [probe('192.0.2.1', ['starttls_not_offered'])] })]), rfc: ['deliver', 'plain'], exo: ['deliver', 'plain'] },
  {
    name: 'plain, the first MX refuses, the second takes it: delayed',
    facts: facts([host('mx1.example.test', 10, { probes: [probe('192.0.2.1', ['connect_refused'])] }), host('mx2.example.test', 20)]),
    rfc: ['delayed', 'plain', undefined, ['mx2.example.test']],
    exo: ['delayed', 'plain', '450 4.4.316 Connection refused', ['mx2.example.test']],
  },
  {
    name: 'plain, every MX times out: blocked',
    facts: facts([host('mx1.example.test', 10, { probes: [probe('192.0.2.1', ['connect_timeout'])] })]),
    rfc: ['blocked', 'plain', undefined, []],
    exo: ['blocked', 'plain', '450 4.4.315 Connection timed out', []],
  },
  {
    name: 'one address of two fails: delayed, the host still used',
    facts: facts([host('mx1.example.test', 10, { probes: [probe('192.0.2.1', ['connect_refused']), probe('192.0.2.2')] })]),
    rfc: ['delayed', 'plain', undefined, ['mx1.example.test']],
    exo: ['delayed', 'plain', '450 4.4.316 Connection refused', ['mx1.example.test']],
  },
  { name: 'DANE-EE match', facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', [], authenticated)] })]), rfc: ['deliver', 'dane'], exo: ['deliver', 'dane'] },
  { name: 'DANE mismatch', facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', [], mismatched)] })]), rfc: ['blocked', 'dane'], exo: ['blocked', 'dane', '4.7.323 tlsa-invalid'] },
  {
    name: 'MX insecure, TLSA secure and mismatching: RFC uses DANE (blocked), Exchange Online does not (delivers)',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', [], mismatched)] })], { mxDnssec: 'insecure' }),
    rfc: ['blocked', 'dane'],
    exo: ['deliver', 'plain'],
  },
  { name: 'DANE without STARTTLS', facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', ['starttls_not_offered'])] })]), rfc: ['blocked', 'dane'], exo: ['blocked', 'dane', '4.7.321 starttls-not-supported'] },
  {
    name: 'DANE-EE match on an expired certificate: RFC delivers, Exchange Online defers',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', ['cert_expired'], authenticated)] })]),
    rfc: ['deliver', 'dane'],
    exo: ['blocked', 'dane', '4.7.322 certificate-expired'],
  },
  {
    name: 'DANE-EE match on a misnamed certificate: Exchange Online says host mismatch',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', ['cert_name_mismatch', 'cert_self_signed'], authenticated)] })]),
    rfc: ['deliver', 'dane'],
    exo: ['blocked', 'dane', '4.7.325 certificate-host-mismatch'],
  },
  {
    name: 'DANE-TA anchor not sent',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', [], { ...mismatched, failure: 'ta-not-sent' })] })]),
    rfc: ['blocked', 'dane'],
    exo: ['blocked', 'dane', '4.7.323 tlsa-invalid'],
  },
  {
    name: 'DANE-TA matched, leaf out of date',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', [], { ...mismatched, failure: 'expired', leafInDate: false })] })]),
    rfc: ['blocked', 'dane'],
    exo: ['blocked', 'dane', '4.7.322 certificate-expired'],
  },
  {
    name: 'DANE-EE match, leaf names wrong (seen by the DANE facts)',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', [], { ...authenticated, leafNamesMatch: false, leafInDate: true })] })]),
    rfc: ['deliver', 'dane'],
    exo: ['blocked', 'dane', '4.7.325 certificate-host-mismatch'],
  },
  {
    name: 'only unusable TLSA records: TLS mandatory, unauthenticated, delivered',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa([PKIX]), probes: [probe('192.0.2.1', ['cert_self_signed'], { matches: [{ record: PKIX, matched: false, depth: null, against: null }] })] })]),
    rfc: ['deliver', 'dane'],
    exo: ['deliver', 'dane'],
  },
  {
    name: 'TLSA bogus: the MX is unusable, on the DANE route',
    facts: facts([host('mx1.example.test', 10, { tlsa: { rcode: 'SERVFAIL', dnssec: 'bogus', records: [] } }), host('mx2.example.test', 20)]),
    rfc: ['delayed', 'dane', undefined, ['mx2.example.test']],
    exo: ['delayed', 'dane', '4.7.324 dnssec-invalid', ['mx2.example.test']],
  },
  {
    name: 'TLSA SERVFAIL in a signed zone is not "no TLSA"',
    facts: facts([host('mx1.example.test', 10, { tlsa: { rcode: 'SERVFAIL', dnssec: 'indeterminate', records: [] } })]),
    rfc: ['blocked', 'dane'],
    exo: ['blocked', 'dane', '4.7.324 dnssec-invalid'],
  },
  {
    name: 'TLSA lookup timed out: unusable for RFC DANE senders even under an insecure MX; Exchange Online never asked',
    facts: facts([host('mx1.example.test', 10, { tlsa: { rcode: 'TIMEOUT', dnssec: 'indeterminate', records: [] } })], { mxDnssec: 'insecure' }),
    rfc: ['blocked', 'dane'],
    exo: ['deliver', 'plain'],
  },
  { name: 'TLSA insecure: ignored', facts: facts([host('mx1.example.test', 10, { tlsa: { rcode: 'NOERROR', dnssec: 'insecure', records: [EE] }, probes: [probe('192.0.2.1', [], mismatched)] })]), rfc: ['deliver', 'plain'], exo: ['deliver', 'plain'] },
  {
    name: 'host addresses bogus',
    facts: facts([host('mx1.example.test', 10, { dnssec: 'bogus' })]),
    rfc: ['blocked', 'plain'],
    exo: ['blocked', 'plain', '4.7.324 dnssec-invalid'],
  },
  {
    name: 'MTA-STS enforce not covering the second MX: delayed',
    facts: facts([host('mx1.example.test', 10, { match: true }), host('mx2.example.test', 20, { match: false })], { mtaSts: sts('enforce') }),
    rfc: ['delayed', 'mta-sts', undefined, ['mx1.example.test']],
    exo: ['delayed', 'mta-sts', '4.4.8 MX hosts of example.test failed MTA-STS validation', ['mx1.example.test']],
  },
  {
    name: 'MTA-STS enforce covering no MX: blocked, 4.4.8',
    facts: facts([host('mx1.example.test', 10, { match: false })], { mtaSts: sts('enforce') }),
    rfc: ['blocked', 'mta-sts'],
    exo: ['blocked', 'mta-sts', '4.4.8 MX hosts of example.test failed MTA-STS validation'],
  },
  {
    name: 'MTA-STS enforce with a self-signed MX certificate: blocked, 4.7.5',
    facts: facts([host('mx1.example.test', 10, { match: true, probes: [probe('192.0.2.1', ['cert_self_signed'])] })], { mtaSts: sts('enforce') }),
    rfc: ['blocked', 'mta-sts'],
    exo: ['blocked', 'mta-sts', '4.7.5 Remote certificate failed MTA-STS validation. Reason: cert_self_signed'],
  },
  {
    name: 'MTA-STS testing: delivered despite failures',
    facts: facts([host('mx1.example.test', 10, { match: false, probes: [probe('192.0.2.1', ['cert_self_signed'])] })], { mtaSts: sts('testing') }),
    rfc: ['deliver', 'mta-sts'],
    exo: ['deliver', 'mta-sts'],
  },
  {
    name: 'DANE takes precedence over MTA-STS for the RFC sender',
    facts: facts([host('mx1.example.test', 10, { match: false, tlsa: secureTlsa(), probes: [probe('192.0.2.1', [], authenticated)] })], { mtaSts: sts('enforce') }),
    rfc: ['deliver', 'dane'],
    exo: ['deliver', 'dane'],
  },
  {
    name: 'a resolver that does not validate: no DANE judged',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [probe('192.0.2.1', [], mismatched)] })], { validating: false }),
    rfc: ['deliver', 'plain'],
    exo: ['deliver', 'plain'],
  },
  // Not probed (--no-smtp, or refused on demand): DNS and policy cannot say the mail goes.
  { name: 'not probed: unknown, never deliver', facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [null] })]), rfc: ['unknown', 'dane', undefined, ['mx1.example.test']], exo: ['unknown', 'dane', undefined, ['mx1.example.test']] },
  {
    name: 'not probed, but the other MX is unusable by DNS: still unknown, not blocked',
    facts: facts([host('mx1.example.test', 10, { tlsa: { rcode: 'SERVFAIL', dnssec: 'bogus', records: [] } }), host('mx2.example.test', 20, { probes: [null] })]),
    rfc: ['unknown', 'dane', undefined, ['mx2.example.test']],
    exo: ['unknown', 'dane', undefined, ['mx2.example.test']],
  },
  {
    name: 'not probed, every MX unusable by DNS and policy alone: blocked',
    facts: facts([host('mx1.example.test', 10, { match: false, probes: [null] })], { mtaSts: sts('enforce') }),
    rfc: ['blocked', 'mta-sts'],
    exo: ['blocked', 'mta-sts', '4.4.8 MX hosts of example.test failed MTA-STS validation'],
  },
  {
    name: 'first MX not probed, second seen to work: deliver through the second',
    facts: facts([host('mx1.example.test', 10, { probes: [null] }), host('mx2.example.test', 20)]),
    rfc: ['deliver', 'plain', undefined, ['mx2.example.test']],
    exo: ['deliver', 'plain', undefined, ['mx2.example.test']],
  },
  {
    name: 'one address not probed, the other fails DANE: blocked on what was seen',
    facts: facts([host('mx1.example.test', 10, { tlsa: secureTlsa(), probes: [null, probe('192.0.2.1', [], mismatched)] })]),
    rfc: ['blocked', 'dane'],
    exo: ['blocked', 'dane', '4.7.323 tlsa-invalid'],
  },
  { name: 'MX host without address', facts: facts([host('mx1.example.test', 10, { noAddress: true })]), rfc: ['blocked', 'plain'], exo: ['blocked', 'plain', '450 4.4.312 DNS query failed'] },
  { name: 'null MX', facts: facts([], { kind: 'null' }), rfc: ['blocked', 'null-mx'], exo: ['blocked', 'null-mx', '556 5.1.10'] },
  { name: 'no MX, no address', facts: facts([], { kind: 'none' }), rfc: ['blocked', 'no-mx'], exo: ['blocked', 'no-mx'] },
  { name: 'MX lookup failed', facts: facts([], { kind: 'error' }), rfc: ['blocked', 'dns'], exo: ['blocked', 'dns', '450 4.4.312 DNS query failed'] },
];

for (const row of rows) {
  t.test(row.name, async (t) => {
    const [rfc, exo] = senderVerdicts(row.facts, ['rfc', 'exo']);
    for (const [got, want] of [[rfc!, row.rfc], [exo!, row.exo]] as const) {
      t.equal(got.verdict, want[0], `${got.sender} verdict (${got.message})`);
      t.equal(got.route, want[1], `${got.sender} route`);
      t.equal(got.code, want[2], `${got.sender} code`);
      if (want[3]) t.same(got.usableMx, want[3], `${got.sender} usable MX`);
      t.ok(got.message.length > 0);
    }
  });
}

t.test('a domain that does not exist is said so', async (t) => {
  const f = facts([], { kind: 'none' });
  f.mx.rcode = 'NXDOMAIN';
  t.match(senderVerdicts(f, ['rfc'])[0]!.message, /example\.test does not exist \(NXDOMAIN\): mail to it bounces/);
});

t.test('only the senders asked, in order', async (t) => {
  t.same(senderVerdicts(facts([host('mx1.example.test', 10)]), ['exo']).map((s) => s.sender), ['exo']);
});
