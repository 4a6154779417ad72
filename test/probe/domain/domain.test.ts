/**
 * probeDomain end to end with an in-memory resolver: real SMTP servers on 127.0.0.2/.3, real
 * TLS, certificates minted now, TLSA records computed from them. What DNSSEC itself does is
 * the lab's (test/cli/domain.test.ts); here the orchestration: which lookups are made, which
 * addresses are probed with which TLSA records, the deadline, refusal, and settled severities.
 */
import { createHash, X509Certificate } from 'node:crypto';
import t from 'tap';
import { probeDomain } from '../../../src/probe/domain/domain.js';
import type { DomainTarget } from '../../../src/probe/domain/types.js';
import { keyPair, pki, type Minted, type Pki } from '../../helpers/certs.js';
import { fakeSmtp, type FakeSmtp } from '../../helpers/fake-smtp.js';
import { addr, answeringDns, mx, type Answer } from '../../helpers/dns-answers.js';

const D = 'example.test';
let ca: Pki;
let mx1Cert: Minted;
let mx2Cert: Minted;
let other: Minted;
t.before(async () => {
  ca = await pki('Lab');
  // Fresh keys: TLSA 3 1 1 tells certificates apart by their key only.
  const fresh = () => keyPair({ type: 'ec' }, 'SHA-256', true);
  mx1Cert = await ca.leaf({ subject: 'CN=mx1.example.test', dns: ['mx1.example.test'], keys: await fresh() });
  mx2Cert = await ca.leaf({ subject: 'CN=mx2.example.test', dns: ['mx2.example.test'], keys: await fresh() });
  other = await ca.leaf({ subject: 'CN=other.example.test', dns: ['other.example.test'], keys: await fresh() });
});

