/**
 * `smtp-tls-probe domain` as an administrator runs it: MX, MTA-STS and TLS-RPT cases through
 * the command, with real SMTP servers on 127.0.0.2/.3, a node:https policy host on 127.0.0.10
 * (its certificate names every policy host but mta-sts.othername.test), certificates minted now; JSON reason codes
 * and sender verdicts, key lines of the report, exit codes, and argument errors.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runDomain } from '../../src/cli/domain.js';
import type { DnsClient } from '../../src/probe/dns/types.js';
import { keyPair, pki, type Minted, type Pki } from '../helpers/certs.js';
import { dnsLabMissing, startDnsLab, type DnsLab, type LabZone } from '../helpers/dns-lab.js';
import { fakeSmtp, type FakeSmtp } from '../helpers/fake-smtp.js';
import { policyServer, type Handler, type PolicyServer } from '../helpers/policy-server.js';

const STS = ['enforce', 'allbad', 'wild', 'two', 'redirect', 'notfound', 'big', 'html', 'othername', 'rptbad'];

const policy = (mode: string, mx: string[]) => [`version: STSv1`, `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), 'max_age: 86400', ''].join('\n');
const text = (body: string, type = 'text/plain'): Handler => (_q, res) => res.writeHead(200, { 'Content-Type': type }).end(body);

/** `3 1 1` / `2 1 1` data: SHA-256 of a certificate's SubjectPublicKeyInfo. */
function spki(m: Minted): string {
  const der = new X509Certificate(m.certPem).publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex');
}

const rpt = (d: string) => `_smtp._tls.${d}. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@${d}"`;
const sts = (d: string) => [`_mta-sts.${d}. TXT "v=STSv1; " "id=20261128"`, `mta-sts.${d}. A 127.0.0.10`];

