/**
 * The whole service: a config file on disk, fake SMTP servers on loopback, the real HTTP
 * server. Results after the first round, reload (valid, invalid, by file change), graceful
 * shutdown, and the serve command as a process (signals, exit codes).
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { createLogger } from '../../src/log.js';
import { startService } from '../../src/service/service.js';
import type { Pki } from '../helpers/certs.js';
import type { FakeSmtp } from '../helpers/fake-smtp.js';
import { seedServers } from '../helpers/stack.js';

let ca: Pki;
let goodSrv: FakeSmtp;
let badSrv: FakeSmtp;
let silentSrv: FakeSmtp;
let dir: string;
t.before(async () => {
  const servers = await seedServers();
  ({ ca, goodSrv, badSrv, silentSrv } = servers);
  dir = await mkdtemp(join(tmpdir(), 'stp-service-'));
  await writeFile(join(dir, 'ca.pem'), ca.root.certPem);
  t.teardown(async () => {
    await servers.close();
    await rm(dir, { recursive: true, force: true });
  });
});

function configText(targets: string[], extra = ''): string {
  return [
    'listen: 127.0.0.1:0',
    'jitter: 0',
    'storage: { path: ":memory:" }',
    'defaults:',
    '  caFile: ca.pem',
    '  timeout: 3',
    '  schedule: "0 0 1 1 *"',
    targets.length ? 'targets:' : 'targets: []',
    ...targets,
    extra,
  ].join('\n');
}
const hybrid = () => `  - { name: hybrid, host: hybrid.domain.com, addresses: [127.0.0.2], port: ${goodSrv.port} }`;
const seed = () => `  - { name: seed, host: hybrid.domain.com, addresses: [127.0.0.3], port: ${badSrv.port} }`;
const silent = () => `  - { name: silent, host: slow.domain.com, addresses: [127.0.0.4], port: ${silentSrv.port}, timeout: 20 }`;

async function start(file: string, text: string, watch = false) {
  await writeFile(file, text);
  const logs: Array<Record<string, unknown>> = [];
  const logger = createLogger('info', { write: (line: string) => void logs.push(JSON.parse(line)) });
  const service = await startService({
    configPath: file,
    logger,
    watch,
    env: {},
    resolver: async () => {
      throw new Error('tests never resolve names');
    },
  });
  t.teardown(() => service.close(0));
  return { service, logs, base: `http://127.0.0.1:${service.address.port}` };
}

const get = async (base: string, path: string) => {
  const r = await fetch(base + path);
  return { status: r.status, body: (await r.json()) as any };
};

async function until(what: string, check: () => boolean | Promise<boolean>, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('starts, probes a first round at once, serves results over HTTP', async (t) => {
  const { service, base, logs } = await start(join(dir, 'a.yaml'), configText([hybrid(), seed()]));
  await service.scheduler.ready();
  t.same((await get(base, '/readyz')).body, { ready: true });
  const results = (await get(base, '/results')).body as Array<{ name: string; status: string }>;
  t.same(results.map((r) => [r.name, r.status]).sort(), [['hybrid', 'ok'], ['seed', 'critical']]);
  const health = (await get(base, '/healthz')).body;
  t.equal(health.config.targets, 2);
  t.equal(health.config.lastReload, null);
  t.ok(logs.some((l) => l.msg === 'first round of probes done'), 'logs the first round with its timing');
});

t.test('readyz is 503 until the first round is done', async (t) => {
  const { service, base } = await start(join(dir, 'b.yaml'), configText([silent()]));
  const r = await get(base, '/readyz');
  t.equal(r.status, 503);
  t.match(r.body.reason, /first round/);
  await service.close(0);
});

t.test('reload: valid adds and removes targets; invalid keeps the running config', async (t) => {
  const file = join(dir, 'c.yaml');
  const { service, base, logs } = await start(file, configText([hybrid()]));
  await service.scheduler.ready();

  await writeFile(file, configText([seed()]));
  const outcome = service.reload();
  t.same(outcome, { ok: true, added: ['seed'], removed: ['hybrid'], changed: [] });
  await until('the added target to be probed', async () => (await get(base, '/results')).body.length === 1 && (await get(base, '/results')).body[0].name === 'seed');
  t.equal((await get(base, '/results/hybrid')).status, 404, 'a removed target leaves no result');
  t.ok(logs.some((l) => l.msg === 'configuration reloaded'));

  await writeFile(file, configText([seed()]).replace('jitter: 0', 'jitter: lots\nbogus: 1'));
  const bad = service.reload();
  t.equal(bad.ok, false);
  t.same(bad.errors, ['bogus: unknown key', 'jitter: must be number']);
  const health = (await get(base, '/healthz')).body;
  t.equal(health.config.lastReload.ok, false);
  t.same(health.config.lastReload.errors, bad.errors, 'the problems are in /healthz');
  t.same((await get(base, '/targets')).body.map((x: { name: string }) => x.name), ['seed'], 'the running config stays');
  t.ok(logs.some((l) => l.msg === 'configuration reload failed; the running configuration stays' && Array.isArray(l.errors)));
});

t.test('reload when the file changes', async (t) => {
  const file = join(dir, 'd.yaml');
  const { service, base } = await start(file, configText([hybrid()]), true);
  await service.scheduler.ready();
  await writeFile(file, configText([hybrid(), seed()]));
  await until('the watcher to reload', async () => (await get(base, '/targets')).body.length === 2, 5000);
  await until('the new target to be probed', async () => (await get(base, '/results')).body.length === 2);
  t.pass('reloaded and probed');
});

t.test('close: running probes finish within the grace period, then everything stops', async (t) => {
  const { service, base } = await start(join(dir, 'e.yaml'), configText([silent()]));
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  await service.close(300);
  const took = Date.now() - t0;
  t.ok(took >= 250 && took < 3000, `waited for the grace period, then aborted (${took} ms)`);
  await t.rejects(fetch(`${base}/healthz`), 'the server is closed');
  await silentSrv.drained(2000);
  t.equal(silentSrv.open(), 0, 'no probe connection left open');
});

async function serveProcess(args: string[], env: NodeJS.ProcessEnv = {}) {
  const bin = new URL('../../dist/cli/main.js', import.meta.url).pathname;
  // In the temp directory: the default storage.path (data/...) is relative to the working directory.
  const child = spawn(process.execPath, [bin, 'serve', ...args], { cwd: dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l));
    } catch {
      /* not JSON */
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited, stderr: () => stderr };
}

