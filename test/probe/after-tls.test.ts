/**
 * What a sending MTA does around the handshake: STARTTLS found wherever the EHLO reply lists
 * it, EHLO again over TLS (RFC 3207 §4.2) with its failures judged as undeliverable, and the
 * words Exchange Online logs for each verdict.
 */
import { readFile } from 'node:fs/promises';
import t from 'tap';
import { exchangeOnlineHint, reason, REASONS, REASON_CODES } from '../../src/probe/reasons.js';
import { mint } from '../helpers/certs.js';
import type { FakeSmtpOptions } from '../helpers/fake-smtp.js';
import { codes, contosoLab, probeLab } from '../helpers/probe.js';
import type { ProbeTarget } from '../../src/probe/types.js';
import type { TLSSocket } from 'node:tls';

const lab = contosoLab(t);

const TIMEOUT = 800;

const run = (opts: FakeSmtpOptions, target: Partial<ProbeTarget> = {}, timeout = TIMEOUT) => probeLab(lab, opts, target, timeout);

/** Over TLS: answer each EHLO line with `reply(n)` (n counts from 1), close on QUIT. */
const secureEhlo = (reply: (n: number, s: TLSSocket) => void) => (s: TLSSocket) => {
  let n = 0;
  s.on('error', () => undefined);
  s.on('data', (d: Buffer) => {
    for (const line of d.toString('latin1').split('\r\n').filter(Boolean)) {
      if (/^EHLO /i.test(line)) reply(++n, s);
      else if (/^QUIT/i.test(line)) s.end('221 bye\r\n');
    }
  });
};

t.test('STARTTLS is found on any line of a long EHLO reply; a bounded number of lines is kept', async (t) => {
  const many = Array.from({ length: 149 }, (_, i) => `250-X-EXTENSION-${i + 1}\r\n`).join('');
  const { r, a } = await run({ ehlo: `250-big.test Hello\r\n${many}250 STARTTLS\r\n` });
  t.same(codes(r), [], 'STARTTLS on line 151 is seen');
  t.equal(a.smtp.extensions.length, 100, 'only the first 100 extension lines are stored');
  t.equal(a.smtp.extensions[99], 'X-EXTENSION-100');
  t.ok(a.tls, 'the handshake happened');
  const none = await run({ ehlo: `250-big.test Hello\r\n${many}250 8BITMIME\r\n` });
  t.same(codes(none.r), ['starttls_not_offered'], 'and a long reply without it is still refused');
  const word = await run({ ehlo: '250-x\r\n250-XSTARTTLS\r\n250 STARTTLSX\r\n' });
  t.same(codes(word.r), ['starttls_not_offered'], 'the keyword must be the whole first word');
});

t.test('EHLO again over TLS: 250 expected, host and extensions recorded, then QUIT', async (t) => {
  const { r, a, received } = await run({
    ehlo: '250-plain.test Hello\r\n250-SIZE 1000\r\n250 STARTTLS\r\n',
    tlsEhlo: '250-secure.test Hello\r\n250-SIZE 1000\r\n250 AUTH LOGIN PLAIN\r\n',
  });
  t.equal(r.status, 'ok');
  t.same(received, ['EHLO probe.test', 'STARTTLS', 'EHLO probe.test', 'QUIT'], 'the sequence a sending MTA uses');
  t.equal(a.smtp.ehloHost, 'plain.test');
  t.same(a.smtp.extensions, ['SIZE 1000', 'STARTTLS']);
  t.equal(a.smtp.tlsEhloHost, 'secure.test');
  t.same(a.smtp.tlsExtensions, ['SIZE 1000', 'AUTH LOGIN PLAIN']);
  t.type(a.timings.tlsEhloMs, 'number');

  const dflt = await run({});
  t.same(dflt.a.smtp.tlsExtensions, ['SIZE 37748736', 'PIPELINING', '8BITMIME'], 'the fake server stops offering STARTTLS over TLS');
});

t.test('a server that fails right after the handshake is critical, the certificate verdict kept', async (t) => {
  const closed = await run({ onSecure: (s) => s.on('error', () => undefined).end() });
  t.same(codes(closed.r), ['connection_closed'], 'closed at once after the handshake');
  t.match(closed.a.reasons[0]?.message, /after the TLS handshake/);
  t.equal(closed.a.certificate?.thumbprint, lab.leaf.thumbprint, 'the certificate facts are there');
  t.same(closed.a.exchangeOnline, { code: '450 4.4.318', msg: 'Connection was closed abruptly' });

  const dropped = await run({ onSecure: secureEhlo((_n, s) => s.destroy()) });
  t.same(codes(dropped.r), ['connection_closed'], 'dropped on the EHLO over TLS');
  t.match(dropped.a.reasons[0]?.message, /closed the connection while waiting for the reply to EHLO after the TLS handshake/);

  const rejected = await run({ tlsEhlo: '554 5.7.1 not now\r\n' });
  t.same(codes(rejected.r), ['ehlo_rejected']);
  t.match(rejected.a.reasons[0]?.message, /EHLO after the TLS handshake answered 554 5\.7\.1 not now/);
  t.equal(rejected.r.status, 'critical');
  t.equal(rejected.a.smtp.tlsEhloHost, undefined);

  const silent = await run({ onSecure: secureEhlo(() => undefined) });
  t.same(codes(silent.r), ['smtp_timeout'], 'no reply to the EHLO over TLS');
  t.match(silent.a.reasons[0]?.message, /EHLO after the TLS handshake/);

  const greetsAgain = await run({ onSecure: secureEhlo((_n, s) => s.write('220 hello again\r\n')) });
  t.same(codes(greetsAgain.r), ['ehlo_rejected'], 'a second greeting is not a reply to EHLO');
});