/** The lab's zones: one per case, each a child of `test.` (signed unless said). */
function labZones(c: { dane: Minted; other: Minted; next: Minted }): LabZone[] {
  const zone = (origin: string, records: string[], more: Partial<LabZone> = {}): LabZone => ({ origin, records, ...more });
  const viaPlain = (d: string, records: string[] = []) => zone(`${d}.test`, [`@ MX 10 mx1.plain.test.`, ...records, rpt(`${d}.test`)]);
  const dane = (d: string, tlsa: string[], more: Partial<LabZone> = {}) => zone(`${d}.test`, ['@ MX 10 mx1', 'mx1 A 127.0.0.4', ...tlsa.map((x) => `_25._tcp.mx1 TLSA ${x}`), rpt(`${d}.test`)], more);
  return [
    zone('plain.test', ['@ MX 10 mx1', 'mx1 A 127.0.0.2', rpt('plain.test')]),
    zone('nullmx.test', ['@ MX 0 .', rpt('nullmx.test')]),
    zone('nullmix.test', ['@ MX 0 .', '@ MX 10 mx1.plain.test.', rpt('nullmix.test')]),
    zone('implicit.test', ['@ A 127.0.0.2', rpt('implicit.test')]),
    zone('enforce.test', ['@ MX 10 mx1', '@ MX 20 mx2', 'mx1 A 127.0.0.2', 'mx2 A 127.0.0.3', ...sts('enforce.test'), rpt('enforce.test')]),
    zone('allbad.test', ['@ MX 10 mx1.enforce.test.', '@ MX 20 mx2.enforce.test.', ...sts('allbad.test'), rpt('allbad.test')]),
    zone('wild.test', ['@ MX 10 mx', '@ MX 20 a.b', 'mx A 127.0.0.2', 'a.b A 127.0.0.3', ...sts('wild.test'), rpt('wild.test')]),
    viaPlain('two', ['_mta-sts TXT "v=STSv1; id=1"', '_mta-sts TXT "v=STSv1; id=2"', 'mta-sts A 127.0.0.10']),
    ...['redirect', 'notfound', 'big', 'html', 'othername'].map((d) => viaPlain(d, sts(`${d}.test`))),
    zone('rptbad.test', ['@ MX 10 mx1.plain.test.', ...sts('rptbad.test'), '_smtp._tls TXT "v=TLSRPTv1; rua=ftp://reports.rptbad.test/"']),
    // DANE: the server at 127.0.0.4 sends its leaf and the Lab issuing CA, not the root.
    dane('daneee', [`3 1 1 ${spki(c.dane)}`, `3 1 1 ${spki(c.next)}`]),
    dane('danemis', [`3 1 1 ${spki(c.other)}`]),
    dane('daneta', [`2 1 1 ${spki(ca.intermediate)}`, `3 1 1 ${spki(c.next)}`]),
    dane('tanotsent', [`2 1 1 ${spki(ca.root)}`]),
    dane('unusable', [`1 1 1 ${spki(c.dane)}`]),
    // A TLSA name aliased into an unsigned zone: the answer is insecure, the host secure.
    zone('tlsains.test', ['@ MX 10 mx1', 'mx1 A 127.0.0.4', '_25._tcp.mx1 CNAME _25._tcp.mx1.unsigned.test.', rpt('tlsains.test')]),
    zone('unsigned.test', [`_25._tcp.mx1 TLSA 3 1 1 ${spki(c.dane)}`], { dnssec: 'unsigned' }),
    // A real insecure TLSA RRset: the unsigned zone _tcp.mx1.nested.test delegated from signed nested.test.
    zone('nested.test', ['@ MX 10 mx1', 'mx1 A 127.0.0.4', rpt('nested.test')]),
    zone('_tcp.mx1.nested.test', [`_25 TLSA 3 1 1 ${spki(c.other)}`], { dnssec: 'unsigned' }),
    // The TLSA RRSIG stripped: SERVFAIL without EDE (indeterminate), never "no TLSA".
    dane('strip', [`3 1 1 ${spki(c.dane)}`], { tamper: (z) => z.split('\n').filter((l) => !/\bRRSIG\s+TLSA\b/.test(l)).join('\n') }),
    // Two MX, DANE failing on the first: the second absorbs it.
    zone('absorb.test', ['@ MX 10 mx1', '@ MX 20 mx2', 'mx1 A 127.0.0.4', 'mx2 A 127.0.0.2', `_25._tcp.mx1 TLSA 3 1 1 ${spki(c.other)}`, rpt('absorb.test')]),
    // Changed after signing: bogus (SERVFAIL, EDE 6).
    dane('tlsabogus', [`3 1 1 ${spki(c.dane)}`], { tamper: (z) => z.replace(spki(c.dane), spki(c.other)) }),
    zone('expired.test', ['@ MX 10 mx1', 'mx1 A 127.0.0.4', rpt('expired.test')], { dnssec: 'expired' }),
    // MX in an unsigned zone, the host and its (mismatching) TLSA in a signed one.
    zone('mxins.test', ['@ MX 10 mx1.danehost.test.', rpt('mxins.test')], { dnssec: 'unsigned' }),
    zone('danehost.test', ['mx1 A 127.0.0.4', `_25._tcp.mx1 TLSA 3 1 1 ${spki(c.other)}`, `_25._tcp.mx1 TLSA 3 1 1 ${spki(c.next)}`]),
  ];
}

const missing = dnsLabMissing();
if (missing && process.env.CI === 'true') t.fail(`CI=true but ${missing}: the DNSSEC lab cannot run (.ci/run installs it)`);
const skip = missing ? `needs the DNS lab: ${missing}` : false;

