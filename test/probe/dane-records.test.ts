/**
 * TLSA records on their own (usability, text, rollover), the DANE reasons, and the matching
 * cases a TLS server cannot produce through Node (a sent certificate off the path, no
 * certificate at all). The end-to-end cases with real servers and OpenSSL are in dane.test.ts.
 */
import { createHash, X509Certificate } from 'node:crypto';
import t from 'tap';
import { daneReasons, rolloverReasons } from '../../src/probe/dane/dane-reasons.js';
import { daneFacts, daneWithoutTls, matchText, spkiOf } from '../../src/probe/dane/match.js';
import { hasRollover, tlsaFacts } from '../../src/probe/dane/tlsa.js';
import type { DaneAddressFacts } from '../../src/probe/dane/types.js';
import type { TlsaRecord } from '../../src/probe/dns/types.js';
import { mint, pki, type Minted } from '../helpers/certs.js';

const SHA256_TEST = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
const h = (bytes: number) => 'ab'.repeat(bytes);
const r = (usage: number, selector: number, matchingType: number, data: string): TlsaRecord => ({ usage, selector, matchingType, data });

let leaf: Minted;
let stray: Minted;
let certHex: string;
let spkiHex: string;
t.before(async () => {
  const ca = await pki('Records');
  leaf = await ca.leaf({ subject: 'CN=mail.example.com', dns: ['mail.example.com'] });
  stray = await mint({ subject: 'CN=Stray CA', ca: true });
  certHex = Buffer.from(leaf.cert.rawData).toString('hex');
  spkiHex = Buffer.from(leaf.cert.publicKey.rawData).toString('hex');
});

t.test('tlsaFacts: usability, why not, and the zone-file text', async (t) => {
  const cases: Array<[TlsaRecord, 'usable' | 'unusable', string | undefined, string]> = [
    [r(3, 1, 1, SHA256_TEST), 'usable', undefined, '3 1 1 9f86d081884c…'],
    [r(2, 0, 2, h(64)), 'usable', undefined, `2 0 2 ${h(6)}…`],
    [r(0, 0, 1, h(32)), 'unusable', 'pkix-ta', `0 0 1 ${h(6)}…`],
    [r(1, 1, 1, h(32)), 'unusable', 'pkix-ee', `1 1 1 ${h(6)}…`],
    [r(4, 1, 1, h(32)), 'unusable', 'unknown usage', `4 1 1 ${h(6)}…`],
    [r(255, 1, 1, h(32)), 'unusable', 'unknown usage', `255 1 1 ${h(6)}…`],
    [r(3, 2, 1, h(32)), 'unusable', 'unknown selector', `3 2 1 ${h(6)}…`],
    [r(3, 1, 3, h(32)), 'unusable', 'unknown matching type', `3 1 3 ${h(6)}…`],
    [r(3, 1, 1, h(31)), 'unusable', 'bad length', `3 1 1 ${h(6)}…`],
    [r(3, 1, 1, h(33)), 'unusable', 'bad length', `3 1 1 ${h(6)}…`],
    [r(3, 1, 2, h(32)), 'unusable', 'bad length', `3 1 2 ${h(6)}…`],
    [r(3, 1, 1, `${SHA256_TEST.slice(0, 62)}zz`), 'unusable', 'bad data', '3 1 1 9f86d081884c…'],
    [r(3, 1, 0, ''), 'unusable', 'bad length', '3 1 0 -'],
    [r(3, 1, 0, 'abcd'), 'unusable', 'bad data', '3 1 0 abcd'],
  ];
  for (const [record, usability, why, text] of cases) {
    const f = tlsaFacts(record);
    const name = `${record.usage} ${record.selector} ${record.matchingType} (${record.data.length / 2} bytes)`;
    t.equal(f.usability, usability, `${name} is ${usability}`);
    t.equal(f.unusableWhy, why, `${name}: ${why ?? 'usable'}`);
    t.equal(f.text, text, `${name} reads ${text}`);
    t.notOk(usability === 'usable' && 'unusableWhy' in f, 'no unusableWhy key on a usable record');
  }
});

t.test('tlsaFacts: Full(0) data must decode as the selector says', async (t) => {
  t.equal(tlsaFacts(r(3, 0, 0, certHex)).usability, 'usable', '3 0 0 with a certificate');
  t.equal(tlsaFacts(r(3, 1, 0, spkiHex)).usability, 'usable', '3 1 0 with an SPKI');
  t.equal(tlsaFacts(r(3, 0, 0, spkiHex)).unusableWhy, 'bad data', '3 0 0 with an SPKI');
  t.equal(tlsaFacts(r(3, 1, 0, certHex)).unusableWhy, 'bad data', '3 1 0 with a certificate');
});

t.test('tlsaFacts: data in upper case or split by blanks, as zone files have it, is normalised', async (t) => {
  const f = tlsaFacts(r(3, 1, 1, `${SHA256_TEST.slice(0, 32).toUpperCase()} ${SHA256_TEST.slice(32)}`));
  t.equal(f.usability, 'usable');
  t.equal(f.data, SHA256_TEST);
});

