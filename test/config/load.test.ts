/**
 * Configuration loading: one invalid fixture per rule (its first line says the message
 * expected), a full valid file with every key, the shipped file, and defaults.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parseResolver, systemResolverAddress } from '../../src/config/domains.js';
import { ConfigError, DEFAULTS, loadConfig, parseConfig } from '../../src/config/load.js';

const dir = fileURLToPath(new URL('../fixtures/config/', import.meta.url));
const shipped = fileURLToPath(new URL('../../config/probe.yaml', import.meta.url));

t.test('every invalid fixture is refused with its expected message and path', async (t) => {
  const files = readdirSync(dir).filter((f) => f.startsWith('invalid-'));
  t.ok(files.length >= 20, `${files.length} fixtures`);
  for (const file of files) {
    const text = readFileSync(join(dir, file), 'utf8');
    const expected = /^# expect: (.+)$/m.exec(text)?.[1];
    t.ok(expected, `${file} states its expected message`);
    try {
      loadConfig(join(dir, file), {});
      t.fail(`${file} was accepted`);
    } catch (e) {
      t.type(e, ConfigError, file);
      const problems = (e as ConfigError).problems;
      t.ok(
        problems.some((p) => p.startsWith(expected!)),
        `${file}: "${expected}" in ${JSON.stringify(problems)}`,
      );
      t.match((e as ConfigError).message, new RegExp(`^invalid configuration .*${file}:\\n  - `), 'message names the file');
    }
  }
});

t.test('all problems of a file are listed together', async (t) => {
  try {
    parseConfig('concurrency: 0\nlisten: 5\ntargets:\n  - host: a.test\n    port: 0\n    bogus: 1\n', 'x.yaml', { baseDir: dir });
    t.fail('accepted');
  } catch (e) {
    t.same([...(e as ConfigError).problems].sort(), [
      'concurrency: must be >= 1',
      'listen: must be string',
      'targets[0].bogus: unknown key',
      'targets[0].port: must be >= 1',
    ]);
  }
});

t.test('a full valid file: every key applied, defaults inherited', async (t) => {
  const c = loadConfig(join(dir, 'valid-full.yaml'), {});
  t.same(c.listen, { host: '::1', port: 9999 });
  t.equal(c.logLevel, 'warn');
  t.equal(c.concurrency, 2);
  t.equal(c.jitterMs, 0);
  t.equal(c.historySize, 5);
  const [a, b] = c.targets;
  t.equal(a?.name, 'hybrid.domain.com:2525', 'default name is host:port when the port is not 25');
  t.equal(a?.schedule, '*/10 * * * *');
  t.equal(a?.timeoutMs, 5000);
  t.same(a?.labels, { site: 'dc1' });
  t.same(a?.probe.expect, ['hybrid.domain.com', 'mail.domain.com']);
  t.equal(a?.probe.port, 2525);
  t.equal(a?.probe.warnDays, 14);
  t.equal(a?.probe.minTlsVersion, 'TLSv1.3');
  t.equal(a?.probe.ehloName, 'probe.example.net');
  t.equal(a?.probe.family, 4);
  t.equal(a?.probe.sni, 'hybrid.domain.com');
  t.equal(b?.name, 'server1');
  t.equal(b?.probe.sni, null, 'sni: false sends none');
  t.same(b?.probe.addresses, ['192.0.2.10']);
  t.equal(b?.probe.source, '127.0.0.1');
  t.equal(b?.timeoutMs, 2500);
  t.equal(b?.schedule, '*/1 * * * *');
  t.same(c.onDemand, {
    enabled: false,
    ports: [25],
    allowHosts: ['*.domain.com'],
    refuseAddresses: ['loopback', 'private'],
    token: null,
    rateLimit: { max: 5, windowSeconds: 10 },
    maxConcurrent: 1,
    maxTimeoutMs: 20000,
    probeDefaults: { ehloName: 'probe.example.net', warnDays: 14, minTlsVersion: 'TLSv1.3', family: 4 },
    defaultTimeoutMs: 5000,
    modules: new Map([
      ['smtp_starttls', { port: 25 }],
      ['smtps', { port: 465, implicitTls: true }],
      ['submission', { port: 587 }],
    ]),
  });
  t.same(c.http, { allowedHosts: ['probe.internal', 'smtp-tls-probe'] }, 'Host names lowercased, final dot dropped, once each');
  t.same(c.dns, { resolver: { address: '::1', port: 5353 } });
  const [d1, d2] = c.domains;
  t.same(d1, {
    name: 'xn--bcher-kva.example',
    schedule: '*/10 * * * *',
    timeoutMs: 60_000,
    labels: { site: 'dc1' },
    domain: {
      domain: 'xn--bcher-kva.example',
      senders: ['rfc', 'exo'],
      smtp: true,
      expect: {},
      probe: { port: 25, warnDays: 14, minTlsVersion: 'TLSv1.3', ehloName: 'probe.example.net' },
    },
  }, 'a domain: A-label, no trailing dot, named after itself, defaults inherited, both senders');
  t.same(d2, {
    name: 'mail-domain',
    schedule: '*/30 * * * *',
    timeoutMs: 90_000,
    labels: {},
    domain: {
      domain: 'domain.com',
      senders: ['exo'],
      smtp: false,
      expect: { mtaSts: 'enforce', dane: true, tlsRpt: false },
      probe: { port: 25, warnDays: 7, minTlsVersion: 'TLSv1.3', ehloName: 'probe.example.net' },
    },
  });
});

