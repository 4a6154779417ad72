/**
 * The SMTP dialogue against well-behaved and hostile servers on loopback. Whatever the
 * server does, the probe returns a classified result within its deadline and leaves no
 * connection open (the server side sees every connection closed).
 */
import net from 'node:net';
import t from 'tap';
import { mint } from '../helpers/certs.js';
import { blackhole } from '../helpers/blackhole.js';
import { fakeSmtp, type FakeSmtpOptions } from '../helpers/fake-smtp.js';
import { codes, contosoLab, probeFake, probeLab } from '../helpers/probe.js';
import type { ProbeTarget, TargetResult } from '../../src/probe/types.js';

const lab = contosoLab(t);
const served = lab.served;

const TIMEOUT = 800;

const run = async (opts: FakeSmtpOptions, target: Partial<ProbeTarget> = {}): Promise<TargetResult> => (await probeLab(lab, opts, target, TIMEOUT)).r;

function bounded(t: { ok(v: unknown, m: string): unknown }, r: TargetResult) {
  // A bound on correctness (the deadline holds), not a performance goal.
  t.ok(r.durationMs <= TIMEOUT + 500, `finished within the deadline (${r.durationMs} ms)`);
}

t.test('a well-behaved server: ok, facts recorded, QUIT sent over TLS', async (t) => {
  const srv = await fakeSmtp({ tls: served() });
  const r = await probeFake(srv, { ca: lab.ca.root.certPem }, TIMEOUT);
  await srv.drained();
  await srv.close();
  t.equal(r.status, 'ok');
  const a = r.addresses[0]!;
  t.equal(a.smtp.greeting, '220 fake.test ESMTP');
  t.equal(a.smtp.ehloHost, 'fake.test');
  t.same(a.smtp.extensions, ['SIZE 37748736', 'PIPELINING', 'STARTTLS', '8BITMIME']);
  t.equal(a.smtp.discardedBytes, undefined);
  t.same(srv.received, ['EHLO probe.test', 'STARTTLS', 'EHLO probe.test', 'QUIT'], 'EHLO again over TLS, then QUIT');
  t.same(srv.sniSeen, ['mail.example.com'], 'SNI is the host by default');
});

t.test('a server that ignores QUIT and never closes: result at once, socket closed at the deadline', async (t) => {
  const ignoring = await fakeSmtp({
    tls: served(),
    ehlo: '250-x\r\n250 STARTTLS\r\n',
    // Answers the EHLO over TLS, then ignores QUIT and never closes.
    onSecure: (sock) => sock.once('data', () => sock.write('250 x\r\n')),
  });
  const r = await probeFake(ignoring, { ca: lab.ca.root.certPem }, TIMEOUT);
  t.equal(r.status, 'ok');
  t.ok(r.durationMs < TIMEOUT, 'the result does not wait for the 221');
  t.equal(ignoring.open(), 1, 'still open right after the result');
  await ignoring.drained(TIMEOUT + 1000);
  t.equal(ignoring.open(), 0, 'closed by the deadline');
  await ignoring.close();
});

t.test('a server flooding data after QUIT is cut off, not read until the deadline', async (t) => {
  const flood = await fakeSmtp({
    tls: served(),
    onSecure: (sock) => {
      sock.on('error', () => undefined);
      // The reply to the EHLO over TLS, then a flood as soon as QUIT arrives.
      sock.once('data', () => {
        sock.write('250 x\r\n');
        sock.once('data', pump);
      });
      const chunk = Buffer.alloc(16 * 1024, 0x58);
      const pump = () => {
        while (!sock.destroyed && sock.write(chunk));
        if (!sock.destroyed) sock.once('drain', pump);
      };
    },
  });
  const r = await probeFake(flood, { ca: lab.ca.root.certPem }, 5000);
  t.equal(r.status, 'ok', 'the verdict was made before the flood');
  await flood.drained(1000);
  t.equal(flood.open(), 0, 'closed long before the 5 s deadline');
  await flood.close();
});

t.test('connection failures', async (t) => {
  const closed = net.createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  const port = (closed.address() as net.AddressInfo).port;
  await new Promise((r) => closed.close(r));
  const refused = await probeFake({ host: '127.0.0.1', port }, {}, TIMEOUT);
  t.same(codes(refused), ['connect_refused']);
  t.equal(refused.addresses[0]?.exchangeOnline?.code, '450 4.4.316');

  const hole = await blackhole();
  try {
    const r = await probeFake(hole, {}, 500);
    t.same(codes(r), ['connect_timeout']);
    bounded(t, r);
  } finally {
    hole.close();
  }

  t.same(codes(await run({ script: (s) => s.destroy() })), ['connection_closed'], 'closed at once');
  t.same(codes(await run({ script: (s) => s.resetAndDestroy() })), ['connection_closed'], 'reset at once');
  t.same(codes(await run({ script: (s) => s.end('220-one\r\n') })), ['connection_closed'], 'closed mid-greeting');
  const afterEhlo = await run({
    script: (s) => {
      s.write('220 hi\r\n');
      s.once('data', () => s.destroy());
    },
  });
  t.same(codes(afterEhlo), ['connection_closed']);
  t.match(afterEhlo.addresses[0]?.reasons[0]?.message, /reply to EHLO/);
});