/** `3 1 1` data of a certificate: SHA-256 of its SubjectPublicKeyInfo. */
function spkiSha256(m: Minted): string {
  const spki = new X509Certificate(m.certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(spki).digest('hex');
}
const eeRecord = (m: Minted) => ({ usage: 3, selector: 1, matchingType: 1, data: spkiSha256(m) });

async function servers(certs: Minted[]): Promise<FakeSmtp[]> {
  const out: FakeSmtp[] = [];
  for (const [i, c] of certs.entries()) {
    out.push(await fakeSmtp({ host: `127.0.0.${i + 2}`, port: out[0]?.port ?? 0, tls: { key: c.keyPem, cert: c.certPem + ca.intermediate.certPem } }));
  }
  return out;
}

function target(port: number, over: Partial<DomainTarget> = {}): DomainTarget {
  return { domain: D, senders: ['rfc', 'exo'], smtp: true, expect: {}, ca: ca.root.certPem, probe: { ehloName: 'probe.test', warnDays: 30, minTlsVersion: 'TLSv1.2', port }, ...over };
}

/** Two MX hosts at 127.0.0.2 and .3, all signed, with MTA-STS and TLS-RPT absent unless given. */
function zone(extra: Record<string, Answer> = {}): Record<string, Answer> {
  return {
    'test SOA': { records: [{ mname: 'ns.test' }] },
    [`${D} MX`]: { records: [mx(10, 'mx1.example.test'), mx(20, 'mx2.example.test')] },
    'mx1.example.test A': { records: [addr('127.0.0.2')] },
    'mx2.example.test A': { records: [addr('127.0.0.3')] },
    [`_mta-sts.${D} TXT`]: { rcode: 'NXDOMAIN' },
    [`_smtp._tls.${D} TXT`]: { records: [{ text: 'v=TLSRPTv1; rua=mailto:tlsrpt@example.test' }] },
    ...extra,
  };
}

const codes = (r: { reasons: Array<{ code: string; mx?: string; severity: string }> }) => r.reasons.map((x) => `${x.code}${x.mx ? `@${x.mx}` : ''}:${x.severity}`).sort();

t.test('DANE-EE on mx1 matches, mx2 has no TLSA: delivered; the served chain matched per address', async (t) => {
  const s = await servers([mx1Cert, mx2Cert]);
  t.teardown(() => Promise.all(s.map((x) => x.close())));
  const dns = answeringDns(zone({ '_25._tcp.mx1.example.test TLSA': { records: [eeRecord(mx1Cert), eeRecord(other)] }, '_25._tcp.mx2.example.test TLSA': { rcode: 'NXDOMAIN' } }));
  const r = await probeDomain(target(s[0]!.port), { dns, timeoutMs: 10_000 });
  t.equal(r.status, 'ok', JSON.stringify(r.reasons));
  t.same(codes(r), []);
  t.same(r.resolver, { server: '127.0.0.1:53', validating: true });
  const [h1, h2] = r.mx.hosts;
  t.equal(h1!.tlsa?.records.length, 2);
  const dane = h1!.addresses[0]!.probe!.dane!;
  t.equal(dane.authenticated, true);
  t.equal(dane.sni, 'mx1.example.test');
  t.same(dane.matches.map((m) => [m.matched, m.against]), [[true, 'leaf SPKI'], [false, null]]);
  t.same(h2!.tlsa, { rcode: 'NXDOMAIN', dnssec: 'secure', records: [] });
  t.equal(h2!.addresses[0]!.probe!.dane, undefined, 'no TLSA, no DANE facts');
  t.same(s.map((x) => x.sniSeen), [['mx1.example.test'], ['mx2.example.test']], 'SNI = the TLSA base domain');
  t.same(r.senders.map((x) => [x.sender, x.verdict, x.route]), [['rfc', 'deliver', 'dane'], ['exo', 'deliver', 'dane']]);
});

t.test('DANE mismatch on the only usable MX: blocked, critical; absorbed by mx2: delayed, warning', async (t) => {
  const s = await servers([mx1Cert, mx2Cert]);
  t.teardown(() => Promise.all(s.map((x) => x.close())));
  const only = await probeDomain(target(s[0]!.port), {
    dns: answeringDns(zone({ [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] }, '_25._tcp.mx1.example.test TLSA': { records: [eeRecord(other)] } })),
    timeoutMs: 10_000,
  });
  t.equal(only.status, 'critical');
  t.same(codes(only), ['dane_no_rollover@mx1.example.test:warning', 'dane_tlsa_mismatch@mx1.example.test:critical']);
  t.same(only.senders.map((x) => [x.verdict, x.code]), [['blocked', undefined], ['blocked', '4.7.323 tlsa-invalid']]);

  const two = await probeDomain(target(s[0]!.port), { dns: answeringDns(zone({ '_25._tcp.mx1.example.test TLSA': { records: [eeRecord(other)] } })), timeoutMs: 10_000 });
  t.equal(two.status, 'warning');
  t.same(codes(two), ['dane_no_rollover@mx1.example.test:warning', 'dane_tlsa_mismatch@mx1.example.test:warning']);
  t.same(two.senders.map((x) => [x.verdict, x.usableMx]), [['delayed', ['mx2.example.test']], ['delayed', ['mx2.example.test']]]);
});

t.test('TLSA looked up only for hosts with secure addresses; insecure MX with secure TLSA: RFC and Exchange Online differ', async (t) => {
  const s = await servers([mx1Cert, mx2Cert]);
  t.teardown(() => Promise.all(s.map((x) => x.close())));
  const dns = answeringDns(
    zone({
      [`${D} MX`]: { records: [mx(10, 'mx1.example.test'), mx(20, 'mx2.example.test')], security: 'insecure' },
      'mx2.example.test A': { records: [addr('127.0.0.3')], security: 'insecure' },
      '_25._tcp.mx1.example.test TLSA': { records: [eeRecord(other)] },
    }),
  );
  const r = await probeDomain(target(s[0]!.port, { expect: { dane: true } }), { dns, timeoutMs: 10_000 });
  t.notOk(dns.asked.includes('_25._tcp.mx2.example.test TLSA'), 'no TLSA lookup for an insecure host');
  t.equal(r.mx.hosts[1]!.tlsa, null);
  t.ok(codes(r).includes('dane_mx_insecure@mx1.example.test:warning'));
  t.ok(codes(r).includes('dane_tlsa_mismatch@mx1.example.test:warning'), 'absorbed by mx2 for the RFC sender');
  t.ok(r.reasons.some((x) => x.code === 'expect_mismatch' && /mx2\.example\.test/.test(x.message)));
  const [rfc, exo] = r.senders;
  t.equal(rfc!.verdict, 'delayed', 'RFC: DANE on mx1 fails, mx2 takes it');
  t.equal(exo!.verdict, 'deliver', 'Exchange Online: no DANE with an insecure MX');
});