t.test('the certificate problems and the failed EHLO over TLS are both reported', async (t) => {
  const self = await mint({ subject: 'CN=SERVER1', dns: ['SERVER1'] });
  const r = await run({ tls: { key: self.keyPem, cert: self.certPem }, tlsEhlo: '421 4.3.2 shutting down\r\n' });
  t.ok(codes(r.r).includes('cert_name_mismatch'));
  t.ok(codes(r.r).includes('ehlo_rejected'));
  t.equal(r.a.exchangeOnline?.code, '450 4.7.320', 'a sender stops at the certificate, before the second EHLO');
  const implicit = await run({ implicitTls: true, tls: { key: self.keyPem, cert: self.certPem }, greeting: '554 go away\r\n' }, { implicitTls: true });
  t.ok(codes(implicit.r).includes('greeting_rejected') && codes(implicit.r).includes('cert_name_mismatch'));
  t.equal(implicit.a.exchangeOnline?.code, '450 4.7.320', 'also over implicit TLS');
});

t.test('implicit TLS: the first EHLO is already over TLS, no second one', async (t) => {
  const { r, a, received } = await run({ implicitTls: true }, { implicitTls: true });
  t.same(codes(r), []);
  t.same(received, ['EHLO probe.test', 'QUIT']);
  t.equal(a.smtp.tlsEhloHost, undefined);
  t.equal(a.timings.tlsEhloMs, undefined);
});

t.test('a server flooding right after the handshake is a protocol error, cut off at once', async (t) => {
  const pump = (s: TLSSocket) => {
    const chunk = Buffer.alloc(16 * 1024, 0x58);
    const go = () => {
      while (!s.destroyed && s.write(chunk));
      if (!s.destroyed) s.once('drain', go);
    };
    go();
  };
  const { r, a } = await run({ onSecure: (s) => pump(s.on('error', () => undefined)) }, {}, 5000);
  t.same(codes(r), ['smtp_protocol_error'], 'mail cannot be sent to it');
  t.equal(a.certificate?.thumbprint, lab.leaf.thumbprint, 'the certificate was judged before');
  t.ok(r.durationMs < 2000, 'not read until the 5 s deadline (run() also waits until the server sees the close)');
});

t.test("Exchange Online's words: 450 codes, verbatim texts", async (t) => {
  const eo = (code: Parameters<typeof reason>[0]) => exchangeOnlineHint([reason(code, 'x')]);
  t.same(eo('dns_error'), { code: '450 4.4.312', msg: 'DNS query failed' });
  t.same(eo('connect_refused'), { code: '450 4.4.316', msg: 'Connection refused' });
  t.same(eo('connect_timeout'), { code: '450 4.4.315', msg: 'Connection timed out' });
  t.same(eo('smtp_timeout'), { code: '450 4.4.315', msg: 'Connection timed out' });
  t.same(eo('connection_closed'), { code: '450 4.4.318', msg: 'Connection was closed abruptly' });
  t.same(eo('greeting_rejected'), { code: '450 4.4.317', msg: 'Cannot connect to remote server' });
  t.same(eo('tls_handshake_failed'), { code: '450 4.4.317', msg: 'Cannot connect to remote server' });
  t.same(eo('starttls_not_offered'), {
    code: '450 4.4.317',
    msg: 'Cannot connect to remote server [Message=451 5.7.3 STARTTLS is required to send mail]',
  });
  t.same(eo('cert_name_mismatch'), { code: '450 4.7.320', msg: 'Certificate validation failed [Message=SubjectMismatch]' });
  const readme = await readFile(new URL('../../README.md', import.meta.url), 'utf8');
  for (const code of REASON_CODES) {
    const hint = (REASONS[code] as { exchangeOnline?: { code: string; msg: string } }).exchangeOnline;
    if (!hint) continue;
    t.match(hint.code, /^450 4\.[47]\.3\d\d$/, `${code}: a connector deferral is 450`);
    // The README's reason table says the same words (our own ones in italics there).
    const table = readme.slice(readme.indexOf('### Reason codes')).split('\n');
    const row = table.find((l) => l.startsWith(`| \`${code}\` |`));
    t.equal(row?.split('|').at(-2)?.trim().replace(/\*/g, ''), `${hint.code} ${hint.msg}`, `${code}: README says it`);
  }

  const { a } = await run({ ehlo: '250-SERVER2.domain.com\r\n250 8BITMIME\r\n' });
  t.equal(`${a.exchangeOnline?.code} ${a.exchangeOnline?.msg}`,
    '450 4.4.317 Cannot connect to remote server [Message=451 5.7.3 STARTTLS is required to send mail]');
  const self = await mint({ subject: 'CN=SERVER1', dns: ['SERVER1', 'SERVER1.domain.com'] });
  const mismatch = await run({ tls: { key: self.keyPem, cert: self.certPem } });
  t.equal(`${mismatch.a.exchangeOnline?.code} ${mismatch.a.exchangeOnline?.msg}`,
    '450 4.7.320 Certificate validation failed [Message=SubjectMismatch]');
});
