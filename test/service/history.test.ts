/**
 * Persistence end to end: the service as a process on a database file, restarted; a fake
 * SMTP server on loopback that serves certificate A, goes silent (a timeout), serves A again,
 * then B. Only B is a change. A database the service cannot use stops it with exit code 2.
 * Needs dist/ (npm test builds first).
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { serveProcess } from '../helpers/serve-process.js';
import { roundRobin } from '../helpers/balancer.js';
import { mint, pki, type Minted, type Pki } from '../helpers/certs.js';
import { fakeSmtp, type FakeSmtp, type FakeSmtpOptions } from '../helpers/fake-smtp.js';
import { find, parseMetrics } from '../helpers/prom.js';
import { until } from '../helpers/until.js';

let ca: Pki;
let certA: Minted;
let certB: Minted;
let serving: Minted;
let srv: FakeSmtp;
const srvOptions: FakeSmtpOptions = { host: '127.0.0.2' };
let dir: string;
t.before(async () => {
  ca = await pki('Contoso');
  certA = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  certB = await ca.leaf({ subject: 'O=Renewed, CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  serving = certA;
  srvOptions.tls = () => ({ key: serving.keyPem, cert: serving.certPem + ca.intermediate.certPem });
  srv = await fakeSmtp(srvOptions);
  dir = await mkdtemp(join(tmpdir(), 'stp-history-'));
  await writeFile(join(dir, 'ca.pem'), ca.root.certPem);
  t.teardown(async () => {
    await srv.close();
    await rm(dir, { recursive: true, force: true });
  });
});

async function serve(config: string) {
  const file = join(dir, 'probe.yaml');
  await writeFile(file, config);
  return serveProcess(['--config', file], { cwd: dir });
}


/** A running service: its base URL once it listens. */
async function start(config: string) {
  const p = await serve(config);
  const listening = await until('listening', () => p.lines.find((l) => l.msg === 'smtp-tls-probe listening'));
  const base = `http://127.0.0.1:${(listening.listen as { port: number }).port}`;
  const json = async (path: string) => (await fetch(base + path)).json() as Promise<Record<string, any>>;
  const changedAt = async () => {
    const samples = parseMetrics(await (await fetch(`${base}/metrics`)).text());
    return find(samples, 'smtp_tls_cert_changed_timestamp_seconds', { target: 'hybrid', address: '127.0.0.2' })[0]?.value;
  };
  const stop = async () => {
    p.child.kill('SIGTERM');
    return p.exited;
  };
  return { p, base, json, changedAt, stop };
}

const config = (db: string) =>
  [
    'listen: 127.0.0.1:0',
    'jitter: 0',
    `storage: { path: ${db} }`,
    'defaults: { caFile: ca.pem, timeout: 1, schedule: "* * * * * *" }',
    'targets:',
    `  - { name: hybrid, host: hybrid.domain.com, addresses: [127.0.0.2], port: ${srv.port} }`,
  ].join('\n');

t.test('restart, a timeout in between and a renewal: only the renewal is a certificate change', async (t) => {
  const db = join(dir, 'history.db');
  const first = await start(config(db));
  const latest = (s: typeof first) => s.json('/results/hybrid');
  const r1 = await until('a first ok probe', async () => ((await latest(first)).latest?.status === 'ok' ? latest(first) : undefined));
  const since = await first.changedAt();
  t.equal(since, Date.parse(r1.latest.startedAt) / 1000, 'the first sight of A');
  t.equal(r1.statusSince, r1.latest.startedAt);
  t.equal(await first.stop(), 0);

  const second = await start(config(db));
  const carried = await second.json('/results/hybrid');
  t.ok(carried.latest && carried.latest.startedAt >= r1.latest.startedAt, 'the latest result is back at once');
  t.equal(carried.statusSince, r1.statusSince, 'status since survives the restart');
  await until('a probe after the restart', async () => ((await latest(second)).runs.total >= 1 ? true : undefined));
  t.equal(await second.changedAt(), since, 'a restart is no change: the metric keeps its value');
  t.equal((await second.json('/results/hybrid')).statusSince, r1.statusSince);
  const spans = (await second.json('/results/hybrid/history?limit=10')).spans as Array<{ status: string; count: number }>;
  t.equal(spans.length, 1, 'one span across the restart');
  t.ok(spans[0]!.count >= 2);

  srvOptions.greeting = null;
  const failed = await until('a timeout', async () => {
    const r = await latest(second);
    return r.latest.status === 'critical' ? r : undefined;
  });
  t.same(failed.latest.addresses[0].reasons.map((x: { code: string }) => x.code), ['greeting_timeout']);
  t.equal(failed.statusSince, failed.latest.startedAt, 'a new status begins');
  t.equal(await second.changedAt(), since, 'the metric stays through the timeout');
  delete srvOptions.greeting;
  await until('ok again', async () => ((await latest(second)).latest.status === 'ok' ? true : undefined));
  t.equal(await second.changedAt(), since, 'A after a timeout is no change');

  serving = certB;
  const renewed = await until('B served', async () => {
    const r = await latest(second);
    return r.latest.addresses[0]?.certificate?.thumbprint === certB.thumbprint ? r : undefined;
  });
  t.equal(await second.changedAt(), Date.parse(renewed.latest.startedAt) / 1000, 'B is one change, at the probe that saw it');
  const samples = parseMetrics(await (await fetch(`${second.base}/metrics`)).text());
  t.equal(find(samples, 'smtp_tls_cert_distinct', { target: 'hybrid', address: '127.0.0.2' })[0]?.value, 2, 'A and B within 24 h');
  t.equal(find(samples, 'smtp_tls_store_errors_total')[0]?.value, 0);
  t.notOk(renewed.latest.addresses[0].reasons.length, 'a renewal is no inconsistency');
  const certs = (await second.json('/certificates')) as unknown as Array<Record<string, unknown>>;
  t.same(
    certs.map((c) => [c.target, c.address, c.thumbprint, c.servedNow]),
    [
      ['hybrid', '127.0.0.2', certB.thumbprint, true],
      ['hybrid', '127.0.0.2', certA.thumbprint, false],
    ],
  );
  t.match(certs[0]!.tlsCertificateName, /<S>CN=hybrid\.domain\.com, O=Renewed$/);
  t.equal(certs[0]!.notAfter, new Date(certB.cert.notAfter).toISOString());
  const history = (await second.json('/results/hybrid/history?limit=2')) as { spans: Array<{ status: string; addresses: Array<{ thumbprint: string }> }>; next: string };
  t.equal(history.spans[0]!.addresses[0]!.thumbprint, certB.thumbprint, 'newest span first');
  t.equal(history.spans[1]!.status, 'ok');
  const older = await second.json(`/results/hybrid/history?limit=2&before=${encodeURIComponent(history.next)}`);
  t.equal(older.spans[0].status, 'critical', 'the page before holds the timeout');
  const bad = await fetch(`${second.base}/results/hybrid/history?before=yesterday`);
  t.equal(bad.status, 400);
  t.match(await bad.json(), { code: 'bad_parameter', parameter: 'before' });
  t.equal((await fetch(`${second.base}/results/hybrid/history?limit=0`)).status, 400);
  t.match(await (await fetch(`${second.base}/results/nobody/history`)).json(), { code: 'unknown_target' });
  t.equal(await second.stop(), 0);
});

