/**
 * The whole service: a config file on disk, fake SMTP servers on loopback, the real HTTP
 * server. Results after the first round, reload (valid, invalid, by file change), graceful
 * shutdown, and the serve command as a process (signals, exit codes).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { serveProcess } from '../helpers/serve-process.js';
import { createLogger } from '../../src/log.js';
import { startService } from '../../src/service/service.js';
import { blackhole } from '../helpers/blackhole.js';
import type { Pki } from '../helpers/certs.js';
import type { FakeSmtp } from '../helpers/fake-smtp.js';
import { seedServers } from '../helpers/stack.js';
import { until } from '../helpers/until.js';

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
  await until('the watcher to reload', async () => (await get(base, '/targets')).body.length === 2);
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

t.test('close: a client that never finishes its request does not hold the shutdown', async (t) => {
  const { service } = await start(join(dir, 'i.yaml'), configText([]));
  const slow = net.connect(service.address.port, '127.0.0.1');
  slow.on('error', () => undefined);
  const closed = new Promise((r) => slow.once('close', r));
  // A request with a body still to come: the connection is busy, not idle, when the server closes.
  slow.write('POST /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{');
  await new Promise((r) => setTimeout(r, 100));
  const t0 = Date.now();
  await service.close(0);
  t.ok(Date.now() - t0 < 1500, `closed in ${Date.now() - t0} ms`);
  await closed;
  t.pass('the connection was cut');
});

const serveIn = (args: string[], env: NodeJS.ProcessEnv = {}) => serveProcess(args, { cwd: dir, env });

t.test('serve as a process: SIGHUP reloads, SIGTERM stops with exit 0', async (t) => {
  const file = join(dir, 'f.yaml');
  await writeFile(file, configText([hybrid()]));
  const p = await serveIn([], { SMTP_TLS_PROBE_CONFIG: file });
  await until('listening', () => p.lines.some((l) => l.msg === 'smtp-tls-probe listening'));
  const port = (p.lines.find((l) => l.msg === 'smtp-tls-probe listening')!.listen as { port: number }).port;
  await until('the first round', () => p.lines.some((l) => l.msg === 'probe' && l.target === 'hybrid' && l.status === 'ok'));
  await writeFile(file, configText([hybrid(), seed()]));
  p.child.kill('SIGHUP');
  await until('the SIGHUP reload', () => p.lines.some((l) => l.msg === 'configuration reloaded'));
  t.match(p.lines.find((l) => l.msg === 'configuration reloaded'), { trigger: 'signal', added: ['seed'], removed: [] });
  const targets = (await get(`http://127.0.0.1:${port}`, '/targets')).body;
  t.equal(targets.length, 2);
  // A reload that meets an alias bomb keeps the running configuration and the process.
  await writeFile(file, readFileSync(new URL('../fixtures/config/invalid-alias-bomb.yaml', import.meta.url), 'utf8'));
  p.child.kill('SIGHUP');
  await until('the failed reload', () => p.lines.some((l) => l.msg === 'configuration reload failed; the running configuration stays'));
  const failed = p.lines.find((l) => l.msg === 'configuration reload failed; the running configuration stays')!;
  t.match(failed.errors, [/^YAML: aliases expand the document to more than \d+ values/]);
  t.equal((await get(`http://127.0.0.1:${port}`, '/targets')).body.length, 2, 'the running configuration stays');
  p.child.kill('SIGTERM');
  t.equal(await p.exited, 0, 'exit 0 on SIGTERM');
  t.ok(p.lines.some((l) => l.msg === 'stopped'));
});

t.test('serve as a process: SIGTERM refuses /probe at once, aborts running ones after --grace, ignores SIGHUP', async (t) => {
  const hole = await blackhole();
  t.teardown(() => hole.close());
  const file = join(dir, 'h.yaml');
  const ports = `[${hole.port}, ${silentSrv.port}]`;
  await writeFile(file, configText([], `onDemand: { refuseAddresses: [], ports: ${ports}, maxTimeout: 120 }`));
  // A grace of 2 s leaves room for the late request below to arrive before the listener closes
  // on a loaded machine; the bound asserted is still grace + 1 s.
  const p = await serveIn(['--config', file, '--grace', '2']);
  t.teardown(() => void p.child.kill('SIGKILL'));
  await until('listening', () => p.lines.some((l) => l.msg === 'smtp-tls-probe listening'));
  const port = (p.lines.find((l) => l.msg === 'smtp-tls-probe listening')!.listen as { port: number }).port;
  const base = `http://127.0.0.1:${port}`;
  const answer = (path: string) => fetch(base + path).then(async (r) => ({ status: r.status, body: (await r.json()) as any }));

  // Callers ask for a minute: a connect that never completes, a server that never greets.
  const accepted = silentSrv.accepted();
  const running = [answer(`/probe?host=127.0.0.1&port=${hole.port}&timeout=60`), answer(`/probe?host=127.0.0.4&port=${silentSrv.port}&timeout=60`)];
  await until('both probes to be running', () => silentSrv.accepted() > accepted);
  await new Promise((r) => setTimeout(r, 100));

  const t0 = Date.now();
  p.child.kill('SIGTERM');
  await until('the signal to be handled', () => p.lines.some((l) => l.msg === 'signal received'));
  const late = await answer(`/probe?host=127.0.0.4&port=${silentSrv.port}&timeout=1`);
  t.equal(late.status, 503, 'a new /probe is refused at once');
  t.equal(late.body.code, 'shutting_down');
  t.type(late.body.message, 'string');
  p.child.kill('SIGHUP');
  await until('the SIGHUP to be seen', () => p.lines.some((l) => l.msg === 'reload ignored: shutting down'));

  const code = await Promise.race([p.exited, new Promise((r) => setTimeout(() => r('still running'), 5000))]);
  const took = Date.now() - t0;
  t.equal(code, 0, 'exit 0');
  t.ok(took < 3000, `exited within grace + 1 s (${took} ms)`);
  for (const r of await Promise.all(running)) {
    t.equal(r.status, 503, 'a running probe cut by the shutdown answers 503');
    t.equal(r.body.code, 'shutting_down');
  }
  t.notOk(p.lines.some((l) => l.msg === 'configuration reloaded'), 'no reload during the shutdown');
  await silentSrv.drained(2000);
});

t.test('serve with an invalid config exits non-zero with every problem listed', async (t) => {
  const file = join(dir, 'g.yaml');
  await writeFile(file, 'targets:\n  - host: a.test\n    port: 70000\n  - hots: b.test\n');
  const p = await serveIn(['--config', file]);
  t.equal(await p.exited, 2);
  t.match(p.stderr(), /invalid configuration .*g\.yaml:\n  - targets\[0\]\.port: must be <= 65535\n  - targets\[1\]\.host: is required\n  - targets\[1\]\.hots: unknown key/);
  // The "billion laughs": refused as fast as any other invalid file, not expanded.
  const bomb = new URL('../fixtures/config/invalid-alias-bomb.yaml', import.meta.url).pathname;
  const b = await serveIn(['--config', bomb]);
  const timer = setTimeout(() => b.child.kill('SIGKILL'), 10_000);
  t.equal(await b.exited, 2, 'the alias bomb exits 2');
  clearTimeout(timer);
  t.match(b.stderr(), /invalid configuration .*invalid-alias-bomb\.yaml:\n  - YAML: aliases expand the document to more than \d+ values/);
  const q = await serveIn(['--listen', 'nowhere']);
  t.equal(await q.exited, 3);
  t.match(q.stderr(), /--listen: must be HOST:PORT/);
});

t.test('the shipped config serves as it is', async (t) => {
  const shipped = new URL('../../config/probe.yaml', import.meta.url).pathname;
  const p = await serveIn(['--config', shipped, '--listen', '127.0.0.1:0']);
  await until('listening', () => p.lines.some((l) => l.msg === 'smtp-tls-probe listening'));
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

/**
 * Run inside a child whose descriptor limit was lowered by the shell: start the service,
 * let the first round pass, take every descriptor left, probe again, give them back.
 */
