/**
 * /metrics and /probe?format=prometheus against real probes of fake SMTP servers: the series
 * users alert on, no stale series after a reload, certificate series for failed
 * verification, blackbox_exporter's names, and the exposition format checked by promtool.
 */
import t from 'tap';
import { Counter, Registry, register as globalRegister } from 'prom-client';
import { ResultSeriesCache, type Scrape } from '../../src/metrics/result-cache.js';
import { addDomainMetrics } from '../../src/metrics/domain-metrics.js';
import { addResultMetrics, type ResultEntry } from '../../src/metrics/result-metrics.js';
import type { TargetResult } from '../../src/probe/types.js';
import type { Service } from '../../src/service/service.js';
import { brokenDomain, healthyDomain } from '../helpers/domain-results.js';
import { find, hasPromtool, parseMetrics, promtoolCheckMetrics, type Sample } from '../helpers/prom.js';
import { seedStack, type Stack } from '../helpers/stack.js';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import YAML from 'yaml';

let stack: Stack;
let service: Service;
t.before(async () => {
  stack = await seedStack();
  service = stack.service;
});
t.teardown(() => stack.close());

async function scrape(path = '/metrics', headers: Record<string, string> = {}): Promise<{ text: string; samples: Sample[]; type: string }> {
  const r = await service.app.inject({ url: path, headers });
  t.equal(r.statusCode, 200, `${path} answers 200`);
  return { text: r.body, samples: parseMetrics(r.body), type: String(r.headers['content-type']) };
}

t.test('/metrics: per target and address, what alerting and dashboards read', async (t) => {
  const { samples, type } = await scrape();
  t.match(type, /^text\/plain; version=0\.0\.4/);
  const seed = { target: 'seed', address: '127.0.0.3' };
  const hybrid = { target: 'hybrid', address: '127.0.0.2' };
  t.same(find(samples, 'smtp_tls_probe_success', hybrid).map((s) => s.value), [1]);
  t.same(find(samples, 'smtp_tls_probe_success', seed).map((s) => s.value), [0]);
  t.same(find(samples, 'smtp_tls_probe_status', seed).map((s) => s.value), [2]);
  t.same(find(samples, 'smtp_tls_target_success', { target: 'seed' }).map((s) => s.value), [0]);
  t.same(
    find(samples, 'smtp_tls_reason', seed).map((s) => `${s.labels.reason}/${s.labels.severity}`).sort(),
    ['cert_name_mismatch/critical', 'cert_self_signed/critical'],
    'one series per present reason',
  );
  t.same(find(samples, 'smtp_tls_reason', hybrid), [], 'no reason series for an ok address');
  t.same(
    find(samples, 'smtp_tls_name_match', seed).map((s) => [s.labels.expected, s.value]),
    [['hybrid.domain.com', 0], ['server1.domain.com', 1]],
    'name match per expected name',
  );
  const info = find(samples, 'smtp_tls_cert_info', seed)[0];
  t.ok(info, 'certificate info present although verification failed');
  t.equal(info?.labels.thumbprint, stack.server1.thumbprint);
  t.equal(info?.labels.subject, 'CN=SERVER1');
  t.equal(info?.labels.issuer, 'CN=SERVER1');
  t.equal(info?.labels.sans, 'SERVER1,SERVER1.domain.com');
  t.equal(info?.labels.self_signed, 'true');
  t.equal(info?.labels.tls_certificate_name, '<I>CN=SERVER1<S>CN=SERVER1');
  t.equal(
    find(samples, 'smtp_tls_cert_info', hybrid)[0]?.labels.tls_certificate_name,
    '<I>CN=Contoso Issuing CA, O=Contoso<S>CN=hybrid.domain.com',
    'the value to set on the misconfigured connector, read off the correct server',
  );
  const notAfter = find(samples, 'smtp_tls_cert_not_after_timestamp_seconds', seed)[0]?.value ?? 0;
  t.equal(notAfter, Date.parse(stack.server1.cert.notAfter.toISOString()) / 1000, 'notAfter as a Unix timestamp');
  t.ok(find(samples, 'smtp_tls_cert_not_before_timestamp_seconds', seed)[0]);
  t.ok(find(samples, 'smtp_tls_cert_changed_timestamp_seconds', seed)[0]);
  t.same(find(samples, 'smtp_tls_version_info', seed).map((s) => s.labels.version), ['TLSv1.3']);
  t.same(find(samples, 'smtp_tls_server_info', seed).map((s) => s.labels.greeting_host), ['SERVER1.domain.com']);
  t.same(
    find(samples, 'smtp_tls_phase_duration_seconds', seed).map((s) => s.labels.phase).sort(),
    ['connect', 'ehlo', 'greeting', 'starttls', 'tls', 'total'],
  );
  t.ok(find(samples, 'smtp_tls_last_probe_timestamp_seconds', { target: 'seed' })[0]!.value > Date.now() / 1000 - 60);
  t.same(find(samples, 'smtp_tls_schedule_interval_seconds', { target: 'seed' }).map((s) => s.value), [2], 'interval of the schedule');
  t.ok(find(samples, 'smtp_tls_probes_total', { target: 'seed', status: 'critical' })[0]!.value >= 1, 'probes counted by status');
  t.same(find(samples, 'smtp_tls_config_reload_success').map((s) => s.value), [1]);
  t.same(find(samples, 'smtp_tls_config_targets').map((s) => s.value), [2]);
  t.ok(find(samples, 'process_cpu_user_seconds_total').length, 'process metrics');
  t.ok(find(samples, 'smtp_tls_build_info')[0]?.labels.version);
});