t.test('a resolver that does not validate: unknown, no TLSA asked, no DNSSEC state claimed', async (t) => {
  const s = await servers([mx1Cert, mx2Cert]);
  t.teardown(() => Promise.all(s.map((x) => x.close())));
  const insecure = Object.fromEntries(Object.entries(zone()).map(([k, v]) => [k, { ...v, security: 'insecure' as const }]));
  const r = await probeDomain(target(s[0]!.port), { dns: answeringDns(insecure, { security: 'insecure' }), timeoutMs: 10_000 });
  t.equal(r.status, 'unknown');
  t.equal(r.resolver.validating, false);
  t.same(codes(r), ['resolver_not_validating:unknown']);
  t.equal(r.mx.dnssec, 'indeterminate');
  t.same(r.mx.hosts.map((h) => [h.dnssec, h.tlsa]), [['indeterminate', null], ['indeterminate', null]]);
});

t.test('refused addresses are never connected to; --no-smtp connects nowhere', async (t) => {
  const s = await servers([mx1Cert, mx2Cert]);
  t.teardown(() => Promise.all(s.map((x) => x.close())));
  const r = await probeDomain(target(s[0]!.port), { dns: answeringDns(zone()), timeoutMs: 10_000, refuse: (a) => (a === '127.0.0.2' ? 'loopback' : null) });
  t.same(r.mx.hosts.map((h) => h.addresses.map((a) => [a.address, a.refused ?? null, a.probe ? a.probe.status : null])), [[['127.0.0.2', 'loopback', null]], [['127.0.0.3', null, 'ok']]]);
  t.equal(s[0]!.accepted(), 0);
  // mx2 was seen to work: delivered, and the refused address is only said.
  t.same(r.senders.map((x) => [x.sender, x.verdict]), [['rfc', 'deliver'], ['exo', 'deliver']]);
  t.match(r.senders[0]!.message, /not probed: mx1\.example\.test 127\.0\.0\.2 \(refused: loopback\)/);
  t.same(codes(r), ['mx_not_probed@mx1.example.test:info']);
  const none = await probeDomain(target(s[0]!.port, { smtp: false }), { dns: answeringDns(zone()), timeoutMs: 10_000 });
  t.same(none.mx.hosts.flatMap((h) => h.addresses.map((a) => a.probe)), [null, null]);
  t.equal(s[0]!.accepted() + s[1]!.accepted(), 1);
  // Nothing probed: no sender is said to deliver.
  t.same(none.senders.map((x) => [x.verdict, x.route, x.usableMx]), [['unknown', 'plain', ['mx1.example.test', 'mx2.example.test']], ['unknown', 'plain', ['mx1.example.test', 'mx2.example.test']]]);
  t.equal(none.senders[0]!.message, 'not known: DNS and policy leave mx1.example.test, mx2.example.test (opportunistic TLS), but it was not probed over SMTP (mx1.example.test 127.0.0.2; mx2.example.test 127.0.0.3), so whether it takes the mail was not observed');
  t.equal(none.status, 'ok', '--no-smtp asks for DNS and policy only: nothing is wrong with them');
});

