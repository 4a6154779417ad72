/**
 * What can be checked of the Dockerfile and docker-compose.yml without a Docker engine:
 * every file and path they reference exists, the compose file parses and its services use
 * the shipped configuration, the commands are ones our CLI knows, ports agree everywhere,
 * and the Prometheus config inside passes promtool.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import YAML from 'yaml';
import { parseConfig } from '../src/config/load.js';
import { hasPromtool } from './helpers/prom.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (p: string) => readFileSync(join(root, p), 'utf8');

interface Instruction {
  op: string;
  args: string;
}

/** Dockerfile instructions, continuation lines joined, comments dropped. */
function dockerfile(): Instruction[] {
  return read('Dockerfile')
    .replace(/\\\n\s*/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const [op = '', ...rest] = l.split(/\s+/);
      return { op: op.toUpperCase(), args: rest.join(' ') };
    });
}

const ignored = read('.dockerignore')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));

t.test('Dockerfile: multi-stage, sources exist, non-root, exec form, healthcheck on the exposed port', async (t) => {
  const ins = dockerfile();
  const froms = ins.filter((i) => i.op === 'FROM');
  t.ok(froms.length >= 2, 'multi-stage');
  t.match(froms[0]?.args, /^node:24[\w.-]* AS build$/, 'build stage on Node 24');
  t.match(froms.at(-1)?.args, /^node:24[\w.-]*$/, 'runtime on Node 24');
  const runtime = ins.slice(ins.lastIndexOf(froms.at(-1)!));

  for (const copy of ins.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
    const parts = copy.args.split(/\s+/);
    for (const src of parts.slice(0, -1)) {
      t.ok(existsSync(join(root, src)), `COPY source ${src} exists`);
      t.notOk(ignored.includes(src.replace(/\/$/, '')), `COPY source ${src} is not excluded by .dockerignore`);
    }
  }
  for (const dir of ['node_modules', 'dist', '.git', 'test']) t.ok(ignored.includes(dir), `.dockerignore excludes ${dir}`);
  t.match(ins.find((i) => i.op === 'RUN' && /npm ci/.test(i.args))?.args, /npm ci/, 'installs from the lockfile');
  t.ok(existsSync(join(root, 'package-lock.json')));
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
  for (const run of ins.filter((i) => i.op === 'RUN')) {
    for (const m of run.args.matchAll(/npm run (\w+)/g)) t.ok(pkg.scripts[m[1]!], `npm run ${m[1]} exists`);
  }
  t.match(ins.find((i) => i.op === 'RUN' && /prune/.test(i.args))?.args, /--omit=dev/, 'runtime gets production dependencies only');

  const user = runtime.filter((i) => i.op === 'USER').at(-1);
  t.ok(user && !/^(root|0)(:|$)/.test(user.args), `runs as a non-root user (${user?.args})`);
  const expose = runtime.find((i) => i.op === 'EXPOSE')?.args;
  t.equal(expose, '9925');

  const entrypoint = JSON.parse(runtime.find((i) => i.op === 'ENTRYPOINT')!.args) as string[];
  const cmd = JSON.parse(runtime.find((i) => i.op === 'CMD')!.args) as string[];
  t.same(entrypoint, ['node', '--max-semi-space-size=16', 'dist/cli/main.js'], 'exec form: signals reach node');
  // The Node flags of the image are those of npm start (and of the scale bench, which reads them there).
  const startFlags = /\bnode ((?:--\S+ )*)dist\/cli\/main\.js serve/.exec(pkg.scripts.start ?? '')?.[1]?.trim().split(' ');
  t.same(entrypoint.slice(1, -1), startFlags, 'the same Node flags as npm start');
  t.ok(existsSync(join(root, 'src/cli/main.ts')), 'the entrypoint is built from src/cli/main.ts');
  t.same(cmd, ['serve', '--listen', `0.0.0.0:${expose}`], 'serves on the exposed port');
  const health = runtime.find((i) => i.op === 'HEALTHCHECK')!.args;
  t.match(health, /CMD \["node", "-e", ".*fetch\('http:\/\/127\.0\.0\.1:9925\/healthz'\)/, 'healthcheck with node, on /healthz');
  t.notOk(ins.some((i) => i.op === 'RUN' && /apk add|apt-get install|\bcurl\b|\bwget\b/.test(i.args)), 'installs no curl');

  const env = runtime.find((i) => i.op === 'ENV')!.args;
  const configPath = /SMTP_TLS_PROBE_CONFIG=(\S+)/.exec(env)?.[1];
  t.equal(configPath, '/etc/smtp-tls-probe/probe.yaml');
  t.ok(runtime.some((i) => i.op === 'COPY' && i.args === `config/probe.yaml ${configPath}`), 'the shipped config is where the env var points');
  const storage = /SMTP_TLS_PROBE_STORAGE=(\S+)/.exec(env)?.[1];
  t.equal(storage, '/var/lib/smtp-tls-probe/smtp-tls-probe.db', 'the database lives under /var/lib in the image');
  t.ok(runtime.some((i) => i.op === 'VOLUME' && i.args === '/var/lib/smtp-tls-probe'), 'as a volume');
  t.ok(runtime.some((i) => i.op === 'RUN' && /mkdir -p \/var\/lib\/smtp-tls-probe && chown node:node/.test(i.args)), 'writable by the user that runs');
});

t.test('docker-compose.yml: parses; services, volumes, commands and ports agree', async (t) => {
  const compose = YAML.parse(read('docker-compose.yml')) as {
    services: Record<string, { build?: string; image?: string; command?: string[]; ports?: string[]; volumes?: string[]; depends_on?: unknown; environment?: Record<string, string> }>;
    volumes?: Record<string, unknown>;
  };
  const services = compose.services;
  t.same(Object.keys(services).sort(), ['demo-endpoints', 'grafana', 'prometheus', 'smtp-tls-probe']);
  const named = new Set(Object.keys(compose.volumes ?? {}));
  const mounts = new Map<string, string>(); // container path -> host path, per service
  for (const [name, svc] of Object.entries(services)) {
    if (svc.build) t.ok(existsSync(join(root, svc.build, 'Dockerfile')), `${name}: build context has a Dockerfile`);
    else t.match(svc.image, /^[\w/.-]+:[\w.-]+$/, `${name}: pinned image tag`);
    for (const v of svc.volumes ?? []) {
      const [host = '', target = ''] = v.split(':');
      if (host.startsWith('.')) {
        t.ok(existsSync(join(root, host)), `${name}: ${host} exists`);
        mounts.set(`${name}:${target}`, host);
      } else {
        t.ok(named.has(host), `${name}: volume ${host} is declared`);
      }
    }
  }

  const commands = ['check', 'serve', 'demo'];
  const probe = services['smtp-tls-probe']!;
  const endpoints = services['demo-endpoints']!;
  t.ok(commands.includes(probe.command![0]!) && commands.includes(endpoints.command![0]!), 'commands our CLI knows');
  const usage = read('src/cli/demo.ts') + read('src/cli/serve.ts');
  for (const opt of [...probe.command!, ...endpoints.command!].filter((a) => a.startsWith('--'))) {
    t.ok(usage.includes(opt), `option ${opt} exists`);
  }

  t.ok((probe.volumes ?? []).some((v) => /^[\w-]+:\/var\/lib\/smtp-tls-probe$/.test(v)), 'the database directory is a named volume');

  // The service's config: a shipped file, in a mounted directory, valid, probing the demo ports.
  const configArg = probe.command![probe.command!.indexOf('--config') + 1]!;
  const hostDir = mounts.get(`smtp-tls-probe:${configArg.replace(/\/[^/]+$/, '')}`);
  t.equal(hostDir, './config/compose', 'the config directory is mounted');
  const configText = read(join(hostDir!, configArg.split('/').at(-1)!));
  const config = parseConfig(configText, 'config/compose/probe.yaml', {
    baseDir: join(root, 'config/compose'),
    readFile: (p) => {
      t.equal(p, '/demo/ca.pem', 'trusts the CA the demo endpoints write');
      return '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
    },
  });
  const caOut = endpoints.command![endpoints.command!.indexOf('--ca-out') + 1];
  t.equal(caOut, '/demo/ca.pem');
  const ports = [endpoints.command![endpoints.command!.indexOf('--exchange-port') + 1], endpoints.command![endpoints.command!.indexOf('--good-port') + 1]].map(Number);
  t.same(config.targets.map((x) => [x.probe.host, x.probe.port]), ports.map((p) => ['demo-endpoints', p]), 'targets are the demo endpoints');
  const listen = probe.command![probe.command!.indexOf('--listen') + 1];
  t.equal(listen, '0.0.0.0:9925');
  t.same(probe.ports, ['9925:9925']);

  // Prometheus scrapes the service and the demo endpoints by their compose names.
  t.equal(mounts.get('prometheus:/etc/prometheus'), './config/prometheus');
  const prom = YAML.parse(read('config/prometheus/prometheus.yml')) as {
    rule_files: string[];
    scrape_configs: Array<{
      job_name: string;
      static_configs?: Array<{ targets: string[] }>;
      http_sd_configs?: Array<{ url: string }>;
      relabel_configs?: Array<{ replacement?: string }>;
    }>;
  };
  for (const f of prom.rule_files) t.ok(existsSync(join(root, 'config/prometheus', f)), `rule file ${f} is in the mounted directory`);
  const scraped = prom.scrape_configs.flatMap((s) => (s.static_configs ?? []).flatMap((c) => c.targets));
  const discovered = prom.scrape_configs.flatMap((s) => (s.http_sd_configs ?? []).map((c) => new URL(c.url).host));
  t.same(discovered, ['smtp-tls-probe:9925'], 'service discovery asks the service');
  for (const target of [...scraped, ...discovered, ...prom.scrape_configs.flatMap((s) => (s.relabel_configs ?? []).map((r) => r.replacement).filter(Boolean) as string[])]) {
    const [host] = target.split(':');
    t.ok(services[host!], `${target}: a compose service`);
  }
  t.ok(scraped.includes('smtp-tls-probe:9925'));
  t.ok(config.http.allowedHosts.includes('smtp-tls-probe'), 'the on-demand job may call /probe by the compose name without a token');
  t.ok(scraped.includes('demo-endpoints:2525') && scraped.includes('demo-endpoints:2526'));

  // Grafana: provisioning and dashboards where its provisioning files say.
  t.equal(mounts.get('grafana:/etc/grafana/provisioning'), './config/grafana/provisioning');
  const dashboards = YAML.parse(read('config/grafana/provisioning/dashboards/smtp-tls-probe.yml')) as { providers: Array<{ options: { path: string } }> };
  const dashPath = dashboards.providers[0]!.options.path;
  t.equal(mounts.get(`grafana:${dashPath}`), './config/grafana/dashboards');
  t.ok(statSync(join(root, 'config/grafana/dashboards/smtp-tls-probe.json')).isFile());
  t.equal(services.grafana!.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH, `${dashPath}/smtp-tls-probe.json`);
  const datasource = YAML.parse(read('config/grafana/provisioning/datasources/prometheus.yml')) as {
    datasources: Array<{ url: string; jsonData?: { timeInterval?: string } }>;
  };
  t.equal(datasource.datasources[0]!.url, 'http://prometheus:9090');
  const prometheus = YAML.parse(read('config/prometheus/prometheus.yml')) as { global: { scrape_interval: string } };
  t.equal(datasource.datasources[0]!.jsonData?.timeInterval, prometheus.global.scrape_interval, "Grafana's $__rate_interval knows the scrape interval");
});

t.test('the Prometheus config used by compose passes promtool check config', { skip: hasPromtool() || process.env.CI ? false : 'promtool not installed' }, async (t) => {
  const r = spawnSync('promtool', ['check', 'config', 'prometheus.yml'], { cwd: join(root, 'config/prometheus'), encoding: 'utf8' });
  t.equal(r.status, 0, r.stdout + r.stderr);
});

t.test('npm start and npm run demo build only when dist/ is older than its sources', async (t) => {
  const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string>; files: string[] };
  for (const script of ['start', 'demo']) t.match(pkg.scripts[script], /^node scripts\/build-if-stale\.mjs && node (--\S+ )*dist\/cli\/main\.js /);
  t.ok(pkg.files.includes('page'), 'the status page ships with the package');

  const dir = mkdtempSync(join(tmpdir(), 'stp-stale-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const decide = () =>
    spawnSync(process.execPath, [join(root, 'scripts/build-if-stale.mjs'), '--dry-run'], { cwd: dir, encoding: 'utf8' }).stdout.trim();
  const at = (path: string, seconds: number) => utimesSync(join(dir, path), seconds, seconds);
  mkdirSync(join(dir, 'src/cli'), { recursive: true });
  writeFileSync(join(dir, 'src/cli/main.ts'), '');
  writeFileSync(join(dir, 'src/types.d.ts'), '');
  writeFileSync(join(dir, 'tsconfig.json'), '{}');
  at('src/cli/main.ts', 1000);
  at('tsconfig.json', 1000);
  t.equal(decide(), 'stale: dist/cli/main.js is missing');
  mkdirSync(join(dir, 'dist/cli'), { recursive: true });
  writeFileSync(join(dir, 'dist/cli/main.js'), '');
  at('dist/cli/main.js', 2000);
  t.equal(decide(), 'current', 'no rebuild: dist/ is newer than every source');
  at('src/cli/main.ts', 3000);
  t.equal(decide(), 'stale: src/cli/main.ts changed since the last build');
  at('src/cli/main.ts', 1000);
  at('tsconfig.json', 3000);
  t.equal(decide(), 'stale: tsconfig.json changed since the last build');
});

t.test('the built command is executable, so that `npx smtp-tls-probe` runs it from a fresh clone', async (t) => {
  // npm marks a package's bin executable only when the file exists at install time; in a
  // fresh clone dist/ is built after `npm ci`, so the build itself sets the mode.
  const bin = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).bin['smtp-tls-probe'] as string;
  t.ok(statSync(join(root, bin)).mode & 0o111, `${bin} has the execute bit`);
  const ran = spawnSync(join(root, bin), ['--version'], { encoding: 'utf8' });
  t.equal(ran.status, 0, 'runs through its #! line');
});
