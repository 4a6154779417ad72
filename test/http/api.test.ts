/**
 * The HTTP API through inject, probing real fake SMTP servers on loopback: on-demand results,
 * every refusal path of the on-demand policy, malformed parameters, scheduled results. The
 * pure policy rules are in on-demand.test.ts, hostile spellings in on-demand-hostile.test.ts.
 */
import t from 'tap';
import { DEFAULTS, type OnDemandPolicy } from '../../src/config/load.js';
import { BUILTIN_MODULES, type ProbeModule } from '../../src/config/modules.js';
import { buildApp } from '../../src/http/app.js';
import { probeChecked } from '../../src/http/on-demand.js';
import { createLogger } from '../../src/log.js';
import { ServiceMetrics } from '../../src/metrics/service-metrics.js';
import { makeTarget, probeTarget, type Resolver } from '../../src/probe/index.js';
import { Scheduler, type ProbeFn } from '../../src/scheduler/scheduler.js';
import { MemoryResultsStore } from '../../src/store/results-store.js';
import type { Minted, Pki } from '../helpers/certs.js';
import type { FakeSmtp } from '../helpers/fake-smtp.js';
import { seedServers } from '../helpers/stack.js';

let ca: Pki;
let good: Minted;
let server1: Minted;
let goodSrv: FakeSmtp;
let badSrv: FakeSmtp;
let silentSrv: FakeSmtp;
t.before(async () => {
  const servers = await seedServers();
  ({ ca, good, server1, goodSrv, badSrv, silentSrv } = servers);
  t.teardown(() => servers.close());
});

const DNS: Record<string, string[]> = {
  'hybrid.domain.com': ['127.0.0.2'],
  'server1.domain.com': ['127.0.0.3'],
  'slow.domain.com': ['127.0.0.4'],
  'linklocal.domain.com': ['169.254.10.20'],
  'mixed.domain.com': ['127.0.0.2', '::1'],
};
const resolver: Resolver = async (host) => {
  const found = DNS[host];
  if (!found) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found;
};

interface Harness {
  app: Awaited<ReturnType<typeof buildApp>>;
  policy: OnDemandPolicy;
  logs: Array<Record<string, unknown>>;
  scheduler: Scheduler;
  store: MemoryResultsStore;
}

async function harness(overrides: Partial<OnDemandPolicy> = {}, level = 'info'): Promise<Harness> {
  const policy: OnDemandPolicy = {
    enabled: true,
    ports: [25, 465, 587, 2525, goodSrv.port, badSrv.port, silentSrv.port],
    allowHosts: [],
    // Loopback is allowed here: the fake servers live there.
    refuseAddresses: ['link-local', 'unspecified', 'multicast', 'broadcast'],
    token: null,
    rateLimit: { max: 1000, windowSeconds: 60 },
    maxConcurrent: 4,
    maxTimeoutMs: 60_000,
    probeDefaults: { ca: ca.root.certPem, ehloName: 'probe.test' },
    defaultTimeoutMs: 3000,
    ...overrides,
  };
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger(level, { write: (line: string) => void logs.push(JSON.parse(line)) });
  const store = new MemoryResultsStore();
  const probe: ProbeFn = (target, o) => probeTarget(target, { resolver, ...o });
  const scheduler = new Scheduler({ probe, store, logger, concurrency: 4, jitterMs: 0 });
  const metrics = new ServiceMetrics({
    store,
    targets: () => scheduler.configured(),
    intervalSeconds: (schedule) => scheduler.intervalSeconds(schedule),
    reload: () => ({ ok: true, at: new Date().toISOString() }),
    version: '9.9.9',
  });
  const app = await buildApp({
    logger,
    store,
    scheduler,
    probe: probeChecked,
    resolver,
    policy: () => policy,
    health: () => ({ config: { source: 'test', loadedAt: 'now', targets: 0, lastReload: null } }),
    notReady: () => null,
    version: '9.9.9',
    metrics,
  });
  t.teardown(async () => {
    await scheduler.stop(0);
    await app.close();
  });
  return { app, policy, logs, scheduler, store };
}