let ca: Pki;
let dir: string;
let caFile: string;
let smtp: FakeSmtp[];
let policyHost: PolicyServer;
let lab: DnsLab;
let blind: DnsLab;
t.before(async () => {
  ca = await pki('Lab');
  // Fresh keys: TLSA 3 1 1 tells certificates apart by their key only.
  const fresh = () => keyPair({ type: 'ec' }, 'SHA-256', true);
  const mxNames = ['mx1.plain.test', 'implicit.test', 'mx1.enforce.test', 'mx2.enforce.test', 'mx.wild.test', 'a.b.wild.test'];
  const daneNames = ['daneee', 'danemis', 'daneta', 'tanotsent', 'unusable', 'tlsains', 'nested', 'strip', 'absorb', 'tlsabogus', 'expired', 'danehost'].map((d) => `mx1.${d}.test`);
  const mxCert = await ca.leaf({ subject: 'CN=mx.lab.test', dns: mxNames });
  const daneCert = await ca.leaf({ subject: 'CN=mx1.daneee.test', dns: daneNames, keys: await fresh() });
  const other = await ca.leaf({ subject: 'CN=other.lab.test', dns: ['other.lab.test'], keys: await fresh() });
  const next = await ca.leaf({ subject: 'CN=next.lab.test', dns: ['next.lab.test'], keys: await fresh() });
  const policyCert = await ca.leaf({ subject: 'CN=mta-sts', dns: STS.filter((d) => d !== 'othername').map((d) => `mta-sts.${d}.test`) });
  dir = await mkdtemp(join(tmpdir(), 'stp-domain-'));
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.root.certPem);
  const served = (c: Minted) => ({ key: c.keyPem, cert: c.certPem + ca.intermediate.certPem });
  smtp = [await fakeSmtp({ host: '127.0.0.2', tls: served(mxCert) })];
  smtp.push(await fakeSmtp({ host: '127.0.0.3', port: smtp[0]!.port, tls: served(mxCert) }));
  smtp.push(await fakeSmtp({ host: '127.0.0.4', port: smtp[0]!.port, tls: served(daneCert) }));
  policyHost = await policyServer(t, '127.0.0.10', [policyCert, ca.intermediate], {
    'mta-sts.enforce.test': text(policy('enforce', ['mx1.enforce.test'])),
    'mta-sts.wild.test': text(policy('enforce', ['*.wild.test'])),
    'mta-sts.allbad.test': text(policy('enforce', ['mail.allbad.test'])),
    'mta-sts.redirect.test': (_q, res) => res.writeHead(301, { Location: 'https://mta-sts.enforce.test/.well-known/mta-sts.txt' }).end(),
    'mta-sts.notfound.test': (_q, res) => res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not here'),
    'mta-sts.big.test': (_q, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' });
      for (let i = 0; i < 70; i++) res.write(`x_pad: ${'a'.repeat(1015)}\n`);
      res.end(policy('enforce', ['mx1.plain.test']));
    },
    'mta-sts.html.test': text(policy('enforce', ['mx1.plain.test']), 'text/html'),
    'mta-sts.rptbad.test': text(policy('testing', ['mx1.plain.test'])),
    // Its certificate does not name mta-sts.othername.test: never reached.
    'mta-sts.othername.test': text(policy('enforce', ['mx1.plain.test'])),
  });
  if (missing) return;
  const zones = labZones({ dane: daneCert, other, next });
  [lab, blind] = await Promise.all([
    startDnsLab({ zones, teardown: t.teardown.bind(t) }),
    startDnsLab({ zones: zones.filter((z) => z.origin === 'plain.test'), validating: false, teardown: t.teardown.bind(t) }),
  ]);
});
t.teardown(() => Promise.all(smtp.map((s) => s.close())));

/** The command against the lab; `dns: null` leaves the resolver to --resolver. */
async function domain(argv: string[], dns: DnsClient | null = lab.client) {
  let stdout = '';
  let stderr = '';
  const code = await runDomain([...argv, '--ca', caFile, '--policy-ca', caFile, '--timeout', '10'], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) }, {
    ...(dns ? { dns } : {}),
    smtpPort: smtp[0]!.port,
    policyPort: policyHost.port,
  });
  return { code, stdout, stderr, json: () => JSON.parse(stdout) as import('../../src/probe/domain/types.js').DomainResult };
}

const reasonsOf = (r: { reasons: Array<{ code: string; severity: string; mx?: string }> }) => r.reasons.map((x) => `${x.code}${x.mx ? `@${x.mx}` : ''}:${x.severity}`).sort();
const verdicts = (r: { senders: Array<{ sender: string; verdict: string; route: string; code?: string }> }) => r.senders.map((s) => [s.sender, s.verdict, s.route, s.code ?? null]);

