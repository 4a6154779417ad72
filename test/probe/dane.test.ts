/**
 * DANE for SMTP end to end: fake STARTTLS servers on loopback serve chains minted now, the
 * probe matches TLSA records computed here from those certificates, and `openssl s_client`
 * judges the same records against the same server: our `authenticated` must equal OpenSSL's
 * verification result in every case (the DANE code Postfix runs).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import t, { type Test } from 'tap';
import { daneReasons, rolloverReasons } from '../../src/probe/dane/dane-reasons.js';
import { hasRollover } from '../../src/probe/dane/tlsa.js';
import type { DaneAddressFacts } from '../../src/probe/dane/types.js';
import type { TlsaRecord } from '../../src/probe/dns/types.js';
import type { AddressResult, ProbeTarget } from '../../src/probe/types.js';
import { keyPair, mint, pki, type Minted, type Pki } from '../helpers/certs.js';
import { fakeSmtp, type FakeSmtpOptions } from '../helpers/fake-smtp.js';
import { probeFake } from '../helpers/probe.js';

const MX = 'mail.example.com';

let ca: Pki;
let leaf: Minted;
/** Expired 10 days ago and for another name. */
let staleOther: Minted;
let otherName: Minted;
let expired: Minted;
/** A key that is not served: the next one of a rollover, or a plain mismatch. */
let next: Minted;
/** A second PKI whose intermediate expired yesterday. */
let oldCa: { root: Minted; intermediate: Minted; leaf: Minted };
/** An issuer with basicConstraints cA:FALSE, and a leaf it signed. */
let notCa: Minted;
let underNotCa: Minted;
/** Subject CN=mail.example.com: without SANs, and with a SAN for another name. */
let cnOnly: Minted;
let cnAndOtherSan: Minted;

t.before(async () => {
  ca = await pki('Fabrikam');
  leaf = await ca.leaf({ subject: `CN=${MX}`, dns: [MX] });
  staleOther = await ca.leaf({ subject: 'CN=other.example.net', dns: ['other.example.net'], notBeforeDays: -100, notAfterDays: -10 });
  otherName = await ca.leaf({ subject: 'CN=other.example.net', dns: ['other.example.net'] });
  expired = await ca.leaf({ subject: `CN=${MX}`, dns: [MX], notBeforeDays: -100, notAfterDays: -1 });
  next = await mint({ subject: `CN=${MX}`, dns: [MX] });
  const root = await mint({ subject: 'O=Old, CN=Old Root', ca: true, notAfterDays: 3650 });
  const intermediate = await mint({ subject: 'O=Old, CN=Old Issuing CA', ca: true, issuer: root, notBeforeDays: -400, notAfterDays: -1 });
  oldCa = { root, intermediate, leaf: await mint({ subject: `CN=${MX}`, dns: [MX], issuer: intermediate, notAfterDays: 30 }) };
  notCa = await mint({ subject: 'CN=Not A CA', issuer: ca.root, basicConstraints: { ca: false }, keys: await keyPair({ type: 'ec' }, 'SHA-256', true) });
  underNotCa = await mint({ subject: `CN=${MX}`, dns: [MX], issuer: notCa });
  cnOnly = await ca.leaf({ subject: `CN=${MX}` });
  cnAndOtherSan = await ca.leaf({ subject: `CN=${MX}`, dns: ['other.example.net'] });
});

/** The association data, computed with @peculiar/x509's encodings (not the code under test). */
function rec(usage: number, selector: number, matchingType: number, m: Minted): TlsaRecord {
  const selected = Buffer.from(selector === 0 ? m.cert.rawData : m.cert.publicKey.rawData);
  const data = matchingType === 0 ? selected : createHash(matchingType === 1 ? 'sha256' : 'sha512').update(selected).digest();
  return { usage, selector, matchingType, data: data.toString('hex') };
}

const served = (...certs: Minted[]) => ({ key: certs[0]!.keyPem, cert: certs.map((c) => c.certPem).join('') });