t.test('GET /probe answers the JSON result of the probe', async (t) => {
  const { app } = await harness();
  const ok = await app.inject({ url: `/probe?host=hybrid.domain.com&port=${goodSrv.port}` });
  t.equal(ok.statusCode, 200);
  const body = ok.json();
  t.equal(body.status, 'ok', JSON.stringify(body.addresses[0]?.reasons ?? body.reasons));
  t.same(body.target.expect, ['hybrid.domain.com']);
  t.equal(body.target.addresses, undefined, 'the pinning done for safety is not echoed');
  t.equal(body.addresses[0].address, '127.0.0.2');
  t.equal(body.addresses[0].certificate.thumbprint, good.thumbprint);

  const seed = await app.inject({ url: `/probe?target=server1.domain.com&port=${badSrv.port}&expect=hybrid.domain.com&expect=server1.domain.com` });
  t.equal(seed.statusCode, 200, 'a critical result is still a 200: the probe ran');
  const s = seed.json();
  t.equal(s.status, 'critical');
  t.same(s.target.expect, ['hybrid.domain.com', 'server1.domain.com'], 'expect is repeatable');
  t.same(s.addresses[0].reasons.map((r: { code: string }) => r.code).sort(), ['cert_name_mismatch', 'cert_self_signed']);
  t.equal(s.addresses[0].certificate.tlsCertificateName, '<I>CN=SERVER1<S>CN=SERVER1');

  const nx = await app.inject({ url: '/probe?host=nothing.domain.com' });
  t.equal(nx.statusCode, 200);
  t.same(nx.json().reasons.map((r: { code: string }) => r.code), ['dns_error']);

  const timeout = await app.inject({ url: `/probe?host=slow.domain.com&port=${silentSrv.port}&timeout=0.3` });
  t.same(timeout.json().addresses[0].reasons.map((r: { code: string }) => r.code), ['greeting_timeout']);
  t.ok(timeout.json().durationMs < 1500, 'the timeout parameter is the deadline');
});

t.test('blackbox_exporter-style requests: target=host:port, module, scrape timeout header', async (t) => {
  const { app } = await harness();
  const r = await app.inject({
    url: `/probe?target=hybrid.domain.com:${goodSrv.port}&module=smtp_starttls`,
    headers: { 'x-prometheus-scrape-timeout-seconds': '10' },
  });
  t.equal(r.statusCode, 200);
  t.equal(r.json().target.port, goodSrv.port, 'port taken from target');
  t.equal(r.json().status, 'ok');
  const slow = await app.inject({
    url: `/probe?target=slow.domain.com:${silentSrv.port}`,
    headers: { 'x-prometheus-scrape-timeout-seconds': '1' },
  });
  t.same(slow.json().addresses[0].reasons.map((x: { code: string }) => x.code), ['greeting_timeout']);
  t.ok(slow.json().durationMs < 900, `finished before the scrape timeout (${slow.json().durationMs} ms)`);
  const v6 = await app.inject({ url: '/probe?target=[::1]:80' });
  t.equal(v6.json().code, 'port_not_allowed', '[v6]:port is split too');
});

t.test('an on-demand probe is logged as one structured line', async (t) => {
  const { app, logs } = await harness();
  await app.inject({ url: `/probe?host=server1.domain.com&port=${badSrv.port}&expect=hybrid.domain.com` });
  const line = logs.find((l) => l.msg === 'on-demand probe');
  t.ok(line);
  t.equal(line?.host, 'server1.domain.com');
  t.equal(line?.status, 'critical');
  t.same((line?.reasons as string[]).sort(), ['cert_name_mismatch', 'cert_self_signed']);
  t.same(line?.addresses, ['127.0.0.3:critical']);
  t.type(line?.durationMs, 'number');
});

t.test('malformed parameters: 400 naming the parameter', async (t) => {
  const { app } = await harness();
  const cases: Array<[string, string, RegExp]> = [
    ['/probe', 'host', /host: is required/],
    ['/probe?host=a.test&port=abc', 'port', /port: must be integer/],
    ['/probe?host=a.test&port=70000', 'port', /port: must be <= 65535/],
    ['/probe?host=a.test&timeout=-1', 'timeout', /timeout: must be > 0/],
    ['/probe?host=a.test&implicitTls=maybe', 'implicitTls', /implicitTls: must be boolean/],
    ['/probe?host=a.test&format=xml', 'format', /format: must be one of json, prometheus/],
    ['/probe?host=a.test&hots=b', 'hots', /hots: unknown parameter/],
    ['/probe?host=a.test&target=b.test', 'host', /give host or target, not both/],
    ['/probe?host=a%20b.test', 'host', /is not a host name/],
    ['/probe?target=a.test:25:26', 'target', /target: "a\.test:25:26" is not a host name/],
    ['/probe?target=a.test:2525&port=25', 'port', /port: 25 contradicts the port in target "a\.test:2525"/],
  ];
  for (const [url, parameter, message] of cases) {
    const r = await app.inject({ url });
    t.equal(r.statusCode, 400, url);
    t.equal(r.json().code, 'bad_parameter', `${url}: code`);
    t.equal(r.json().parameter, parameter, `${url}: parameter`);
    t.match(r.json().message, message, `${url}: message`);
  }
});