t.test('configured labels go on every series of the target; a clash with ours gets a prefix', async (t) => {
  const { samples } = await scrape();
  const s = find(samples, 'smtp_tls_probe_success', { target: 'hybrid' })[0];
  t.equal(s?.labels.site, 'dc1');
  t.equal(s?.labels.label_host, 'clash');
  t.equal(s?.labels.host, 'hybrid.domain.com');
  t.equal(find(samples, 'smtp_tls_probe_success', { target: 'seed' })[0]?.labels.site, '', 'absent elsewhere: empty');
});

t.test('no stale series: a removed target vanishes; a config reload failure shows', async (t) => {
  await writeFile(stack.file, stack.configText().split('\n').filter((l) => !l.includes('name: seed')).join('\n'));
  t.equal(service.reload().ok, true);
  let { samples } = await scrape();
  t.same(find(samples, 'smtp_tls_probe_success', { target: 'seed' }), []);
  t.same(find(samples, 'smtp_tls_reason', { target: 'seed' }), []);
  t.same(find(samples, 'smtp_tls_probes_total', { target: 'seed' }), []);
  t.same(find(samples, 'smtp_tls_config_targets').map((x) => x.value), [1]);
  await writeFile(stack.file, 'targets: nonsense');
  t.equal(service.reload().ok, false);
  ({ samples } = await scrape());
  t.same(find(samples, 'smtp_tls_config_reload_success').map((x) => x.value), [0]);
  t.same(find(samples, 'smtp_tls_config_targets').map((x) => x.value), [1], 'the running config stays');
  await writeFile(stack.file, stack.configText());
  t.equal(service.reload().ok, true);
  await new Promise((r) => setTimeout(r, 300));
});

