/**
 * The long-running service: configuration → scheduler → probe → store → HTTP API.
 * Loads and watches the config file (and reloads on demand), keeps the running config when
 * a new one is invalid, listens, and shuts down in order.
 */
import { watch, type FSWatcher } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ConfigError, loadConfig, type Config } from '../config/load.js';
import { buildApp } from '../http/app.js';
import type { HealthReport } from '../http/routes/health.js';
import { createLogger } from '../log.js';
import { version as currentVersion } from '../version.js';
import { ServiceMetrics } from '../metrics/service-metrics.js';
import { probeTarget, systemResolver, type Resolver } from '../probe/index.js';
import { Scheduler, type ProbeFn } from '../scheduler/scheduler.js';
import { SqliteResultsStore, type ResultsStore } from '../store/results-store.js';

export interface ServiceOptions {
  configPath: string;
  /** Overrides the config's listen (the CLI's --listen). */
  listen?: { host: string; port: number };
  logger?: Logger;
  resolver?: Resolver;
  probe?: ProbeFn;
  /** Reload when the file changes (default true). */
  watch?: boolean;
  env?: NodeJS.ProcessEnv;
}

export interface ReloadOutcome {
  ok: boolean;
  errors?: string[];
  added?: string[];
  removed?: string[];
  changed?: string[];
}

export interface Service {
  app: FastifyInstance;
  scheduler: Scheduler;
  store: ResultsStore;
  logger: Logger;
  /** Where the server listens (with the real port when 0 was asked). */
  address: { host: string; port: number };
  config(): Config;
  reload(): ReloadOutcome;
  close(graceMs?: number): Promise<void>;
}

export async function startService(options: ServiceOptions): Promise<Service> {
  const env = options.env ?? process.env;
  let config = loadConfig(options.configPath, env); // throws ConfigError: the caller reports it
  const logger = options.logger ?? createLogger(config.logLevel);
  const resolver = options.resolver ?? systemResolver;
  const probe: ProbeFn = options.probe ?? ((target, o) => probeTarget(target, { resolver, ...o }));
  // Throws StoreOpenError for a file it cannot use (the caller reports it, exit code 2).
  const store = new SqliteResultsStore({
    path: config.storage.path,
    retentionDays: config.storage.retentionDays,
    historySize: config.historySize,
    logger,
  });
  logger.info({ storage: config.storage.path, retentionDays: config.storage.retentionDays, targets: store.all().length }, 'storage opened');
  const scheduler = new Scheduler({ probe, store, logger, concurrency: config.concurrency, jitterMs: config.jitterMs });
  scheduler.setTargets(config.targets);

  let loadedAt = new Date().toISOString();
  let lastReload: HealthReport['config']['lastReload'] = null;
  const version = currentVersion();
  const metrics = new ServiceMetrics({
    store,
    targets: () => scheduler.targets(),
    reload: () => lastReload ?? { ok: true, at: loadedAt },
    version,
  });
  let firstRoundDone = false;
  let closing = false;

  const app = await buildApp({
    logger,
    store,
    scheduler,
    probe,
    resolver,
    policy: () => config.onDemand,
    health: () => ({ config: { source: config.source, loadedAt, targets: config.targets.length, lastReload } }),
    notReady: () => (closing ? 'shutting down' : firstRoundDone ? null : 'the first round of probes is still running'),
    version,
    historySize: config.historySize,
    metrics,
  });

  const listen = options.listen ?? config.listen;
  await app.listen({ host: listen.host, port: listen.port });
  const bound = app.server.address();
  const address = typeof bound === 'object' && bound ? { host: bound.address, port: bound.port } : listen;
  logger.info({ listen: address, config: config.source, targets: config.targets.length }, 'smtp-tls-probe listening');

  const started = Date.now();
  store.startRetention();
  scheduler.start();
  void scheduler.ready().then(() => {
    firstRoundDone = true;
    logger.info({ targets: config.targets.length, durationMs: Date.now() - started }, 'first round of probes done');
  });

  const reload = (): ReloadOutcome => {
    const at = new Date().toISOString();
    let next: Config;
    try {
      next = loadConfig(options.configPath, env);
    } catch (e) {
      const errors = e instanceof ConfigError ? e.problems : [String(e)];
      lastReload = { at, ok: false, errors };
      logger.error({ config: options.configPath, errors }, 'configuration reload failed; the running configuration stays');
      return { ok: false, errors };
    }
    if (next.listen.host !== config.listen.host || next.listen.port !== config.listen.port) {
      logger.warn({ listen: next.listen }, 'listen changed in the configuration: it takes effect at the next start');
    }
    if (next.historySize !== config.historySize) {
      logger.warn({ history: next.historySize }, 'history changed in the configuration: it takes effect at the next start');
    }
    if (next.storage.path !== config.storage.path || next.storage.retentionDays !== config.storage.retentionDays) {
      logger.warn({ storage: next.storage }, 'storage changed in the configuration: it takes effect at the next start');
    }
    config = next;
    if (!options.logger) logger.level = next.logLevel;
    scheduler.setConcurrency(next.concurrency);
    scheduler.setJitter(next.jitterMs);
    const diff = scheduler.setTargets(next.targets);
    loadedAt = at;
    lastReload = { at, ok: true };
    logger.info({ config: next.source, targets: next.targets.length, ...diff }, 'configuration reloaded');
    return { ok: true, ...diff };
  };

  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;
  if (options.watch !== false) {
    // Watch the directory: editors and config management replace the file rather than write it.
    const file = basename(config.source);
    try {
      watcher = watch(dirname(config.source), (_event, name) => {
        if (name !== null && name !== file) return;
        clearTimeout(debounce);
        debounce = setTimeout(() => reload(), 200);
      });
      watcher.on('error', (err) => logger.warn({ err }, 'cannot watch the configuration file; reload with SIGHUP'));
    } catch (err) {
      logger.warn({ err }, 'cannot watch the configuration file; reload with SIGHUP');
    }
  }

  const close = async (graceMs = 10_000): Promise<void> => {
    if (closing) return;
    closing = true;
    watcher?.close();
    clearTimeout(debounce);
    const t0 = Date.now();
    logger.info({ graceMs }, 'stopping: no new probes; letting running ones finish');
    await scheduler.stop(graceMs);
    await app.close();
    store.close();
    logger.info({ durationMs: Date.now() - t0 }, 'stopped');
  };

  return { app, scheduler, store, logger, address, config: () => config, reload, close };
}