t.test('greeting: silent, partial, rejected', async (t) => {
  const silent = await run({ greeting: null });
  t.same(codes(silent), ['greeting_timeout']);
  bounded(t, silent);
  t.same(codes(await run({ greeting: '220-first line\r\n' })), ['greeting_timeout'], 'multi-line greeting never finished');
  const busy = await run({ greeting: '421 4.3.2 Service not available\r\n' });
  t.same(codes(busy), ['greeting_rejected']);
  t.match(busy.addresses[0]?.reasons[0]?.message, /421 4\.3\.2 Service not available/);
  t.same(codes(await run({ greeting: '554-no\r\n554 go away\r\n' })), ['greeting_rejected']);
  const slam = await run({ script: (s) => s.resume().end('554 5.7.1 go away\r\n') });
  t.same(codes(slam), ['greeting_rejected'], 'a 554 followed at once by the close is still the 554');
  const multi = await run({ greeting: '220-mx.example.com\r\n220-second\r\n220 ready\r\n' });
  t.same(codes(multi), [], 'a multi-line 220 greeting is fine');
  t.equal(multi.addresses[0]?.smtp.greeting, '220 mx.example.com / second / ready');
});

t.test('EHLO and STARTTLS replies', async (t) => {
  t.same(codes(await run({ ehlo: '500 5.5.1 command unrecognized\r\n' })), ['ehlo_rejected']);
  const none = await run({ ehlo: '250-SERVER2.domain.com Hello\r\n250-SIZE 1000\r\n250 8BITMIME\r\n' });
  t.same(codes(none), ['starttls_not_offered']);
  t.match(none.addresses[0]?.reasons[0]?.message, /SERVER2\.domain\.com does not offer STARTTLS/);
  t.equal(none.addresses[0]?.smtp.ehloHost, 'SERVER2.domain.com', 'tells which backend answered');
  t.match(none.addresses[0]?.exchangeOnline?.msg, /STARTTLS is required/);
  t.same(codes(await run({ ehlo: '250-x\r\n250 starttls\r\n' })), [], 'keyword is case-insensitive');
  const rejected = await run({ starttls: '454 4.7.0 TLS not available due to local problem\r\n' });
  t.same(codes(rejected), ['starttls_rejected']);
  t.match(rejected.addresses[0]?.reasons[0]?.message, /454 4\.7\.0/);

  const noEhloReply = await run({ ehlo: '' });
  t.same(codes(noEhloReply), ['smtp_timeout']);
  bounded(t, noEhloReply);
  const noStarttlsReply = await run({ starttls: '' });
  t.same(codes(noStarttlsReply), ['smtp_timeout']);
  t.match(noStarttlsReply.addresses[0]?.reasons[0]?.message, /STARTTLS/);
});

t.test('not SMTP: garbage, endless lines, oversized replies, unsolicited data', async (t) => {
  t.same(codes(await run({ greeting: 'HTTP/1.1 400 Bad Request\r\n\r\n' })), ['smtp_protocol_error'], 'HTTP');
  t.same(codes(await run({ greeting: '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03' + '\x00'.repeat(64) })), ['smtp_protocol_error'], 'binary');
  const endless = await run({
    script: (s) => {
      // 10 MB without a line break, written as fast as the probe reads.
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let sent = 0;
      const pump = () => {
        while (sent < 10 * 1024 * 1024 && !s.destroyed) {
          sent += chunk.length;
          if (!s.write(chunk)) return s.once('drain', pump);
        }
      };
      pump();
    },
  });
  t.same(codes(endless), ['smtp_protocol_error']);
  t.match(endless.addresses[0]?.reasons[0]?.message, /4096 bytes without CRLF/);
  const huge = await run({ ehlo: Array.from({ length: 40 }, () => `250-${'X'.repeat(2000)}\r\n`).join('') + '250 STARTTLS\r\n' });
  t.same(codes(huge), ['smtp_protocol_error']);
  t.match(huge.addresses[0]?.reasons[0]?.message, /larger than 65536 bytes/);
  const unsolicited = await run({ greeting: '220 hi\r\n250 nobody asked\r\n' });
  t.same(codes(unsolicited), ['smtp_protocol_error']);
  t.match(unsolicited.addresses[0]?.reasons[0]?.message, /nobody asked for before EHLO/);
});