t.test('dns.resolver: an address and a port, never a name; the default is read from resolv.conf when used', async (t) => {
  const ok: Array<[string, { address: string; port: number }]> = [
    ['192.0.2.53', { address: '192.0.2.53', port: 53 }],
    ['127.0.0.1:5353', { address: '127.0.0.1', port: 5353 }],
    ['::1', { address: '::1', port: 53 }],
    ['[2001:DB8::0:1]:853', { address: '2001:db8::1', port: 853 }],
  ];
  for (const [text, want] of ok) t.same(parseResolver(text), want, text);
  const bad = ['dns.example.net', 'dns.example.net:53', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:053', '127.1', '[::1]', '0177.0.0.1',
    '[127.0.0.1]:53', '::1:53x', 'fe80::1%eth0', '[::1]:', '127.0.0.1:', ' 127.0.0.1', '127.0.0.1 ', '2130706433'];
  for (const text of bad) t.equal(parseResolver(text), null, JSON.stringify(text));
  t.equal(parseConfig('', 'x.yaml', { baseDir: dir }).dns.resolver, null, 'unset: resolv.conf, read when a domain is checked');
  const conf = '# generated\nsearch example.net\nnameserver fe80::1%eth0\nnameserver 192.0.2.53\nnameserver 192.0.2.54\n';
  t.same(systemResolverAddress(() => conf), { address: '192.0.2.53', port: 53 }, 'the first usable nameserver');
  t.equal(systemResolverAddress(() => 'search example.net\n'), null);
  t.equal(systemResolverAddress(() => { throw new Error('ENOENT'); }), null);
});

t.test('the shipped config/probe.yaml loads as it is, with the documented defaults', async (t) => {
  const c = loadConfig(shipped, {});
  t.same(c.listen, { host: '127.0.0.1', port: 9925 });
  t.equal(c.targets.length, 0);
  t.equal(c.onDemand.enabled, true);
  t.same(c.onDemand.ports, [25, 465, 587, 2525]);
  t.same(c.onDemand.refuseAddresses, [...DEFAULTS.onDemand.refuseAddresses]);
  const empty = parseConfig('', 'empty.yaml', { baseDir: dir });
  t.same(
    { ...empty, source: undefined },
    { ...c, source: undefined },
    'the shipped file states exactly the defaults of an empty file',
  );
});

t.test('the token comes from the environment first', async (t) => {
  const c = parseConfig('onDemand: { token: "from-the-file-0123456789" }', 'x.yaml', {
    baseDir: dir,
    env: { SMTP_TLS_PROBE_TOKEN: 'from-the-environment-0123' },
  });
  t.equal(c.onDemand.token, 'from-the-environment-0123');
  t.throws(() => parseConfig('', 'x.yaml', { baseDir: dir, env: { SMTP_TLS_PROBE_TOKEN: 'short' } }), /SMTP_TLS_PROBE_TOKEN/);
});

