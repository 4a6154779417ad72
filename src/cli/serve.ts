/**
 * `smtp-tls-probe serve`: the service. Config from --config, else $SMTP_TLS_PROBE_CONFIG,
 * else config/probe.yaml. SIGHUP reloads (not once stopping); SIGTERM/SIGINT stop within
 * the grace period and exit 0.
 */
import { parseArgs } from 'node:util';
import { ConfigError, parseListen } from '../config/load.js';
import { startService } from '../service/service.js';
import { StoreOpenError } from '../store/results-store.js';
import type { Io } from './check.js';

export const SERVE_USAGE = `Usage: smtp-tls-probe serve [--config FILE] [--listen HOST:PORT]

Run the service: scheduled probes of the configured targets, the HTTP API (/probe,
/results, /targets, /healthz, /readyz, /openapi.json) and Prometheus metrics.

Options:
  --config FILE       configuration file (default: $SMTP_TLS_PROBE_CONFIG, else config/probe.yaml)
  --listen HOST:PORT  address to listen on (overrides the file's listen)
  --grace SECONDS     on SIGTERM/SIGINT, how long running probes may finish (default 10)
  -h, --help          show this help
`;

export async function runServe(argv: string[], io: Io): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: argv,
      strict: true,
      options: {
        config: { type: 'string' },
        listen: { type: 'string' },
        grace: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    io.stderr(`smtp-tls-probe serve: ${(e as Error).message.split('\n')[0]}\n`);
    return 3;
  }
  if (values.help) {
    io.stdout(SERVE_USAGE);
    return 0;
  }
  const listen = values.listen === undefined ? undefined : parseListen(values.listen);
  if (listen === null) {
    io.stderr(`smtp-tls-probe serve: --listen: must be HOST:PORT, e.g. 0.0.0.0:9925 (got "${values.listen}")\n`);
    return 3;
  }
  const grace = values.grace === undefined ? 10 : Number(values.grace);
  if (!Number.isFinite(grace) || grace < 0 || grace > 600) {
    io.stderr(`smtp-tls-probe serve: --grace: must be seconds from 0 to 600 (got "${values.grace}")\n`);
    return 3;
  }
  const configPath = values.config ?? process.env.SMTP_TLS_PROBE_CONFIG ?? 'config/probe.yaml';
  let service;
  try {
    service = await startService({ configPath, ...(listen ? { listen } : {}) });
  } catch (e) {
    if (e instanceof ConfigError || e instanceof StoreOpenError) {
      io.stderr(`smtp-tls-probe serve: ${e.message}\n`);
      return 2;
    }
    io.stderr(`smtp-tls-probe serve: cannot start: ${(e as Error).message}\n`);
    return 1;
  }
  return new Promise<number>((resolve) => {
    process.on('SIGHUP', () => service.reload());
    const stop = (signal: string) => {
      service.logger.info({ signal }, 'signal received');
      // The close aborts everything at the end of the grace period; should some step still
      // hang, the process exits anyway: its bound is grace + 1 s.
      const bound = setTimeout(() => {
        service.logger.warn({ graceSeconds: grace }, 'still stopping after the grace period; exiting');
        resolve(0);
      }, grace * 1000 + 900);
      service.close(grace * 1000).then(
        () => {
          clearTimeout(bound);
          resolve(0);
        },
        (err: unknown) => {
          clearTimeout(bound);
          service.logger.error({ err }, 'error while stopping');
          resolve(1);
        },
      );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
