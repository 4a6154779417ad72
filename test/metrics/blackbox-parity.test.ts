/**
 * The drop-in claim: blackbox_exporter (Debian's prometheus-blackbox-exporter, which .ci/run
 * installs) with an smtp_starttls tcp module, and GET /probe?module=smtp_starttls&format=prometheus,
 * against the same SMTP servers on loopback. Every series blackbox_exporter emits (its process
 * and Go runtime series aside) must exist in our answer with the same name and labels, and the
 * same value unless it is a duration. Beyond that: certificate series for a certificate that
 * failed verification (our documented advantage), and none when no certificate was seen.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../src/log.js';
import { goDn } from '../../src/probe/cert/go-dn.js';
import { startService } from '../../src/service/service.js';
import { ipAddrHash } from '../../src/metrics/blackbox-metrics.js';
import { exchangeSelfSigned, pki } from '../helpers/certs.js';
import { fakeSmtp, type FakeSmtp } from '../helpers/fake-smtp.js';
import { find, parseMetrics, type Sample } from '../helpers/prom.js';

const BLACKBOX = 'prometheus-blackbox-exporter';
const available = spawnSync(BLACKBOX, ['--version']).status === 0;
/** Durations: present in both, values differ by nature. */
const DURATIONS = new Set(['probe_duration_seconds', 'probe_dns_lookup_time_seconds']);
/** Labels we carry beyond blackbox_exporter 0.23 (0.26 added serialnumber). */
const EXTRA_LABELS: Record<string, string[]> = { probe_ssl_last_chain_info: ['serialnumber'] };

async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, host, r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

const key = (s: Sample, drop: string[] = []) =>
  `${s.name}{${Object.entries(s.labels)
    .filter(([k]) => !drop.includes(k))
    .sort()
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(',')}}`;

t.test('Go-style distinguished names', async (t) => {
  const rdn = (oid: string, value: string) => [{ oid, value }];
  t.equal(goDn([rdn('2.5.4.6', 'DE'), rdn('2.5.4.10', 'SMTP Lab'), rdn('2.5.4.3', 'mail')]), 'CN=mail,O=SMTP Lab,C=DE');
  t.equal(goDn([rdn('2.5.4.3', 'mail'), rdn('2.5.4.10', 'SMTP Lab')]), 'CN=mail,O=SMTP Lab', 'fixed order, whatever the DER order');
  t.equal(goDn([rdn('2.5.4.10', 'A'), rdn('2.5.4.10', 'B')]), 'O=A+O=B', 'values of one type share one RDN');
  t.equal(goDn([rdn('2.5.4.3', 'a'), rdn('2.5.4.3', 'b')]), 'CN=b', 'the last CN only');
  t.equal(goDn([rdn('2.5.4.10', ' Lab, "x" <y>; a+b\\ '), rdn('2.5.4.3', '#1')]), 'CN=\\#1,O=\\ Lab\\, \\"x\\" \\<y\\>\\; a\\+b\\\\\\ ');
  t.equal(goDn([rdn('1.2.840.113549.1.9.1', 'a@b.c'), rdn('2.5.4.3', 'x')]), 'CN=x,1.2.840.113549.1.9.1=#0c05614062 2e63'.replace(' ', ''));
  t.equal(goDn([rdn('0.9.2342.19200300.100.1.25', 'com'), rdn('2.5.4.3', 'x')]), 'CN=x,0.9.2342.19200300.100.1.25=#1303636f6d');
  t.equal(ipAddrHash('127.0.0.2'), ipAddrHash('::ffff:127.0.0.2'), 'mapped addresses hash as IPv4');
  // FNV-1a over the 4 or 16 address bytes, computed independently (Python's ipaddress and the FNV constants).
  t.same(
    ['127.0.0.2', '::1', '2001:db8::1:2', '64:ff9b::192.0.2.1'].map(ipAddrHash),
    [3618585652, 1751717746, 846485090, 3431457182],
  );
  t.not(ipAddrHash('::1'), ipAddrHash('::2'));
});