t.test('a plain domain: delivered by both senders; the report has the MX table and verdict lines', { skip }, async (t) => {
  const r = await domain(['plain.test']);
  t.equal(r.code, 0, r.stdout);
  t.match(r.stdout, /^SMTP DOMAIN OK - plain\.test: rfc deliver, exo deliver \| time=[\d.]+s;;;0\n/);
  t.match(r.stdout, /\n {2}10 +mx1\.plain\.test +secure +127\.0\.0\.2 \(loopback\)\n/);
  t.match(r.stdout, /\nTLS-RPT\n {2}record +valid, DNSSEC secure: "v=TLSRPTv1; rua=mailto:tlsrpt@plain\.test"\n/);
  t.match(r.stdout, /\n {2}RFC 7672\/8461 sender +DELIVER +\(route plain\) delivers to mx1\.plain\.test/);
  t.match(r.stdout, /\n {2}Exchange Online +DELIVER +\(route plain\)/);
  const j = (await domain(['plain.test', '--json'])).json();
  t.equal(j.status, 'ok');
  t.same(reasonsOf(j), []);
  t.same(verdicts(j), [['rfc', 'deliver', 'plain', null], ['exo', 'deliver', 'plain', null]]);
  t.equal(j.mx.hosts[0]!.addresses[0]!.probe!.status, 'ok');
});

t.test('null MX, null MX beside another, no MX (implicit)', { skip }, async (t) => {
  const nulHuman = await domain(['nullmx.test']);
  t.match(nulHuman.stdout, /\n {2}i mx_null +nullmx\.test publishes a null MX/);
  t.match(nulHuman.stdout, /\n {2}null MX: the domain accepts no mail\n/);
  t.notMatch(nulHuman.stdout, /\nDANE\n/, 'no DANE section without an MX host');
  t.match(nulHuman.stdout, /Exchange Online +BLOCKED +\(route null-mx, 556 5\.1\.10\)/);
  const nul = await domain(['nullmx.test', '--json']);
  t.equal(nul.code, 0, 'a null MX is a statement, not a fault');
  t.same(reasonsOf(nul.json()), ['mx_null:info']);
  t.same(verdicts(nul.json()), [['rfc', 'blocked', 'null-mx', null], ['exo', 'blocked', 'null-mx', '556 5.1.10']]);

  const mix = await domain(['nullmix.test', '--json']);
  t.equal(mix.code, 2);
  t.same(reasonsOf(mix.json()), ['mx_null_conflict:critical']);
  t.same(mix.json().mx.hosts.map((h) => h.host), ['mx1.plain.test']);

  const imp = await domain(['implicit.test']);
  t.equal(imp.code, 1);
  t.match(imp.stdout, /! mx_implicit +implicit\.test has no MX record/);
  t.match(imp.stdout, /\n {2}0 +implicit\.test +secure +127\.0\.0\.2 \(loopback\) +\(implicit MX\)\n/);
  t.match(imp.stdout, /DELIVER +\(route plain\) delivers to implicit\.test/);
});

t.test('MTA-STS enforce: one MX covered, one not; a wildcard covers one label only', { skip }, async (t) => {
  const r = await domain(['enforce.test', '--expect-mta-sts', 'enforce']);
  t.equal(r.code, 1, r.stdout);
  t.match(r.stdout, /\n {2}policy +mode enforce, max_age 86400, mx mx1\.enforce\.test\n/);
  t.match(r.stdout, /\n {2}mx1\.enforce\.test: covered by mx1\.enforce\.test\n {2}mx2\.enforce\.test: NOT covered by any mx pattern\n/);
  t.match(r.stdout, /Exchange Online +DELAYED +\(route mta-sts, 4\.4\.8 MX hosts of enforce\.test failed MTA-STS validation\)/);
  const j = (await domain(['enforce.test', '--json'])).json();
  t.same(reasonsOf(j), ['mta_sts_mx_mismatch@mx2.enforce.test:warning']);
  t.same(verdicts(j), [['rfc', 'delayed', 'mta-sts', null], ['exo', 'delayed', 'mta-sts', '4.4.8 MX hosts of enforce.test failed MTA-STS validation']]);
  t.same(j.senders[0]!.usableMx, ['mx1.enforce.test']);

  const w = (await domain(['wild.test', '--json'])).json();
  t.same(w.mx.hosts.map((h) => [h.host, h.mtaStsMatch, h.mtaStsPattern ?? null]), [['mx.wild.test', true, '*.wild.test'], ['a.b.wild.test', false, null]]);
  t.same(reasonsOf(w), ['mta_sts_mx_mismatch@a.b.wild.test:warning']);

  // No MX covered under enforce: every sender holds the mail, critical.
  const none = await domain(['allbad.test', '--json']);
  t.equal(none.code, 2);
  t.same(reasonsOf(none.json()), ['mta_sts_mx_mismatch@mx1.enforce.test:critical', 'mta_sts_mx_mismatch@mx2.enforce.test:critical']);
  t.same(verdicts(none.json()), [['rfc', 'blocked', 'mta-sts', null], ['exo', 'blocked', 'mta-sts', '4.4.8 MX hosts of allbad.test failed MTA-STS validation']]);

  const expectTesting = await domain(['enforce.test', '--json', '--expect-mta-sts', 'testing']);
  t.equal(expectTesting.code, 2);
  t.ok(expectTesting.json().reasons.some((x) => x.code === 'expect_mismatch' && x.message === 'MTA-STS: expected testing, found enforce'));
});

