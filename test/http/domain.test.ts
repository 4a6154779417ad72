/**
 * Domain mode in the service: GET /probe/domain under the on-demand policy (hostile parameters,
 * token, rate limit, shared concurrency cap, the address policy handed to the check), and a
 * running service with scheduled domains: /results/domains, /metrics, reload, OpenAPI. The
 * domain check itself is a stand-in that answers canned results (probeDomain is tested apart).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULTS, type OnDemandPolicy } from '../../src/config/load.js';
import { buildApp } from '../../src/http/app.js';
import { probeChecked } from '../../src/http/on-demand.js';
import { OnDemandDrain } from '../../src/http/shutdown.js';
import { createLogger } from '../../src/log.js';
import type { DomainResult } from '../../src/probe/domain/types.js';
import type { DomainProbeFn } from '../../src/scheduler/scheduler.js';
import { startService } from '../../src/service/service.js';
import { MemoryResultsStore } from '../../src/store/results-store.js';
import { brokenDomain, fakeProbeDomain, healthyDomain } from '../helpers/domain-results.js';
import { find, parseMetrics } from '../helpers/prom.js';

const TOKEN = 'a-token-of-sixteen-or-more';

async function app(change: Partial<OnDemandPolicy> = {}, probeDomain?: DomainProbeFn) {
  const policy: OnDemandPolicy = {
    enabled: true,
    ports: [...DEFAULTS.onDemand.ports],
    allowHosts: [],
    refuseAddresses: [...DEFAULTS.onDemand.refuseAddresses],
    token: null,
    rateLimit: { max: 100_000, windowSeconds: 60 },
    maxConcurrent: 4,
    maxTimeoutMs: 60_000,
    probeDefaults: { ehloName: 'probe.test', warnDays: 21 },
    defaultTimeoutMs: 2000,
    ...change,
  };
  const fake = fakeProbeDomain({ 'broken.test': brokenDomain() });
  const outcomes: string[] = [];
  const drain = new OnDemandDrain();
  const a = await buildApp({
    logger: createLogger('silent'),
    store: new MemoryResultsStore(),
    scheduler: { targets: () => [], target: () => undefined },
    probe: probeChecked,
    resolver: async () => {
      throw new Error('no lookup here');
    },
    probeDomain: probeDomain ?? fake.probe,
    policy: () => policy,
    health: () => ({ config: { source: 'test', loadedAt: 'now', targets: 0, lastReload: null } }),
    notReady: () => null,
    version: '0.0.0',
    metrics: { contentType: 'text/plain; version=0.0.4', renderProbe: async () => '', countOnDemand: (o) => void outcomes.push(o), scrape: async () => ({ parts: [], length: 0, release: () => undefined }) },
    drain,
  });
  t.teardown(() => a.close());
  return { app: a, policy, calls: fake.calls, outcomes, drain };
}

/** For assertion names: a raw U+2028 or CR would break the TAP stream itself. */
const show = (text: string) => JSON.stringify(text).replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

const get = (a: Awaited<ReturnType<typeof app>>['app'], url: string, headers: Record<string, string> = {}) => a.inject({ url, headers });