t.test('blackbox_exporter and /probe agree series by series', { skip: available || process.env.CI ? false : `${BLACKBOX} not installed (CI installs it)` }, async (t) => {
  const ca = await pki('SMTP Lab');
  const good = await ca.leaf({ subject: 'C=DE, O=SMTP Lab, CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  const odd = await ca.leaf({
    subject: 'C=DE, ST=Berlin, O=Lab\\, Inc., O=Second, OU=Mail+OU=Ops, CN=hybrid.domain.com, E=postmaster@domain.com',
    dns: ['hybrid.domain.com', 'mx.domain.com'],
  });
  const wrong = await ca.leaf({ subject: 'O=SMTP Lab, CN=other.domain.com', dns: ['other.domain.com'] });
  const selfSigned = await exchangeSelfSigned();
  const chain = (m: { keyPem: string; certPem: string }) => ({ key: m.keyPem, cert: m.certPem + ca.intermediate.certPem });
  const servers: Record<string, FakeSmtp> = {
    good: await fakeSmtp({ host: '127.0.0.2', tls: chain(good) }),
    odd: await fakeSmtp({ host: '127.0.0.6', tls: chain(odd) }),
    wrongName: await fakeSmtp({ host: '127.0.0.3', tls: chain(wrong) }),
    selfSigned: await fakeSmtp({ host: '127.0.0.4', tls: { key: selfSigned.keyPem, cert: selfSigned.certPem } }),
    // Closes after an EHLO reply without STARTTLS: blackbox_exporter sees the end of the input
    // before its expected line.
    noStarttls: await fakeSmtp({
      host: '127.0.0.5',
      script: (socket) => {
        socket.write('220 fake.test ESMTP\r\n');
        socket.once('data', () => socket.end('250-fake.test Hello\r\n250 8BITMIME\r\n'));
      },
    }),
    // Waits after it: blackbox_exporter times out and cannot tell a regex failure (README).
    noStarttlsWaits: await fakeSmtp({ host: '127.0.0.8', ehlo: '250-fake.test Hello\r\n250 8BITMIME\r\n' }),
    // Port 465 style, through the smtps module of each.
    smtps: await fakeSmtp({ host: '127.0.0.9', implicitTls: true, tls: chain(good) }),
  };
  const refusedPort = await freePort('127.0.0.7');
  const targets: Record<string, string> = { refused: `127.0.0.7:${refusedPort}` };
  for (const [name, s] of Object.entries(servers)) targets[name] = `${s.host}:${s.port}`;

  const dir = await mkdtemp(join(tmpdir(), 'stp-bbx-'));
  const caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.root.certPem);
  await writeFile(
    join(dir, 'blackbox.yml'),
    [
      'modules:',
      '  smtp_starttls:',
      '    prober: tcp',
      '    timeout: 2s',
      '    tcp:',
      '      preferred_ip_protocol: ip4',
      '      query_response:',
      '        - expect: "^220[ -]"',
      '        - send: "EHLO prober.test\\r"',
      '        - expect: "^250[ -]STARTTLS"',
      '        - send: "STARTTLS\\r"',
      '        - expect: "^220"',
      '        - starttls: true',
      '        - send: "EHLO prober.test\\r"',
      '        - expect: "^250 "',
      '        - send: "QUIT\\r"',
      '      tls_config:',
      `        ca_file: ${JSON.stringify(caFile)}`,
      '        server_name: hybrid.domain.com',
      '  smtps:',
      '    prober: tcp',
      '    timeout: 2s',
      '    tcp:',
      '      preferred_ip_protocol: ip4',
      '      tls: true',
      '      query_response:',
      '        - expect: "^220[ -]"',
      '        - send: "EHLO prober.test\\r"',
      '        - expect: "^250 "',
      '        - send: "QUIT\\r"',
      '      tls_config:',
      `        ca_file: ${JSON.stringify(caFile)}`,
      '        server_name: hybrid.domain.com',
    ].join('\n'),
  );
  const ports = [...Object.values(servers).map((s) => s.port), refusedPort];
  await writeFile(
    join(dir, 'probe.yaml'),
    [
      'listen: 127.0.0.1:0',
      // Nothing kept: the default storage.path is data/ in the working directory (the repo).
      'storage: { path: ":memory:" }',
      `onDemand: { refuseAddresses: [], ports: [${ports.join(', ')}] }`,
      'modules:',
      '  smtp_starttls: { caFile: ca.pem, sni: hybrid.domain.com, expect: [hybrid.domain.com], ehlo: prober.test, timeout: 5 }',
      '  smtps: { implicitTls: true, caFile: ca.pem, sni: hybrid.domain.com, expect: [hybrid.domain.com], ehlo: prober.test, timeout: 5 }',
    ].join('\n'),
  );
  const bbPort = await freePort();
  const bb = spawn(BLACKBOX, [`--config.file=${join(dir, 'blackbox.yml')}`, `--web.listen-address=127.0.0.1:${bbPort}`], { stdio: 'ignore' });
  const service = await startService({ configPath: join(dir, 'probe.yaml'), logger: createLogger('silent'), watch: false, env: {} });
  t.teardown(async () => {
    bb.kill('SIGTERM');
    await new Promise((r) => (bb.exitCode === null ? bb.once('exit', r) : r(null)));
    await service.close(0);
    await Promise.all(Object.values(servers).map((s) => s.close()));
    await rm(dir, { recursive: true, force: true });
  });
  const up = Date.now() + 20_000;
  for (;;) {
    const ok = await fetch(`http://127.0.0.1:${bbPort}/-/healthy`).then((r) => r.ok, () => false);
    if (ok) break;
    if (Date.now() > up) throw new Error('blackbox_exporter did not start');
    await new Promise((r) => setTimeout(r, 100));
  }

  for (const [name, target] of Object.entries(targets)) {
    const query = `module=${name === 'smtps' ? 'smtps' : 'smtp_starttls'}&target=${encodeURIComponent(target)}`;
    const theirs = parseMetrics(await (await fetch(`http://127.0.0.1:${bbPort}/probe?${query}`)).text()).filter(
      (s) => !/^(go|process|promhttp)_/.test(s.name),
    );
    const response = await fetch(`http://127.0.0.1:${service.address.port}/probe?${query}&format=prometheus`);
    t.equal(response.status, 200, `${name}: /probe answers`);
    const ours = parseMetrics(await response.text());
    t.ok(theirs.length >= 5, `${name}: blackbox_exporter answered (${theirs.length} series)`);
    for (const s of theirs) {
      const extra = EXTRA_LABELS[s.name] ?? [];
      const match = ours.filter((o) => key(o, extra) === key(s));
      t.equal(match.length, 1, `${name}: ${key(s)} is in our output`);
      if (name === 'noStarttlsWaits' && s.name === 'probe_failed_due_to_regex') {
        t.same([s.value, match[0]?.value], [0, 1], 'a server that waits: blackbox_exporter times out (0), we know STARTTLS is missing (1)');
        continue;
      }
      if (match[0] && !DURATIONS.has(s.name)) t.equal(match[0].value, s.value, `${name}: ${key(s)} has blackbox_exporter's value`);
    }
    const certSeries = ['probe_ssl_earliest_cert_expiry', 'probe_ssl_last_chain_info', 'probe_tls_version_info'];
    if (name === 'refused' || name.startsWith('noStarttls')) {
      for (const n of certSeries) t.same(find(ours, n), [], `${name}: no ${n} without a certificate`);
      t.same(find(ours, 'probe_ssl_last_chain_expiry_timestamp_seconds'), [], `${name}: no chain expiry`);
    }
    if (name === 'wrongName' || name === 'selfSigned') {
      for (const n of certSeries) t.equal(find(ours, n).length, 1, `${name}: ${n} although verification failed`);
      t.equal(find(theirs, 'probe_ssl_last_chain_info').length, 0, `${name}: blackbox_exporter drops the certificate series`);
    }
    if (name === 'wrongName') t.equal(find(ours, 'probe_ssl_last_chain_expiry_timestamp_seconds').length, 1, 'the chain was trusted: its expiry is known');
    if (name === 'selfSigned') t.same(find(ours, 'probe_ssl_last_chain_expiry_timestamp_seconds'), [], 'no verified chain, no chain expiry');
    if (name === 'good' || name === 'smtps') {
      t.same(find(ours, 'probe_success')[0]?.value, 1);
      t.same(find(ours, 'probe_ssl_last_chain_info')[0]?.labels.subject, 'CN=hybrid.domain.com,O=SMTP Lab,C=DE');
    }
    if (name === 'noStarttls') t.equal(find(theirs, 'probe_failed_due_to_regex')[0]?.value, 1, 'the regex case is covered');
  }
});