t.test('TLS handshake failures', async (t) => {
  const plaintextAfter220 = await run({ instead: (s) => s.on('data', () => s.write('500 this is not TLS\r\n')) });
  t.same(codes(plaintextAfter220), ['tls_handshake_failed']);
  t.equal(plaintextAfter220.addresses[0]?.reasons[0]?.message, 'the server answered the TLS handshake in plaintext, after agreeing to STARTTLS');
  t.same(codes(await run({ starttls: '220 go\r\n', tls: () => null })), ['tls_handshake_failed'], 'closed during handshake');

  const stalled = await run({ instead: () => undefined }); // 220, then ignores the ClientHello
  t.same(codes(stalled), ['tls_handshake_timeout']);
  bounded(t, stalled);
});

t.test('STARTTLS injection: plaintext after the 220 is discarded, not taken as a reply', async (t) => {
  const r = await run({ afterStarttls: '250-PIPELINING injected\r\n250 injected\r\n' });
  t.same(codes(r), []);
  t.equal(r.addresses[0]?.smtp.discardedBytes, 39, 'every injected byte counted and dropped');
  t.same(r.addresses[0]?.smtp.extensions, ['SIZE 37748736', 'PIPELINING', 'STARTTLS', '8BITMIME'], 'facts come from the real EHLO');
});

t.test('implicit TLS (port 465 style): greeting and EHLO read over TLS', async (t) => {
  const r = await run({ implicitTls: true }, { implicitTls: true });
  t.same(codes(r), []);
  t.equal(r.addresses[0]?.smtp.greeting, '220 fake.test ESMTP');
  t.equal(r.addresses[0]?.smtp.ehloHost, 'fake.test');
  t.equal(r.addresses[0]?.timings.starttlsMs, undefined);
  const bad = await run({ implicitTls: true, greeting: '554 no\r\n' }, { implicitTls: true });
  t.same(codes(bad), ['greeting_rejected'], 'greeting after TLS still judged');
  t.equal(bad.addresses[0]?.certificate?.thumbprint, lab.leaf.thumbprint, 'certificate facts kept');
  const plain = await run({}, { implicitTls: true });
  t.same(codes(plain), ['tls_handshake_failed'], 'a STARTTLS server probed as implicit TLS');
  t.equal(
    plain.addresses[0]?.reasons[0]?.message,
    'the server answered in plaintext: use STARTTLS (this port speaks SMTP before TLS; implicit TLS expects a TLS handshake from the first byte)',
    'said plainly, not as an OpenSSL error',
  );
});

t.test('SNI: host by default, configurable, none with --no-sni or an IP target', async (t) => {
  const seen = async (target: Partial<ProbeTarget>) => {
    const srv = await fakeSmtp({ tls: served() });
    const r = await probeFake(srv, { ca: lab.ca.root.certPem, ...target }, TIMEOUT);
    await srv.drained();
    await srv.close();
    return { sni: srv.sniSeen[0], r };
  };
  t.equal((await seen({ sni: 'other.example.com' })).sni, 'other.example.com');
  // An explicit SNI goes out like the default one: A-label, lower case, no trailing dot.
  const idn = await seen({ sni: 'Bücher.Example.' });
  t.equal(idn.sni, 'xn--bcher-kva.example', 'the ClientHello carries the A-label');
  t.equal(idn.r.target.sni, 'xn--bcher-kva.example', 'and the result says so');
  const smuggled = await seen({ sni: 'a\r\nb.example' });
  t.equal(smuggled.sni, undefined, 'an SNI that is not a DNS name is never sent');
  t.same(smuggled.r.reasons.map((x) => x.code), ['probe_error']);
  t.equal((await seen({ sni: null })).sni, '');
  const ip = await seen({ host: '127.0.0.1', addresses: undefined, expect: ['mail.example.com'] });
  t.equal(ip.sni, '', 'no SNI for an IP target');
  t.same(codes(ip.r), []);
  const ipCert = await mint({ subject: 'CN=127.0.0.1', ips: ['127.0.0.1'], issuer: lab.ca.intermediate });
  const srv = await fakeSmtp({ tls: { key: ipCert.keyPem, cert: ipCert.certPem + lab.ca.intermediate.certPem } });
  const byIp = await probeFake(srv, { host: '127.0.0.1', addresses: undefined, expect: undefined, ca: lab.ca.root.certPem }, TIMEOUT);
  await srv.close();
  t.same(codes(byIp), [], 'an IP target matches an iPAddress SAN');
  t.equal(byIp.addresses[0]?.names[0]?.via, 'IP:127.0.0.1');
});
