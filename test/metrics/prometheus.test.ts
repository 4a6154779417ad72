/**
 * A real Prometheus (Debian's prometheus package) scraping the service and evaluating the
 * shipped alert rules: the mismatch alert fires for the seed case and nothing fires for the
 * correct certificate. Skipped where no prometheus binary is installed (.ci/run installs it).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { seedStack, type Stack } from '../helpers/stack.js';

const available = spawnSync('prometheus', ['--version']).status === 0;

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

t.test('Prometheus fires the name-mismatch alert for the seed case only', { skip: available || process.env.CI ? false : 'prometheus not installed (CI installs it)' }, async (t) => {
  const stack: Stack = await seedStack();
  const dir = await mkdtemp(join(tmpdir(), 'stp-prom-'));
  const rules = new URL('../../config/prometheus/alerts.yml', import.meta.url).pathname;
  const port = await freePort();
  await writeFile(
    join(dir, 'prometheus.yml'),
    [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(rules)}]`,
      'scrape_configs:',
      '  - job_name: smtp-tls-probe',
      `    static_configs: [ { targets: ["127.0.0.1:${stack.service.address.port}"] } ]`,
    ].join('\n'),
  );
  const prom = spawn(
    'prometheus',
    [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: 'ignore' },
  );
  t.teardown(async () => {
    prom.kill('SIGTERM');
    await new Promise((r) => prom.once('exit', r));
    await stack.close();
    await rm(dir, { recursive: true, force: true });
  });

  let alerts: Alert[] = [];
  const end = Date.now() + 30_000;
  while (Date.now() < end) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/v1/alerts`);
      alerts = ((await r.json()) as { data: { alerts: Alert[] } }).data.alerts;
      if (alerts.some((a) => a.labels.alertname === 'SmtpTlsCertificateNameMismatch' && a.state === 'firing')) break;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const mismatch = alerts.filter((a) => a.labels.alertname === 'SmtpTlsCertificateNameMismatch' && a.state === 'firing');
  t.same(
    mismatch.map((a) => [a.labels.target, a.labels.address, a.labels.expected]),
    [['seed', '127.0.0.3', 'hybrid.domain.com']],
    'fires for the seed case, for the one name the certificate lacks',
  );
  t.same(alerts.filter((a) => a.labels.target === 'hybrid'), [], 'nothing for the correct certificate (firing or pending)');
  t.ok(
    alerts.some((a) => a.labels.alertname === 'SmtpTlsProbeCritical' && a.labels.target === 'seed' && a.state === 'pending'),
    'the general critical alert is pending for the seed case (it waits 10 minutes)',
  );
});