t.test('a CA file is read relative to the config file and must hold a certificate', async (t) => {
  const pem = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
  const c = parseConfig('defaults: { caFile: ca.pem }\ntargets: [ { host: a.test } ]', '/etc/stp/x.yaml', {
    baseDir: '/etc/stp',
    readFile: (p) => {
      t.equal(p, '/etc/stp/ca.pem');
      return pem;
    },
  });
  t.equal(c.targets[0]?.probe.ca, pem);
  t.throws(
    () => parseConfig('targets: [ { host: a.test, caFile: x.pem } ]', 'x.yaml', { baseDir: '/d', readFile: () => 'no pem' }),
    /targets\[0\]\.caFile: \/d\/x\.pem holds no PEM certificate/,
  );
});

t.test('resource exhaustion: alias expansion and file size are bounded, shared anchors still work', async (t) => {
  const bomb = join(dir, 'invalid-alias-bomb.yaml');
  t.throws(() => loadConfig(bomb, {}), { name: 'ConfigError', source: bomb }, 'the alias bomb is a ConfigError naming the file');
  // A label set shared by many targets is a fair use of anchors: hundreds of aliases to one map.
  const targets = Array.from({ length: 300 }, (_, i) => `  - { host: h${i}.test, labels: *site }`).join('\n');
  const text = `targets:\n  - { host: first.test, labels: &site { site: dc1 } }\n${targets}`;
  const shared = parseConfig(text, 'x.yaml', { baseDir: dir }).targets;
  t.equal(shared.length, 301);
  t.same(shared[300]?.labels, { site: 'dc1' });
  // A regular file past the limit is refused without reading it whole.
  const tmp = mkdtempSync(join(tmpdir(), 'stp-big-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  writeFileSync(join(tmp, 'big.yaml'), Buffer.alloc(1024 * 1024 + 1, 0x20));
  t.throws(() => loadConfig(join(tmp, 'big.yaml'), {}), { name: 'ConfigError', message: /the file is larger than 1 MiB/ });
});

t.test('modules: built in, configured, and taken by targets where they set nothing', async (t) => {
  const c = parseConfig(
    [
      'defaults: { warnDays: 10, timeout: 20 }',
      'modules:',
      '  hybrid: { port: 2525, expect: [hybrid.domain.com], sni: hybrid.domain.com, warnDays: 5, timeout: 7, minTls: "1.3", ehlo: probe.test }',
      '  smtps: { port: 465, implicitTls: true, timeout: 3 }',
      'targets:',
      '  - { host: mx1.domain.com, module: hybrid }',
      '  - { host: mx2.domain.com, module: hybrid, port: 25, expect: [mx2.domain.com], sni: false, timeout: 9, warnDays: 1 }',
      '  - { host: mx3.domain.com, module: submission }',
      '  - { host: mx4.domain.com, module: smtps }',
    ].join('\n'),
    'm.yaml',
    { baseDir: dir },
  );
  t.same([...c.onDemand.modules!.keys()], ['smtp_starttls', 'smtps', 'submission', 'hybrid'], 'the built-in ones stay, smtps replaced');
  const [a, b, m3, m4] = c.targets;
  t.match(a, { name: 'mx1.domain.com:2525', module: 'hybrid', timeoutMs: 7000, probe: { port: 2525, expect: ['hybrid.domain.com'], sni: 'hybrid.domain.com', warnDays: 5, minTlsVersion: 'TLSv1.3', ehloName: 'probe.test' } });
  t.match(b, { name: 'mx2.domain.com', timeoutMs: 9000, probe: { port: 25, expect: ['mx2.domain.com'], sni: null, warnDays: 1 } }, "the target's own keys win");
  t.match(m3, { probe: { port: 587, implicitTls: false, warnDays: 10 }, timeoutMs: 20000 }, 'defaults under the module');
  t.match(m4, { probe: { port: 465, implicitTls: true }, timeoutMs: 3000 });
});

t.test('storage: path from the key, else SMTP_TLS_PROBE_STORAGE, else data/ in the working directory', async (t) => {
  const cwd = '/srv/probe';
  t.same(parseConfig('', 'x.yaml', { baseDir: dir, cwd }).storage, { path: '/srv/probe/data/smtp-tls-probe.db', retentionDays: 90 });
  const env = { SMTP_TLS_PROBE_STORAGE: '/var/lib/smtp-tls-probe/smtp-tls-probe.db' };
  t.equal(parseConfig('', 'x.yaml', { baseDir: dir, cwd, env }).storage.path, env.SMTP_TLS_PROBE_STORAGE, 'the image default');
  const own = parseConfig('storage: { path: db/probe.db, retentionDays: 30 }', 'x.yaml', { baseDir: '/etc/stp', cwd, env });
  t.same(own.storage, { path: '/srv/probe/db/probe.db', retentionDays: 30 }, 'the key wins; relative to the working directory');
  t.equal(parseConfig('storage: { path: ":memory:" }', 'x.yaml', { baseDir: dir }).storage.path, ':memory:');
  t.throws(() => parseConfig('storage: { retentionDays: 0 }', 'x.yaml', { baseDir: dir }), /storage\.retentionDays: must be >= 1/);
  t.throws(() => parseConfig('storage: { file: x.db }', 'x.yaml', { baseDir: dir }), /storage\.file: unknown key/);
});

t.test('samples: per target or from defaults, 1 to 10', async (t) => {
  const c = parseConfig('defaults: { samples: 3 }\ntargets: [ { host: a.test }, { host: b.test, samples: 1 } ]', 'x.yaml', { baseDir: dir });
  t.equal(c.targets[0]?.probe.samples, 3);
  t.equal(c.targets[1]?.probe.samples, undefined, 'one sample is the plain probe');
  t.throws(() => parseConfig('targets: [ { host: a.test, samples: 11 } ]', 'x.yaml', { baseDir: dir }), /targets\[0\]\.samples: must be <= 10/);
});

t.test('only regular files are read: a FIFO or a device as the config or a caFile is refused at once', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'stp-fifo-'));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  // A FIFO nobody writes to: open(2) without O_NONBLOCK would block the event loop for good.
  const fifo = join(tmp, 'probe.yaml');
  execFileSync('mkfifo', [fifo]);
  t.throws(() => loadConfig(fifo, {}), { name: 'ConfigError', message: /not a regular file/ }, 'a FIFO as the config');
  t.throws(() => loadConfig('/dev/zero', {}), { name: 'ConfigError', message: /not a regular file/ }, 'a device as the config');
  const text = (ca: string) => `targets:\n  - host: mx.example.test\n    caFile: ${ca}\n`;
  t.throws(() => parseConfig(text(fifo), 'x.yaml', { baseDir: tmp }), /targets\[0\]\.caFile: cannot read .*probe\.yaml: not a regular file/);
  // /dev/zero never ends: before, a reload read it until the memory ran out.
  t.throws(() => parseConfig(text('/dev/zero'), 'x.yaml', { baseDir: tmp }), /targets\[0\]\.caFile: cannot read \/dev\/zero: not a regular file/);
  const big = join(tmp, 'big.pem');
  writeFileSync(big, Buffer.alloc(5 * 1024 * 1024, 0x41));
  t.throws(() => parseConfig(text(big), 'x.yaml', { baseDir: tmp }), /caFile: cannot read .*big\.pem: the file is larger than 4 MiB/);
});

