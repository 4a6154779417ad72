/**
 * Domain mode end to end in the service: the real probeDomain and DNS client through the
 * configured resolver (an unbound with signed zones on loopback), SMTP servers and an MTA-STS
 * policy host on loopback with certificates minted now. The scheduled checks land in
 * /results/domains and /metrics; /probe/domain under the default address policy refuses every
 * loopback MX address and the policy host without connecting, and probes them once allowed.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../src/log.js';
import type { DomainResult } from '../../src/probe/domain/types.js';
import { startService, type Service } from '../../src/service/service.js';
import { keyPair, pki, type Minted } from '../helpers/certs.js';
import { dnsLabMissing, startDnsLab } from '../helpers/dns-lab.js';
import { fakeSmtp, type FakeSmtp } from '../helpers/fake-smtp.js';
import { policyServer } from '../helpers/policy-server.js';
import { find, parseMetrics } from '../helpers/prom.js';

const spki = (m: Minted) =>
  createHash('sha256').update(new X509Certificate(m.certPem).publicKey.export({ type: 'spki', format: 'der' })).digest('hex');

const missing = dnsLabMissing();
if (missing && process.env.CI === 'true') t.fail(`CI=true but ${missing}: the DNSSEC lab cannot run (.ci/run installs it)`);
const skip = missing ? `needs the DNS lab: ${missing}` : false;

let service: Service;
let smtp: FakeSmtp[] = [];
let policyConnections: () => number;
let dir: string;
let configText: (refuse: string) => string;

t.before(async () => {
  if (skip) return;
  const ca = await pki('Lab');
  const fresh = () => keyPair({ type: 'ec' }, 'SHA-256', true);
  const mx = await ca.leaf({ subject: 'CN=mx1.good.test', dns: ['mx1.good.test', 'mx1.bad.test', 'mx2.bad.test'], keys: await fresh() });
  const other = await ca.leaf({ subject: 'CN=other.test', dns: ['other.test'], keys: await fresh() });
  const next = await ca.leaf({ subject: 'CN=next.test', dns: ['next.test'], keys: await fresh() });
  const served = { key: mx.keyPem, cert: mx.certPem + ca.intermediate.certPem };
  smtp = [await fakeSmtp({ host: '127.0.0.2', tls: served })];
  smtp.push(await fakeSmtp({ host: '127.0.0.3', port: smtp[0]!.port, tls: served }));
  const policyCert = await ca.leaf({ subject: 'CN=mta-sts', dns: ['mta-sts.good.test', 'mta-sts.bad.test'] });
  const body = (mx: string) => `version: STSv1\nmode: enforce\nmx: ${mx}\nmax_age: 86400\n`;
  const policy = await policyServer(t, '127.0.0.10', [policyCert, ca.intermediate], {
    'mta-sts.good.test': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(body('mx1.good.test')),
    'mta-sts.bad.test': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(body('mx1.bad.test')),
  });
  policyConnections = () => policy.connections;
  const rpt = (d: string) => `_smtp._tls TXT "v=TLSRPTv1; rua=mailto:tlsrpt@${d}"`;
  const lab = await startDnsLab({
    teardown: t.teardown.bind(t),
    zones: [
      // DANE-EE matching with a next key published, an enforce policy covering the MX, TLS-RPT.
      {
        origin: 'good.test',
        records: ['@ MX 10 mx1', 'mx1 A 127.0.0.2', `_25._tcp.mx1 TLSA 3 1 1 ${spki(mx)}`, `_25._tcp.mx1 TLSA 3 1 1 ${spki(next)}`,
          '_mta-sts TXT "v=STSv1; id=1"', 'mta-sts A 127.0.0.10', rpt('good.test')],
      },
      // mx1: TLSA of another key (mismatch); mx2: not covered by the enforce policy; no TLS-RPT.
      {
        origin: 'bad.test',
        records: ['@ MX 10 mx1', '@ MX 20 mx2', 'mx1 A 127.0.0.2', 'mx2 A 127.0.0.3', `_25._tcp.mx1 TLSA 3 1 1 ${spki(other)}`,
          '_mta-sts TXT "v=STSv1; id=1"', 'mta-sts A 127.0.0.10'],
      },
    ],
  });
  dir = await mkdtemp(join(tmpdir(), 'stp-domain-e2e-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await writeFile(join(dir, 'ca.pem'), ca.root.certPem);
  configText = (refuse) =>
    [
      'listen: 127.0.0.1:0',
      'jitter: 0',
      'storage: { path: ":memory:" }',
      `dns: { resolver: "127.0.0.1:${lab.server.port}" }`,
      'defaults: { caFile: ca.pem }',
      `onDemand: { refuseAddresses: [${refuse}] }`,
      'domains:',
      '  - { domain: good.test, policyCaFile: ca.pem, expect: { mtaSts: enforce, dane: true, tlsRpt: true }, timeout: 20 }',
      '  - { domain: bad.test, name: bad, policyCaFile: ca.pem, timeout: 20 }',
    ].join('\n');
  await writeFile(join(dir, 'probe.yaml'), configText('loopback'));
  service = await startService({
    configPath: join(dir, 'probe.yaml'),
    logger: createLogger('silent'),
    watch: false,
    env: {},
    domainTestPorts: { smtp: smtp[0]!.port, policy: policy.port },
  });
  t.teardown(() => service.close(0));
  await service.scheduler.ready();
});
t.teardown(() => Promise.all(smtp.map((s) => s.close())));

t.test('scheduled checks through the configured resolver: results, reasons per MX, verdicts, metrics', { skip }, async (t) => {
  const results = (await service.app.inject({ url: '/results/domains' })).json() as Array<DomainResult & { name: string }>;
  const good = results.find((r) => r.name === 'good.test')!;
  const bad = results.find((r) => r.name === 'bad')!;
  t.equal(good.status, 'ok', JSON.stringify(good.reasons));
  t.equal(good.resolver.validating, true);
  t.same(good.senders.map((s) => [s.sender, s.verdict]), [['rfc', 'deliver'], ['exo', 'deliver']]);
  t.equal(good.mx.hosts[0]?.addresses[0]?.probe?.dane?.authenticated, true, 'the served key matched its TLSA record');
  t.equal(bad.status, 'critical');
  const codes = bad.reasons.map((r) => `${r.code}@${r.mx ?? ''}`);
  t.ok(codes.includes('dane_tlsa_mismatch@mx1.bad.test'), codes.join(' '));
  t.ok(codes.includes('mta_sts_mx_mismatch@mx2.bad.test'), codes.join(' '));
  t.ok(codes.includes('tls_rpt_missing@'), codes.join(' '));

  const samples = parseMetrics((await service.app.inject({ url: '/metrics' })).body);
  const one = (name: string, labels: Record<string, string>) => find(samples, name, labels).map((s) => s.value);
  t.same(one('smtp_tls_domain_status', { target: 'good.test', domain: 'good.test' }), [0]);
  t.same(one('smtp_tls_domain_status', { target: 'bad' }), [2]);
  t.same(one('smtp_tls_dane_match', { target: 'good.test', mx: 'mx1.good.test', address: '127.0.0.2' }), [1]);
  t.same(one('smtp_tls_dane_match', { target: 'bad', mx: 'mx1.bad.test', address: '127.0.0.2' }), [0]);
  t.same(one('smtp_tls_dane_rollover', { target: 'good.test', mx: 'mx1.good.test' }), [1], 'current and next key published');
  t.same(one('smtp_tls_mta_sts_mode', { target: 'bad' }), [2]);
  t.same(one('smtp_tls_mta_sts_mx_match', { target: 'bad', mx: 'mx2.bad.test' }), [0]);
  t.same(one('smtp_tls_mta_sts_mx_match', { target: 'bad', mx: 'mx1.bad.test' }), [1]);
  t.same(one('smtp_tls_tls_rpt_present', { target: 'good.test' }), [1]);
  t.same(one('smtp_tls_tls_rpt_present', { target: 'bad' }), [0]);
  t.same(one('smtp_tls_dnssec_status', { target: 'good.test', name: 'good.test', rrset: 'MX' }), [0], 'secure');
  const expiry = one('smtp_tls_dnssec_signature_expiry_timestamp_seconds', { target: 'good.test', name: '_25._tcp.mx1.good.test', rrset: 'TLSA' })[0]!;
  t.ok(expiry > Date.now() / 1000 + 20 * 86400 && expiry < Date.now() / 1000 + 31 * 86400, 'the TLSA signatures expire in about 30 days, as the lab signs them');
  t.ok(one('smtp_tls_mta_sts_policy_cert_not_after_timestamp_seconds', { target: 'good.test' })[0]! > Date.now() / 1000);
});

t.test('/probe/domain: the default policy refuses loopback MX addresses and the policy host, without connecting', { skip }, async (t) => {
  const accepted = () => smtp.reduce((n, s) => n + s.accepted(), 0);
  const [smtpBefore, policyBefore] = [accepted(), policyConnections()];
  const r = await service.app.inject({ url: '/probe/domain?domain=good.test' });
  t.equal(r.statusCode, 200, r.body);
  const result = r.json() as DomainResult;
  t.same(result.mx.hosts.flatMap((h) => h.addresses.map((a) => [a.address, a.refused, a.probe])), [['127.0.0.2', 'loopback', null]]);
  t.equal(accepted(), smtpBefore, 'no SMTP connection');
  t.equal(policyConnections(), policyBefore, 'no connection to the policy host');
  t.not(result.status, 'ok', 'a refused check is no clean bill of health');
  t.same(result.senders.map((s) => s.verdict), ['unknown', 'unknown'], 'no sender is said to deliver through an MX nobody probed');
  t.ok(result.reasons.some((x) => x.code === 'mx_not_probed' && x.severity === 'unknown' && x.address === '127.0.0.2'), JSON.stringify(result.reasons));

  await writeFile(join(dir, 'probe.yaml'), configText(''));
  t.equal(service.reload().ok, true);
  const allowed = (await service.app.inject({ url: '/probe/domain?domain=good.test&sender=exo' })).json() as DomainResult;
  t.equal(allowed.mx.hosts[0]?.addresses[0]?.probe?.dane?.authenticated, true, 'the MX probed, its certificate judged with defaults.caFile');
  // On demand the policy host is judged as senders judge it, with the public roots only: the
  // lab's CA is not among them.
  t.same(allowed.reasons.map((r) => r.code), ['mta_sts_cert_invalid'], JSON.stringify(allowed.reasons));
  t.same(allowed.senders.map((s) => s.sender), ['exo']);
  t.ok(accepted() > smtpBefore && policyConnections() > policyBefore, 'allowed: both are reached');
});