t.test('series rendered per target: the text of one registry, re-rendered only for what changed', async (t) => {
  const oneRegistry = async (entries: ResultEntry[]) => {
    const r = new Registry();
    addResultMetrics(r, entries);
    return (await r.metrics()).replace(/\n$/, '');
  };
  const [hybrid, seed] = ['hybrid', 'seed'].map((name) => service.store.all().find((r) => r.name === name)!);
  const entry = (name: string, rec: typeof hybrid, labels: Record<string, string> = {}): ResultEntry => ({
    name,
    labels,
    result: rec!.latest,
    thumbprintSince: rec!.thumbprintSince,
    distinctCertificates: rec!.distinctCertificates,
    intervalSeconds: 2,
  });
  let entries = [entry('hybrid', hybrid, { site: 'dc1', host: 'clash' }), entry('seed', seed), entry('quote"d\\', seed, { team: 'a\nb' })];
  const names = () => entries.map((e) => e.name);
  const labelNames = () => [...new Set(entries.flatMap((e) => Object.keys(e.labels)))].sort();
  const cache = new ResultSeriesCache();
  cache.setLabelNames(labelNames());
  t.equal(await cache.render(entries), 3);
  t.equal(await cache.text(names()), await oneRegistry(entries), 'same text, labels of one target empty on the others');
  t.equal(cache.size, 3);

  const before = await cache.text(names());
  const newer = { ...seed!.latest, durationMs: seed!.latest.durationMs + 1234 };
  entries = entries.map((e) => (e.name === 'seed' ? { ...e, result: newer } : e));
  await cache.render(entries.filter((e) => e.name === 'seed'));
  const after = await cache.text(names());
  t.equal(after, await oneRegistry(entries), 'a new result is rendered');
  t.not(after, before);
  t.match(after, /smtp_tls_probe_duration_seconds\{target="seed"[^}]*\} [\d.]+/);
  t.equal(
    after.split('\n').filter((l) => !before.includes(l)).length,
    1,
    'only the changed series differs',
  );

  entries = entries.filter((e) => e.name !== 'hybrid');
  cache.delete('hybrid');
  t.equal(cache.setLabelNames(labelNames()), false, 'the label names changed: everything is to be rendered again');
  t.equal(cache.size, 0);
  await cache.render(entries);
  t.equal(await cache.text(names()), await oneRegistry(entries), 'a removed target and its label names go');
  t.equal(cache.size, 2, 'nothing kept for targets gone');
  t.notMatch(await cache.text(names()), /site=/);

  entries = entries.map((e) => (e.name === 'seed' ? { ...e, labels: { site: 'dc2' } } : e));
  t.equal(cache.setLabelNames(labelNames()), false);
  await cache.render(entries);
  t.equal(await cache.text(names()), await oneRegistry(entries), 'changed labels are re-rendered');
  t.equal(await cache.text([]), await oneRegistry([]), 'no results: the families, without series');

  // Written directly, not through prom-client: shapes a registry treats in its own ways.
  const base = seed!.latest;
  const addr = base.addresses[0]!;
  const odd: TargetResult = {
    ...base,
    durationMs: NaN,
    reasons: [{ code: 'dns_error', severity: 'critical', message: 'x' }],
    addresses: [
      {
        ...addr,
        // The same reason and the same expected name twice: one series each, as a gauge set twice.
        reasons: [...addr.reasons, addr.reasons[0]!],
        names: [...addr.names, { ...addr.names[0]!, matched: !addr.names[0]!.matched }],
        timings: { ...addr.timings, tlsMs: Infinity, connectMs: -0 },
      },
      { ...addr, address: '::1', certificate: null, chain: [], tls: null, smtp: { extensions: [] }, names: [] },
    ],
  };
  const variants: ResultEntry[] = [
    { name: 'odd', labels: { site: 'a"b\\c\nd' }, result: odd, thumbprintSince: { '::1': base.startedAt }, distinctCertificates: { [addr.address]: 3 }, intervalSeconds: null },
    { name: 'plain', labels: {}, result: base, intervalSeconds: 0.5 },
  ];
  const other = new ResultSeriesCache();
  other.setLabelNames(['site']);
  await other.render(variants);
  t.equal(await other.text(['odd', 'plain']), await oneRegistry(variants), 'duplicates, NaN, infinities, no certificate, escapes: as a registry writes them');
});