interface OpenSsl {
  ok: boolean;
  output: string;
}

/**
 * OpenSSL's DANE verdict on the same server: no PKIX roots at all (-no-CA*), so only the
 * TLSA records can authenticate. -dane_ee_no_namechecks is how Postfix runs it: RFC 7672
 * §3.1.1 ignores names (and dates) for DANE-EE(3). A record OpenSSL cannot use is refused at
 * load time ("Failed to import any TLSA records" when none is left): not authenticated either.
 */
function openssl(port: number, records: readonly TlsaRecord[]): Promise<OpenSsl> {
  const args = ['s_client', '-starttls', 'smtp', '-connect', `127.0.0.1:${port}`, '-servername', MX, '-dane_tlsa_domain', MX];
  for (const r of records) args.push('-dane_tlsa_rrdata', `${r.usage} ${r.selector} ${r.matchingType} ${r.data}`);
  args.push('-dane_ee_no_namechecks', '-verify_return_error', '-no-CAfile', '-no-CApath', '-no-CAstore');
  return new Promise((resolve, reject) => {
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'], timeout: 5000 });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.stdin.end();
    child.on('close', (code) => resolve({ ok: code === 0 && /Verification: OK|Verify return code: 0 \(ok\)/.test(output), output }));
  });
}

/** Probe a fake server with the records, then ask OpenSSL about the same server and records. */
async function judge(
  t: Test,
  cert: { key: string; cert: string },
  records: TlsaRecord[],
  target: Partial<ProbeTarget> = {},
  server: FakeSmtpOptions = {},
): Promise<{ a: AddressResult; dane: DaneAddressFacts; ssl: OpenSsl }> {
  const srv = await fakeSmtp({ tls: cert, ...server });
  try {
    const r = await probeFake(srv, { host: MX, sni: MX, tlsa: records, ...target });
    const a = r.addresses[0]!;
    const ssl = await openssl(srv.port, records);
    await srv.drained();
    t.ok(a.dane, 'the result has DANE facts');
    t.equal(a.dane!.authenticated, ssl.ok, `OpenSSL agrees (authenticated: ${a.dane!.authenticated})`, { openssl: ssl.output.slice(-600) });
    t.equal(srv.sniSeen[0], MX, 'the TLSA base domain went out as SNI');
    return { a, dane: a.dane!, ssl };
  } finally {
    await srv.close();
  }
}

const addressCodes = (a: AddressResult) => a.reasons.map((r) => r.code).sort();
const reasonCodes = (d: DaneAddressFacts) => daneReasons(MX, '127.0.0.1', d).map((r) => r.code);

t.test('DANE-EE: 3 1 1, 3 0 1, 3 1 2 and 3 1 0 of the served leaf authenticate it', async (t) => {
  const cases: Array<[number, number, string]> = [
    [1, 1, 'leaf SPKI'],
    [0, 1, 'leaf certificate'],
    [1, 2, 'leaf SPKI'],
    [1, 0, 'leaf SPKI'],
  ];
  for (const [selector, mtype, against] of cases) {
    const record = rec(3, selector, mtype, leaf);
    const { dane, a } = await judge(t, served(leaf, ca.intermediate), [record]);
    t.equal(dane.authenticated, true, `3 ${selector} ${mtype}`);
    t.equal(dane.sni, MX);
    t.same(dane.matches.map((m) => [m.matched, m.depth, m.against]), [[true, 0, against]], `3 ${selector} ${mtype} matched the ${against}`);
    t.equal(dane.matches[0]!.record.text, `3 ${selector} ${mtype} ${record.data.slice(0, 12)}…`);
    t.equal(dane.failure, undefined);
    t.equal(dane.problem, undefined);
    t.equal(dane.leafNamesMatch, true);
    t.equal(dane.leafInDate, true);
    t.same(reasonCodes(dane), []);
    t.same(addressCodes(a), ['cert_untrusted'], 'the rest of the verdict is unchanged: no CA trusted here');
  }
});

