/**
 * Targets as a whole: every address behind a name probed separately, the source address
 * option, DNS through an injected resolver (never the network), and bad input.
 */
import { getEventListeners } from 'node:events';
import t from 'tap';
import { makeTarget, probeTarget, type Resolver } from '../../src/probe/index.js';
import { exchangeSelfSigned, pki, type Minted, type Pki } from '../helpers/certs.js';
import { fakeSmtp, type FakeSmtp, type FakeSmtpOptions } from '../helpers/fake-smtp.js';
import { codes, probeFake } from '../helpers/probe.js';

let ca: Pki;
let good: Minted;
let server1: Minted;
t.before(async () => {
  ca = await pki('Contoso');
  good = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  server1 = await exchangeSelfSigned();
});
const goodServed = () => ({ key: good.keyPem, cert: good.certPem + ca.intermediate.certPem });

/** Servers on several loopback addresses sharing one port, as behind one DNS name. */
async function samePort(options: Array<FakeSmtpOptions & { host: string }>): Promise<FakeSmtp[]> {
  for (let attempt = 0; ; attempt++) {
    const first = await fakeSmtp(options[0]!);
    try {
      const rest = await Promise.all(options.slice(1).map((o) => fakeSmtp({ ...o, port: first.port })));
      return [first, ...rest];
    } catch (e) {
      await first.close();
      if (attempt > 5) throw e;
    }
  }
}

