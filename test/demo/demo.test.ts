/**
 * The demo as a newcomer runs it: the built command, the seed case visible in its summary,
 * /results and /metrics within seconds, Ctrl-C stops it cleanly.
 */
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { find, parseMetrics } from '../helpers/prom.js';
import { until } from '../helpers/until.js';

const bin = new URL('../../dist/cli/main.js', import.meta.url).pathname;

function run(args: string[]) {
  const child = spawn(process.execPath, [bin, 'demo', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  child.stdout.on('data', (d) => (out.stdout += String(d)));
  child.stderr.on('data', (d) => (out.stderr += String(d)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, out, exited };
}


t.test('smtp-tls-probe demo shows the mismatch and the fix, in its summary, /results and /metrics', async (t) => {
  const demo = run(['--listen', '127.0.0.1:0']);
  t.teardown(() => void demo.child.kill('SIGKILL'));
  await until('the first round summary', () => demo.out.stdout.includes('Ctrl-C stops the demo'));
  const out = demo.out.stdout;
  t.match(out, /hybrid-server1 +CRITICAL +cert_name_mismatch, cert_self_signed/);
  t.match(out, /hybrid-server2 +OK/);
  t.match(out, /What to do on hybrid-server1:\n  The server serves the self-signed "CN=SERVER1"/);
  t.match(out, /-TlsCertificateName '<I>CN=smtp-tls-probe demo Issuing CA, O=smtp-tls-probe demo<S>CN=hybrid\.domain\.com'/);
  const base = /service +(http:\/\/\S+)/.exec(out)?.[1];
  t.ok(base, 'prints the service URL');
  const firstLine = out.split('\n')[0]!;
  t.match(firstLine, /^Status page: http:\/\/127\.0\.0\.1:\d+\/ /, 'the first line is the status page');
  const page = await fetch(/http:\/\/\S+/.exec(firstLine)![0]);
  t.equal(page.status, 200);
  t.match(page.headers.get('content-type'), /^text\/html/);
  t.match(await page.text(), /<title>smtp-tls-probe<\/title>/);

  // The suggested check, run exactly as printed, from the project folder.
  const check = /^ {2}(npx smtp-tls-probe check .+)$/m.exec(out)?.[1];
  t.ok(check, 'suggests a check through npx');
  const ran = await promisify(execFile)('sh', ['-c', check!], {
    cwd: new URL('../..', import.meta.url).pathname,
    env: { ...process.env, npm_config_offline: 'true', npm_config_update_notifier: 'false' },
  }).catch((e: { code: number; stdout: string; stderr: string }) => e);
  t.equal((ran as { code?: number }).code, 2, 'exit 2: critical');
  t.match(ran.stdout, /^SMTP TLS CRITICAL - hybrid\.domain\.com:\d+: 127\.0\.0\.1 cert_name_mismatch/);

  const result = (await (await fetch(`${base}/results/hybrid-server1`)).json()) as {
    latest: { status: string; addresses: Array<{ reasons: Array<{ code: string }>; remediation: string[]; certificate: { tlsCertificateName: string } }> };
  };
  t.equal(result.latest.status, 'critical');
  t.same(result.latest.addresses[0]!.reasons.map((r) => r.code).sort(), ['cert_name_mismatch', 'cert_self_signed']);
  t.match(result.latest.addresses[0]!.remediation[0], /Set-ReceiveConnector/);
  t.equal(result.latest.addresses[0]!.certificate.tlsCertificateName, '<I>CN=SERVER1<S>CN=SERVER1');

  const samples = parseMetrics(await (await fetch(`${base}/metrics`)).text());
  t.same(find(samples, 'smtp_tls_name_match', { target: 'hybrid-server1' }).map((s) => s.value), [0]);
  t.same(find(samples, 'smtp_tls_name_match', { target: 'hybrid-server2' }).map((s) => s.value), [1]);
  t.same(find(samples, 'smtp_tls_reason', { target: 'hybrid-server1', reason: 'cert_name_mismatch' }).map((s) => s.value), [1]);

  const probe = /curl -s '(http:\/\/[^']+)'/.exec(out)?.[1];
  const onDemand = (await (await fetch(probe!)).json()) as { status: string };
  t.equal(onDemand.status, 'critical', 'the printed /probe example works');

  demo.child.kill('SIGINT');
  t.equal(await demo.exited, 0, 'Ctrl-C: exit 0');
  t.match(demo.out.stdout, /SIGINT: stopping the demo/);
});

t.test('demo --endpoints-only (as docker-compose runs it) writes the CA and serves both endpoints', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'stp-demo-'));
  const ca = join(dir, 'ca.pem');
  const demo = run(['--endpoints-only', '--exchange-port', '0', '--good-port', '0', '--ca-out', ca]);
  t.teardown(async () => {
    demo.child.kill('SIGKILL');
    await rm(dir, { recursive: true, force: true });
  });
  await until('the endpoints', () => demo.out.stdout.includes('demo CA in'));
  t.match(await readFile(ca, 'utf8'), /^-----BEGIN CERTIFICATE-----/);
  t.match(demo.out.stdout, /misconfigured \(CN=SERVER1\) on 127\.0\.0\.1:\d+, correct on 127\.0\.0\.1:\d+/);
  demo.child.kill('SIGTERM');
  t.equal(await demo.exited, 0);
});

t.test('demo: bad options are one-line errors', async (t) => {
  const bad = run(['--exchange-port', 'x', '--endpoints-only']);
  t.equal(await bad.exited, 1);
  t.match(bad.out.stderr, /--exchange-port: must be a port number \(got "x"\)/);
  const unknown = run(['--frob']);
  t.equal(await unknown.exited, 3);
  t.match(unknown.out.stderr, /Unknown option '--frob'/);
});
