/**
 * `smtp-tls-probe domain` as an administrator runs it: MX, MTA-STS and TLS-RPT cases through
 * the command, with real SMTP servers on 127.0.0.2/.3, a node:https policy host on 127.0.0.10
 * (its certificate names every policy host but mta-sts.othername.test), certificates minted now; JSON reason codes
 * and sender verdicts, key lines of the report, exit codes, and argument errors.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { runDomain } from '../../src/cli/domain.js';
import type { DnsClient } from '../../src/probe/dns/types.js';
import { pki, type Minted, type Pki } from '../helpers/certs.js';
import { zoneDns } from '../helpers/fake-dns.js';
import { fakeSmtp, type FakeSmtp } from '../helpers/fake-smtp.js';
import { policyServer, type Handler, type PolicyServer } from '../helpers/policy-server.js';

const STS = ['enforce', 'wild', 'two', 'redirect', 'notfound', 'big', 'html', 'othername', 'rptbad'];
const RPT = ['plain', 'nullmx', 'nullmix', 'implicit', ...STS.filter((d) => d !== 'rptbad')];

const ZONE = `
plain.test. MX 10 mx1.plain.test.
mx1.plain.test. A 127.0.0.2
nullmx.test. MX 0 .
nullmix.test. MX 0 .
nullmix.test. MX 10 mx1.plain.test.
implicit.test. A 127.0.0.2
enforce.test. MX 10 mx1.enforce.test.
enforce.test. MX 20 mx2.enforce.test.
mx1.enforce.test. A 127.0.0.2
mx2.enforce.test. A 127.0.0.3
wild.test. MX 10 mx.wild.test.
wild.test. MX 20 a.b.wild.test.
mx.wild.test. A 127.0.0.2
a.b.wild.test. A 127.0.0.3
two.test. MX 10 mx1.plain.test.
_mta-sts.two.test. TXT "v=STSv1; id=1"
_mta-sts.two.test. TXT "v=STSv1; id=2"
redirect.test. MX 10 mx1.plain.test.
notfound.test. MX 10 mx1.plain.test.
big.test. MX 10 mx1.plain.test.
html.test. MX 10 mx1.plain.test.
othername.test. MX 10 mx1.plain.test.
rptbad.test. MX 10 mx1.plain.test.
_smtp._tls.rptbad.test. TXT "v=TLSRPTv1; rua=ftp://reports.rptbad.test/"
${STS.filter((d) => d !== 'two').map((d) => `_mta-sts.${d}.test. TXT "v=STSv1; " "id=20261128"`).join('\n')}
${STS.map((d) => `mta-sts.${d}.test. A 127.0.0.10`).join('\n')}
${RPT.map((d) => `_smtp._tls.${d}.test. TXT "v=TLSRPTv1; rua=mailto:tlsrpt@${d}.test"`).join('\n')}
`;

const policy = (mode: string, mx: string[]) => [`version: STSv1`, `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), 'max_age: 86400', ''].join('\n');
const text = (body: string, type = 'text/plain'): Handler => (_q, res) => res.writeHead(200, { 'Content-Type': type }).end(body);

let ca: Pki;
let dir: string;
let caFile: string;
let smtp: FakeSmtp[];
let policyHost: PolicyServer;
t.before(async () => {
  ca = await pki('Lab');
  const mxNames = ['mx1.plain.test', 'implicit.test', 'mx1.enforce.test', 'mx2.enforce.test', 'mx.wild.test', 'a.b.wild.test'];
  const mxCert = await ca.leaf({ subject: 'CN=mx.lab.test', dns: mxNames });
  const policyCert = await ca.leaf({ subject: 'CN=mta-sts', dns: STS.filter((d) => d !== 'othername').map((d) => `mta-sts.${d}.test`) });
  dir = await mkdtemp(join(tmpdir(), 'stp-domain-'));
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.root.certPem);
  const served = (c: Minted) => ({ key: c.keyPem, cert: c.certPem + ca.intermediate.certPem });
  smtp = [await fakeSmtp({ host: '127.0.0.2', tls: served(mxCert) })];
  smtp.push(await fakeSmtp({ host: '127.0.0.3', port: smtp[0]!.port, tls: served(mxCert) }));
  policyHost = await policyServer(t, '127.0.0.10', [policyCert, ca.intermediate], {
    'mta-sts.enforce.test': text(policy('enforce', ['mx1.enforce.test'])),
    'mta-sts.wild.test': text(policy('enforce', ['*.wild.test'])),
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
});
t.teardown(() => Promise.all(smtp.map((s) => s.close())));

async function domain(argv: string[], dns: DnsClient = zoneDns(ZONE)) {
  let stdout = '';
  let stderr = '';
  const code = await runDomain([...argv, '--ca', caFile, '--policy-ca', caFile, '--timeout', '10'], { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s) }, {
    dns,
    smtpPort: smtp[0]!.port,
    policyPort: policyHost.port,
  });
  return { code, stdout, stderr, json: () => JSON.parse(stdout) as import('../../src/probe/domain/types.js').DomainResult };
}

const reasonsOf = (r: { reasons: Array<{ code: string; severity: string; mx?: string }> }) => r.reasons.map((x) => `${x.code}${x.mx ? `@${x.mx}` : ''}:${x.severity}`).sort();
const verdicts = (r: { senders: Array<{ sender: string; verdict: string; route: string; code?: string }> }) => r.senders.map((s) => [s.sender, s.verdict, s.route, s.code ?? null]);

t.test('a plain domain: delivered by both senders; the report has the MX table and verdict lines', async (t) => {
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

t.test('null MX, null MX beside another, no MX (implicit)', async (t) => {
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

t.test('MTA-STS enforce: one MX covered, one not; a wildcard covers one label only', async (t) => {
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

  const expectTesting = await domain(['enforce.test', '--json', '--expect-mta-sts', 'testing']);
  t.equal(expectTesting.code, 2);
  t.ok(expectTesting.json().reasons.some((x) => x.code === 'expect_mismatch' && x.message === 'MTA-STS: expected testing, found enforce'));
});

t.test('MTA-STS failures: two records, redirect, 404, 70 KB, wrong Content-Type, certificate for another name', async (t) => {
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
  t.match(two.stdout, /\n {2}record +multiple .*"v=STSv1; id=1", "v=STSv1; id=2"\n/);
  const redirect = (await domain(['redirect.test', '--json'])).json();
  t.equal(redirect.mtaSts.fetch?.status, 301);
  t.notOk(policyHost.requests.some((q) => q.host === 'mta-sts.othername.test'), 'no request to a host with the wrong certificate');
  t.ok(await policyHost.settled(), 'no policy connection left open');
});

t.test('TLS-RPT valid and invalid; --expect-tls-rpt', async (t) => {
  const bad = (await domain(['rptbad.test', '--json', '--expect-tls-rpt'])).json();
  t.same(reasonsOf(bad), ['expect_mismatch:critical', 'mta_sts_testing:warning', 'tls_rpt_invalid:warning']);
  t.equal(bad.tlsRpt.status, 'invalid');
  const good = (await domain(['plain.test', '--json', '--expect-tls-rpt'])).json();
  t.same(good.tlsRpt.rua, ['mailto:tlsrpt@plain.test']);
  t.same(reasonsOf(good), []);
});

t.test('a resolver that does not validate: unknown (exit 3), never "insecure"', async (t) => {
  const r = await domain(['plain.test', '--json'], zoneDns(ZONE, 'insecure'));
  t.equal(r.code, 3);
  const j = r.json();
  t.same(reasonsOf(j), ['resolver_not_validating:unknown']);
  t.equal(j.resolver.validating, false);
  t.equal(j.mx.dnssec, 'indeterminate');
  t.equal(j.tlsRpt.dnssec, 'indeterminate');
  const human = await domain(['plain.test'], zoneDns(ZONE, 'insecure'));
  t.match(human.stdout, /^SMTP DOMAIN UNKNOWN - /);
  t.match(human.stdout, /Resolver 127\.0\.0\.1:53: does NOT validate DNSSEC/);
  t.notMatch(human.stdout, /\binsecure\b/);
});

t.test('--no-smtp connects to no MX; --sender picks the senders', async (t) => {
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
  ];
  for (const [argv, re] of cases) {
    let stderr = '';
    const code = await runDomain(argv, { stdout: () => undefined, stderr: (s) => void (stderr += s) }, { dns: zoneDns('') });
    t.equal(code, 3, argv.join(' '));
    t.match(stderr, re, argv.join(' '));
    t.equal(stderr.split('\n').length, 2, 'one line');
  }
  let out = '';
  t.equal(await runDomain(['--help'], { stdout: (s) => void (out += s), stderr: () => undefined }), 0);
  t.match(out, /--expect-mta-sts MODE/);
});
