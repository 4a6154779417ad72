/**
 * `smtp-tls-probe demo`: the hybrid case on loopback with the service probing it, and a
 * readable summary of what it found. `--endpoints-only` runs just the two SMTP endpoints
 * (docker-compose runs the service in its own container).
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseListen } from '../config/load.js';
import { startDemo, startDemoEndpoints, DEMO_HOST } from '../demo/demo.js';
import { createLogger } from '../log.js';
import type { TargetResult } from '../probe/types.js';
import type { Io } from './check.js';
import { wrap } from './report.js';

export const DEMO_USAGE = `Usage: smtp-tls-probe demo [--listen HOST:PORT]
       smtp-tls-probe demo --endpoints-only [--bind ADDRESS] [--exchange-port N] [--good-port N] [--ca-out FILE]

Reproduces the Exchange hybrid case: two SMTP endpoints for ${DEMO_HOST}, one serving
Exchange's self-signed CN=SERVER1 (as when the receive connector's TlsCertificateName is
empty), one serving the right certificate from a demo CA minted now; and the service probing
both every 30 seconds. Ctrl-C stops it.

Options:
  --listen HOST:PORT  where the service listens (default 127.0.0.1:9925)
  --endpoints-only    run only the two SMTP endpoints, without the service
  --bind ADDRESS      with --endpoints-only: address to listen on (default 127.0.0.1)
  --exchange-port N   with --endpoints-only: port of the misconfigured endpoint (default 2525)
  --good-port N       with --endpoints-only: port of the correct endpoint (default 2526)
  --ca-out FILE       with --endpoints-only: write the demo CA certificate there
  -h, --help          show this help
`;

function port(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 0 || n > 65535) throw new Error(`--${name}: must be a port number (got "${text}")`);
  return n;
}

function line(r: TargetResult | undefined, name: string): string[] {
  if (!r) return [`  ${name.padEnd(16)}not probed yet`];
  const a = r.addresses[0];
  const codes = [...r.reasons, ...(a?.reasons ?? [])].map((x) => x.code).join(', ');
  const out = [`  ${name.padEnd(16)}${r.status.toUpperCase().padEnd(10)}${codes}`];
  if (a?.certificate) out.push(`  ${''.padEnd(16)}serves ${a.certificate.subject} (thumbprint ${a.certificate.thumbprint})`);
  return out;
}

function waitForSignal(): Promise<string> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
}

export async function runDemo(argv: string[], io: Io): Promise<number> {
  let v;
  try {
    v = parseArgs({
      args: argv,
      strict: true,
      options: {
        listen: { type: 'string' },
        'endpoints-only': { type: 'boolean' },
        bind: { type: 'string' },
        'exchange-port': { type: 'string' },
        'good-port': { type: 'string' },
        'ca-out': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    io.stderr(`smtp-tls-probe demo: ${(e as Error).message.split('\n')[0]}\n`);
    return 3;
  }
  if (v.help) {
    io.stdout(DEMO_USAGE);
    return 0;
  }
  try {
    if (v['endpoints-only']) {
      const endpoints = await startDemoEndpoints({
        bind: v.bind ?? '127.0.0.1',
        exchangePort: port('exchange-port', v['exchange-port'], 2525),
        goodPort: port('good-port', v['good-port'], 2526),
      });
      if (v['ca-out']) await writeFile(v['ca-out'], endpoints.caPem);
      io.stdout(
        `demo endpoints for ${DEMO_HOST}: misconfigured (CN=SERVER1) on ${endpoints.exchange.host}:${endpoints.exchange.port}, ` +
          `correct on ${endpoints.good.host}:${endpoints.good.port}${v['ca-out'] ? `; demo CA in ${v['ca-out']}` : ''}\n`,
      );
      await waitForSignal();
      await endpoints.close();
      return 0;
    }
    const listen = parseListen(v.listen ?? '127.0.0.1:9925');
    if (!listen) throw new Error(`--listen: must be HOST:PORT (got "${v.listen}")`);
    // Progress on stderr: the first line of the output is the page to open.
    io.stderr(`smtp-tls-probe demo: minting a demo CA and starting two SMTP endpoints for ${DEMO_HOST}...\n`);
    const t0 = Date.now();
    const demo = await startDemo(listen, createLogger('warn'));
    const { exchange, good } = demo.endpoints;
    const base = `http://${listen.host.includes(':') ? `[${demo.service.address.host}]` : demo.service.address.host}:${demo.service.address.port}`;
    io.stdout(`Status page: ${base}/  (open it in a browser; the first round of probes takes a few seconds)\n`);
    await demo.service.scheduler.ready();
    const seed = demo.service.store.get('hybrid-server1')?.latest;
    const ok = demo.service.store.get('hybrid-server2')?.latest;
    const hint = seed?.addresses[0]?.remediation[0];
    const fix = ok?.addresses[0]?.certificate?.tlsCertificateName;
    io.stdout(
      [
        '',
        `  hybrid-server1  ${exchange.host}:${exchange.port}  misconfigured Exchange: serves its self-signed CN=SERVER1`,
        `  hybrid-server2  ${good.host}:${good.port}  correct: serves CN=${DEMO_HOST} from the demo CA`,
        `  service         ${base}  probes both every 30 s`,
        '',
        `First round (${Date.now() - t0} ms from start):`,
        ...line(seed, 'hybrid-server1'),
        ...line(ok, 'hybrid-server2'),
        '',
        ...(hint ? ['What to do on hybrid-server1:', ...wrap(`  ${hint}`, io.columns, '  '), ''] : []),
        ...(fix ? [`The value to set, read off hybrid-server2: -TlsCertificateName '${fix}'`, ''] : []),
        'Try:',
        `  curl -s ${base}/results/hybrid-server1`,
        `  curl -s ${base}/metrics | grep -E '^smtp_tls_(name_match|reason)'`,
        `  curl -s '${base}/probe?host=${exchange.host}&port=${exchange.port}&expect=${DEMO_HOST}'`,
        // npx finds the command in this package: no global install, nothing on PATH needed.
        `  npx smtp-tls-probe check ${DEMO_HOST} --address ${exchange.host} --port ${exchange.port} --ca ${demo.caFile}`,
        '',
        'Ctrl-C stops the demo. To probe your own hosts: add them to config/probe.yaml and run npm start.',
        '',
      ].join('\n'),
    );
    const signal = await waitForSignal();
    io.stdout(`\n${signal}: stopping the demo\n`);
    await demo.close();
    return 0;
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'EADDRINUSE' ? `${err.message} (another demo or service running? use --listen or the port options)` : err.message;
    io.stderr(`smtp-tls-probe demo: ${why}\n`);
    return 1;
  }
}