t.test('/probe/domain: the DomainResult as JSON or metrics, the parsed target, and the address policy handed to the check', async (t) => {
  const { app: a, calls, outcomes } = await app();
  const r = await get(a, '/probe/domain?domain=B%C3%BCcher.Example.&sender=exo&expect_mta_sts=enforce&expect_dane=1&expect_tls_rpt=false&no_smtp=1&timeout=12.5');
  t.equal(r.statusCode, 200, r.body);
  const body = r.json() as DomainResult;
  t.equal(body.domain, 'xn--bcher-kva.example');
  t.same(body.senders.map((s) => s.verdict), ['deliver', 'deliver']);
  t.equal(calls.length, 1);
  const call = calls[0]!;
  t.same(call.target, {
    domain: 'xn--bcher-kva.example',
    senders: ['exo'],
    smtp: false,
    expect: { mtaSts: 'enforce', dane: true, tlsRpt: false },
    probe: { port: 25, ehloName: 'probe.test', warnDays: 21, minTlsVersion: 'TLSv1.2' },
  }, 'A-label without the trailing dot; every parameter in its type; the defaults of the config');
  t.ok(call.timeoutMs <= 12_500 && call.timeoutMs > 12_000, `one deadline from timeout= (${call.timeoutMs})`);
  const refuse = call.refuse!;
  t.type(refuse, 'function', 'the check gets the address policy');
  const verdicts: Array<[string, string | null]> = [
    ['127.0.0.1', 'loopback'], ['::1', 'loopback'], ['::ffff:127.0.0.10', 'loopback'], ['169.254.169.254', 'link-local'],
    ['192.0.2.1', 'reserved'], ['2001:db8::25', 'reserved'], ['0.0.0.0', 'unspecified'], ['64:ff9b::7f00:1', 'loopback'],
    ['fe80::1%lo', 'reserved'], ['127.0.0.1#', 'reserved'], ['garbage', 'reserved'],
    ['10.0.0.25', null], ['198.41.0.4', null], ['2a00:1450:4001::1b', null],
  ];
  for (const [address, cls] of verdicts) t.equal(refuse(address), cls, `${address}: ${cls ?? 'allowed'}`);
  const { calls: strictCalls, app: strict } = await app({ refuseAddresses: ['private', 'loopback'] });
  await get(strict, '/probe/domain?domain=example.test');
  t.equal(strictCalls[0]!.refuse!('10.0.0.25'), 'private', 'built from the configured classes');
  t.equal(strictCalls[0]!.refuse!('192.0.2.1'), null, 'a class not refused is allowed');
  t.same(strictCalls[0]!.target.senders, ['rfc', 'exo'], 'every sender by default');
  t.equal(strictCalls[0]!.target.smtp, true);
  t.equal(strictCalls[0]!.timeoutMs, 60_000, 'default deadline: a minute, within maxTimeout');
  await get(strict, '/probe/domain?domain=example.test', { 'x-prometheus-scrape-timeout-seconds': '10' });
  t.ok(strictCalls[1]!.timeoutMs <= 9500 && strictCalls[1]!.timeoutMs > 9000, `scraped: half a second before Prometheus gives up (${strictCalls[1]!.timeoutMs})`);
  const { calls: cappedCalls, app: short } = await app({ maxTimeoutMs: 5000 });
  await get(short, '/probe/domain?domain=example.test&timeout=30');
  t.ok(cappedCalls[0]!.timeoutMs <= 5000, 'capped by onDemand.maxTimeout');

  const m = await get(a, '/probe/domain?domain=broken.test&format=prometheus');
  t.equal(m.statusCode, 200);
  t.match(m.headers['content-type'], /^text\/plain; version=0\.0\.4/);
  const samples = parseMetrics(m.body);
  t.same(find(samples, 'smtp_tls_domain_sender_verdict', { target: 'broken.test', domain: 'broken.test', sender: 'exo' }).map((s) => s.value), [2]);
  t.same(find(samples, 'smtp_tls_domain_reason', { reason: 'dnssec_bogus' }).map((s) => s.labels.mx), ['mx2.broken.test']);
  const viaAccept = await get(a, '/probe/domain?domain=broken.test', { accept: 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5' });
  t.match(viaAccept.body, /^# HELP smtp_tls_domain_status/m, "Prometheus' Accept header selects the metrics");
  t.same(outcomes, ['ok', 'critical', 'critical'], 'counted by status in smtp_tls_on_demand_requests_total');
});

t.test('/probe/domain: hostile and malformed parameters are 400 naming the parameter, before any check', async (t) => {
  const { app: a, calls } = await app();
  const long = `${'abcdefghi.'.repeat(25)}test`;
  const domains = [
    '127.0.0.1', '::1', '[::1]', '::ffff:127.0.0.1', '2130706433', '0x7f000001', '0177.0.0.1', '127.1', '127.0.0.1.', '192.0.2.1',
    'a_b.test', '_mta-sts.example.test', 'a b.test', 'a#b.test', 'a/b.test', 'a@b.test', 'a%2eb.test', 'a\\b.test', 'a\nb.test', 'a\0.test',
    'example.test:25', 'example.test..', '.example.test', '.', '..', '*.example.test', '-a.test', 'a-.test', 'xn--zz.test',
    `${'a'.repeat(64)}.test`, long, 'exa\u200bmple.test', 'example.test\u2028', 'example.123', 'mailto:postmaster@example.test', '',
  ];
  for (const d of domains) {
    const r = await get(a, `/probe/domain?domain=${encodeURIComponent(d)}`);
    t.equal(r.statusCode, 400, `domain=${show(d)}: ${show(r.body)}`);
    t.equal(r.json().parameter, 'domain', show(d));
  }
  const others: Array<[string, string]> = [
    ['', 'domain'],
    ['domain=a.test&domain=b.test', 'domain'],
    ['domain=a.test&host=a.test', 'host'],
    ['domain=a.test&target=a.test', 'target'],
    ['domain=a.test&port=25', 'port'],
    ['domain=a.test&Domain=b.test', 'Domain'],
    ['domain=a.test&sender=gmail', 'sender'],
    ['domain=a.test&sender=rfc&sender=exo', 'sender'],
    ['domain=a.test&expect_mta_sts=strict', 'expect_mta_sts'],
    ['domain=a.test&expect_dane=yes', 'expect_dane'],
    ['domain=a.test&expect_tls_rpt=', 'expect_tls_rpt'],
    ['domain=a.test&no_smtp=2', 'no_smtp'],
    ['domain=a.test&timeout=0x10', 'timeout'],
    ['domain=a.test&timeout=1e1', 'timeout'],
    ['domain=a.test&timeout=-1', 'timeout'],
    ['domain=a.test&timeout=0', 'timeout'],
    ['domain=a.test&timeout=601', 'timeout'],
    ['domain=a.test&timeout=NaN', 'timeout'],
    ['domain=a.test&format=xml', 'format'],
  ];
  for (const [query, parameter] of others) {
    const r = await get(a, `/probe/domain?${query}`);
    t.equal(r.statusCode, 400, `${query}: ${r.body}`);
    t.equal(r.json().parameter, parameter, `${query} names ${parameter}`);
  }
  const header = await get(a, '/probe/domain?domain=a.test', { 'x-prometheus-scrape-timeout-seconds': 'soon' });
  t.equal(header.json().parameter, 'x-prometheus-scrape-timeout-seconds');
  t.equal(calls.length, 0, 'no check ran for any of them');
  const dot = await get(a, '/probe/domain?domain=Example.TEST.');
  t.equal(dot.statusCode, 200, 'one trailing dot is a fully qualified name');
  t.equal(calls[0]?.target.domain, 'example.test');
});

t.test('/probe/domain: the policy of /probe — switch, token, Host header, allowlist, port 25, cap shared with /probe, rate limit, HEAD, shutdown', async (t) => {
  const off = await app({ enabled: false });
  t.equal((await get(off.app, '/probe/domain?domain=a.test')).json().code, 'on_demand_disabled');

  const tokened = await app({ token: TOKEN });
  t.equal((await get(tokened.app, '/probe/domain?domain=a.test')).statusCode, 401);
  t.equal((await get(tokened.app, '/probe/domain?domain=a.test', { authorization: 'Bearer wrong-token-of-enough-size' })).statusCode, 401);
  t.equal((await get(tokened.app, '/probe/domain?domain=a.test', { authorization: `Bearer ${TOKEN}`, host: 'evil.example' })).statusCode, 200, 'with the token any Host');

  const plain = await app();
  const rebound = await get(plain.app, '/probe/domain?domain=a.test', { host: 'attacker.example' });
  t.equal(rebound.json().code, 'host_header_not_allowed', 'DNS rebinding: a name in Host without a token');

  const listed = await app({ allowHosts: ['example.test', '*.corp.test'] });
  t.equal((await get(listed.app, '/probe/domain?domain=example.test')).statusCode, 200);
  t.equal((await get(listed.app, '/probe/domain?domain=mail.corp.test')).statusCode, 200);
  t.equal((await get(listed.app, '/probe/domain?domain=other.test')).json().code, 'host_not_allowed');

  const no25 = await app({ ports: [587] });
  t.equal((await get(no25.app, '/probe/domain?domain=a.test')).json().code, 'port_not_allowed', 'SMTP to the MX hosts is port 25');
  t.equal((await get(no25.app, '/probe/domain?domain=a.test&no_smtp=1')).statusCode, 200, 'DNS and policy only: no SMTP port needed');

  // Two checks held open fill a cap of two; /probe then gets 503 too (one cap for both routes).
  const release: Array<() => void> = [];
  const held: DomainProbeFn = (target) => new Promise((resolve) => release.push(() => resolve(healthyDomain(target.domain))));
  const capped = await app({ maxConcurrent: 2 }, held);
  const running = [get(capped.app, '/probe/domain?domain=a.test'), get(capped.app, '/probe/domain?domain=b.test')];
  while (release.length < 2) await new Promise((r) => setImmediate(r));
  const third = await get(capped.app, '/probe/domain?domain=c.test');
  t.equal(third.statusCode, 503);
  t.equal(third.json().code, 'too_many_probes');
  t.equal(third.headers['retry-after'], '1');
  t.equal((await get(capped.app, '/probe?host=192.0.2.1')).json().code, 'too_many_probes', '/probe shares the cap');
  release.forEach((r) => r());
  t.same((await Promise.all(running)).map((r) => r.statusCode), [200, 200]);

  const limited = await app({ rateLimit: { max: 2, windowSeconds: 60 } });
  const codes = [];
  for (let i = 0; i < 3; i++) codes.push((await get(limited.app, '/probe/domain?domain=a.test')).statusCode);
  t.same(codes, [200, 200, 429], 'the rate limit of /probe');
  t.same(limited.outcomes, ['ok', 'ok', 'rate_limited']);

  const head = await plain.app.inject({ method: 'HEAD', url: '/probe/domain?domain=a.test' });
  t.equal(head.statusCode, 405);
  t.equal(head.headers.allow, 'GET');
  t.equal(plain.calls.length, 0, 'HEAD checks nothing');

  await plain.drain.drain(0);
  t.equal((await get(plain.app, '/probe/domain?domain=a.test')).json().code, 'shutting_down');
});

t.test('a service with domains: scheduled, /results/domains, /metrics, reload, OpenAPI', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stp-domains-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'probe.yaml');
  const config = (domains: string[]) =>
    ['listen: 127.0.0.1:0', 'jitter: 0', 'storage: { path: ":memory:" }', 'dns: { resolver: "127.0.0.1:5353" }', 'domains:', ...domains].join('\n');
  await writeFile(file, config(['  - { domain: example.test, labels: { site: dc1 } }', '  - { domain: broken.test, name: broken, expect: { dane: true } }']));
  const fake = fakeProbeDomain({ 'broken.test': brokenDomain() });
  const service = await startService({ configPath: file, logger: createLogger('silent'), watch: false, env: {}, probeDomain: fake.probe });
  t.teardown(() => service.close(0));
  await service.scheduler.ready();
  t.same(fake.calls.map((c) => c.target.domain).sort(), ['broken.test', 'example.test'], 'the first round checks every domain');
  t.equal(fake.calls[0]!.refuse, undefined, 'scheduled checks are not under the on-demand address policy');

  const all = (await service.app.inject({ url: '/results/domains' })).json() as Array<DomainResult & { name: string; labels: object; statusSince: string }>;
  t.same(all.map((r) => [r.name, r.domain, r.status]).sort(), [['broken', 'broken.test', 'critical'], ['example.test', 'example.test', 'ok']]);
  t.same(all.find((r) => r.name === 'example.test')?.labels, { site: 'dc1' });
  const one = (await service.app.inject({ url: '/results/domains/broken' })).json();
  t.match(one, { name: 'broken', domain: 'broken.test', schedule: '*/5 * * * *', timeoutSeconds: 60, running: false, latest: { status: 'critical' }, runs: { total: 1 } });
  t.type(one.nextRun, 'string');
  const missing = await service.app.inject({ url: '/results/domains/nothing' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().code, 'unknown_domain');
  t.equal((await service.app.inject({ url: '/results/broken' })).json().code, 'unknown_target', 'a domain is not a host target');

  const metrics = parseMetrics((await service.app.inject({ url: '/metrics' })).body);
  t.same(find(metrics, 'smtp_tls_domain_status').map((s) => [s.labels.target, s.labels.domain, s.labels.site, s.value]).sort(), [
    ['broken', 'broken.test', '', 2],
    ['example.test', 'example.test', 'dc1', 0],
  ], 'per scheduled domain, with its configured labels');
  t.same(find(metrics, 'smtp_tls_dane_match', { target: 'broken' }).map((s) => s.value), [0]);
  t.same(find(metrics, 'smtp_tls_config_domains').map((s) => s.value), [2]);
  t.equal((await service.app.inject({ url: '/healthz' })).json().config.domains, 2);

  await writeFile(file, config(['  - { domain: example.test, labels: { site: dc2 } }']));
  const outcome = service.reload();
  t.same(outcome, { ok: true, added: [], removed: ['broken'], changed: ['example.test'] });
  await new Promise((r) => setTimeout(r, 50));
  t.same((await service.app.inject({ url: '/results/domains' })).json().map((r: { name: string }) => r.name), ['example.test'], 'a removed domain leaves the results at once');
  const after = parseMetrics((await service.app.inject({ url: '/metrics' })).body);
  t.same(find(after, 'smtp_tls_domain_status').map((s) => [s.labels.target, s.labels.site]), [['example.test', 'dc2']], 'and the metrics, with the new labels');

  const api = (await service.app.inject({ url: '/openapi.json' })).json() as { paths: Record<string, { get?: { parameters?: Array<{ name: string }> } }> };
  t.ok(api.paths['/results/domains']?.get && api.paths['/results/domains/{name}']?.get, 'the result routes are documented');
  t.same(api.paths['/probe/domain']?.get?.parameters?.map((p) => p.name).sort(), ['domain', 'expect_dane', 'expect_mta_sts', 'expect_tls_rpt', 'format', 'no_smtp', 'sender', 'timeout']);
});