t.test('MTA-STS failures: two records, redirect, 404, 70 KB, wrong Content-Type, certificate for another name', { skip }, async (t) => {
  const cases: Array<[string, string[], string | null]> = [
    ['two.test', ['mta_sts_record_invalid:warning'], null],
    ['redirect.test', ['mta_sts_policy_fetch_failed:critical'], null],
    ['notfound.test', ['mta_sts_policy_fetch_failed:critical'], null],
    ['big.test', ['mta_sts_policy_fetch_failed:critical'], null],
    ['html.test', ['mta_sts_policy_invalid:warning'], 'enforce'],
    ['othername.test', ['mta_sts_cert_invalid:critical'], null],
  ];
  for (const [name, codes, mode] of cases) {
    const j = (await domain([name, '--json'])).json();
    t.same(reasonsOf(j), codes, name);
    t.equal(j.mtaSts.mode, mode, `${name}: mode senders apply`);
    t.same(j.senders.map((s) => s.verdict), ['deliver', 'deliver'], `${name}: without a policy, delivered`);
  }
  const two = await domain(['two.test']);
  t.match(two.stdout, /\n {2}record +multiple .*: "v=STSv1; id=[12]", "v=STSv1; id=[12]"\n/);
  const othername = await domain(['othername.test']);
  t.match(othername.stdout, /\n {2}fetch +https:\/\/mta-sts\.othername\.test\/\.well-known\/mta-sts\.txt via 127\.0\.0\.10: no request sent \(the certificate of mta-sts\.othername\.test is for mta-sts\.enforce\.test, .* and \d+ more names, not mta-sts\.othername\.test\)/);
  const redirect = (await domain(['redirect.test', '--json'])).json();
  t.equal(redirect.mtaSts.fetch?.status, 301);
  t.notOk(policyHost.requests.some((q) => q.host === 'mta-sts.othername.test'), 'no request to a host with the wrong certificate');
  t.ok(await policyHost.settled(), 'no policy connection left open');
});

t.test('TLS-RPT valid and invalid; --expect-tls-rpt', { skip }, async (t) => {
  const bad = (await domain(['rptbad.test', '--json', '--expect-tls-rpt'])).json();
  t.same(reasonsOf(bad), ['expect_mismatch:critical', 'mta_sts_testing:warning', 'tls_rpt_invalid:warning']);
  t.equal(bad.tlsRpt.status, 'invalid');
  const good = (await domain(['plain.test', '--json', '--expect-tls-rpt'])).json();
  t.same(good.tlsRpt.rua, ['mailto:tlsrpt@plain.test']);
  t.same(reasonsOf(good), []);
});