t.test('refusals: 4xx with a stable code, and no connection made', async (t) => {
  const before = goodSrv.accepted();
  const strict = await harness({ refuseAddresses: [...DEFAULTS.onDemand.refuseAddresses] });
  const loop = await strict.app.inject({ url: `/probe?host=hybrid.domain.com&port=${goodSrv.port}` });
  t.equal(loop.statusCode, 403);
  t.equal(loop.json().code, 'address_not_allowed');
  t.match(loop.json().message, /127\.0\.0\.2 \(loopback\)/);
  const literal = await strict.app.inject({ url: `/probe?host=127.0.0.2&port=${goodSrv.port}` });
  t.equal(literal.json().code, 'address_not_allowed', 'IP literals are checked too');
  const mixed = await strict.app.inject({ url: `/probe?host=mixed.domain.com&port=${goodSrv.port}` });
  t.equal(mixed.json().code, 'address_not_allowed', 'one refused address refuses the request');

  const { app, policy } = await harness();
  const ll = await app.inject({ url: '/probe?host=linklocal.domain.com' });
  t.equal(ll.statusCode, 403);
  t.same(ll.json().refused, [{ address: '169.254.10.20', class: 'link-local' }]);

  const port = await app.inject({ url: '/probe?host=hybrid.domain.com&port=80' });
  t.equal(port.statusCode, 403);
  t.equal(port.json().code, 'port_not_allowed');
  t.match(port.json().message, /port 80 is not allowed; allowed: 25, 465, 587, 2525/);

  policy.allowHosts = ['*.contoso.com', 'hybrid.domain.com'];
  const host = await app.inject({ url: `/probe?host=server1.domain.com&port=${badSrv.port}` });
  t.equal(host.statusCode, 403);
  t.equal(host.json().code, 'host_not_allowed');
  const allowed = await app.inject({ url: `/probe?host=hybrid.domain.com&port=${goodSrv.port}` });
  t.equal(allowed.statusCode, 200, 'an allowed host passes');
  policy.allowHosts = [];

  policy.enabled = false;
  const off = await app.inject({ url: `/probe?host=hybrid.domain.com&port=${goodSrv.port}` });
  t.equal(off.statusCode, 403);
  t.equal(off.json().code, 'on_demand_disabled');
  t.equal(goodSrv.accepted() - before, 1, 'only the allowed request connected');
});

t.test('bearer token', async (t) => {
  const { app, logs } = await harness({ token: 'correct-horse-battery-staple' });
  const url = `/probe?host=hybrid.domain.com&port=${goodSrv.port}`;
  const none = await app.inject({ url });
  t.equal(none.statusCode, 401);
  t.equal(none.json().code, 'unauthorized');
  const wrong = await app.inject({ url, headers: { authorization: 'Bearer correct-horse-battery-stapl' } });
  t.equal(wrong.statusCode, 401);
  const right = await app.inject({ url, headers: { authorization: 'Bearer correct-horse-battery-staple' } });
  t.equal(right.statusCode, 200);
  t.notMatch(JSON.stringify(logs), /correct-horse/, 'the token never reaches the log');
  const results = await app.inject({ url: '/results' });
  t.equal(results.statusCode, 200, 'the token guards /probe only');
});

t.test('rate limit per client', async (t) => {
  const { app } = await harness({ rateLimit: { max: 2, windowSeconds: 60 } });
  const url = '/probe?host=linklocal.domain.com';
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await app.inject({ url })).statusCode);
  t.same(codes, [403, 403, 429], 'refused requests count too');
  const limited = await app.inject({ url });
  t.equal(limited.json().code, 'rate_limited');
  t.ok(limited.headers['retry-after'], 'retry-after header');
  const other = await app.inject({ url, remoteAddress: '127.0.0.9' });
  t.equal(other.statusCode, 403, 'another client has its own budget');
  const metrics = (await app.inject({ url: '/metrics' })).body;
  t.match(metrics, /^smtp_tls_on_demand_requests_total\{outcome="rate_limited"\} 2$/m, 'every 429 is counted');
  t.match(metrics, /^smtp_tls_on_demand_requests_total\{outcome="address_not_allowed"\} 3$/m);
  await app.inject({ url: '/probe?host=hybrid.domain.com&port=99999', remoteAddress: '127.0.0.10' });
  t.match((await app.inject({ url: '/metrics' })).body, /^smtp_tls_on_demand_requests_total\{outcome="bad_parameter"\} 1$/m, 'a parameter the schema refuses is counted too');
});

