/**
 * Domain results as metrics: the exact series for a healthy and a broken canned DomainResult
 * (the value encodings the README documents and the alert rules read), the cache rendering the
 * same text as one registry, label clashes, and promtool's lint.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { addDomainMetrics, type DomainEntry } from '../../src/metrics/domain-metrics.js';
import { RegistrySeriesCache } from '../../src/metrics/registry-cache.js';
import { renderDomainMetrics } from '../../src/metrics/service-metrics.js';
import type { DomainResult } from '../../src/probe/domain/types.js';
import { brokenDomain, healthyDomain } from '../helpers/domain-results.js';
import { hasPromtool, promtoolCheckMetrics } from '../helpers/prom.js';

async function series(entries: DomainEntry[]): Promise<string[]> {
  const registry = new Registry();
  addDomainMetrics(registry, entries);
  return (await registry.metrics()).split('\n').filter((l) => l && !l.startsWith('#'));
}

const s = (iso: string | undefined) => String(Date.parse(iso!) / 1000);

t.test('a healthy domain: status, verdicts, DNSSEC per RRset, MTA-STS, DANE, TLS-RPT', async (t) => {
  const r = healthyDomain();
  const l = 'target="example",domain="example.test",site="dc1"';
  const mx1 = r.mx.hosts[0]!;
  t.same(await series([{ name: 'example', labels: { site: 'dc1' }, result: r }]), [
    `smtp_tls_domain_status{${l}} 0`,
    `smtp_tls_domain_sender_verdict{${l},sender="rfc"} 0`,
    `smtp_tls_domain_sender_verdict{${l},sender="exo"} 0`,
    `smtp_tls_dnssec_status{${l},name="example.test",rrset="MX"} 0`,
    `smtp_tls_dnssec_status{${l},name="_mta-sts.example.test",rrset="TXT"} 0`,
    `smtp_tls_dnssec_status{${l},name="_smtp._tls.example.test",rrset="TXT"} 0`,
    `smtp_tls_dnssec_status{${l},name="mx1.example.test",rrset="A/AAAA"} 0`,
    `smtp_tls_dnssec_status{${l},name="_25._tcp.mx1.example.test",rrset="TLSA"} 0`,
    `smtp_tls_dnssec_status{${l},name="mx2.example.test",rrset="A/AAAA"} 0`,
    `smtp_tls_dnssec_status{${l},name="_25._tcp.mx2.example.test",rrset="TLSA"} 0`,
    `smtp_tls_dnssec_signature_expiry_timestamp_seconds{${l},name="example.test",rrset="MX"} ${s(r.mx.signatureExpires)}`,
    `smtp_tls_dnssec_signature_expiry_timestamp_seconds{${l},name="mx1.example.test",rrset="A/AAAA"} ${s(mx1.signatureExpires)}`,
    `smtp_tls_dnssec_signature_expiry_timestamp_seconds{${l},name="_25._tcp.mx1.example.test",rrset="TLSA"} ${s(mx1.tlsa!.signatureExpires)}`,
    `smtp_tls_dnssec_signature_expiry_timestamp_seconds{${l},name="mx2.example.test",rrset="A/AAAA"} ${s(r.mx.hosts[1]!.signatureExpires)}`,
    `smtp_tls_dnssec_signature_expiry_timestamp_seconds{${l},name="_25._tcp.mx2.example.test",rrset="TLSA"} ${s(r.mx.hosts[1]!.tlsa!.signatureExpires)}`,
    `smtp_tls_mta_sts_mode{${l}} 2`,
    `smtp_tls_mta_sts_mx_match{${l},mx="mx1.example.test"} 1`,
    `smtp_tls_mta_sts_mx_match{${l},mx="mx2.example.test"} 1`,
    `smtp_tls_mta_sts_policy_cert_not_after_timestamp_seconds{${l}} ${s(r.mtaSts.fetch!.certificate!.notAfter)}`,
    `smtp_tls_dane_match{${l},mx="mx1.example.test",address="127.0.0.2"} 1`,
    `smtp_tls_dane_match{${l},mx="mx2.example.test",address="127.0.0.3"} 1`,
    `smtp_tls_dane_rollover{${l},mx="mx1.example.test"} 1`,
    `smtp_tls_dane_rollover{${l},mx="mx2.example.test"} 1`,
    `smtp_tls_tls_rpt_present{${l}} 1`,
    `smtp_tls_domain_last_check_timestamp_seconds{${l}} ${s(r.startedAt)}`,
    `smtp_tls_domain_check_duration_seconds{${l}} 0.42`,
  ]);
});

t.test('a broken domain: reasons per MX, blocked senders, bogus TLSA, no policy, DANE mismatch without rollover, no TLS-RPT', async (t) => {
  const r = brokenDomain();
  const l = 'target="broken.test",domain="broken.test"';
  t.same(await series([{ name: 'broken.test', labels: {}, result: r }]), [
    `smtp_tls_domain_status{${l}} 2`,
    `smtp_tls_domain_sender_verdict{${l},sender="rfc"} 2`,
    `smtp_tls_domain_sender_verdict{${l},sender="exo"} 2`,
    `smtp_tls_domain_reason{${l},reason="dane_tlsa_mismatch",severity="critical",mx="mx1.broken.test"} 1`,
    `smtp_tls_domain_reason{${l},reason="dane_no_rollover",severity="warning",mx="mx1.broken.test"} 1`,
    `smtp_tls_domain_reason{${l},reason="dnssec_bogus",severity="critical",mx="mx2.broken.test"} 1`,
    `smtp_tls_domain_reason{${l},reason="mta_sts_policy_fetch_failed",severity="critical",mx=""} 1`,
    `smtp_tls_domain_reason{${l},reason="tls_rpt_missing",severity="warning",mx=""} 1`,
    `smtp_tls_dnssec_status{${l},name="broken.test",rrset="MX"} 0`,
    `smtp_tls_dnssec_status{${l},name="_mta-sts.broken.test",rrset="TXT"} 1`,
    `smtp_tls_dnssec_status{${l},name="_smtp._tls.broken.test",rrset="TXT"} 0`,
    `smtp_tls_dnssec_status{${l},name="mx1.broken.test",rrset="A/AAAA"} 0`,
    `smtp_tls_dnssec_status{${l},name="_25._tcp.mx1.broken.test",rrset="TLSA"} 0`,
    `smtp_tls_dnssec_status{${l},name="mx2.broken.test",rrset="A/AAAA"} 0`,
    `smtp_tls_dnssec_status{${l},name="_25._tcp.mx2.broken.test",rrset="TLSA"} 2`,
    `smtp_tls_dnssec_signature_expiry_timestamp_seconds{${l},name="broken.test",rrset="MX"} ${s(r.mx.signatureExpires)}`,
    `smtp_tls_mta_sts_mode{${l}} 0`,
    `smtp_tls_dane_match{${l},mx="mx1.broken.test",address="127.0.0.5"} 0`,
    `smtp_tls_dane_rollover{${l},mx="mx1.broken.test"} 0`,
    `smtp_tls_tls_rpt_present{${l}} 0`,
    `smtp_tls_domain_last_check_timestamp_seconds{${l}} ${s(r.startedAt)}`,
    `smtp_tls_domain_check_duration_seconds{${l}} 1.8`,
  ], 'no MX match without a policy, no DANE series for an address not probed, no policy certificate when the fetch failed');
});

t.test('unknown is never "absent": failed lookups leave out the MTA-STS mode and TLS-RPT series; testing and none encoded', async (t) => {
  const r: DomainResult = healthyDomain('lookup.test');
  r.mtaSts.record = { status: 'error', rcode: 'SERVFAIL', dnssec: 'indeterminate', raw: [] };
  r.mtaSts.mode = null;
  r.tlsRpt = { status: 'error', rcode: 'TIMEOUT', dnssec: 'indeterminate', raw: [], rua: [] };
  const lines = await series([{ name: 'x', labels: {}, result: r }]);
  t.notOk(lines.some((x) => x.startsWith('smtp_tls_mta_sts_mode') || x.startsWith('smtp_tls_tls_rpt_present')));
  t.ok(lines.includes('smtp_tls_dnssec_status{target="x",domain="lookup.test",name="_mta-sts.lookup.test",rrset="TXT"} 3'), 'indeterminate is 3');
  for (const [mode, value] of [['testing', 1], ['none', 0]] as const) {
    const m = healthyDomain('m.test');
    m.mtaSts.mode = mode;
    t.ok((await series([{ name: 'm', labels: {}, result: m }])).includes(`smtp_tls_mta_sts_mode{target="m",domain="m.test"} ${value}`), mode);
  }
});

t.test('configured labels: a clash with ours is prefixed; the cache renders what one registry would', async (t) => {
  const entries: DomainEntry[] = [
    { name: 'a', labels: { mx: 'x', team: 'mail' }, result: healthyDomain('a.test') },
    { name: 'b', labels: {}, result: brokenDomain('b.test') },
  ];
  const one = new Registry();
  addDomainMetrics(one, entries);
  const cache = new RegistrySeriesCache<DomainEntry>(addDomainMetrics);
  t.equal(await cache.text(entries), (await one.metrics()).replace(/\n$/, ''), 'the same text');
  t.match(await cache.text(entries), /smtp_tls_domain_status\{target="b",domain="b.test",label_mx="",team=""\} 2/);
  t.notMatch(await cache.text(entries.slice(0, 1)), /b\.test/, 'a removed domain leaves no series');
});

t.test('promtool accepts the domain series', { skip: hasPromtool() || process.env.CI ? false : 'promtool not installed (CI installs it)' }, async (t) => {
  t.equal(promtoolCheckMetrics(await renderDomainMetrics(brokenDomain())), '');
  t.equal(promtoolCheckMetrics(await renderDomainMetrics(healthyDomain())), '');
});

t.test("the README's /probe/domain scrape job is a valid Prometheus config", { skip: hasPromtool() || process.env.CI ? false : 'promtool not installed (CI installs it)' }, async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const job = /### Domain metrics[^]*?```yaml\n([^]*?)```/.exec(readme)?.[1];
  t.match(job, /metrics_path: \/probe\/domain/);
  const dir = mkdtempSync(join(tmpdir(), 'stp-domain-job-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'prometheus.yml'), `scrape_configs:\n${job}`);
  const r = spawnSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
  t.equal(r.status, 0, r.stdout + r.stderr);
});
