/**
 * The /metrics result series alone, in this process: rendering every target the first time
 * (done in the background by the service as results arrive), the first scrape (which
 * builds the per-family buffers) and later ones, for N targets sharing one real probe result.
 */
import { ResultSeriesCache } from '../src/metrics/result-cache.js';
import { makeTarget, probeTarget } from '../src/probe/index.js';
import { fmt, median, serverProcess, servedCert } from './servers.js';

export async function metricsBench(sizes: number[]): Promise<string[]> {
  const served = await servedCert('ec');
  const server = await serverProcess(served);
  const target = makeTarget({ host: 'mail.example.com', addresses: ['127.0.0.1'], port: server.ports[0]!, ca: served.ca });
  const result = await probeTarget(target, { timeoutMs: 5000 });
  await server.close();
  const out: string[] = [];
  for (const n of sizes) {
    const since = { '127.0.0.1': new Date().toISOString() };
    const entries = Array.from({ length: n }, (_, i) => ({ name: `t${i}`, labels: {}, result: { ...result }, intervalSeconds: 60, thumbprintSince: since }));
    const names = entries.map((e) => e.name);
    const cache = new ResultSeriesCache();
    const t0 = performance.now();
    await cache.render(entries);
    const first = performance.now() - t0;
    const text: number[] = [];
    const syncs: number[] = [];
    // The first scrape builds the arenas (every target is new).
    const t2 = performance.now();
    (await cache.scrape(names)).release();
    const build = performance.now() - t2;
    let bytes = 0;
    for (let i = 0; i < 5; i++) {
      // 15 s of a round a minute: a quarter of the targets with a new result (durations of
      // other lengths), written in by the service's sync, in the background, before the scrape.
      const fresh = entries.filter((_, k) => k % 4 === i % 4).map((e, k) => ({ ...e, result: { ...result, durationMs: result.durationMs + (k % 1000) / 7 } }));
      await cache.render(fresh);
      const t3 = performance.now();
      await cache.sync(names);
      syncs.push(performance.now() - t3);
      const t1 = performance.now();
      const scrape = await cache.scrape(names);
      bytes = scrape.length;
      scrape.release();
      text.push(performance.now() - t1);
    }
    out.push(
      `result series, N=${n}: first render ${fmt(first, 0)} ms (${fmt((first / n) * 1000, 0)} µs a target), ` +
        `first scrape ${fmt(build, 0)} ms; a quarter of the targets written in ${fmt(median(syncs), 0)} ms (in slices), the scrape after it ${fmt(median(text), 1)} ms (${fmt(bytes / 1e6, 1)} MB)`,
    );
    console.log(out[out.length - 1]);
  }
  return out;
}