t.test('concurrency cap on on-demand probes', async (t) => {
  const { app } = await harness({ maxConcurrent: 1 });
  const slow = app.inject({ url: `/probe?host=slow.domain.com&port=${silentSrv.port}&timeout=0.5` });
  await new Promise((r) => setTimeout(r, 50));
  const second = await app.inject({ url: `/probe?host=hybrid.domain.com&port=${goodSrv.port}` });
  t.equal(second.statusCode, 503);
  t.equal(second.json().code, 'too_many_probes');
  t.equal(second.headers['retry-after'], '1');
  t.equal((await slow).statusCode, 200);
  const after = await app.inject({ url: `/probe?host=hybrid.domain.com&port=${goodSrv.port}` });
  t.equal(after.statusCode, 200, 'the slot is free again');
  t.match((await app.inject({ url: '/metrics' })).body, /^smtp_tls_on_demand_requests_total\{outcome="too_many_probes"\} 1$/m, 'every 503 is counted');
});

t.test('scheduled side: /targets, /results, /results/:name, one log line per probe', async (t) => {
  const { app, scheduler, logs } = await harness();
  scheduler.setTargets([
    { name: 'hybrid', schedule: '0 0 1 1 *', timeoutMs: 3000, labels: { site: 'dc1' }, probe: makeTarget({ host: 'hybrid.domain.com', port: goodSrv.port, ca: ca.root.certPem }) },
    { name: 'server1', schedule: '0 0 1 1 *', timeoutMs: 3000, labels: {}, probe: makeTarget({ host: 'server1.domain.com', port: badSrv.port, expect: ['hybrid.domain.com'], ca: ca.root.certPem }) },
  ]);
  const before = await app.inject({ url: '/results/hybrid' });
  t.equal(before.json().latest, null, 'configured but not probed yet');
  scheduler.start();
  await scheduler.ready();

  const targets = (await app.inject({ url: '/targets' })).json();
  t.same(targets.map((x: { name: string }) => x.name), ['hybrid', 'server1']);
  t.equal(targets[0].schedule, '0 0 1 1 *');
  t.same(targets[0].labels, { site: 'dc1' });
  t.match(targets[0].nextRun, /^\d{4}-01-01T/);
  t.type(targets[0].lastRun, 'string');

  const results = (await app.inject({ url: '/results' })).json();
  t.same(results.map((r: { name: string; status: string }) => [r.name, r.status]).sort(), [['hybrid', 'ok'], ['server1', 'critical']]);
  const one = (await app.inject({ url: '/results/server1' })).json();
  t.equal(one.latest.status, 'critical');
  t.equal(one.history.length, 1);
  t.same(one.recentFailures[0].addresses[0].reasons.sort(), ['cert_name_mismatch', 'cert_self_signed']);
  const missing = await app.inject({ url: '/results/nope' });
  t.equal(missing.statusCode, 404);
  t.equal(missing.json().code, 'unknown_target');

  const probeLines = logs.filter((l) => l.msg === 'probe');
  t.equal(probeLines.length, 2, 'one line per probed address');
  const line = probeLines.find((l) => l.target === 'server1')!;
  t.equal(line.address, '127.0.0.3');
  t.equal(line.status, 'critical');
  t.same((line.reasons as string[]).sort(), ['cert_name_mismatch', 'cert_self_signed']);
  t.type(line.durationMs, 'number');
  t.equal(line.thumbprint, server1.thumbprint);
});

t.test('health, readiness, OpenAPI, unknown routes', async (t) => {
  const { app } = await harness();
  t.equal((await app.inject({ url: '/healthz' })).json().status, 'ok');
  t.same((await app.inject({ url: '/readyz' })).json(), { ready: true });
  const doc = (await app.inject({ url: '/openapi.json' })).json();
  t.equal(doc.info.version, '9.9.9');
  t.ok(doc.paths['/probe'].get.parameters.some((p: { name: string }) => p.name === 'expect'), 'parameters documented');
  for (const path of ['/probe', '/targets', '/results', '/results/{name}', '/healthz', '/readyz']) t.ok(doc.paths[path], path);
  const nf = await app.inject({ url: '/nope' });
  t.equal(nf.statusCode, 404);
  t.equal(nf.json().code, 'not_found');
});