t.test('two servers behind one address: samples reveal both, in /results, /metrics and /certificates', async (t) => {
  const server1 = await mint({ subject: 'CN=SERVER1', dns: ['SERVER1', 'SERVER1.domain.com'] });
  const backends = [
    await fakeSmtp({ host: '127.0.0.6', tls: { key: certA.keyPem, cert: certA.certPem + ca.intermediate.certPem } }),
    await fakeSmtp({ host: '127.0.0.7', tls: { key: server1.keyPem, cert: server1.certPem } }),
  ];
  const lb = await roundRobin('127.0.0.5', backends);
  t.teardown(async () => {
    await lb.close();
    await Promise.all(backends.map((b) => b.close()));
  });
  const vip = await start(
    [
      'listen: 127.0.0.1:0',
      'jitter: 0',
      `storage: { path: ${join(dir, 'vip.db')} }`,
      'defaults: { caFile: ca.pem, timeout: 2, schedule: "*/2 * * * * *" }',
      'targets:',
      `  - { name: vip, host: hybrid.domain.com, addresses: [127.0.0.5], port: ${lb.port}, samples: 2 }`,
    ].join('\n'),
  );
  const r = await until('a probe of the VIP', async () => {
    const x = await vip.json('/results/vip');
    return x.latest ? x : undefined;
  });
  const a = r.latest.addresses[0];
  t.same(a.reasons.map((x: { code: string }) => x.code).sort(), ['cert_inconsistent', 'cert_name_mismatch', 'cert_self_signed']);
  t.equal(a.samples.length, 2);
  t.match(a.reasons.find((x: { code: string }) => x.code === 'cert_inconsistent').message, `${server1.thumbprint} ("CN=SERVER1") 1 time`);
  const samples = parseMetrics(await (await fetch(`${vip.base}/metrics`)).text());
  t.equal(find(samples, 'smtp_tls_cert_distinct', { target: 'vip', address: '127.0.0.5' })[0]?.value, 2);
  t.equal(find(samples, 'smtp_tls_reason', { target: 'vip', reason: 'cert_inconsistent', severity: 'warning' })[0]?.value, 1);
  const certs = (await vip.json('/certificates?target=vip')) as unknown as Array<{ thumbprint: string; address: string }>;
  t.same(certs.map((c) => c.thumbprint).sort(), [certA.thumbprint, server1.thumbprint].sort(), 'both backends\' certificates in the inventory');
  t.equal(await vip.stop(), 0);
});

t.test('a database the service cannot use: exit code 2, a message naming the file, the file untouched', async (t) => {
  const garbage = join(dir, 'garbage.db');
  await writeFile(garbage, 'not sqlite\n'.repeat(500));
  const p = await serve(config(garbage));
  t.equal(await p.exited, 2);
  t.match(p.stderr(), `storage: ${garbage} is not a readable SQLite database`);
  t.equal(await readFile(garbage, 'utf8'), 'not sqlite\n'.repeat(500));
});