t.test('hasRollover: two or more distinct usable records', async (t) => {
  t.equal(hasRollover([]), false, 'none');
  t.equal(hasRollover([r(3, 1, 1, SHA256_TEST)]), false, 'one');
  t.equal(hasRollover([r(3, 1, 1, SHA256_TEST), r(3, 1, 1, h(32))]), true, 'current and next');
  t.equal(hasRollover([r(3, 1, 1, SHA256_TEST), r(2, 0, 1, h(32))]), true, 'DANE-EE and DANE-TA');
  t.equal(hasRollover([r(3, 1, 1, SHA256_TEST), r(1, 1, 1, h(32))]), false, 'the second is PKIX-EE');
  t.equal(hasRollover([r(3, 1, 1, SHA256_TEST), r(3, 1, 1, h(31))]), false, 'the second has a bad length');
  t.equal(hasRollover([r(3, 1, 1, SHA256_TEST), r(3, 1, 1, SHA256_TEST.toUpperCase())]), false, 'the same record twice');
});

t.test('rolloverReasons: nothing when no record is usable (dane_tlsa_unusable says it)', async (t) => {
  t.same(rolloverReasons('mx.example', [r(1, 1, 1, h(32))]), []);
});

t.test('daneReasons: one code per failure, none when authenticated', async (t) => {
  const base: DaneAddressFacts = { sni: 'mx.example', matches: [{ record: tlsaFacts(r(3, 1, 1, SHA256_TEST)), matched: false, depth: null, against: null }], authenticated: false, problem: 'why' };
  // Default severities of the reason table; the orchestrator lowers them when another MX takes the mail.
  const cases: Array<[DaneAddressFacts['failure'], string, string]> = [
    ['no-tls', 'dane_starttls_missing', 'critical'],
    ['no-usable-records', 'dane_tlsa_unusable', 'warning'],
    ['ta-not-sent', 'dane_ta_not_sent', 'critical'],
    ['no-match', 'dane_tlsa_mismatch', 'critical'],
    ['chain-invalid', 'dane_tlsa_mismatch', 'critical'],
    ['name-mismatch', 'dane_tlsa_mismatch', 'critical'],
    ['expired', 'dane_tlsa_mismatch', 'critical'],
  ];
  for (const [failure, code, severity] of cases) {
    const out = daneReasons('mx.example', '192.0.2.1', { ...base, ...(failure ? { failure } : {}) });
    t.same(out.map((x) => [x.code, x.severity, x.mx, x.address]), [[code, severity, 'mx.example', '192.0.2.1']], `${failure} -> ${code}`);
    t.match(out[0]!.message, /why/, 'the problem is in the message');
  }
  t.same(daneReasons('mx.example', '192.0.2.1', { ...base, authenticated: true }), []);
});

t.test('daneWithoutTls: every record listed, nothing matched', async (t) => {
  const d = daneWithoutTls([r(3, 1, 1, SHA256_TEST), r(0, 0, 1, h(32))], 'mx.example', 'connection refused');
  t.same(d.matches.map((m) => [m.record.text, m.matched]), [['3 1 1 9f86d081884c…', false], [`0 0 1 ${h(6)}…`, false]]);
  t.match(d, { authenticated: false, failure: 'no-tls', problem: 'connection refused', sni: 'mx.example' });
});

t.test('spkiOf: the SubjectPublicKeyInfo bytes as the certificate has them', async (t) => {
  t.equal(spkiOf(Buffer.from(leaf.cert.rawData))?.toString('hex'), spkiHex);
  t.equal(spkiOf(Buffer.from('3003020100', 'hex')), null, 'not a certificate');
  t.equal(spkiOf(Buffer.alloc(0)), null, 'nothing');
});

t.test('daneFacts: a DANE-TA record matching a sent certificate off the path does not authenticate', async (t) => {
  // Node's handshake API drops sent certificates that issued nothing, so this is a unit case.
  const digest = createHash('sha256').update(Buffer.from(stray.cert.rawData)).digest('hex');
  const d = daneFacts([r(2, 0, 1, digest)], [new X509Certificate(leaf.certPem), new X509Certificate(stray.certPem)], 'mail.example.com', new Date());
  t.equal(d.authenticated, false);
  t.equal(d.failure, 'chain-invalid');
  t.match(d.matches[0], { matched: true, depth: 1, against: 'chain[1] certificate', note: /not on the path/ });
});

t.test('daneFacts: no certificate sent', async (t) => {
  const d = daneFacts([r(3, 1, 1, SHA256_TEST)], [], 'mail.example.com', new Date());
  t.match(d, { authenticated: false, failure: 'no-match', problem: 'the server sent no certificate' });
  t.notOk('leafNamesMatch' in d);
});

t.test('daneFacts: IP literals and bad names are no reference identifiers', async (t) => {
  const digest = createHash('sha256').update(Buffer.from(leaf.cert.publicKey.rawData)).digest('hex');
  const d = daneFacts([r(3, 1, 1, digest)], [new X509Certificate(leaf.certPem)], 'other.example', new Date(), { names: ['192.0.2.1', 'a..b', 'MAIL.example.com.'] });
  t.equal(d.authenticated, true);
  t.equal(d.leafNamesMatch, true, 'the MX host name, in any case and with its trailing dot, is a reference identifier');
});

t.test('matchText: one line per record for the human report', async (t) => {
  const record = tlsaFacts(r(3, 1, 1, SHA256_TEST));
  t.equal(matchText({ record, matched: true, depth: 0, against: 'leaf SPKI' }), '3 1 1 9f86d081884c… ← leaf SPKI [match]');
  t.equal(matchText({ record, matched: false, depth: null, against: null }), '3 1 1 9f86d081884c… [no match]');
  t.equal(matchText({ record, matched: false, depth: null, against: null, note: 'not used' }), '3 1 1 9f86d081884c… [no match] (not used)');
  t.equal(matchText({ record: tlsaFacts(r(1, 1, 1, SHA256_TEST)), matched: false, depth: null, against: null }), '1 1 1 9f86d081884c… [unusable: pkix-ee]');
});