t.test('serve as a process: SIGHUP reloads, SIGTERM stops with exit 0', async (t) => {
  const file = join(dir, 'f.yaml');
  await writeFile(file, configText([hybrid()]));
  const p = await serveProcess([], { SMTP_TLS_PROBE_CONFIG: file });
  await until('listening', () => p.lines.some((l) => l.msg === 'smtp-tls-probe listening'), 10_000);
  const port = (p.lines.find((l) => l.msg === 'smtp-tls-probe listening')!.listen as { port: number }).port;
  await until('the first round', () => p.lines.some((l) => l.msg === 'probe' && l.target === 'hybrid' && l.status === 'ok'));
  await writeFile(file, configText([hybrid(), seed()]));
  p.child.kill('SIGHUP');
  await until('the SIGHUP reload', () => p.lines.some((l) => l.msg === 'configuration reloaded'));
  const targets = (await get(`http://127.0.0.1:${port}`, '/targets')).body;
  t.equal(targets.length, 2);
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'exit 0 on SIGTERM');
  t.ok(p.lines.some((l) => l.msg === 'stopped'));
});

t.test('serve with an invalid config exits non-zero with every problem listed', async (t) => {
  const file = join(dir, 'g.yaml');
  await writeFile(file, 'targets:\n  - host: a.test\n    port: 70000\n  - hots: b.test\n');
  const p = await serveProcess(['--config', file]);
  t.equal(await p.exited, 2);
  t.match(p.stderr(), /invalid configuration .*g\.yaml:\n  - targets\[0\]\.port: must be <= 65535\n  - targets\[1\]\.host: is required\n  - targets\[1\]\.hots: unknown key/);
  const q = await serveProcess(['--listen', 'nowhere']);
  t.equal(await q.exited, 3);
  t.match(q.stderr(), /--listen: must be HOST:PORT/);
});

t.test('the shipped config serves as it is', async (t) => {
  const shipped = new URL('../../config/probe.yaml', import.meta.url).pathname;
  const p = await serveProcess(['--config', shipped, '--listen', '127.0.0.1:0']);
  await until('listening', () => p.lines.some((l) => l.msg === 'smtp-tls-probe listening'), 10_000);
  const port = (p.lines.find((l) => l.msg === 'smtp-tls-probe listening')!.listen as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  t.same((await get(base, '/readyz')).body, { ready: true });
  const refused = await get(base, '/probe?host=127.0.0.1');
  t.equal(refused.status, 403, 'loopback refused by default');
  t.equal(refused.body.code, 'address_not_allowed');
  p.child.kill('SIGINT');
  t.equal(await p.exited, 0);
  t.ok(existsSync(join(dir, 'data', 'smtp-tls-probe.db')), 'the default database is data/smtp-tls-probe.db in the working directory');
});
