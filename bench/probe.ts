/**
 * Figures, not tests. Run: npm run bench. Loopback only, bounded in time.
 *   BENCH_ROUNDS        alternating engine/bare pairs per case (default 5)
 *   BENCH_PROBES        probes per run (default 150)
 *   BENCH_SCALE         target counts for the scale run (default 1000,5000,10000; 0 skips it)
 *   BENCH_SCALE_MINUTES whole cron minutes measured per count (default 3): real minutes, the
 *                       schedule is "* * * * *"
 *   BENCH_PROFILE_DIR   write a CPU profile of the service of each scale run there
 *   BENCH_SERVICE_NODE_OPTIONS  NODE_OPTIONS of the service in the scale run (a heap limit)
 * Parts can be picked with BENCH_ONLY=engine,probe,cli,metrics,memory,scale.
 */
import { cpus } from 'node:os';
import { cliBench } from './cli.js';
import { engineBench } from './engine.js';
import { memoryBench } from './memory.js';
import { metricsBench } from './metrics.js';
import { probeLatencyBench, scaleBench } from './service.js';

const env = process.env;
const only = new Set((env.BENCH_ONLY ?? 'engine,probe,cli,metrics,memory,scale').split(','));
const rounds = Number(env.BENCH_ROUNDS ?? 5);
const probes = Number(env.BENCH_PROBES ?? 150);
const sizes = (env.BENCH_SCALE ?? '1000,5000,10000').split(',').map(Number).filter((n) => n > 0);
const minutes = Number(env.BENCH_SCALE_MINUTES ?? 3);

console.log(`# ${new Date().toISOString()} node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}`);
if (only.has('engine')) await engineBench(rounds, probes);
if (only.has('probe')) await probeLatencyBench(rounds * 10);
if (only.has('cli')) await cliBench(rounds * 2);
if (only.has('metrics')) await metricsBench([5000, 10000]);
if (only.has('memory')) await memoryBench([5000, 10000]);
if (only.has('scale')) for (const n of sizes) await scaleBench(n, minutes);
