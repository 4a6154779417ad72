/**
 * Figures, not tests: how long the DNSSEC test lab takes to start (sign the zones, start
 * unbound, first answer) and to close, and what one validated query costs through the
 * client. The goal is a start well under 2 s so that a test file can afford its own lab.
 * Run: node --import=@tapjs/typescript/import bench/dns-lab.ts [-- --rounds N --zones N]
 */
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { startDnsLab, type LabZone } from '../test/helpers/dns-lab.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '10' }, zones: { type: 'string', default: '5' } } });
const ROUNDS = Number(values.rounds);
const zones: LabZone[] = Array.from({ length: Number(values.zones) }, (_, i) => ({
  origin: `z${i}.test`,
  records: ['@ MX 10 mx', 'mx A 127.0.0.2', '_25._tcp.mx TLSA 3 1 1 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08'],
  dnssec: i === 1 ? 'unsigned' : 'signed',
}));

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const starts: number[] = [];
const closes: number[] = [];
const queries: number[] = [];
for (let r = 0; r < ROUNDS; r++) {
  let t0 = performance.now();
  const lab = await startDnsLab({ zones });
  starts.push(performance.now() - t0);
  for (let i = 0; i < 20; i++) {
    t0 = performance.now();
    const a = await lab.client.query(`_25._tcp.mx.z${i % zones.length}.test`, 'TLSA', AbortSignal.timeout(5000));
    if (a.rcode !== 'NOERROR') throw new Error(`unexpected ${a.rcode} ${a.error ?? ''}`);
    queries.push(performance.now() - t0);
  }
  t0 = performance.now();
  await lab.close();
  closes.push(performance.now() - t0);
}
const ms = (x: number) => `${x.toFixed(1)} ms`;
console.log(`dns lab, ${zones.length} zones + test., ${ROUNDS} rounds`);
console.log(`start  median ${ms(pct(starts, 0.5))}  p90 ${ms(pct(starts, 0.9))}  max ${ms(Math.max(...starts))}`);
console.log(`close  median ${ms(pct(closes, 0.5))}  p90 ${ms(pct(closes, 0.9))}`);
console.log(`query  median ${ms(pct(queries, 0.5))}  p90 ${ms(pct(queries, 0.9))} (first ones per lab validate, later ones are cached)`);