t.test('DANE-EE match through --resolver: delivered by DANE; the report shows which record matched which certificate', { skip }, async (t) => {
  const r = await domain(['daneee.test', '--expect-dane', '--resolver', `127.0.0.1:${lab.server.port}`], null);
  t.equal(r.code, 0, r.stdout);
  t.match(r.stdout, /\n {2}mx1\.daneee\.test: _25\._tcp\.mx1\.daneee\.test NOERROR, DNSSEC secure, 2 records\n/);
  t.match(r.stdout, /\n {4}127\.0\.0\.4 \(SNI mx1\.daneee\.test\): authenticated\n/);
  t.match(r.stdout, /\n {6}3 1 1 [0-9a-f]{12}… ← leaf SPKI \[match\]\n/);
  t.match(r.stdout, /\n {6}3 1 1 [0-9a-f]{12}… \[no match\]\n/);
  t.match(r.stdout, /RFC 7672\/8461 sender +DELIVER +\(route dane\)/);
  t.match(r.stdout, /Exchange Online +DELIVER +\(route dane\)/);
  const j = (await domain(['daneee.test', '--json'])).json();
  t.same(reasonsOf(j), []);
  t.equal(j.mx.dnssec, 'secure');
  t.match(j.mx.signatureExpires, /^\d{4}-\d\d-\d\dT/);
  t.match(j.mx.hosts[0]!.signatureExpires, /^\d{4}-\d\d-\d\dT/);
  t.match(j.mx.hosts[0]!.tlsa!.signatureExpires, /^\d{4}-\d\d-\d\dT/);
  t.same(j.mx.hosts[0]!.addresses[0]!.probe!.dane!.matches.map((m) => [m.record.usage, m.matched, m.against]).sort(), [[3, false, null], [3, true, 'leaf SPKI']]);
});

t.test('DANE failures: mismatch, DANE-TA in and not in the sent chain, only unusable records', { skip }, async (t) => {
  const cases: Array<[string, string[], Array<[string, string, string | null]>]> = [
    ['danemis.test', ['dane_no_rollover@mx1.danemis.test:warning', 'dane_tlsa_mismatch@mx1.danemis.test:critical'], [['rfc', 'blocked', null], ['exo', 'blocked', '4.7.323 tlsa-invalid']]],
    ['daneta.test', [], [['rfc', 'deliver', null], ['exo', 'deliver', null]]],
    ['tanotsent.test', ['dane_no_rollover@mx1.tanotsent.test:warning', 'dane_ta_not_sent@mx1.tanotsent.test:critical'], [['rfc', 'blocked', null], ['exo', 'blocked', '4.7.323 tlsa-invalid']]],
    ['unusable.test', ['dane_tlsa_unusable@mx1.unusable.test:warning'], [['rfc', 'deliver', null], ['exo', 'deliver', null]]],
  ];
  for (const [name, codes, senders] of cases) {
    const j = (await domain([name, '--json'])).json();
    t.same(reasonsOf(j), codes, name);
    t.same(j.senders.map((s) => [s.sender, s.verdict, s.code ?? null]), senders, `${name} senders`);
    t.ok(j.senders.every((s) => s.route === 'dane'), `${name}: the DANE route`);
  }
  const ta = (await domain(['daneta.test', '--json'])).json();
  t.same(ta.mx.hosts[0]!.addresses[0]!.probe!.dane!.matches.map((m) => [m.record.usage, m.matched, m.against]).sort(), [[2, true, 'chain[1] SPKI'], [3, false, null]]);
  const human = await domain(['tanotsent.test']);
  t.equal(human.code, 2);
  t.match(human.stdout, /x dane_ta_not_sent +\[mx1\.tanotsent\.test 127\.0\.0\.4\]/);
  t.match(human.stdout, /Exchange Online +BLOCKED +\(route dane, 4\.7\.323 tlsa-invalid\)/);
});

