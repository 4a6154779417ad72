/**
 * A real Prometheus (Debian's prometheus package) running the shipped config/prometheus/prometheus.yml
 * (host names and intervals rewritten for loopback) and alerts.yml against the service: the
 * /metrics job, the multi-target /probe job with per-target parameters, and the /sd job all see
 * the seed case, and the mismatch alert still fires once for its address; nothing fires for the
 * correct server; a /probe job of 50 targets every 15 s is never refused. Skipped where no
 * prometheus binary is installed (.ci/run installs it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import YAML from 'yaml';
import { createLogger } from '../../src/log.js';
import { startService } from '../../src/service/service.js';
import { find, parseMetrics } from '../helpers/prom.js';
import { configHeader, seedServers } from '../helpers/stack.js';

const available = spawnSync('prometheus', ['--version']).status === 0;
const LOAD_TARGETS = 50;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Alert {
  labels: Record<string, string>;
  state: string;
}
interface Series {
  metric: Record<string, string>;
  value: [number, string];
}
interface Job {
  job_name: string;
  scrape_interval?: string;
  scrape_timeout?: string;
  static_configs?: Array<{ targets: string[]; labels?: Record<string, string> }>;
  http_sd_configs?: Array<{ url: string; refresh_interval?: string }>;
  relabel_configs?: Array<Record<string, unknown>>;
  params?: Record<string, string[]>;
  metrics_path?: string;
}

t.test('Prometheus with the shipped scrape config and rules: one page per problem, no throttling', { skip: available || process.env.CI ? false : 'prometheus not installed (CI installs it)' }, async (t) => {
  const servers = await seedServers();
  const { ca, goodSrv, badSrv } = servers;
  const dir = await mkdtemp(join(tmpdir(), 'stp-prom-'));
  await writeFile(join(dir, 'ca.pem'), ca.root.certPem);
  await writeFile(
    join(dir, 'probe.yaml'),
    [
      ...configHeader([goodSrv.port, badSrv.port]),
      'targets:',
      `  - { name: hybrid, host: hybrid.domain.com, port: ${goodSrv.port}, labels: { site: dc1 } }`,
      // The seed case: server1 serves Exchange's self-signed CN=SERVER1 where hybrid.domain.com is expected.
      `  - { name: seed, host: server1.domain.com, port: ${badSrv.port}, expect: [hybrid.domain.com], sni: hybrid.domain.com }`,
    ].join('\n'),
  );
  const dns: Record<string, string[]> = { 'hybrid.domain.com': ['127.0.0.2'], 'server1.domain.com': ['127.0.0.3'] };
  const service = await startService({
    configPath: join(dir, 'probe.yaml'),
    logger: createLogger('silent'),
    watch: false,
    env: {},
    resolver: async (host) => {
      const found = dns[host];
      if (found) return found;
      throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    },
  });
  const svc = `127.0.0.1:${service.address.port}`;

  // The shipped file, pointed at this service and these servers, with short intervals.
  const shipped = new URL('../../config/prometheus/', import.meta.url).pathname;
  const config = YAML.parse(await readFile(join(shipped, 'prometheus.yml'), 'utf8')) as {
    global: Record<string, string>;
    rule_files: string[];
    scrape_configs: Job[];
  };
  config.global = { scrape_interval: '1s', evaluation_interval: '1s' };
  config.rule_files = [join(shipped, 'alerts.yml')];
  const hosts: Record<string, string> = {
    'smtp-tls-probe:9925': svc,
    'demo-endpoints:2525': `server1.domain.com:${badSrv.port}`,
    'demo-endpoints:2526': `hybrid.domain.com:${goodSrv.port}`,
  };
  for (const job of config.scrape_configs) {
    if (job.scrape_timeout) job.scrape_timeout = '1s';
    for (const group of job.static_configs ?? []) group.targets = group.targets.map((x) => hosts[x] ?? x);
    for (const sd of job.http_sd_configs ?? []) Object.assign(sd, { url: sd.url.replace('smtp-tls-probe:9925', svc), refresh_interval: '1s' });
    for (const r of job.relabel_configs ?? []) if (r.replacement === 'smtp-tls-probe:9925') r.replacement = svc;
  }
  t.same(
    config.scrape_configs.map((j) => j.job_name),
    ['smtp-tls-probe', 'smtp-tls-probe-on-demand', 'smtp-tls-probe-sd'],
    'the shipped jobs',
  );
  // A Prometheus /probe job of 50 targets every 15 s, with the default rate limit.
  const onDemand = config.scrape_configs[1]!;
  config.scrape_configs.push({
    job_name: 'load',
    metrics_path: '/probe',
    params: { module: ['smtp_starttls'], format: ['prometheus'] },
    scrape_interval: '15s',
    scrape_timeout: '10s',
    static_configs: Array.from({ length: LOAD_TARGETS }, (_, i) => ({ targets: [`hybrid.domain.com:${goodSrv.port}`], labels: { n: String(i) } })),
    relabel_configs: onDemand.relabel_configs!.filter((r) => r.target_label !== 'instance'),
  });
  await writeFile(join(dir, 'prometheus.yml'), YAML.stringify(config));
  const port = await freePort();
  const prom = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore' },
  );
  t.teardown(async () => {
    prom.kill('SIGTERM');
    await new Promise((r) => (prom.exitCode === null ? prom.once('exit', r) : r(null)));
    await service.close(0);
    await servers.close();
    await rm(dir, { recursive: true, force: true });
  });

  const api = async <T>(path: string): Promise<T | null> => {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/${path}`);
      return ((await r.json()) as { data: T }).data;
    } catch {
      return null; // not up yet
    }
  };
  const query = async (q: string) => (await api<{ result: Series[] }>(`query?query=${encodeURIComponent(q)}`))?.result ?? [];

  let alerts: Alert[] = [];
  const end = Date.now() + 45_000;
  let ready = false;
  while (Date.now() < end && !ready) {
    await new Promise((r) => setTimeout(r, 500));
    alerts = (await api<{ alerts: Alert[] }>('alerts'))?.alerts ?? [];
    const loaded = await query(`count(probe_success{job="load"} == 1)`);
    const sd = await query('probe_success{job="smtp-tls-probe-sd"}');
    ready =
      alerts.some((a) => a.labels.alertname === 'SmtpTlsCertificateNameMismatch' && a.state === 'firing') &&
      sd.length === 2 &&
      Number(loaded[0]?.value[1]) === LOAD_TARGETS;
  }
  // Every job has seen the seed server by now; give the rules one more evaluation.
  await new Promise((r) => setTimeout(r, 2000));
  alerts = (await api<{ alerts: Alert[] }>('alerts'))?.alerts ?? [];

  const mismatch = alerts.filter((a) => a.labels.alertname === 'SmtpTlsCertificateNameMismatch');
  t.same(
    mismatch.map((a) => [a.state, a.labels.host, a.labels.port, a.labels.address]),
    [['firing', 'server1.domain.com', String(badSrv.port), '127.0.0.3']],
    'the mismatch fires once for the address, though three jobs report it',
  );
  const seen = (await query(`count by (job) (smtp_tls_name_match{address="127.0.0.3", expected="hybrid.domain.com"} == 0)`)).map((s) => s.metric.job).sort();
  t.same(seen, ['smtp-tls-probe', 'smtp-tls-probe-on-demand', 'smtp-tls-probe-sd'], 'all three jobs see the mismatch');
  t.same(
    alerts.filter((a) => a.labels.address === '127.0.0.3' && a.labels.alertname !== 'SmtpTlsCertificateNameMismatch'),
    [],
    'no second alert (firing or pending) for the same problem',
  );
  t.same(
    alerts.filter((a) => a.labels.address === '127.0.0.2' || a.labels.host === 'hybrid.domain.com'),
    [],
    'nothing for the correct server (firing or pending)',
  );

  // Per-target parameters: the static job's __expect and /sd's __param_expect reach /probe.
  const staticJob = await query(`smtp_tls_name_match{job="smtp-tls-probe-on-demand", instance="server1.domain.com:${badSrv.port}"}`);
  t.same(staticJob.map((s) => [s.metric.expected, s.value[1]]), [['hybrid.domain.com', '0']], 'expect set per target by relabelling');
  const sd = await query('probe_success{job="smtp-tls-probe-sd"}');
  t.same(
    sd.map((s) => [s.metric.instance, s.value[1]]).sort(),
    [
      [`hybrid.domain.com:${goodSrv.port}`, '1'],
      [`server1.domain.com:${badSrv.port}`, '0'],
    ],
    '/sd: Prometheus discovers the configured targets and probes them through /probe',
  );
  t.same(
    (await query(`up{job=~"smtp-tls-probe.*"} == 0`)).map((s) => s.metric.instance),
    [],
    'every scrape of the shipped jobs succeeds',
  );

  // The 50-target job: all scraped and probed, none refused.
  t.equal(Number((await query(`count(probe_success{job="load"} == 1)`))[0]?.value[1]), LOAD_TARGETS, `${LOAD_TARGETS} targets probed`);
  const counted = parseMetrics(await (await fetch(`http://${svc}/metrics`)).text());
  const outcomes = Object.fromEntries(find(counted, 'smtp_tls_on_demand_requests_total').map((s) => [s.labels.outcome, s.value]));
  t.ok((outcomes.ok ?? 0) >= LOAD_TARGETS, `on-demand requests counted: ${JSON.stringify(outcomes)}`);
  t.equal(outcomes.rate_limited, undefined, 'no 429');
  t.equal(outcomes.too_many_probes, undefined, 'no 503');
});
