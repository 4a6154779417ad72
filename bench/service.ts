/**
 * The service end to end: /probe latency against the bare client's dialogue, and a scale run
 * (N targets every minute against fake servers on 127.0.0.2..9 in another process) that
 * reports round completion, skipped runs, /metrics time and size, /healthz and /results/NAME
 * latency, event-loop lag and RSS. Real minutes: a round is a cron minute.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { createLogger } from '../src/log.js';
import { probeTarget, type ProbeOptions, type ProbeTarget } from '../src/probe/index.js';
import { startService, type Service } from '../src/service/service.js';
import { bareProbe } from './bare.js';
import { fmt, median, quantile, serverProcess, servedCert } from './servers.js';

async function withService<T>(configText: string, fn: (s: Service) => Promise<T>, probe = probeTarget): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'stp-bench-'));
  const file = join(dir, 'probe.yaml');
  await writeFile(file, configText);
  const service = await startService({
    configPath: file,
    logger: createLogger('silent'),
    watch: false,
    env: {},
    probe,
    resolver: async () => ['127.0.0.2'],
  });
  try {
    return await fn(service);
  } finally {
    await service.close(0);
    await rm(dir, { recursive: true, force: true });
  }
}

async function timed(url: string): Promise<{ ms: number; bytes: number; status: number }> {
  const t0 = performance.now();
  const r = await fetch(url);
  const body = await r.arrayBuffer();
  return { ms: performance.now() - t0, bytes: body.byteLength, status: r.status };
}

/** /probe round trip (HTTP included) vs the bare dialogue, one at a time, alternating. */
export async function probeLatencyBench(rounds: number): Promise<string[]> {
  const served = await servedCert('rsa');
  const server = await serverProcess(served, ['127.0.0.2']);
  const port = server.ports[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'stp-bench-ca-'));
  await writeFile(join(dir, 'ca.pem'), served.ca);
  const config = [
    'listen: 127.0.0.1:0',
    `defaults: { caFile: ${join(dir, 'ca.pem')}, timeout: 5 }`,
    `onDemand: { refuseAddresses: [], ports: [${port}], rateLimit: { max: 100000, windowSeconds: 60 } }`,
    'targets: []',
  ].join('\n');
  const out = await withService(config, async (service) => {
    const url = `http://127.0.0.1:${service.address.port}/probe?host=mail.example.com&port=${port}`;
    const api: number[] = [];
    const engine: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < 10; i++) await timed(url); // warm
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      const r = await fetch(url);
      const body = (await r.json()) as { status: string; durationMs: number };
      api.push(performance.now() - t0);
      if (body.status !== 'ok') throw new Error(`/probe: ${JSON.stringify(body)}`);
      engine.push(body.durationMs);
      bare.push(await bareProbe('127.0.0.2', port, 'mail.example.com', served.ca));
    }
    return [
      `/probe round trip median ${fmt(median(api))} ms (engine's own durationMs ${fmt(median(engine))} ms); ` +
        `bare dialogue ${fmt(median(bare))} ms; ratio /probe/bare ${fmt(median(api) / median(bare))} (${rounds} alternating runs)`,
    ];
  });
  await server.close();
  await rm(dir, { recursive: true, force: true });
  console.log(out[0]);
  return out;
}

interface Done {
  name: string;
  end: number;
  durationMs: number;
}

/** N targets scheduled every minute for `minutes` whole minutes after the first round. */
export async function scaleBench(n: number, minutes: number): Promise<string> {
  const served = await servedCert('ec');
  const hosts = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
  const server = await serverProcess(served, hosts);
  const dir = await mkdtemp(join(tmpdir(), 'stp-bench-ca-'));
  await writeFile(join(dir, 'ca.pem'), served.ca);
  const lines = [
    'listen: 127.0.0.1:0',
    'logLevel: error',
    `defaults: { caFile: ${join(dir, 'ca.pem')}, timeout: 10, schedule: "* * * * *" }`,
    'targets:',
  ];
  for (let i = 0; i < n; i++) {
    const h = i % hosts.length;
    lines.push(`  - { name: t${i}, host: mail.example.com, addresses: [${hosts[h]}], port: ${server.ports[h]} }`);
  }
  const done: Done[] = [];
  const probe = async (target: ProbeTarget, options: ProbeOptions) => {
    const r = await probeTarget(target, options);
    done.push({ name: target.host, end: Date.now(), durationMs: r.durationMs });
    return r;
  };
  const line = await withService(
    lines.join('\n'),
    async (service) => {
      const base = `http://127.0.0.1:${service.address.port}`;
      await service.scheduler.ready();
      const firstRound = done.length;
      // Measure whole minutes, from the next minute boundary on.
      const start = Math.ceil(Date.now() / 60_000) * 60_000;
      await new Promise((r) => setTimeout(r, start - Date.now()));
      const lag = monitorEventLoopDelay({ resolution: 10 });
      lag.enable();
      const metrics: { ms: number; bytes: number }[] = [];
      const quick: number[] = [];
      let rss = 0;
      const end = start + minutes * 60_000;
      let nextMetrics = Date.now() + 15_000;
      while (Date.now() < end) {
        quick.push((await timed(`${base}/healthz`)).ms);
        quick.push((await timed(`${base}/results/t${quick.length % n}`)).ms);
        if (Date.now() >= nextMetrics) {
          metrics.push(await timed(`${base}/metrics`));
          nextMetrics = Date.now() + 15_000;
        }
        rss = Math.max(rss, process.memoryUsage().rss);
        await new Promise((r) => setTimeout(r, 200));
      }
      lag.disable();
      // Let the last round finish (up to a minute) before counting it.
      await new Promise((r) => setTimeout(r, 2_000));
      const rounds: string[] = [];
      let skipped = 0;
      const durations: number[] = [];
      for (let m = 0; m < minutes; m++) {
        const from = start + m * 60_000;
        // A run that fired in minute m ends before the next one fires for that target, at most one interval later.
        const runs = done.filter((d) => d.end >= from && d.end < from + 60_000 + 10_000);
        const inRound = runs.slice(0, n);
        durations.push(...inRound.map((d) => d.durationMs));
        skipped += Math.max(0, n - runs.filter((d) => d.end < from + 60_000).length);
        const last = inRound.length ? Math.max(...inRound.map((d) => d.end)) - from : NaN;
        rounds.push(`${fmt(last / 1000, 1)} s`);
      }
      const ms = (q: number) => fmt(lag.percentile(q) / 1e6, 1);
      return (
        `N=${n}, ${minutes} min: rounds end ${rounds.join(', ')} after the minute; runs missing ${skipped}; ` +
        `first round ${firstRound}; probe duration p50 ${fmt(quantile(durations, 0.5), 0)} ms p99 ${fmt(quantile(durations, 0.99), 0)} ms; ` +
        `/metrics ${metrics.map((x) => `${fmt(x.ms, 0)} ms`).join(' ')} (${fmt((metrics[0]?.bytes ?? 0) / 1e6, 1)} MB); ` +
        `/healthz+/results/NAME p50 ${fmt(quantile(quick, 0.5), 1)} ms p99 ${fmt(quantile(quick, 0.99), 1)} ms max ${fmt(Math.max(...quick), 1)} ms; ` +
        `event-loop lag p99 ${ms(99)} ms max ${fmt(lag.max / 1e6, 1)} ms; RSS max ${fmt(rss / 1e6, 0)} MB`
      );
    },
    probe,
  );
  await server.close();
  await rm(dir, { recursive: true, force: true });
  console.log(line);
  return line;
}
