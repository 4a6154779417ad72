/**
 * Figures, not tests: the results database after a simulated week. 5,000 targets probed
 * every 5 minutes for 7 days (mostly unchanged; some renewals, short failures, and a few
 * load-balanced addresses that flip between two certificates) are recorded through the real
 * store into a file; then the file size, the write time per round, and the latency of
 * /results/NAME and /certificates through the real HTTP app.
 * Run: npm run bench:storage [-- --targets N --days D --out FILE]
 */
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type { ConfiguredTarget } from '../src/config/load.js';
import { buildApp } from '../src/http/app.js';
import { createLogger } from '../src/log.js';
import { ServiceMetrics } from '../src/metrics/service-metrics.js';
import { makeTarget, type AddressResult, type CertificateFacts, type TargetResult } from '../src/probe/index.js';
import { SqliteResultsStore } from '../src/store/results-store.js';

const { values } = parseArgs({
  options: { targets: { type: 'string', default: '5000' }, days: { type: 'string', default: '7' }, out: { type: 'string' } },
});
const TARGETS = Number(values.targets);
const ROUNDS = Math.round((Number(values.days) * 86_400) / 300);
const dir = values.out ? null : mkdtempSync(join(tmpdir(), 'stp-bench-'));
const file = values.out ?? join(dir!, 'bench.db');

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const hex = (n: number) => n.toString(16).toUpperCase().padStart(40, '0');

function cert(host: string, serial: number): CertificateFacts {
  return {
    subject: `CN=${host}, O=Contoso Ltd, L=Seattle, S=WA, C=US`,
    issuer: 'CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US',
    subjectDn: `CN=${host},O=Contoso Ltd,L=Seattle,ST=WA,C=US`,
    issuerDn: 'CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1,O=DigiCert Inc,C=US',
    serialNumber: hex(serial).slice(0, 32),
    thumbprint: hex(serial),
    sha256: hex(serial).repeat(2).slice(0, 64),
    notBefore: '2026-06-01T00:00:00.000Z',
    notAfter: '2027-06-01T00:00:00.000Z',
    daysRemaining: 180,
    dnsNames: [host, `autodiscover.${host.split('.').slice(1).join('.')}`],
    ipAddresses: [],
    alternateNames: host,
    keyType: 'RSA',
    keyBits: 2048,
    signatureAlgorithm: 'sha256WithRSAEncryption',
    selfSigned: false,
    tlsCertificateName: `<I>CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1, O=DigiCert Inc, C=US<S>CN=${host}, O=Contoso Ltd, L=Seattle, S=WA, C=US`,
    verifiedChainNotAfter: '2027-06-01T00:00:00.000Z',
  };
}

function address(address: string, host: string, c: CertificateFacts | null): AddressResult {
  const ok = c !== null;
  return {
    address,
    status: ok ? 'ok' : 'critical',
    reasons: ok ? [] : [{ code: 'connect_timeout', severity: 'critical', message: 'no TCP connection: deadline reached during connecting' }],
    timings: ok ? { connectMs: 12.1, greetingMs: 40.3, ehloMs: 8.2, starttlsMs: 7.9, tlsMs: 35.5, totalMs: 104 } : { totalMs: 30000 },
    smtp: ok ? { greeting: `220 ${host} Microsoft ESMTP MAIL Service ready`, ehloHost: host, extensions: ['SIZE 37748736', 'PIPELINING', 'DSN', 'ENHANCEDSTATUSCODES', 'STARTTLS', '8BITMIME', 'BINARYMIME', 'CHUNKING'] } : { extensions: [] },
    tls: ok ? { protocol: 'TLSv1.2', cipher: 'TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384', servername: host, authorizationError: null } : null,
    certificate: c,
    chain: c ? [{ subject: c.subject, issuer: c.issuer, thumbprint: c.thumbprint, notAfter: c.notAfter }] : [],
    names: ok ? [{ name: host, matched: true, via: host }] : [],
    exchangeOnline: ok ? null : { code: '451 4.4.315', msg: 'Connection timed out' },
    remediation: [],
  };
}

/** What target i looks like in a given round: the simulation's whole model. */
function probeOf(i: number, round: number, at: number): TargetResult {
  const host = `mail${i}.customer${i}.example`;
  const renewsAt = i % 50 === 0 ? (i * 7919) % ROUNDS : Infinity; // 2 % renew once during the week
  const flaky = i % 100 === 1 && (round * 31 + i) % 20 === 0; // 1 % fail one round in 20
  const balanced = i % 250 === 2; // 0.4 %: two servers behind one address, alternating
  const serial = balanced ? i * 10 + (round % 2) : i * 10 + (round >= renewsAt ? 1 : 0);
  const addresses = [address(`192.0.2.${i % 250}`, host, flaky ? null : cert(host, serial))];
  if (i % 10 === 3) addresses.push(address(`2001:db8::${i.toString(16)}`, host, cert(host, i * 10)));
  const status = addresses.some((a) => a.status === 'critical') ? 'critical' : 'ok';
  return {
    target: { host, port: 25, expect: [host], sni: host, implicitTls: false },
    status,
    reasons: [],
    startedAt: new Date(at).toISOString(),
    durationMs: 110,
    addresses,
  };
}

