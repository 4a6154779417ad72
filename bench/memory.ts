/**
 * What the service keeps per target, in this process and without timing noise: N targets'
 * results recorded into the store (a database file) and rendered as /metrics series, then the
 * JS heap used after a full collection, against the same heap before the results. Once with
 * every target sharing one real probe result's certificate (as the scale run's 8 servers do),
 * once with a distinct certificate per target (thumbprints, names, serials and dates of its
 * own), so that sharing is not what makes the figure small.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ConfiguredTarget } from '../src/config/load.js';
import { ServiceMetrics } from '../src/metrics/service-metrics.js';
import { makeTarget, probeTarget, type TargetResult } from '../src/probe/index.js';
import { SqliteResultsStore } from '../src/store/results-store.js';
import { fmt, serverProcess, servedCert } from './servers.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** JS heap used after full collections, and memory outside it held by JS objects (Buffers). */
function used(): { heap: number; external: number } {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, external: m.external };
}

const hex = (i: number, len: number) => i.toString(16).toUpperCase().padStart(len, '0');

/** The result as target i would have it with a certificate of its own. */
function distinct(result: TargetResult, i: number): TargetResult {
  const copy = structuredClone(result);
  for (const a of copy.addresses) {
    const c = a.certificate;
    if (!c) continue;
    const name = `mx${i}.customer${i}.example`;
    c.thumbprint = hex(i, 8) + c.thumbprint.slice(8);
    c.sha256 = hex(i, 8).toLowerCase() + c.sha256.slice(8);
    c.serialNumber = hex(i, 8) + c.serialNumber.slice(8);
    c.subject = `CN=${name}`;
    c.subjectDn = `CN=${name}`;
    c.dnsNames = [name, `mail.customer${i}.example`];
    c.alternateNames = c.dnsNames.join(';');
    c.tlsCertificateName = `<I>${c.issuer}<S>CN=${name}`;
    c.notAfter = new Date(Date.parse(c.notAfter) - i * 1000).toISOString();
    a.chain[0] = { ...a.chain[0]!, subject: c.subject, thumbprint: c.thumbprint, notAfter: c.notAfter };
    a.names = a.names.map((n) => ({ ...n, name: `mail.customer${i}.example` }));
  }
  return copy;
}

async function measure(result: TargetResult, n: number, own: boolean): Promise<{ heap: number; external: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'stp-bench-memory-'));
  const before = used();
  const store = new SqliteResultsStore({ path: join(dir, 'results.db') });
  const targets = Array.from({ length: n }, (_, i) => ({ name: `t${i}`, labels: {}, schedule: '* * * * *' }) as unknown as ConfiguredTarget);
  const metrics = new ServiceMetrics({ store, targets: () => targets, intervalSeconds: () => 60, reload: () => ({ ok: true, at: new Date().toISOString() }), version: 'bench' });
  const at = Date.now();
  for (let i = 0; i < n; i++) {
    // Each record gets a result of its own, as each probe makes one.
    const r = own ? distinct(result, i) : structuredClone(result);
    r.startedAt = new Date(at + i).toISOString();
    store.record(`t${i}`, r);
    if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve));
  }
  await metrics.render();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const after = used();
  metrics.close();
  store.close();
  await rm(dir, { recursive: true, force: true });
  return { heap: after.heap - before.heap, external: after.external - before.external };
}

export async function memoryBench(sizes: number[]): Promise<string[]> {
  const served = await servedCert('ec');
  const server = await serverProcess(served);
  const target = makeTarget({ host: 'mail.example.com', addresses: ['127.0.0.1'], port: server.ports[0]!, ca: served.ca });
  const result = await probeTarget(target, { timeoutMs: 5000 });
  await server.close();
  if (result.status !== 'ok') throw new Error(`the probe for the memory bench failed: ${JSON.stringify(result.reasons)}`);
  const out: string[] = [];
  for (const n of sizes) {
    const shared = await measure(result, n, false);
    const own = await measure(result, n, true);
    const show = (m: { heap: number; external: number }) =>
      `JS heap ${fmt(m.heap / 1e6, 1)} MB (${fmt(m.heap / n / 1e3, 1)} KB a target) + outside it ${fmt(m.external / 1e6, 1)} MB`;
    out.push(
      `memory kept for results, N=${n} (store + /metrics series, after a full GC): ` +
        `one shared certificate: ${show(shared)}; a certificate per target: ${show(own)}`,
    );
    console.log(out[out.length - 1]);
  }
  return out;
}