t.test('DANE-EE mismatch: a record for a key the server does not serve', async (t) => {
  const { dane } = await judge(t, served(leaf, ca.intermediate), [rec(3, 1, 1, next)]);
  t.equal(dane.authenticated, false);
  t.equal(dane.failure, 'no-match');
  t.match(dane.problem, /no usable TLSA record matches the leaf/);
  t.same(dane.matches.map((m) => [m.matched, m.against]), [[false, null]]);
  t.same(reasonCodes(dane), ['dane_tlsa_mismatch']);
  t.match(daneReasons(MX, '127.0.0.1', dane)[0], { severity: 'critical', mx: MX, address: '127.0.0.1', message: /3 1 1 [0-9a-f]{12}…/ });
});

t.test('DANE-EE ignores names and dates (RFC 7672 §3.1.1) but reports them for the Exchange Online view', async (t) => {
  const { dane, a } = await judge(t, served(staleOther, ca.intermediate), [rec(3, 1, 1, staleOther)]);
  t.equal(dane.authenticated, true, 'an expired leaf for another name still authenticates');
  t.equal(dane.leafNamesMatch, false);
  t.equal(dane.leafInDate, false);
  t.same(reasonCodes(dane), []);
  t.ok(addressCodes(a).includes('cert_expired'), 'the certificate verdict still says expired');
});

t.test('DANE-TA 2 0 1 on the intermediate the server sends authenticates', async (t) => {
  const { dane } = await judge(t, served(leaf, ca.intermediate), [rec(2, 0, 1, ca.intermediate)]);
  t.equal(dane.authenticated, true);
  t.same(dane.matches.map((m) => [m.matched, m.depth, m.against]), [[true, 1, 'chain[1] certificate']]);
});

t.test('DANE-TA 2 1 1 on a root the server sends authenticates', async (t) => {
  const { dane } = await judge(t, served(leaf, ca.intermediate, ca.root), [rec(2, 1, 1, ca.root)]);
  t.equal(dane.authenticated, true);
  t.same(dane.matches.map((m) => [m.matched, m.depth, m.against]), [[true, 2, 'chain[2] SPKI']]);
});

t.test('DANE-TA on a root the server does not send: dane_ta_not_sent', async (t) => {
  // The probe trusts the root (target.ca), which must not make it count as sent.
  const { dane, a } = await judge(t, served(leaf, ca.intermediate), [rec(2, 0, 1, ca.root)], { ca: ca.root.certPem });
  t.equal(a.chain.length, 2, 'the served chain has no root');
  t.equal(dane.authenticated, false);
  t.equal(dane.failure, 'ta-not-sent');
  t.match(dane.problem, /"CN=Fabrikam Issuing CA, O=Fabrikam", was issued by "CN=Fabrikam Root CA, O=Fabrikam", which it did not send/);
  t.same(dane.matches.map((m) => m.matched), [false]);
  t.same(reasonCodes(dane), ['dane_ta_not_sent']);
});

