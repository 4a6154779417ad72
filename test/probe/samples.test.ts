/**
 * Two servers behind one address: a small TCP balancer on loopback alternates connections
 * between a correct backend and Exchange's self-signed one. Samples within one run, and
 * single probes over time through the store (A, B, A), both reveal it; a renewal does not.
 */
import t from 'tap';
import { MemoryResultsStore } from '../../src/store/results-store.js';
import { mint, pki, type Minted, type Pki } from '../helpers/certs.js';
import { fakeSmtp, type FakeSmtp } from '../helpers/fake-smtp.js';
import { codes, probeFake } from '../helpers/probe.js';
import { roundRobin, type Balancer } from '../helpers/balancer.js';

let ca: Pki;
let good: Minted;
let server1: Minted;
let backends: FakeSmtp[];
let lb: Balancer;

t.before(async () => {
  ca = await pki('Contoso');
  good = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  server1 = await mint({ subject: 'CN=SERVER1', dns: ['SERVER1', 'SERVER1.domain.com'] });
  backends = [
    await fakeSmtp({ host: '127.0.0.6', ehlo: '250-SERVER2.domain.com\r\n250 STARTTLS\r\n', tls: { key: good.keyPem, cert: good.certPem + ca.intermediate.certPem } }),
    await fakeSmtp({ host: '127.0.0.7', ehlo: '250-SERVER1.domain.com\r\n250 STARTTLS\r\n', tls: { key: server1.keyPem, cert: server1.certPem } }),
  ];
  lb = await roundRobin('127.0.0.5', backends);
  t.teardown(async () => {
    await lb.close();
    await Promise.all(backends.map((b) => b.close()));
  });
});

const probe = (samples?: number) => probeFake(lb, { host: 'hybrid.domain.com', ca: ca.root.certPem, ...(samples ? { samples } : {}) });

t.test('samples in one run: the worst sample is the verdict, and cert_inconsistent lists what was seen', async (t) => {
  lb.connections = 0;
  const r = await probe(4);
  const a = r.addresses[0]!;
  t.equal(a.status, 'critical', 'the self-signed backend makes the address critical');
  t.same(codes(r), ['cert_inconsistent', 'cert_name_mismatch', 'cert_self_signed']);
  t.equal(a.reasons.find((x) => x.code === 'cert_inconsistent')?.severity, 'warning');
  t.equal(a.certificate?.thumbprint, server1.thumbprint, 'the facts are the failing sample\'s');
  const message = a.reasons.find((x) => x.code === 'cert_inconsistent')!.message;
  t.match(message, `4 connections to 127.0.0.5 got 2 different certificates`);
  t.match(message, `${good.thumbprint} ("CN=hybrid.domain.com") 2 times`);
  t.match(message, `${server1.thumbprint} ("CN=SERVER1") 2 times`);
  t.same(a.samples?.map((s) => [s.certificate?.thumbprint, s.ehloHost, s.status]), [
    [good.thumbprint, 'SERVER2.domain.com', 'ok'],
    [server1.thumbprint, 'SERVER1.domain.com', 'critical'],
    [good.thumbprint, 'SERVER2.domain.com', 'ok'],
    [server1.thumbprint, 'SERVER1.domain.com', 'critical'],
  ]);
  t.ok(a.remediation.some((h) => /every backend server/.test(h)));
  t.equal(lb.connections, 4);

  const one = await probe();
  t.equal(one.addresses[0]!.samples, undefined, 'one sample by default');
  t.notOk(codes(one).includes('cert_inconsistent'), 'one connection cannot see it');
});

t.test('over time: A, B, A at one address is inconsistent; a renewal is one change', async (t) => {
  const store = new MemoryResultsStore();
  lb.connections = 0;
  for (let i = 0; i < 3; i++) store.record('lb', await probe());
  const rec = store.get('lb')!;
  const reasons = rec.latest.addresses[0]!.reasons;
  t.ok(reasons.some((x) => x.code === 'cert_inconsistent'), 'the return to A is flagged');
  t.match(reasons.find((x) => x.code === 'cert_inconsistent')?.message, new RegExp(`went back to ${good.thumbprint} \\("CN=hybrid.domain.com"\\) after serving ${server1.thumbprint} within 24 h`));
  t.equal(rec.latest.addresses[0]!.status, 'warning', 'A itself is fine: the inconsistency is a warning');
  t.ok(rec.latest.addresses[0]!.remediation.some((h) => /every backend server/.test(h)), 'with what to do');
  t.equal(rec.latest.status, 'warning');
  t.same(rec.distinctCertificates, { '127.0.0.5': 2 });
  t.same(store.history('lb', { limit: 1 })[0]!.addresses[0]!.reasons, ['cert_inconsistent']);

  // A renewal: A, then B from then on.
  const renewed = await ca.leaf({ subject: 'CN=hybrid.domain.com, O=Renewed', dns: ['hybrid.domain.com'] });
  let serving = good;
  const srv = await fakeSmtp({ host: '127.0.0.8', tls: () => ({ key: serving.keyPem, cert: serving.certPem + ca.intermediate.certPem }) });
  t.teardown(() => srv.close());
  const single = () => probeFake(srv, { host: 'hybrid.domain.com', ca: ca.root.certPem });
  store.record('renewal', await single());
  serving = renewed;
  store.record('renewal', await single());
  store.record('renewal', await single());
  const after = store.get('renewal')!;
  t.equal(after.latest.status, 'ok', 'no cert_inconsistent for a renewal');
  t.equal(after.thumbprintSince['127.0.0.8'], store.history('renewal', { limit: 1 })[0]!.firstSeen, 'one change, at the first sight of B');
  t.same(after.distinctCertificates, { '127.0.0.8': 2 }, 'two certificates within 24 h');
});
