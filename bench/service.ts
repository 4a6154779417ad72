/**
 * The service end to end: /probe latency against the bare client's dialogue, and a scale run
 * (N targets every minute against fake servers on 127.0.0.2..9 in another process) that
 * reports round completion, skipped runs, /metrics time and size, /healthz and /results/NAME
 * latency, event-loop lag and RSS. Real minutes: a round is a cron minute.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile, spawn, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import net from 'node:net';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { createLogger } from '../src/log.js';
import { probeTarget } from '../src/probe/index.js';
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

const BLACKBOX = 'prometheus-blackbox-exporter';

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** blackbox_exporter with the same dialogue as ours, when Debian's package is installed. */
async function blackbox(dir: string, caFile: string): Promise<{ port: number; stop(): Promise<void> } | null> {
  if (spawnSync(BLACKBOX, ['--version']).status !== 0) return null;
  await writeFile(
    join(dir, 'blackbox.yml'),
    [
      'modules:',
      '  smtp_starttls:',
      '    prober: tcp',
      '    timeout: 5s',
      '    tcp:',
      '      preferred_ip_protocol: ip4',
      '      query_response:',
      '        - expect: "^220[ -]"',
      '        - send: "EHLO bench\\r"',
      '        - expect: "^250[ -]STARTTLS"',
      '        - send: "STARTTLS\\r"',
      '        - expect: "^220"',
      '        - starttls: true',
      '        - send: "EHLO bench\\r"',
      '        - expect: "^250 "',
      '        - send: "QUIT\\r"',
      '      tls_config:',
      `        ca_file: ${JSON.stringify(caFile)}`,
      '        server_name: mail.example.com',
    ].join('\n'),
  );
  const port = await freePort();
  const child = spawn(BLACKBOX, [`--config.file=${join(dir, 'blackbox.yml')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
  const until = Date.now() + 20_000;
  while (!(await fetch(`http://127.0.0.1:${port}/-/healthy`).then((r) => r.ok, () => false))) {
    if (Date.now() > until) throw new Error('blackbox_exporter did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    stop: async () => {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

/**
 * A client in a process of its own that asks /healthz, then /results/NAME of the next target,
 * every 200 ms until stop(), which returns the latencies (ms).
 */
function latencyPoller(base: string, n: number): { stop(): Promise<{ health: number[]; one: number[] }> } {
  const script = `
    const [base, n] = [process.env.BASE, Number(process.env.N)];
    const health = [], one = [];
    let running = true;
    process.stdin.on('end', () => (running = false)).resume();
    const timed = async (url) => {
      const t0 = performance.now();
      try { await (await fetch(url)).arrayBuffer(); } catch { return NaN; }
      return performance.now() - t0;
    };
    while (running) {
      health.push(await timed(base + '/healthz'));
      one.push(await timed(base + '/results/t' + (one.length % n)));
      await new Promise((r) => setTimeout(r, 200));
    }
    process.stdout.write(JSON.stringify({ health, one }));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, BASE: base, N: String(n) } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stdin!.on('error', () => undefined);
  const exited = once(child, 'exit');
  return {
    async stop() {
      child.stdin!.end();
      await exited;
      // NaN: a request that failed (the service gone); the figures keep only answers.
      const parsed = JSON.parse(out || '{"health":[],"one":[]}') as { health: Array<number | null>; one: Array<number | null> };
      const answered = (xs: Array<number | null>) => xs.filter((x): x is number => typeof x === 'number');
      return { health: answered(parsed.health), one: answered(parsed.one) };
    },
  };
}

/** Node's flags for the service, as `npm start` (and the Docker image) run it. */
export function serviceNodeFlags(): string[] {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { scripts: { start: string } };
  const m = /\bnode ((?:--\S+ )*)dist\/cli\/main\.js serve/.exec(pkg.scripts.start);
  if (!m) throw new Error('package.json: the start script no longer runs node [flags] dist/cli/main.js serve');
  return m[1]!.split(' ').filter(Boolean);
}

/**
 * /probe round trip (HTTP included), one at a time, alternating with blackbox_exporter's
 * /probe (same dialogue, same server) when installed and with the bare dialogue; the engine's
 * own duration against blackbox_exporter's probe_duration_seconds.
 */
export async function probeLatencyBench(rounds: number): Promise<string[]> {
  const served = await servedCert('rsa');
  const server = await serverProcess(served, ['127.0.0.2']);
  const port = server.ports[0]!;
  const dir = await mkdtemp(join(tmpdir(), 'stp-bench-ca-'));
  await writeFile(join(dir, 'ca.pem'), served.ca);
  const bb = await blackbox(dir, join(dir, 'ca.pem'));
  const config = [
    'listen: 127.0.0.1:0',
    `storage: { path: ${JSON.stringify(join(dir, 'results.db'))} }`,
    `defaults: { caFile: ${join(dir, 'ca.pem')}, timeout: 5 }`,
    `onDemand: { refuseAddresses: [], ports: [${port}], rateLimit: { max: 100000, windowSeconds: 60 } }`,
    'targets: []',
  ].join('\n');
  const out = await withService(config, async (service) => {
    const ours = `http://127.0.0.1:${service.address.port}/probe?host=mail.example.com&port=${port}&format=prometheus`;
    const theirs = bb && `http://127.0.0.1:${bb.port}/probe?module=smtp_starttls&target=127.0.0.2:${port}`;
    const api: number[] = [];
    const engine: number[] = [];
    const bbApi: number[] = [];
    const bbDuration: number[] = [];
    const bare: number[] = [];
    const get = async (url: string) => {
      const t0 = performance.now();
      const text = await (await fetch(url)).text();
      return { ms: performance.now() - t0, text };
    };
    for (let i = 0; i < 10; i++) {
      await get(ours);
      if (theirs) await get(theirs);
    }
    for (let i = 0; i < rounds; i++) {
      const a = await get(ours);
      if (metric(a.text, 'probe_success') !== 1) throw new Error(`/probe failed:\n${a.text.slice(0, 2000)}`);
      api.push(a.ms);
      engine.push(metric(a.text, 'probe_duration_seconds') * 1000);
      if (theirs) {
        const b = await get(theirs);
        if (metric(b.text, 'probe_success') !== 1) throw new Error(`blackbox_exporter failed:\n${b.text.slice(0, 2000)}`);
        bbApi.push(b.ms);
        bbDuration.push(metric(b.text, 'probe_duration_seconds') * 1000);
      }
      bare.push(await bareProbe('127.0.0.2', port, 'mail.example.com', served.ca));
    }
    const lines = [
      `/probe round trip median ${fmt(median(api))} ms (its probe_duration_seconds ${fmt(median(engine))} ms); bare dialogue ${fmt(median(bare))} ms (${rounds} alternating runs)`,
    ];
    if (theirs) {
      lines.push(
        `blackbox_exporter /probe median ${fmt(median(bbApi))} ms (its probe_duration_seconds ${fmt(median(bbDuration))} ms); ` +
          `ratio ours/theirs: round trip ${fmt(median(api) / median(bbApi))}, probe duration ${fmt(median(engine) / median(bbDuration))}`,
      );
    } else lines.push(`blackbox_exporter: ${BLACKBOX} not installed, not compared`);
    return lines;
  });
  await bb?.stop();
  await server.close();
  await rm(dir, { recursive: true, force: true });
  for (const l of out) console.log(l);
  return out;
}

const latencies = (xs: number[]) => `p50 ${fmt(quantile(xs, 0.5), 1)} ms p99 ${fmt(quantile(xs, 0.99), 1)} ms max ${fmt(Math.max(...xs), 1)} ms (${xs.length})`;

/** A metric's value in exposition text (the first series of that name). */
const metric = (text: string, name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);

interface Run {
  end: number;
  durationMs: number;
}

/**
 * N targets scheduled every minute, for `minutes` whole minutes after the first round. The
 * service runs as `smtp-tls-probe serve` from dist/ in its own process (its RSS and event-loop
 * lag are its own, read from its /metrics), the fake servers in another; each probe's end and
 * duration come from the service's log lines.
 */
export async function scaleBench(n: number, minutes: number): Promise<string> {
  const served = await servedCert('ec');
  const hosts = Array.from({ length: 8 }, (_, i) => `127.0.0.${i + 2}`);
  const server = await serverProcess(served, hosts);
  const dir = await mkdtemp(join(tmpdir(), 'stp-bench-scale-'));
  await writeFile(join(dir, 'ca.pem'), served.ca);
  // A database of its own: the default (data/ in the working directory) carried one run's
  // targets, history and certificates into the next.
  const lines = ['listen: 127.0.0.1:0', 'logLevel: info', `storage: { path: ${JSON.stringify(join(dir, 'results.db'))} }`, `defaults: { caFile: ca.pem, timeout: 10, schedule: "* * * * *" }`, 'targets:'];
  for (let i = 0; i < n; i++) {
    const h = i % hosts.length;
    lines.push(`  - { name: t${i}, host: mail.example.com, addresses: [${hosts[h]}], port: ${server.ports[h]} }`);
  }
  await writeFile(join(dir, 'probe.yaml'), lines.join('\n'));
  const bin = new URL('../dist/cli/main.js', import.meta.url).pathname;
  // BENCH_PROFILE_DIR: a CPU profile of the service, written when it stops.
  const profile = process.env.BENCH_PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_PROFILE_DIR}`] : [];
  const child = spawn(process.execPath, [...profile, ...serviceNodeFlags(), bin, 'serve', '--config', join(dir, 'probe.yaml'), '--grace', '1'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    // BENCH_SERVICE_NODE_OPTIONS: Node options for the service alone (e.g. a heap limit).
    env: { ...process.env, NODE_OPTIONS: process.env.BENCH_SERVICE_NODE_OPTIONS ?? '' },
  });
  const runs: Run[] = [];
  let port = 0;
  const listening = new Promise<void>((resolve) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const o = JSON.parse(line) as { msg?: string; time?: number; durationMs?: number; listen?: { port: number } };
      if (o.msg === 'probe' || o.msg?.startsWith('probe could not run')) runs.push({ end: o.time ?? Date.now(), durationMs: o.durationMs ?? NaN });
      else if (o.msg === 'smtp-tls-probe listening' && o.listen) {
        port = o.listen.port;
        resolve();
      }
    });
  });
  try {
    await listening;
    const base = `http://127.0.0.1:${port}`;
    const t0 = Date.now();
    while ((await fetch(`${base}/readyz`)).status !== 200) await new Promise((r) => setTimeout(r, 200));
    // The service's lag histogram restarts at each scrape: this one closes the start and the first round.
    const atStart = await (await fetch(`${base}/metrics`)).text();
    const firstRound =
      `${runs.length} runs in ${fmt((Date.now() - t0) / 1000, 1)} s, ` +
      `event-loop lag max ${fmt(metric(atStart, 'nodejs_eventloop_lag_max_seconds') * 1000, 0)} ms, RSS ${fmt(metric(atStart, 'process_resident_memory_bytes') / 1e6, 0)} MB`;
    // Whole minutes, from the next minute boundary on.
    const start = Math.ceil(Date.now() / 60_000) * 60_000;
    await new Promise((r) => setTimeout(r, start - Date.now()));
    const scrapes: { ms: number; bytes: number }[] = [];
    let health: number[] = [];
    let one: number[] = [];
    let rss = 0;
    let heap = 0;
    let heapTotal = 0;
    let external = 0;
    let lagP99 = 0;
    let lagMax = 0;
    const end = start + minutes * 60_000;
    let nextScrape = Date.now() + 15_000;
    // /healthz and /results/NAME from a client process of their own: timed here, they would
    // include this process's own pauses (it parses the service's log and 30 MB scrapes).
    const poller = latencyPoller(base, n);
    while (Date.now() < end) {
      if (Date.now() >= nextScrape) {
        // Timed by curl when there is one (a client of its own, as Prometheus is), else by fetch.
        const t1 = performance.now();
        const curl = await promisify(execFile)('curl', ['-s', '-o', '/dev/null', '-w', '%{time_total}', `${base}/metrics`]).catch(() => null);
        const fetched = performance.now() - t1;
        const body = Buffer.from(await (await fetch(`${base}/metrics`)).arrayBuffer());
        scrapes.push({ ms: curl ? Number(curl.stdout) * 1000 : fetched, bytes: body.length });
        // The service's own metrics come first: no need to decode the 30 MB of target series.
        const text = body.subarray(0, body.indexOf('# HELP smtp_tls_probes_total')).toString();
        rss = Math.max(rss, metric(text, 'process_resident_memory_bytes'));
        heap = Math.max(heap, metric(text, 'nodejs_heap_size_used_bytes'));
        heapTotal = Math.max(heapTotal, metric(text, 'nodejs_heap_size_total_bytes'));
        external = Math.max(external, metric(text, 'nodejs_external_memory_bytes'));
        lagP99 = Math.max(lagP99, metric(text, 'nodejs_eventloop_lag_p99_seconds'));
        lagMax = Math.max(lagMax, metric(text, 'nodejs_eventloop_lag_max_seconds'));
        nextScrape = Date.now() + 15_000;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    ({ health, one } = await poller.stop());
    await new Promise((r) => setTimeout(r, 2_000));
    const rounds: string[] = [];
    let missing = 0;
    const durations: number[] = [];
    for (let m = 0; m < minutes; m++) {
      const from = start + m * 60_000;
      const inMinute = runs.filter((d) => d.end >= from && d.end < from + 60_000);
      durations.push(...inMinute.map((d) => d.durationMs));
      missing += Math.max(0, n - inMinute.length);
      rounds.push(inMinute.length ? `${fmt((Math.max(...inMinute.map((d) => d.end)) - from) / 1000, 1)} s (${inMinute.length} runs)` : 'none');
    }
    const line =
      `N=${n}, ${minutes} min: last run of each minute ends ${rounds.join(', ')}; runs missing ${missing}; ` +
      `first round ${firstRound}; probe duration p50 ${fmt(quantile(durations, 0.5), 0)} ms p99 ${fmt(quantile(durations, 0.99), 0)} ms; ` +
      `/metrics ${scrapes.map((x) => fmt(x.ms, 0)).join('/')} ms (${fmt((scrapes[0]?.bytes ?? 0) / 1e6, 1)} MB); ` +
      `/healthz ${latencies(health)}; /results/NAME ${latencies(one)}; ` +
      `event-loop lag p99 ${fmt(lagP99 * 1000, 1)} ms max ${fmt(lagMax * 1000, 1)} ms; RSS max ${fmt(rss / 1e6, 0)} MB (JS heap used ${fmt(heap / 1e6, 0)} MB of ${fmt(heapTotal / 1e6, 0)} MB, outside it ${fmt(external / 1e6, 0)} MB)`;
    console.log(line);
    return line;
  } finally {
    child.kill('SIGTERM');
    await once(child, 'exit');
    await server.close();
    await rm(dir, { recursive: true, force: true });
  }
}