t.test('per-family buffers: any sequence of results, removals, label and order changes gives one registry\'s text', async (t) => {
  // The arenas are written over in place when lengths stay, rebuilt around the changes when
  // they do not, and rebuilt whole when members come, go or move; renderings made during a
  // sync stay pending for the next one. Each step is compared with one registry of the same
  // entries in the same order.
  const oneRegistry = async (entries: ResultEntry[]) => {
    const r = new Registry();
    addResultMetrics(r, entries);
    return (await r.metrics()).replace(/\n$/, '');
  };
  const seed = service.store.all().find((r) => r.name === 'seed')!.latest;
  let state = 0x9e3779b9;
  const random = (n: number) => {
    state = (Math.imul(state ^ (state >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
    return state % n;
  };
  // Durations of 1 to 6 digits: lengths change from one result to the next, or stay.
  const resultOf = () => ({ ...seed, durationMs: [7, 42, 123.4, 5000, 98765.4321][random(5)]! + random(3) });
  const labelsOf = (): Record<string, string> => (random(4) === 0 ? { site: `dc${random(3)}` } : {});
  const all = Array.from({ length: 12 }, (_, i) => ({ name: `t${i}`, labels: {} as Record<string, string>, result: resultOf() as TargetResult, intervalSeconds: 60 }));
  let order = all.map((e) => e.name);
  const present = new Set(order.slice(0, 8));
  // A yield after every family: renderings arrive in the middle of a sync.
  const cache = new ResultSeriesCache({ sliceMs: -1 });
  const labelNames = () => [...new Set(all.filter((e) => present.has(e.name)).flatMap((e) => Object.keys(e.labels)))].sort();
  const expected = () => oneRegistry(order.filter((n) => present.has(n)).map((n) => all.find((e) => e.name === n)!));
  cache.setLabelNames(labelNames());
  await cache.render(all.filter((e) => present.has(e.name)));
  let mismatches = 0;
  let changedUnderScrape = 0;
  let held: { scrape: Scrape; text: string } | null = null;
  for (let step = 0; step < 300; step++) {
    const op = random(10);
    const e = all[random(all.length)]!;
    // A result waiting to be written in, so that a sync has work (and yields after each family).
    const fresh = all.find((x, i) => present.has(x.name) && i >= random(all.length));
    if (fresh) {
      fresh.result = resultOf();
      await cache.render([fresh]);
    }
    // Sometimes what follows happens in the middle of a sync.
    const during = random(2) === 0 ? cache.sync(order) : null;
    if (during) await new Promise((r) => setImmediate(r));
    if (op < 5) {
      // A new result for a few targets, sometimes while a sync runs.
      const some = all.filter((x) => present.has(x.name) && random(3) === 0);
      for (const x of some) x.result = resultOf();
      const sync = random(2) === 0 ? cache.sync(order) : Promise.resolve();
      await cache.render(some);
      await sync;
    } else if (op === 5 && present.has(e.name)) {
      present.delete(e.name);
      cache.delete(e.name);
      if (!cache.setLabelNames(labelNames())) await cache.render(all.filter((x) => present.has(x.name)));
    } else if (op === 6 && !present.has(e.name)) {
      present.add(e.name);
      e.result = resultOf();
      if (!cache.setLabelNames(labelNames())) await cache.render(all.filter((x) => present.has(x.name)));
      else await cache.render([e]);
    } else if (op === 7 && present.has(e.name)) {
      e.labels = labelsOf();
      if (!cache.setLabelNames(labelNames())) await cache.render(all.filter((x) => present.has(x.name)));
      else await cache.render([e]);
    } else if (op === 8) {
      // The store's order changed (a target removed and added again).
      const at = random(order.length);
      order = [...order.slice(0, at), ...order.slice(at + 1), order[at]!];
    } else await cache.sync(order);
    await during;
    if ((await cache.text(order)) !== (await expected())) mismatches++;
    // A scrape still being sent keeps its bytes, whatever is written in meanwhile.
    if (held && random(3) === 0) {
      if (Buffer.concat(held.scrape.parts).toString() !== held.text) changedUnderScrape++;
      held.scrape.release();
      held = null;
    } else if (!held && random(3) === 0) {
      const scrape = await cache.scrape(order);
      held = { scrape, text: Buffer.concat(scrape.parts).toString() };
    }
  }
  t.equal(mismatches, 0, '300 random steps, each the text of one registry');
  t.equal(changedUnderScrape, 0, 'no scrape saw its bytes change while it was being sent');
  t.equal(cache.size, present.size);
});

t.test('/metrics is the base registry followed by the results, as one merged registry', async (t) => {
  const { text } = await scrape();
  // The host results, then the domain results (domain mode; none configured here: headers only).
  const domainsAt = text.indexOf('# HELP smtp_tls_domain_status');
  const results = text.slice(text.indexOf('# HELP smtp_tls_target_success'), domainsAt - 1);
  const domainRegistry = new Registry();
  addDomainMetrics(domainRegistry, []);
  t.equal(text.slice(domainsAt), await domainRegistry.metrics(), 'the domain families last');
  const entries = service.store.all().map((rec) => ({
    name: rec.name,
    labels: service.scheduler.targets().find((x) => x.target.name === rec.name)?.target.labels ?? {},
    result: rec.latest,
    thumbprintSince: rec.thumbprintSince,
    distinctCertificates: rec.distinctCertificates,
    intervalSeconds: service.scheduler.targets().find((x) => x.target.name === rec.name)?.intervalSeconds ?? null,
  }));
  const r = new Registry();
  addResultMetrics(r, entries);
  const expected = await r.metrics();
  // A probe may have finished between the scrape and this read: compare the series names and labels only.
  const shape = (s: string) => s.split('\n').map((l) => l.replace(/ [^ ]+$/, '')).join('\n');
  t.equal(shape(results), shape(expected));
  t.match(text, /\n\n# HELP smtp_tls_target_success /, 'a blank line between the base and the results, as merge gives');
  // smtp_tls_probes_total is written directly: the text a prom-client counter gives.
  const counter = new Registry();
  const c = new Counter({ name: 'smtp_tls_probes_total', help: 'Scheduled probes run, by target and resulting status.', labelNames: ['target', 'status'], registers: [counter] });
  for (const rec of service.store.all()) for (const [status, n] of Object.entries(rec.runs.byStatus)) if (n > 0) c.inc({ target: rec.name, status }, n);
  const block = (s: string) => /# HELP smtp_tls_probes_total[^]*?(?=\n\n|\n$)/.exec(s)?.[0].split('\n').map((l) => l.replace(/ \d+$/, ''));
  t.ok((block(text)?.length ?? 0) > 2, 'smtp_tls_probes_total has series');
  t.same(block(text), block(await counter.metrics()), 'smtp_tls_probes_total as prom-client writes it');
});

t.test('our registry is our own', async (t) => {
  const global = await globalRegister.metrics();
  t.notMatch(global, /smtp_tls_|process_cpu/, 'nothing registered on prom-client\'s global registry');
});

t.test('/probe in Prometheus format: blackbox_exporter names and ours', async (t) => {
  const url = `/probe?host=hybrid.domain.com&port=${stack.goodSrv.port}&format=prometheus`;
  const { samples, text } = await scrape(url);
  t.same(find(samples, 'probe_success').map((s) => s.value), [1]);
  t.ok(find(samples, 'probe_duration_seconds')[0]!.value > 0);
  t.same(find(samples, 'probe_ip_protocol').map((s) => s.value), [4]);
  const chainExpiry = Math.min(stack.good.cert.notAfter.getTime(), stack.ca.intermediate.cert.notAfter.getTime()) / 1000;
  t.same(find(samples, 'probe_ssl_earliest_cert_expiry').map((s) => s.value), [chainExpiry]);
  t.same(find(samples, 'probe_tls_version_info').map((s) => s.labels.version), ['TLS 1.3']);
  const chain = find(samples, 'probe_ssl_last_chain_info')[0];
  t.equal(chain?.labels.subject, 'CN=hybrid.domain.com');
  t.equal(chain?.labels.subjectalternative, 'hybrid.domain.com');
  t.match(chain?.labels.fingerprint_sha256, /^[0-9a-f]{64}$/);
  t.same(find(samples, 'smtp_tls_probe_success', { target: 'hybrid.domain.com', address: '127.0.0.2' }).map((s) => s.value), [1]);
  t.notMatch(text, /process_cpu/, 'a probe answer holds the probe only');

  const seedUrl = `/probe?host=127.0.0.3&port=${stack.badSrv.port}&expect=hybrid.domain.com`;
  const viaAccept = await scrape(seedUrl, {
    accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  });
  t.same(find(viaAccept.samples, 'probe_success').map((s) => s.value), [0], 'Prometheus\' Accept header selects the format');
  t.ok(find(viaAccept.samples, 'probe_ssl_earliest_cert_expiry')[0], 'certificate series even though verification failed');
  t.same(find(viaAccept.samples, 'smtp_tls_name_match').map((s) => s.value), [0]);
  const json = await service.app.inject({ url: seedUrl, headers: { accept: '*/*' } });
  t.equal(json.json().status, 'critical', 'curl and browsers still get JSON');

  const counted = parseMetrics((await service.app.inject({ url: '/metrics' })).body);
  t.ok(find(counted, 'smtp_tls_on_demand_requests_total', { outcome: 'critical' })[0]!.value >= 1, 'on-demand requests counted by outcome');
});

t.test('promtool accepts the exposition', { skip: hasPromtool() || process.env.CI ? false : 'promtool not installed (CI installs it)' }, async (t) => {
  const metrics = (await scrape()).text;
  t.equal(promtoolCheckMetrics(metrics), '', '/metrics');
  const probe = (await scrape(`/probe?host=hybrid.domain.com&port=${stack.goodSrv.port}&format=prometheus`)).text;
  t.equal(promtoolCheckMetrics(probe), '', '/probe?format=prometheus');
});

/** Every PromQL expression the shipped dashboard and alert rules use. */
function shippedExpressions(): Array<{ where: string; expr: string }> {
  const root = new URL('../../config/', import.meta.url);
  const dashboard = JSON.parse(readFileSync(new URL('grafana/dashboards/smtp-tls-probe.json', root), 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    templating: { list: Array<{ name: string; definition?: string }> };
  };
  const rules = YAML.parse(readFileSync(new URL('prometheus/alerts.yml', root), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; expr: string }> }>;
  };
  return [
    ...dashboard.panels.flatMap((p) => p.targets.map((x) => ({ where: `panel "${p.title}"`, expr: x.expr }))),
    ...dashboard.templating.list.filter((v) => v.definition).map((v) => ({ where: `variable ${v.name}`, expr: v.definition!.replace(/^label_values\((\w+(?:\{[^}]*\})?),.*$/, '$1') })),
    ...rules.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
  ];
}

t.test('dashboard and alert rules use only metric names the service exposes', async (t) => {
  const live = new Set([
    ...(await scrape()).samples.map((s) => s.name.replace(/_(bucket|sum|count)$/, '')),
    ...(await scrape(`/probe?host=hybrid.domain.com&port=${stack.goodSrv.port}&format=prometheus`)).samples.map((s) => s.name),
    // Domain mode's series, as /metrics renders them for scheduled domains (none in this stack).
    ...[healthyDomain(), brokenDomain()].flatMap((r) => {
      const registry = new Registry();
      addDomainMetrics(registry, [{ name: r.domain, labels: {}, result: r }]);
      return [...new Set(registry.getMetricsAsArray().map((m) => m.name))];
    }),
  ]);
  const exprs = shippedExpressions();
  t.ok(exprs.length >= 15, `${exprs.length} expressions`);
  for (const { where, expr } of exprs) {
    const names = expr.replace(/\{[^}]*\}/g, '').match(/\b(?:smtp_tls|probe)_[a-z0-9_]+\b/g) ?? [];
    t.ok(names.length > 0, `${where} reads a metric of ours`);
    for (const name of names) t.ok(live.has(name), `${where}: ${name} is exposed`);
  }
});

t.test('every shipped expression parses (promtool)', { skip: hasPromtool() || process.env.CI ? false : 'promtool not installed (CI installs it)' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stp-exprs-'));
  const rules = {
    groups: [
      {
        name: 'dashboard-expressions',
        rules: shippedExpressions().map((e, i) => ({
          record: `check:expr_${i}`,
          expr: e.expr.replace(/\$__rate_interval|\$__range|\$__interval/g, '5m').replace(/\$\{?(target|job)\}?/g, '.*'),
        })),
      },
    ],
  };
  writeFileSync(join(dir, 'rules.yml'), YAML.stringify(rules));
  const r = spawnSync('promtool', ['check', 'rules', join(dir, 'rules.yml')], { encoding: 'utf8' });
  t.equal(r.status, 0, `${r.stdout}${r.stderr}`);
  rmSync(dir, { recursive: true, force: true });
});

t.test('alert rules: promtool check and unit tests; the Prometheus config is valid', { skip: hasPromtool() || process.env.CI ? false : 'promtool not installed (CI installs it)' }, async (t) => {
  const dir = new URL('../../config/prometheus/', import.meta.url).pathname;
  const check = spawnSync('promtool', ['check', 'rules', 'alerts.yml'], { cwd: dir, encoding: 'utf8' });
  t.equal(check.status, 0, check.stdout + check.stderr);
  t.match(check.stdout, /SUCCESS: 16 rules found/);
  const unit = spawnSync('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: dir, encoding: 'utf8' });
  t.equal(unit.status, 0, unit.stdout + unit.stderr);
  const config = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: dir, encoding: 'utf8' });
  t.equal(config.status, 0, config.stdout + config.stderr);
});

const hasAmtool = spawnSync('amtool', ['--version']).status === 0;

t.test('Alertmanager example: amtool accepts it and routes each severity', { skip: hasAmtool || process.env.CI ? false : 'amtool not installed (CI installs prometheus-alertmanager)' }, async (t) => {
  const dir = new URL('../../config/alertmanager/', import.meta.url).pathname;
  const check = spawnSync('amtool', ['check-config', 'alertmanager.yml'], { cwd: dir, encoding: 'utf8' });
  t.equal(check.status, 0, check.stdout + check.stderr);
  t.match(check.stdout, /4 inhibit rules/);
  const routes: Array<[string[], string]> = [
    [['severity=critical', 'alertname=SmtpTlsCertificateNameMismatch', 'host=hybrid.domain.com'], 'pager'],
    [['severity=critical', 'alertname=SmtpTlsCannotConnect'], 'pager'],
    [['severity=warning', 'alertname=SmtpTlsCertificateExpiresIn30Days'], 'ticket'],
    [['severity=warning', 'alertname=SmtpTlsConfigReloadFailed'], 'ticket'],
    [['severity=info', 'alertname=SmtpTlsCertificateChanged'], 'null'],
  ];
  for (const [labels, receiver] of routes) {
    const r = spawnSync('amtool', ['config', 'routes', 'test', '--config.file=alertmanager.yml', `--verify.receivers=${receiver}`, ...labels], { cwd: dir, encoding: 'utf8' });
    t.equal(r.status, 0, `${labels.join(' ')} -> ${receiver}: ${r.stdout}${r.stderr}`);
  }
  const wrong = spawnSync('amtool', ['config', 'routes', 'test', '--config.file=alertmanager.yml', '--verify.receivers=ticket', 'severity=critical'], { cwd: dir, encoding: 'utf8' });
  t.not(wrong.status, 0, 'a wrong expectation fails: the check can fail');

  // Inhibition is keyed on the labels every rule aggregates by.
  const config = YAML.parse(readFileSync(join(dir, 'alertmanager.yml'), 'utf8')) as { inhibit_rules: Array<{ source_matchers: string[]; target_matchers: string[]; equal: string[] }> };
  const rules = YAML.parse(readFileSync(new URL('../../config/prometheus/alerts.yml', import.meta.url), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };
  const byAddress = rules.groups.flatMap((g) => g.rules).filter((r) => /by \(host, port, address\)/.test(r.expr)).map((r) => r.alert);
  for (const rule of config.inhibit_rules) {
    t.same(rule.equal, ['host', 'port', 'address']);
    const source = /alertname="(\w+)"/.exec(rule.source_matchers[0]!)?.[1];
    t.ok(source && byAddress.includes(source), `${source} is keyed by host, port and address`);
  }
  t.match(JSON.stringify(config.inhibit_rules[0]), /SmtpTlsCertificateNameMismatch.*SmtpTlsProbeCritical/, 'the mismatch inhibits the generic critical alert');
});

t.test('every alert has a runbook_url pointing at a README heading', async (t) => {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const anchors = new Set(
    [...readme.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.trim().toLowerCase().replace(/[^a-z0-9 _-]/g, '').replace(/ /g, '-')),
  );
  const rules = YAML.parse(readFileSync(new URL('../../config/prometheus/alerts.yml', import.meta.url), 'utf8')) as {
    groups: Array<{ rules: Array<{ alert: string; annotations: { runbook_url?: string } }> }>;
  };
  for (const r of rules.groups.flatMap((g) => g.rules)) {
    const anchor = /^README\.md#(.+)$/.exec(r.annotations.runbook_url ?? '')?.[1];
    t.ok(anchor && anchors.has(anchor), `${r.alert}: ${r.annotations.runbook_url} is a heading of README.md`);
  }
});

t.test('dashboard: a job variable, targets of the chosen job, $__rate_interval', async (t) => {
  const dashboard = JSON.parse(readFileSync(new URL('../../config/grafana/dashboards/smtp-tls-probe.json', import.meta.url), 'utf8')) as {
    panels: Array<{ title: string; targets: Array<{ expr: string }> }>;
    templating: { list: Array<{ name: string; definition?: string }> };
  };
  const vars = new Map(dashboard.templating.list.map((v) => [v.name, v]));
  t.equal(vars.get('job')?.definition, 'label_values(smtp_tls_target_status, job)');
  t.equal(vars.get('target')?.definition, 'label_values(smtp_tls_target_status{job=~"$job"}, target)', 'targets of the chosen job only');
  for (const p of dashboard.panels) {
    for (const { expr } of p.targets) {
      t.match(expr, /job=~"\$job", target=~"\$target"/, `${p.title}: filtered by job and target`);
      for (const range of expr.match(/\[[^\]]+\]/g) ?? []) t.equal(range, '[$__rate_interval]', `${p.title}: ranges use $__rate_interval`);
    }
  }
});