t.test('DNSSEC: TLSA insecure (CNAME and real delegation: ignored), TLSA SERVFAIL and bogus, a failure another MX absorbs, expired signatures, MX insecure with secure TLSA', { skip }, async (t) => {
  const ins = (await domain(['tlsains.test', '--json'])).json();
  t.same(reasonsOf(ins), ['dane_tlsa_insecure@mx1.tlsains.test:warning']);
  t.same(ins.mx.hosts[0]!.tlsa?.dnssec, 'insecure');
  t.same(ins.senders.map((s) => [s.verdict, s.route]), [['deliver', 'plain'], ['deliver', 'plain']]);
  t.equal(ins.mx.hosts[0]!.addresses[0]!.probe!.dane, undefined, 'no DANE matching for ignored records');

  // The same through a real delegation: the TLSA RRset itself is insecure, the MX host secure.
  const nested = await domain(['nested.test', '--json']);
  t.equal(nested.code, 1);
  const n = nested.json();
  t.same(reasonsOf(n), ['dane_tlsa_insecure@mx1.nested.test:warning']);
  t.same([n.mx.hosts[0]!.dnssec, n.mx.hosts[0]!.tlsa?.dnssec, n.mx.hosts[0]!.tlsa?.records.length], ['secure', 'insecure', 1]);
  t.same(verdicts(n), [['rfc', 'deliver', 'plain', null], ['exo', 'deliver', 'plain', null]], 'the (mismatching) insecure record is not applied');
  const nestedHuman = await domain(['nested.test']);
  t.match(nestedHuman.stdout, /\n {2}mx1\.nested\.test: _25\._tcp\.mx1\.nested\.test NOERROR, DNSSEC insecure, 1 record: not DNSSEC-signed, so senders ignore them \(no DANE\)\n/);
  t.notMatch(nestedHuman.stdout, /no DANE facts/);

  // SERVFAIL without EDE for TLSA: that MX is unusable for DANE senders, not "no DANE".
  const strip = await domain(['strip.test', '--json']);
  t.equal(strip.code, 2);
  const st = strip.json();
  t.same([st.mx.hosts[0]!.tlsa?.rcode, st.mx.hosts[0]!.tlsa?.dnssec], ['SERVFAIL', 'indeterminate']);
  t.same(reasonsOf(st), ['dnssec_bogus@mx1.strip.test:critical']);
  t.same(verdicts(st), [['rfc', 'blocked', 'dane', null], ['exo', 'blocked', 'dane', '4.7.324 dnssec-invalid']]);
  const stripHuman = await domain(['strip.test']);
  t.match(stripHuman.stdout, /\n {2}mx1\.strip\.test: _25\._tcp\.mx1\.strip\.test SERVFAIL, DNSSEC indeterminate: the lookup failed, so senders using DANE cannot use this MX\n/);
  t.notMatch(stripHuman.stdout, /no TLSA records/);

  // A DANE failure the second MX absorbs: delayed and a warning, not blocked.
  const absorb = await domain(['absorb.test', '--json']);
  t.equal(absorb.code, 1);
  t.same(reasonsOf(absorb.json()), ['dane_no_rollover@mx1.absorb.test:warning', 'dane_tlsa_mismatch@mx1.absorb.test:warning']);
  t.same(verdicts(absorb.json()), [['rfc', 'delayed', 'dane', null], ['exo', 'delayed', 'dane', '4.7.323 tlsa-invalid']]);
  t.same(absorb.json().senders.map((s) => s.usableMx), [['mx2.absorb.test'], ['mx2.absorb.test']]);

  const bogus = await domain(['tlsabogus.test', '--json']);
  t.equal(bogus.code, 2);
  const b = bogus.json();
  t.same(reasonsOf(b), ['dnssec_bogus@mx1.tlsabogus.test:critical']);
  t.equal(b.mx.hosts[0]!.tlsa?.dnssec, 'bogus');
  t.same(verdicts(b), [['rfc', 'blocked', 'dane', null], ['exo', 'blocked', 'dane', '4.7.324 dnssec-invalid']]);

  const expired = (await domain(['expired.test', '--json'])).json();
  // Every RRset of the zone is bogus: no lookup there is read as "absent".
  t.same(reasonsOf(expired), ['dnssec_bogus:critical', 'mta_sts_record_invalid:unknown', 'tls_rpt_invalid:unknown']);
  t.match(expired.reasons.find((x) => x.code === 'dnssec_bogus')!.message, /EDE 7/);
  t.equal(expired.mx.kind, 'error');
  // After the first query (unbound answers from its cache then, with EDE 6 rather than 7).
  const expiredHuman = await domain(['expired.test']);
  t.match(expiredHuman.stdout, /\nMX \(error, SERVFAIL, DNSSEC bogus\)\n {2}the MX lookup failed: which MX hosts the domain has is not known\n/);
  t.notMatch(expiredHuman.stdout, /no MX host/, 'a failed lookup is not shown as an absence');
  t.same(expired.senders.map((s) => [s.verdict, s.route, s.code ?? null]), [['blocked', 'dns', null], ['blocked', 'dns', '450 4.4.312 DNS query failed']]);

  const mxins = await domain(['mxins.test']);
  t.equal(mxins.code, 2, mxins.stdout);
  t.match(mxins.stdout, /! dane_mx_insecure +\[mx1\.danehost\.test\] .*RFC 7672 senders may still use DANE for it, Exchange Online does not/);
  t.match(mxins.stdout, /RFC 7672\/8461 sender +BLOCKED +\(route dane\)/);
  t.match(mxins.stdout, /Exchange Online +DELIVER +\(route plain\)/);
  const m = (await domain(['mxins.test', '--json'])).json();
  t.equal(m.mx.dnssec, 'insecure');
  t.equal(m.mx.hosts[0]!.dnssec, 'secure');
  t.same(reasonsOf(m), ['dane_mx_insecure@mx1.danehost.test:warning', 'dane_tlsa_mismatch@mx1.danehost.test:critical']);
});