t.test('successful /metrics and /healthz requests are logged at debug only', async (t) => {
  const quiet = await harness();
  for (const url of ['/metrics', '/healthz', '/metrics?x=1']) t.equal((await quiet.app.inject({ url })).statusCode, 200, url);
  const requestLines = (logs: Array<Record<string, unknown>>) =>
    logs.filter((l) => l.msg === 'incoming request' || l.msg === 'request completed').map((l) => [l.level, (l.req as { url?: string } | undefined)?.url ?? (l.res as { statusCode?: number } | undefined)?.statusCode]);
  t.same(requestLines(quiet.logs), [], 'nothing at info for a scrape');
  await quiet.app.inject({ url: '/results' });
  t.same(requestLines(quiet.logs), [[30, '/results'], [30, 200]], 'other routes as before');

  const verbose = await harness({}, 'debug');
  await verbose.app.inject({ url: '/metrics' });
  t.same(requestLines(verbose.logs), [[20, '/metrics'], [20, 200]], 'at debug both lines are there');
});

t.test('module=: a module sets what the parameters do not, through the same policy', async (t) => {
  const modules = new Map<string, ProbeModule>([
    ...Object.entries(BUILTIN_MODULES),
    ['hybrid', { port: goodSrv.port, expect: ['hybrid.domain.com'], sni: 'hybrid.domain.com' }],
    ['blocked', { port: 80 }],
  ]);
  const { app } = await harness({ modules });
  const unknown = await app.inject({ url: '/probe?module=smtp_startls&target=hybrid.domain.com' });
  t.equal(unknown.statusCode, 400);
  t.match(unknown.json(), { code: 'bad_parameter', parameter: 'module', message: /^module: unknown module "smtp_startls"; known: smtp_starttls, smtps, submission, hybrid, blocked$/ });
  const ok = await app.inject({ url: '/probe?module=hybrid&target=127.0.0.2' });
  t.equal(ok.statusCode, 200);
  t.match(ok.json(), { status: 'ok', target: { port: goodSrv.port, expect: ['hybrid.domain.com'], sni: 'hybrid.domain.com' } }, 'port, expect and sni from the module');
  const mismatch = await app.inject({ url: `/probe?module=hybrid&target=127.0.0.3:${badSrv.port}&expect=hybrid.domain.com,server1.domain.com` });
  t.match(mismatch.json(), { target: { port: badSrv.port, expect: ['hybrid.domain.com', 'server1.domain.com'] } }, 'parameters win; expect may be comma-separated');
  const blocked = await app.inject({ url: '/probe?module=blocked&target=hybrid.domain.com' });
  t.match([blocked.statusCode, blocked.json().code], [403, 'port_not_allowed'], "a module's port meets the port policy");
  const builtIn = await app.inject({ url: `/probe?module=smtp_starttls&target=hybrid.domain.com:${goodSrv.port}` });
  t.equal(builtIn.statusCode, 200, 'the blackbox_exporter module name works as it is');
});

t.test('GET /sd: http_sd_configs target groups with the /probe parameters of each target', async (t) => {
  const { app, scheduler } = await harness();
  scheduler.setTargets([
    { name: 'hybrid', schedule: '0 0 1 1 *', timeoutMs: 3000, labels: { site: 'dc1' }, probe: makeTarget({ host: 'hybrid.domain.com' }) },
    { name: 'seed', schedule: '0 0 1 1 *', timeoutMs: 3000, labels: {}, module: 'smtps', probe: makeTarget({ host: 'Mail.Domain.com', port: 2525, expect: ['hybrid.domain.com', 'server1.domain.com'], sni: 'hybrid.domain.com', implicitTls: true }) },
    { name: 'v6', schedule: '0 0 1 1 *', timeoutMs: 3000, labels: {}, probe: makeTarget({ host: '2001:db8::1', port: 465 }) },
  ]);
  const r = await app.inject({ url: '/sd' });
  t.equal(r.statusCode, 200);
  t.same(r.json(), [
    { targets: ['hybrid.domain.com:25'], labels: { site: 'dc1', __param_target: 'hybrid.domain.com:25' } },
    {
      targets: ['mail.domain.com:2525'],
      labels: {
        __param_target: 'mail.domain.com:2525',
        __param_module: 'smtps',
        __param_expect: 'hybrid.domain.com,server1.domain.com',
        __param_sni: 'hybrid.domain.com',
        __param_implicitTls: 'true',
      },
    },
    { targets: ['[2001:db8::1]:465'], labels: { __param_target: '[2001:db8::1]:465' } },
  ]);
});
