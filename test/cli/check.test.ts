/**
 * The `check` command as an admin or Nagios uses it: report, JSON, exit codes, and a
 * one-line error naming the option for every bad input.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { runCheck } from '../../src/cli/check.js';
import { mint, pki, type Minted, type Pki } from '../helpers/certs.js';
import { EXCHANGE_GREETING, fakeSmtp, type FakeSmtp } from '../helpers/fake-smtp.js';

let ca: Pki;
let good: Minted;
let soon: Minted;
let server1: Minted;
let dir: string;
let caFile: string;
t.before(async () => {
  ca = await pki('Contoso');
  good = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  soon = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'], notAfterDays: 5 });
  server1 = await mint({ subject: 'CN=SERVER1', dns: ['SERVER1', 'SERVER1.domain.com'] });
  dir = await mkdtemp(join(tmpdir(), 'stp-cli-'));
  caFile = join(dir, 'ca.pem');
  await writeFile(caFile, ca.root.certPem);
  await writeFile(join(dir, 'empty.pem'), 'nothing here\n');
});

async function check(argv: string[], columns?: number) {
  let stdout = '';
  let stderr = '';
  const code = await runCheck(argv, { stdout: (s) => void (stdout += s), stderr: (s) => void (stderr += s), columns }, async () => {
    throw new Error('tests never resolve names');
  });
  return { code, stdout, stderr };
}

async function withServer<T>(cert: Minted, fn: (s: FakeSmtp) => Promise<T>, greeting?: string): Promise<T> {
  const s = await fakeSmtp({ tls: { key: cert.keyPem, cert: cert.certPem + (cert.cert.issuer === cert.cert.subject ? '' : ca.intermediate.certPem) }, ...(greeting ? { greeting } : {}) });
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

const common = (s: FakeSmtp) => ['--address', s.host, '--port', String(s.port), '--ca', caFile, '--timeout', '3'];

t.test('exit codes follow Nagios: 0 ok, 1 warning, 2 critical', async (t) => {
  const ok = await withServer(good, (s) => check(['hybrid.domain.com', ...common(s)]));
  t.equal(ok.code, 0, ok.stdout);
  t.match(ok.stdout, /^SMTP TLS OK - hybrid\.domain\.com:\d+: 1 address ok, certificate valid for \d+ more days \| time=[\d.]+s;;;0 days_left=\d+;;;\n/);

  const warn = await withServer(soon, (s) => check(['hybrid.domain.com', ...common(s)]));
  t.equal(warn.code, 1);
  t.match(warn.stdout, /^SMTP TLS WARNING - .*cert_expiring_soon/);

  const crit = await withServer(server1, (s) => check(['hybrid.domain.com', ...common(s)]), EXCHANGE_GREETING);
  t.equal(crit.code, 2);
  t.match(crit.stdout, /^SMTP TLS CRITICAL - hybrid\.domain\.com:\d+: 127\.0\.0\.1 cert_name_mismatch, cert_self_signed \|/);
  t.match(crit.stdout, /x cert_name_mismatch +"hybrid\.domain\.com" is not covered/);
  t.match(crit.stdout, /Exchange Online would report: 450 4\.7\.320 Certificate validation failed \[Message=SubjectMismatch\]/);
  t.match(crit.stdout, new RegExp(`thumbprint +${server1.thumbprint}`));
  t.match(crit.stdout, /TlsCertificateName +<I>CN=SERVER1<S>CN=SERVER1/);
  t.match(crit.stdout, /alternate names +SERVER1;SERVER1\.domain\.com/);
  t.match(crit.stdout, /name MISSING +hybrid\.domain\.com/);
  t.match(crit.stdout, /greeting +220 SERVER1\.domain\.com Microsoft ESMTP/);
  t.match(crit.stdout, /timings \(ms\) +connect \d+, greeting \d+, EHLO \d+, STARTTLS \d+, TLS \d+, EHLO over TLS \d+, total \d+/);
});

t.test('--starttls on port 465, --implicit-tls elsewhere', async (t) => {
  const { parseCheckArgs } = await import('../../src/cli/check-args.js');
  t.equal(parseCheckArgs(['a.test', '--port', '465'])?.target.implicitTls, true);
  t.equal(parseCheckArgs(['a.test', '--port', '465', '--starttls'])?.target.implicitTls, false);
  t.equal(parseCheckArgs(['a.test', '--port', '587', '--implicit-tls'])?.target.implicitTls, true);
  // A STARTTLS server checked with --implicit-tls: said plainly, not as an OpenSSL error.
  const plain = await withServer(good, (s) => check(['hybrid.domain.com', ...common(s), '--implicit-tls']));
  t.equal(plain.code, 2);
  t.match(plain.stdout, /x tls_handshake_failed +the server answered in plaintext: use STARTTLS/);
  t.notMatch(plain.stdout, /SSL routines|wrong version number/);
});

t.test('"what to do" wraps to the terminal width, and stays one line when piped', async (t) => {
  const hints = (out: string) => out.split('\n').filter((l) => l.startsWith('  what to do: ') || l.startsWith('    '));
  const piped = await withServer(server1, (s) => check(['hybrid.domain.com', ...common(s)]));
  const long = piped.stdout.split('\n').filter((l) => l.startsWith('  what to do: '));
  t.ok(long.length >= 2 && long.some((l) => l.length > 200), 'piped: one long line per hint');
  t.same(hints(piped.stdout), long, 'no continuation lines');

  const tty = await withServer(server1, (s) => check(['hybrid.domain.com', ...common(s)], 72));
  const wrapped = hints(tty.stdout);
  t.ok(wrapped.length > long.length * 3, 'several lines per hint');
  t.ok(wrapped.every((l) => l.length <= 72 || !l.trim().includes(' ')), 'none wider than the terminal (but an unbreakable word)');
  t.equal(wrapped.map((l) => l.trim()).join(' '), long.map((l) => l.trim()).join(' '), 'the same words, in the same order');
  t.match(tty.stdout, /^SMTP TLS CRITICAL - .{80,}/, 'the Nagios first line is never wrapped');
});

t.test('--json prints the JSON result', async (t) => {
  const r = await withServer(server1, (s) => check(['hybrid.domain.com', ...common(s), '--json', '--expect', 'hybrid.domain.com', '--expect', 'server1.domain.com']));
  t.equal(r.code, 2);
  const json = JSON.parse(r.stdout);
  t.equal(json.status, 'critical');
  t.same(json.target.expect, ['hybrid.domain.com', 'server1.domain.com']);
  t.same(json.addresses[0].names.map((n: { matched: boolean }) => n.matched), [false, true]);
  t.equal(json.addresses[0].certificate.thumbprint, server1.thumbprint);
  t.type(json.durationMs, 'number');
  t.type(json.startedAt, 'string');
});

t.test('unknown: exit 3 with one line naming the problem', async (t) => {
  const cases: Array<[string[], RegExp]> = [
    [[], /missing HOST/],
    [['a.test', 'b.test'], /one HOST only/],
    [['a.test', '--port', 'abc'], /^smtp-tls-probe check: --port: must be an integer from 1 to 65535 \(got "abc"\)\n$/],
    [['a.test', '--port', '70000'], /--port: must be an integer/],
    [['a.test', '--timeout', '0'], /^smtp-tls-probe check: --timeout: must be seconds from 0\.001 to 600 \(got "0"\)\n$/],
    [['a.test', '--timeout', '0.0004'], /--timeout: must be seconds from 0\.001 to 600 \(got "0\.0004"\)/],
    [['a.test', '--timeout', '601'], /--timeout: must be seconds from 0\.001 to 600/],
    [['a.test', '--warn-days=-1'], /--warn-days: must be an integer/],
    [['a.test', '--warn-days', '-1'], /--warn-days: the value looks like an option; write --warn-days=VALUE/],
    [['a.test', '--address', 'mail.test'], /--address: "mail\.test" is not an IP address/],
    [['a.test', '--source', 'x'], /--source: "x" is not an IP address/],
    [['a.test', '--thumbprint', 'ABC'], /--thumbprint: must be 40 hexadecimal/],
    [['a.test', '--min-tls', '2.0'], /--min-tls: must be 1\.0, 1\.1, 1\.2 or 1\.3/],
    [['a.test', '--sni', 'x.test', '--no-sni'], /--sni and --no-sni exclude each other/],
    [['a.test', '--sni', 'a b.test'], /--sni: "a b\.test" is not a server name: it contains " "/],
    [['a.test', '--sni', '192.0.2.1'], /--sni: "192\.0\.2\.1" is not a server name: it is an IP address/],
    [['a.test', '--implicit-tls', '--starttls'], /--implicit-tls and --starttls exclude each other/],
    [['a.test', '--ca', '/nonexistent/ca.pem'], /--ca: cannot read \/nonexistent\/ca\.pem: ENOENT/],
    [['a.test', '--bogus'], /unknown option --bogus/],
    [['a.test', '--family', '5'], /--family: must be 4 or 6 \(got "5"\)/],
    [['a.test', '--ehlo', 'a b'], /--ehlo: "a b" is not a host name or address literal/],
    [['a.test', '--port'], /--port/],
  ];
  for (const [argv, want] of cases) {
    const r = await check(argv);
    t.equal(r.code, 3, `exit 3 for ${argv.join(' ')}`);
    t.match(r.stderr, want);
    t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
    t.equal(r.stdout, '');
  }
  const empty = await check(['a.test', '--ca', join(dir, 'empty.pem')]);
  t.match(empty.stderr, /--ca: .*empty\.pem holds no PEM certificate/);
  const help = await check(['--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /--thumbprint SHA1/);
});

t.test('the installed binary: bin entry, version, check exit code', async (t) => {
  const bin = new URL('../../dist/cli/main.js', import.meta.url).pathname;
  const run = promisify(execFile);
  const version = await run(process.execPath, [bin, '--version']);
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  const r = await withServer(server1, (s) =>
    run(process.execPath, [bin, 'check', 'hybrid.domain.com', ...common(s)]).then(
      () => ({ code: 0, stdout: '' }),
      (e: { code: number; stdout: string }) => ({ code: e.code, stdout: e.stdout }),
    ),
  );
  t.equal(r.code, 2);
  t.match(r.stdout, /cert_name_mismatch/);
  const bad = await run(process.execPath, [bin, 'frobnicate']).catch((e: { code: number; stderr: string }) => e);
  t.equal((bad as { code: number }).code, 3);
  t.match((bad as { stderr: string }).stderr, /unknown command "frobnicate"/);
});