t.test('the only MX refused by the address policy: no verdict claims delivery through DANE', async (t) => {
  const s = await servers([mx1Cert]);
  t.teardown(() => Promise.all(s.map((x) => x.close())));
  const one = zone({ [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] }, '_25._tcp.mx1.example.test TLSA': { records: [eeRecord(mx1Cert)] } });
  const r = await probeDomain(target(s[0]!.port), { dns: answeringDns(one), timeoutMs: 10_000, refuse: () => 'loopback' });
  t.equal(s[0]!.accepted(), 0);
  t.same(r.senders.map((x) => [x.sender, x.verdict, x.route, x.code ?? null]), [['rfc', 'unknown', 'dane', null], ['exo', 'unknown', 'dane', null]]);
  t.match(r.senders[0]!.message, /not known: DNS and policy leave mx1\.example\.test \(DANE\)/);
  t.equal(r.status, 'unknown');
  t.ok(codes(r).includes('mx_not_probed@mx1.example.test:unknown'), codes(r).join(' '));
});

t.test('one deadline for everything: a silent MX ends as mx_unreachable within it', async (t) => {
  const silent = await fakeSmtp({ host: '127.0.0.2', greeting: null });
  t.teardown(() => silent.close());
  const started = Date.now();
  const r = await probeDomain(target(silent.port), { dns: answeringDns(zone({ [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] } })), timeoutMs: 400 });
  t.ok(Date.now() - started < 3000, 'returned at the deadline');
  t.same(codes(r), ['mx_unreachable@mx1.example.test:critical']);
  t.equal(r.senders[1]!.code, '450 4.4.315 Connection timed out');
  await silent.drained(2000);
});

t.test('our own resolver does not answer: unknown, never a domain that is blocked', async (t) => {
  // A local outage (the resolver down or unreachable) says nothing about the domain: a
  // monitoring check must not page "mail blocked, critical" for it.
  for (const missing of [{ rcode: 'ERROR', error: 'recvmsg ECONNREFUSED' }, { hang: true }] as Answer[]) {
    const r = await probeDomain(target(25), { dns: answeringDns({}, { missing }), timeoutMs: 300 });
    t.equal(r.status, 'unknown', `${missing.rcode ?? 'silence'}: status`);
    t.equal(r.resolver.validating, null);
    t.notOk(r.reasons.some((x) => x.severity === 'critical' || x.severity === 'warning'), 'no reason claims a fault of the domain');
    t.same(r.senders.map((s) => [s.verdict, s.route]), [['unknown', 'dns'], ['unknown', 'dns']]);
    t.match(r.senders[0]!.message, /resolver 127\.0\.0\.1:53 did not answer/);
    t.notOk(r.senders.some((s) => s.code), 'no Exchange Online code is claimed');
  }
});

t.test('a domain that does not exist: domain_not_found alone, no TLS-RPT noise', async (t) => {
  const r = await probeDomain(target(25), { dns: answeringDns({}, { missing: { rcode: 'NXDOMAIN' } }), timeoutMs: 5000 });
  t.same(codes(r), ['domain_not_found:critical']);
  t.same(r.senders.map((s) => [s.verdict, s.route]), [['blocked', 'no-mx'], ['blocked', 'no-mx']]);
});

t.test('every domain reason code is in README with its severity', async (t) => {
  const { readFile } = await import('node:fs/promises');
  const { DOMAIN_REASONS } = await import('../../../src/probe/domain/reasons.js');
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  for (const [code, severity] of Object.entries(DOMAIN_REASONS)) {
    const row = readme.split('\n').find((l) => l.startsWith(`| \`${code}\` |`));
    t.equal(row?.split('|')[2]?.trim(), severity, `${code}: README row with severity ${severity}`);
  }
});