async function main() {
  const store = new SqliteResultsStore({ path: file, retentionDays: 90 });
  const start = Date.now() - ROUNDS * 300_000;
  const writeMs: number[] = [];
  const t0 = performance.now();
  for (let round = 0; round < ROUNDS; round++) {
    const at = start + round * 300_000;
    const results = Array.from({ length: TARGETS }, (_, i) => probeOf(i, round, at + (i % 300) * 1000));
    const w0 = performance.now();
    for (let i = 0; i < TARGETS; i++) store.record(`t${i}`, results[i]!);
    store.flush();
    writeMs.push(performance.now() - w0);
    if (round % 288 === 0) console.error(`day ${round / 288}: round ${round}/${ROUNDS}, last round ${writeMs.at(-1)!.toFixed(1)} ms`);
  }
  const simulated = (performance.now() - t0) / 1000;
  store.close();
  const size = statSync(file).size;

  const o0 = performance.now();
  const reopened = new SqliteResultsStore({ path: file, retentionDays: 90 });
  const openMs = performance.now() - o0;
  const configured: ConfiguredTarget[] = Array.from({ length: TARGETS }, (_, i) => ({
    name: `t${i}`,
    schedule: '*/5 * * * *',
    timeoutMs: 30_000,
    labels: {},
    probe: makeTarget({ host: `mail${i}.customer${i}.example`, ehloName: 'bench' }),
  }));
  const view = configured.map((target) => ({ target, nextRun: null, intervalSeconds: 300, running: false }));
  const byName = new Map(view.map((v) => [v.target.name, v]));
  const scheduler = { targets: () => view, target: (name: string) => byName.get(name) };
  const metrics = new ServiceMetrics({ store: reopened, targets: () => configured, intervalSeconds: () => 300, reload: () => ({ ok: true, at: '' }), version: 'bench' });
  const app = await buildApp({
    logger: createLogger('silent'),
    store: reopened,
    scheduler,
    probe: async () => {
      throw new Error('no probes in the benchmark');
    },
    resolver: async () => [],
    policy: () => {
      throw new Error('no on-demand probes in the benchmark');
    },
    health: () => ({ config: { source: 'bench', loadedAt: '', targets: TARGETS, lastReload: null } }),
    notReady: () => null,
    version: 'bench',
    metrics,
  });
  const latency = async (urls: () => string, n: number) => {
    const ms: number[] = [];
    let bytes = 0;
    for (let k = 0; k < n; k++) {
      const r0 = performance.now();
      const r = await app.inject({ url: urls() });
      ms.push(performance.now() - r0);
      if (r.statusCode !== 200) throw new Error(`${r.statusCode} ${r.body.slice(0, 200)}`);
      bytes = r.body.length;
    }
    return { median: pct(ms, 0.5), p95: pct(ms, 0.95), bytes };
  };
  let k = 0;
  const one = await latency(() => `/results/t${(k++ * 37) % TARGETS}`, 200);
  const lb = await latency(() => `/results/t2/history?limit=100`, 50);
  const certs = await latency(() => '/certificates', 10);
  const m0 = performance.now();
  await app.inject({ url: '/metrics' });
  const metricsMs = performance.now() - m0;
  const count = (table: string) =>
    (reopened as unknown as { db: { prepare(s: string): { get(): { n: number } } } }).db.prepare(`SELECT count(*) AS n FROM ${table}`).get().n;
  const rows = { spans: count('spans'), certificates: count('certificates'), targets: count('targets') };
  await app.close();
  reopened.close();

  const mb = (b: number) => `${(b / 1e6).toFixed(1)} MB`;
  console.log(`simulated ${TARGETS} targets x ${ROUNDS} rounds (every 5 min, ${values.days} days) in ${simulated.toFixed(0)} s`);
  console.log(`database file             : ${mb(size)} (${rows.targets} targets, ${rows.spans} spans, ${rows.certificates} certificate sightings)`);
  console.log(`writes per round          : median ${pct(writeMs, 0.5).toFixed(1)} ms, p95 ${pct(writeMs, 0.95).toFixed(1)} ms, max ${Math.max(...writeMs).toFixed(1)} ms`);
  console.log(`open + load at start      : ${openMs.toFixed(0)} ms`);
  console.log(`GET /results/NAME         : median ${one.median.toFixed(1)} ms, p95 ${one.p95.toFixed(1)} ms (${one.bytes} bytes)`);
  console.log(`GET /results/NAME/history : median ${lb.median.toFixed(1)} ms, p95 ${lb.p95.toFixed(1)} ms (a flipping address, 100 spans, ${lb.bytes} bytes)`);
  console.log(`GET /certificates         : median ${certs.median.toFixed(0)} ms, p95 ${certs.p95.toFixed(0)} ms (${mb(certs.bytes)})`);
  console.log(`GET /metrics              : ${metricsMs.toFixed(0)} ms`);
  console.log(`load average during the run: ${(await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ')} on ${(await import('node:os')).availableParallelism()} cores`);
  if (dir) rmSync(dir, { recursive: true, force: true });
}

await main();
