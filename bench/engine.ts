/**
 * Engine vs a bare Node client, same server (another process), same dialogue, alternating
 * runs: probes/s and CPU ms per probe (process.cpuUsage, this process only), with the ratio
 * engine/bare for each pair of runs.
 */
import { makeTarget, probeTarget } from '../src/probe/index.js';
import { bareProbe } from './bare.js';
import { fmt, median, serverProcess, servedCert } from './servers.js';

interface Run {
  perSecond: number;
  cpuMs: number;
}

async function drive(total: number, concurrency: number, one: () => Promise<unknown>): Promise<Run> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < total) await one();
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return { perSecond: total / seconds, cpuMs: (cpu.user + cpu.system) / 1000 / total };
}

export async function engineBench(rounds: number, total: number): Promise<string[]> {
  const out: string[] = [];
  for (const type of ['rsa', 'ec'] as const) {
    const served = await servedCert(type);
    const server = await serverProcess(served);
    const port = server.ports[0]!;
    const target = makeTarget({ host: 'mail.example.com', addresses: ['127.0.0.1'], port, ca: served.ca, ehloName: 'bench' });
    const engine = async () => {
      const r = await probeTarget(target, { timeoutMs: 10_000 });
      if (r.status !== 'ok') throw new Error(`engine: unexpected ${r.status} ${JSON.stringify(r.reasons)}`);
    };
    const bare = () => bareProbe('127.0.0.1', port, 'mail.example.com', served.ca);
    // Warm both paths (JIT, caches) before anything is counted.
    await drive(40, 8, engine);
    await drive(40, 8, bare);
    for (const concurrency of [8, 32]) {
      const ratios: number[] = [];
      const e: Run[] = [];
      const b: Run[] = [];
      for (let i = 0; i < rounds; i++) {
        // Alternate which goes first, so drift on a shared machine hits both alike.
        const first = i % 2 === 0;
        const r1 = await drive(total, concurrency, first ? engine : bare);
        const r2 = await drive(total, concurrency, first ? bare : engine);
        const [re, rb] = first ? [r1, r2] : [r2, r1];
        e.push(re);
        b.push(rb);
        ratios.push(re.perSecond / rb.perSecond);
      }
      const cpuE = median(e.map((r) => r.cpuMs));
      const cpuB = median(b.map((r) => r.cpuMs));
      out.push(
        `${type.toUpperCase().padEnd(3)} c=${String(concurrency).padEnd(2)} engine ${fmt(median(e.map((r) => r.perSecond)), 0)}/s, bare ${fmt(median(b.map((r) => r.perSecond)), 0)}/s; ` +
          `ratio engine/bare min ${fmt(Math.min(...ratios))} median ${fmt(median(ratios))} max ${fmt(Math.max(...ratios))}; ` +
          `CPU ms/probe engine ${fmt(cpuE)} bare ${fmt(cpuB)} (x${fmt(cpuE / cpuB)})`,
      );
      console.log(out[out.length - 1]);
    }
    await server.close();
  }
  return out;
}