t.test('DANE makes STARTTLS mandatory: a server without it is dane_starttls_missing, 4.7.321', async (t) => {
  const { withoutStarttls, DEFAULT_EHLO } = await import('../../helpers/fake-smtp.js');
  const plain = await fakeSmtp({ host: '127.0.0.2', ehlo: withoutStarttls(DEFAULT_EHLO) });
  t.teardown(() => plain.close());
  const dns = answeringDns(zone({ [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] }, '_25._tcp.mx1.example.test TLSA': { records: [eeRecord(mx1Cert), eeRecord(other)] } }));
  const r = await probeDomain(target(plain.port), { dns, timeoutMs: 10_000 });
  t.same(codes(r), ['dane_starttls_missing@mx1.example.test:critical']);
  t.same(r.senders.map((s) => [s.verdict, s.code ?? null]), [['blocked', null], ['blocked', '4.7.321 starttls-not-supported']]);
  // Without TLSA the same server takes mail in clear from both senders.
  const noDane = await probeDomain(target(plain.port), { dns: answeringDns(zone({ [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] } })), timeoutMs: 10_000 });
  t.same(codes(noDane), []);
  t.same(noDane.senders.map((s) => s.verdict), ['deliver', 'deliver']);
});

t.test('judged from the facts: MX certificates under MTA-STS, expectations', async (t) => {
  const { addressReasons, expectationReasons } = await import('../../../src/probe/domain/judge.js');
  const probe = (codes: string[]) => ({ address: '192.0.2.1', reasons: codes.map((code) => ({ code, severity: 'critical', message: code })) }) as never;
  const host = (codes: string[], match: boolean | null) =>
    ({ host: 'mx1.example.test', preference: 10, implicit: false, cnames: [], dnssec: 'secure', addresses: [{ address: '192.0.2.1', dnssec: 'secure', probe: probe(codes) }], tlsa: null, mtaStsMatch: match }) as never;
  const sts = (mode: 'enforce' | 'testing' | null) => ({ record: { status: 'valid', rcode: 'NOERROR', dnssec: 'secure', raw: [] }, fetch: null, policy: null, mode }) as never;
  const judged = (codes: string[], match: boolean | null, mode: 'enforce' | 'testing' | null) => addressReasons(host(codes, match), sts(mode)).map((r) => `${r.code}:${r.severity}`);
  t.same(judged(['cert_self_signed'], true, 'enforce'), ['mta_sts_cert_invalid:critical']);
  t.same(judged(['cert_self_signed'], true, 'testing'), ['mta_sts_cert_invalid:warning']);
  t.same(judged(['starttls_not_offered'], true, 'enforce'), ['mta_sts_cert_invalid:critical']);
  t.same(judged(['cert_self_signed'], null, null), [], 'no policy: opportunistic TLS, nothing to say for senders');
  t.same(judged(['cert_self_signed'], false, 'enforce'), [], 'not covered: mta_sts_mx_mismatch says it');
  t.same(judged(['connect_refused'], true, 'enforce'), ['mx_unreachable:critical']);

  const mxFacts = { kind: 'explicit', rcode: 'NOERROR', dnssec: 'secure', hosts: [] } as never;
  const found = (mode: 'enforce' | null, record: string, rpt: string) => ({ mx: mxFacts, mtaSts: { ...(sts(mode) as object), record: { status: record } }, tlsRpt: { status: rpt }, validating: true }) as never;
  const messages = (expect: object, f: never) => expectationReasons(expect, f).map((r) => r.message);
  t.same(messages({ mtaSts: 'enforce' }, found(null, 'absent', 'valid')), ['MTA-STS: expected enforce, found absent']);
  t.same(messages({ mtaSts: 'absent' }, found(null, 'absent', 'valid')), []);
  t.same(messages({ mtaSts: 'enforce' }, found(null, 'multiple', 'valid')), ['MTA-STS: expected enforce, found no policy (record multiple)']);
  t.same(messages({ tlsRpt: true }, found(null, 'absent', 'absent')), ['TLS-RPT: expected a valid record, found absent']);
  t.same(messages({ dane: true }, found(null, 'absent', 'valid')), ['DANE: expected on every MX, but there is no MX host']);
});