t.test('a resolver that does not validate: unknown (exit 3), never "insecure"', { skip }, async (t) => {
  const r = await domain(['plain.test', '--json'], blind.client);
  t.equal(r.code, 3);
  const j = r.json();
  t.same(reasonsOf(j), ['resolver_not_validating:unknown']);
  t.equal(j.resolver.validating, false);
  t.equal(j.mx.dnssec, 'indeterminate');
  t.equal(j.tlsRpt.dnssec, 'indeterminate');
  const human = await domain(['plain.test'], blind.client);
  t.match(human.stdout, /^SMTP DOMAIN UNKNOWN - /);
  t.match(human.stdout, /Resolver 127\.0\.0\.1:\d+: does NOT validate DNSSEC/);
  t.notMatch(human.stdout, /\binsecure\b/);
});

t.test('--no-smtp connects to no MX; --sender picks the senders', { skip }, async (t) => {
  const before = smtp[0]!.accepted();
  const j = (await domain(['plain.test', '--json', '--no-smtp', '--sender', 'exo'])).json();
  t.equal(smtp[0]!.accepted(), before);
  t.same(j.senders.map((s) => s.sender), ['exo']);
  t.equal(j.mx.hosts[0]!.addresses[0]!.probe, null);
});

t.test('argument errors: exit 3, one line naming the option', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /^smtp-tls-probe domain: missing DOMAIN/],
    [['a.test', 'b.test'], /one DOMAIN only/],
    [['192.0.2.1'], /DOMAIN: "192\.0\.2\.1" is an IP address/],
    [['bad_name.test'], /DOMAIN: "bad_name\.test" is not a domain name/],
    [['localhost'], /has a single label/],
    [['a.test', '--sender', 'gmail'], /--sender: must be rfc, exo or all \(got "gmail"\)/],
    [['a.test', '--expect-mta-sts', 'on'], /--expect-mta-sts: must be enforce, testing, none or absent \(got "on"\)/],
    [['a.test', '--timeout', '0'], /--timeout: must be seconds from 0\.001 to 600/],
    [['a.test', '--policy-ca', '/nonexistent/ca.pem'], /--policy-ca: cannot read \/nonexistent\/ca\.pem: ENOENT/],
    [['a.test', '--frobnicate'], /unknown option --frobnicate/],
    [['a.test', '--resolver', 'dns.example'], /^smtp-tls-probe domain: --resolver: resolver "dns\.example" is not an IP address/],
  ];
  for (const [argv, re] of cases) {
    let stderr = '';
    const code = await runDomain(argv, { stdout: () => undefined, stderr: (s) => void (stderr += s) });
    t.equal(code, 3, argv.join(' '));
    t.match(stderr, re, argv.join(' '));
    t.equal(stderr.split('\n').length, 2, 'one line');
  }
  let out = '';
  t.equal(await runDomain(['--help'], { stdout: (s) => void (out += s), stderr: () => undefined }), 0);
  t.match(out, /--expect-mta-sts MODE/);
});