t.test('DANE-TA 2 1 0 carries the unsent root key in full: senders accept it (RFC 7671 §5.2.2)', async (t) => {
  const { dane } = await judge(t, served(leaf, ca.intermediate), [rec(2, 1, 0, ca.root)]);
  t.equal(dane.authenticated, true);
  t.equal(dane.matches[0]!.depth, null);
  t.match(dane.matches[0]!.against, /issuer of chain\[1\] key \(not sent/);
});

t.test('DANE-TA with a leaf for another name is not authenticated', async (t) => {
  const { dane } = await judge(t, served(otherName, ca.intermediate), [rec(2, 0, 1, ca.intermediate)]);
  t.equal(dane.authenticated, false);
  t.equal(dane.failure, 'name-mismatch');
  t.match(dane.problem, /not for mail\.example\.com: its DNS names are other\.example\.net/);
  t.same(dane.matches.map((m) => [m.matched, m.against]), [[true, 'chain[1] certificate']], 'the record itself matched');
  t.same(reasonCodes(dane), ['dane_tlsa_mismatch']);
});

t.test('DANE-TA: the MX host name is a reference identifier too (RFC 7672 §3.2.3)', async (t) => {
  // The TLSA base domain (after a CNAME) is other.example.net; the leaf names only the MX host.
  const srv = await fakeSmtp({ tls: served(leaf, ca.intermediate) });
  try {
    const r = await probeFake(srv, { host: MX, sni: 'other.example.net', tlsa: [rec(2, 0, 1, ca.intermediate)] });
    t.equal(r.addresses[0]!.dane?.sni, 'other.example.net');
    t.equal(r.addresses[0]!.dane?.authenticated, true);
    await srv.drained();
  } finally {
    await srv.close();
  }
});

t.test('DANE-TA 2 0 0 carries the unsent root certificate in full: senders accept it', async (t) => {
  const { dane } = await judge(t, served(leaf, ca.intermediate), [rec(2, 0, 0, ca.root)]);
  t.equal(dane.authenticated, true);
  t.match(dane.matches[0]!.against, /issuer of chain\[1\] certificate \(not sent/);
});

t.test('DANE-TA: a leaf without SANs matches by its CN; with SANs the CN does not count', async (t) => {
  const cn = await judge(t, served(cnOnly, ca.intermediate), [rec(2, 0, 1, ca.intermediate)]);
  t.equal(cn.dane.authenticated, true, 'CN only');
  const both = await judge(t, served(cnAndOtherSan, ca.intermediate), [rec(2, 0, 1, ca.intermediate)]);
  t.equal(both.dane.authenticated, false, 'CN=mail.example.com beside DNS:other.example.net');
  t.equal(both.dane.failure, 'name-mismatch');
});

t.test('DANE-TA: the path to the anchor must follow the CA rules', async (t) => {
  const { dane } = await judge(t, served(underNotCa, notCa), [rec(2, 1, 1, notCa)]);
  t.equal(dane.authenticated, false);
  t.equal(dane.failure, 'chain-invalid');
  t.match(dane.problem, /basicConstraints cA:FALSE/);
  t.same(reasonCodes(dane), ['dane_tlsa_mismatch']);
});

t.test('DANE-TA with an expired leaf is not authenticated', async (t) => {
  const { dane } = await judge(t, served(expired, ca.intermediate), [rec(2, 0, 1, ca.intermediate)]);
  t.equal(dane.authenticated, false);
  t.equal(dane.failure, 'expired');
  t.match(dane.problem, /the leaf expired on/);
  t.same(reasonCodes(dane), ['dane_tlsa_mismatch']);
});

t.test("DANE-TA on an expired intermediate: the anchor's own dates do not count (RFC 5280 §6.1.1)", async (t) => {
  // OpenSSL 3 accepts it too; the certificates below the anchor are checked (previous test).
  const { dane, a } = await judge(t, served(oldCa.leaf, oldCa.intermediate), [rec(2, 0, 1, oldCa.intermediate)]);
  t.equal(dane.authenticated, true);
  t.equal(dane.leafInDate, true);
  t.ok(addressCodes(a).includes('cert_expired'), 'the certificate verdict still reports the expired intermediate');
});

t.test('DANE-TA matching the leaf itself does not count: an anchor is an issuer', async (t) => {
  const { dane } = await judge(t, served(leaf, ca.intermediate), [rec(2, 1, 1, leaf)]);
  t.equal(dane.authenticated, false);
  t.match(dane.matches[0]!.note, /matches the leaf itself/);
});

t.test('a self-signed leaf: DANE-EE authenticates it, DANE-TA does not', async (t) => {
  const self = await mint({ subject: `CN=${MX}`, dns: [MX] });
  const ee = await judge(t, served(self), [rec(3, 0, 1, self)]);
  t.equal(ee.dane.authenticated, true, '3 0 1');
  const ta = await judge(t, served(self), [rec(2, 0, 1, self)]);
  t.equal(ta.dane.authenticated, false, '2 0 1');
  t.equal(ta.dane.failure, 'no-match');
});

t.test('only PKIX-TA and PKIX-EE records: unusable, TLS mandatory but unauthenticated', async (t) => {
  const { dane } = await judge(t, served(leaf, ca.intermediate, ca.root), [rec(0, 0, 1, ca.root), rec(1, 1, 1, leaf)]);
  t.equal(dane.authenticated, false);
  t.equal(dane.failure, 'no-usable-records');
  t.same(dane.matches.map((m) => [m.record.usability, m.record.unusableWhy, m.matched]), [
    ['unusable', 'pkix-ta', false],
    ['unusable', 'pkix-ee', false],
  ]);
  t.same(reasonCodes(dane), ['dane_tlsa_unusable']);
});

t.test('a digest of the wrong length is unusable', async (t) => {
  const good = rec(3, 1, 1, leaf);
  const { dane, ssl } = await judge(t, served(leaf, ca.intermediate), [{ ...good, data: good.data.slice(0, 62) }]);
  t.match(ssl.output, /Failed to import any TLSA records/, 'OpenSSL refuses the record too');
  t.equal(dane.authenticated, false);
  t.equal(dane.matches[0]!.record.unusableWhy, 'bad length');
  t.same(reasonCodes(dane), ['dane_tlsa_unusable']);
});

t.test('rollover: two records, one matching, authenticate and leave room for the next key', async (t) => {
  const two = [rec(3, 1, 1, next), rec(3, 1, 1, leaf)];
  const { dane } = await judge(t, served(leaf, ca.intermediate), two);
  t.equal(dane.authenticated, true);
  t.same(dane.matches.map((m) => m.matched), [false, true]);
  t.equal(hasRollover(two), true);
  t.same(rolloverReasons(MX, two), []);
  const one = [rec(3, 1, 1, leaf)];
  t.equal(hasRollover(one), false);
  t.same(rolloverReasons(MX, one).map((r) => [r.code, r.severity, r.mx]), [['dane_no_rollover', 'warning', MX]]);
});

t.test('digest agility: a matching SHA-256 record beside a SHA-512 one is not used (RFC 7671 §9)', async (t) => {
  const { dane } = await judge(t, served(leaf, ca.intermediate), [rec(3, 1, 1, leaf), rec(3, 1, 2, next)]);
  t.equal(dane.authenticated, false);
  t.match(dane.matches[0]!.note, /stronger digest/);
  t.same(reasonCodes(dane), ['dane_tlsa_mismatch']);
});

t.test('no STARTTLS: nothing to match, and DANE made TLS mandatory', async (t) => {
  // No OpenSSL comparison: s_client has no TLS session to verify either.
  const srv = await fakeSmtp({ tls: served(leaf), ehlo: '250-fake.test\r\n250 8BITMIME\r\n' });
  try {
    const r = await probeFake(srv, { host: MX, sni: MX, tlsa: [rec(3, 1, 1, leaf)] });
    const dane = r.addresses[0]!.dane!;
    t.equal(dane.authenticated, false);
    t.equal(dane.failure, 'no-tls');
    t.match(dane.problem, /does not offer STARTTLS/);
    t.same(reasonCodes(dane), ['dane_starttls_missing']);
    await srv.drained();
  } finally {
    await srv.close();
  }
});

t.test('without TLSA records the result has no DANE facts', async (t) => {
  const srv = await fakeSmtp({ tls: served(leaf, ca.intermediate) });
  try {
    const r = await probeFake(srv, { host: MX });
    t.equal(r.addresses[0]!.dane, undefined);
    t.notOk('dane' in r.addresses[0]!);
    await srv.drained();
  } finally {
    await srv.close();
  }
});