const EXHAUST = `
const [dist, file] = process.argv.slice(2);
const { openSync, closeSync } = await import('node:fs');
const { startService } = await import(dist + '/service/service.js');
const { createLogger } = await import(dist + '/log.js');
const logger = createLogger('info', { write: (line) => process.stdout.write(line) });
const service = await startService({ configPath: file, logger, watch: false, env: {} });
await service.scheduler.ready();
const held = [];
try {
  for (;;) held.push(openSync('/dev/null', 'r'));
} catch (e) {
  process.stdout.write(JSON.stringify({ msg: 'descriptors exhausted', code: e.code, held: held.length }) + '\\n');
}
await service.scheduler.run('hybrid', 'manual');
for (const fd of held) closeSync(fd);
process.stdout.write(JSON.stringify({ msg: 'record', record: service.store.get('hybrid') }) + '\\n');
await service.close(0);
`;

t.test('out of file descriptors (EMFILE, a real limit): probe_error logged as a problem of this machine, not a timeout', async (t) => {
  const file = join(dir, 'h.yaml');
  await writeFile(file, configText([hybrid()]));
  const dist = new URL('../../dist', import.meta.url).pathname;
  const script = join(dir, 'exhaust.mjs');
  await writeFile(script, EXHAUST);
  // The shell lowers the limit for the child only: the test process keeps its own.
  const child = spawn('/bin/sh', ['-c', 'ulimit -n 128 && exec "$0" "$@"', process.execPath, script, dist, file], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const lines: Array<Record<string, any>> = [];
  createInterface({ input: child.stdout }).on('line', (l) => lines.push(JSON.parse(l)));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  t.equal(code, 0, `the child ran to the end ${stderr}`);
  t.match(lines.find((l) => l.msg === 'descriptors exhausted'), { code: 'EMFILE' }, 'the limit was really reached');
  const probes = lines.filter((l) => l.target === 'hybrid' && /^probe/.test(l.msg));
  t.same(probes.map((l) => l.cause), ['start', 'manual']);
  t.match(probes[0], { status: 'ok', level: 30 }, 'with descriptors, the server was fine');
  t.match(
    probes[1],
    { level: 50, msg: /a problem of this machine, not of the server/, status: 'unknown', reasons: ['probe_error'], local: 'EMFILE' },
    'without, the probe could not run: an error of ours, not a verdict on the server',
  );
  const latest = lines.find((l) => l.msg === 'record')!.record.latest;
  t.equal(latest.status, 'unknown');
  t.match(latest.addresses[0].reasons, [{ code: 'probe_error', severity: 'unknown', local: 'EMFILE', message: /file descriptor/ }]);
  t.equal(latest.addresses[0].exchangeOnline, null, 'no Exchange Online deferral is claimed');
});