t.test('the commented domains: and dns: examples of config/probe.yaml and the README load', async (t) => {
  const shippedText = readFileSync(shipped, 'utf8');
  // The commented YAML block that starts with `# KEY:` and runs while lines stay commented YAML.
  const block = (key: string) => {
    const from = shippedText.indexOf(`# ${key}:\n`);
    const lines = shippedText.slice(from).split('\n');
    const end = lines.findIndex((l, i) => i > 0 && !/^# {2,}\S/.test(l));
    return lines.slice(0, end).map((l) => l.slice(2)).join('\n');
  };
  const c = parseConfig(`${block('domains')}\n${block('dns')}\n`, 'x.yaml', { baseDir: dir });
  t.same(c.domains.map((d) => d.name), ['domain.com', 'example-net-exo']);
  t.same(c.dns.resolver, { address: '127.0.0.1', port: 53 });
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const example = /### Domain mode in the service[^]*?```yaml\n([^]*?)```/.exec(readme)?.[1];
  t.ok(example, 'the README has the example');
  const r = parseConfig(example!, 'x.yaml', { baseDir: dir, readFile: () => '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n' });
  t.same(r.domains.map((d) => [d.name, d.domain.senders, d.domain.smtp]), [['example.com', ['rfc', 'exo'], true], ['example-net-exo', ['exo'], false]]);
});