const resolverFor = (map: Record<string, string[]>): Resolver => async (host) => {
  const found = map[host];
  if (!found) throw Object.assign(new Error(`queryA ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found;
};

t.test('one name, two addresses, two certificates: each address judged on its own', async (t) => {
  const [a, b] = await samePort([
    { host: '127.0.0.2', tls: goodServed() },
    { host: '127.0.0.3', tls: { key: server1.keyPem, cert: server1.certPem }, greeting: '220 SERVER1.domain.com ESMTP\r\n' },
  ]);
  const target = makeTarget({ host: 'hybrid.domain.com', port: a!.port, ca: ca.root.certPem, ehloName: 'probe.test' });
  const r = await probeTarget(target, { timeoutMs: 3000, resolver: resolverFor({ 'hybrid.domain.com': ['127.0.0.2', '127.0.0.3'] }) });
  await Promise.all([a!.drained(), b!.drained()]);
  await Promise.all([a!.close(), b!.close()]);
  t.equal(r.status, 'critical', 'the worst address decides');
  t.same(r.addresses.map((x) => x.address), ['127.0.0.2', '127.0.0.3']);
  t.same(r.addresses.map((x) => x.status), ['ok', 'critical']);
  t.same(r.addresses[1]!.reasons.map((x) => x.code).sort(), ['cert_name_mismatch', 'cert_self_signed']);
  t.equal(r.addresses[0]!.certificate?.thumbprint, good.thumbprint);
  t.equal(r.addresses[1]!.certificate?.thumbprint, server1.thumbprint);
  t.match(r.addresses[1]!.smtp.greeting, /SERVER1\.domain\.com/, 'the greeting tells which server answered');
  t.same(a!.sniSeen, ['hybrid.domain.com']);
  t.same(b!.sniSeen, ['hybrid.domain.com']);
});

t.test('duplicate addresses from DNS are probed once', async (t) => {
  const srv = await fakeSmtp({ host: '127.0.0.2', tls: goodServed() });
  const target = makeTarget({ host: 'hybrid.domain.com', port: srv.port, ca: ca.root.certPem });
  const r = await probeTarget(target, { timeoutMs: 3000, resolver: resolverFor({ 'hybrid.domain.com': ['127.0.0.2', '127.0.0.2'] }) });
  await srv.close();
  t.equal(r.addresses.length, 1);
  t.equal(srv.accepted(), 1);
});

t.test('the source address selects what the server serves (SNAT / receive connector)', async (t) => {
  const srv = await fakeSmtp({
    tls: (client) => (client === '127.0.0.5' ? goodServed() : { key: server1.keyPem, cert: server1.certPem }),
  });
  const viaDefault = await probeFake(srv, { host: 'hybrid.domain.com', ca: ca.root.certPem });
  const viaSource = await probeFake(srv, { host: 'hybrid.domain.com', ca: ca.root.certPem, source: '127.0.0.5' });
  await srv.close();
  t.same(codes(viaDefault), ['cert_name_mismatch', 'cert_self_signed']);
  t.same(codes(viaSource), []);
  t.equal(viaSource.target.source, '127.0.0.5');
});

t.test('DNS problems are dns_error at the target level', async (t) => {
  const base = makeTarget({ host: 'missing.domain.test' });
  const nx = await probeTarget(base, { timeoutMs: 1000, resolver: resolverFor({}) });
  t.equal(nx.status, 'critical');
  t.same(nx.reasons.map((x) => x.code), ['dns_error']);
  t.match(nx.reasons[0]?.message, /ENOTFOUND/);
  t.same(nx.addresses, []);

  const empty = await probeTarget(base, { timeoutMs: 1000, resolver: async () => [] });
  t.match(empty.reasons[0]?.message, /no A or AAAA record/);

  const hanging = await probeTarget(base, { timeoutMs: 300, resolver: () => new Promise(() => undefined) });
  t.same(hanging.reasons.map((x) => x.code), ['dns_error']);
  t.match(hanging.reasons[0]?.message, /deadline/);
  t.ok(hanging.durationMs < 1300, 'the deadline covers DNS');
});

t.test('family restricts the addresses probed', async (t) => {
  const srv = await fakeSmtp({ tls: goodServed() });
  const resolver = resolverFor({ 'hybrid.domain.com': ['::1', '127.0.0.1'] });
  const v4 = await probeTarget(makeTarget({ host: 'hybrid.domain.com', port: srv.port, family: 4, ca: ca.root.certPem }), { timeoutMs: 3000, resolver });
  t.same(v4.addresses.map((a) => a.address), ['127.0.0.1']);
  t.equal(v4.status, 'ok');
  t.equal(v4.target.family, 4);
  const none = await probeTarget(makeTarget({ host: 'hybrid.domain.com', family: 6 }), { timeoutMs: 3000, resolver: resolverFor({ 'hybrid.domain.com': ['127.0.0.1'] }) });
  t.same(none.reasons.map((x) => x.code), ['dns_error']);
  t.match(none.reasons[0]?.message, /no AAAA record \(only 127\.0\.0\.1\)/);
  await srv.close();
});

t.test('pinned addresses and IP targets skip DNS', async (t) => {
  const srv = await fakeSmtp({ tls: goodServed() });
  const never: Resolver = async () => t.fail('resolver must not be called') as never;
  const pinned = await probeTarget(makeTarget({ host: 'hybrid.domain.com', port: srv.port, addresses: ['127.0.0.1'], ca: ca.root.certPem }), { timeoutMs: 3000, resolver: never });
  t.equal(pinned.status, 'ok');
  const ip = await probeTarget(makeTarget({ host: '127.0.0.1', port: srv.port, expect: ['hybrid.domain.com'], ca: ca.root.certPem }), { timeoutMs: 3000, resolver: never });
  t.equal(ip.status, 'ok');
  await srv.close();
});

t.test('IPv6 loopback', async (t) => {
  let srv: FakeSmtp;
  try {
    srv = await fakeSmtp({ host: '::1', tls: goodServed() });
  } catch {
    t.pass('no ::1 on this machine: skipped');
    return;
  }
  const r = await probeFake(srv, { host: 'hybrid.domain.com', ca: ca.root.certPem, addresses: ['::1'] });
  await srv.close();
  t.equal(r.status, 'ok');
  t.equal(r.addresses[0]?.address, '::1');
});

t.test('bad input gives unknown with probe_error, never a throw', async (t) => {
  const opts = { timeoutMs: 1000, resolver: resolverFor({}) };
  const port = await probeTarget(makeTarget({ host: 'x.test', port: 70000 }), opts);
  t.equal(port.status, 'unknown');
  t.same(port.reasons.map((x) => x.code), ['probe_error']);
  t.match(port.reasons[0]?.message, /port must be/);
  const smuggle = await probeTarget(makeTarget({ host: 'x.test', addresses: ['127.0.0.1'], ehloName: 'a\r\nRCPT TO:<x@y>' }), opts);
  t.equal(smuggle.status, 'unknown');
  t.match(smuggle.reasons[0]?.message, /EHLO name .* is not a host name/, 'no CRLF injection through the EHLO name');
  const addr = await probeTarget(makeTarget({ host: 'x.test', addresses: ['not-an-ip'] }), opts);
  t.match(addr.reasons[0]?.message, /pinned address "not-an-ip"/);
  const srv = await fakeSmtp({ tls: goodServed() });
  // 192.0.2.1 (TEST-NET-1) is not on this machine: binding to it fails locally, nothing is sent.
  const source = await probeFake(srv, { source: '192.0.2.1' });
  await srv.close();
  t.equal(source.status, 'unknown');
  t.same(codes(source), ['probe_error']);
  t.match(source.addresses[0]?.reasons[0]?.message, /source address/);
});

t.test('makeTarget defaults', async (t) => {
  const d = makeTarget({ host: 'Hybrid.Domain.com.' });
  t.equal(d.port, 25);
  t.same(d.expect, ['Hybrid.Domain.com.']);
  t.equal(d.sni, 'hybrid.domain.com', 'SNI: lower-case A-label, no trailing dot');
  t.equal(d.implicitTls, false);
  t.equal(d.warnDays, 30);
  t.equal(d.minTlsVersion, 'TLSv1.2');
  t.equal(makeTarget({ host: 'x.test', port: 465 }).implicitTls, true, 'port 465 means implicit TLS');
  t.equal(makeTarget({ host: '127.0.0.1' }).sni, null, 'no SNI for IP targets');
  t.equal(makeTarget({ host: '[::1]' }).host, '::1');
  const idn = makeTarget({ host: 'bücher.example' });
  t.equal(idn.host, 'xn--bcher-kva.example', 'DNS gets the A-label');
  t.equal(idn.sni, 'xn--bcher-kva.example', 'so does SNI');
  t.same(idn.expect, ['bücher.example'], 'the expected name as given (matched in A-label form)');
});

t.test('the caller\'s signal cancels a probe; finished probes leave no listener on it', async (t) => {
  const srv = await fakeSmtp({ greeting: null });
  const shutdown = new AbortController();
  const listeners = () => getEventListeners(shutdown.signal, 'abort').length;
  const target = makeTarget({ host: 'x.test', addresses: ['127.0.0.1'], port: srv.port });
  const running = probeTarget(target, { timeoutMs: 10_000, signal: shutdown.signal });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(listeners(), 1, 'linked while running');
  shutdown.abort(new Error('shutting down'));
  const r = await running;
  t.same(codes(r), ['greeting_timeout'], 'ended by the cancel, as a deadline');
  t.ok(r.durationMs < 5000);
  const other = new AbortController();
  for (let i = 0; i < 20; i++) await probeTarget(makeTarget({ host: 'x.test', port: 70000 }), { timeoutMs: 1000, signal: other.signal });
  t.equal(getEventListeners(other.signal, 'abort').length, 0, 'no listener left after 20 probes');
  await srv.close();
});
