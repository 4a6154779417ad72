/**
 * The long-running service: configuration → scheduler → probe → store → HTTP API.
 * Loads and watches the config file (and reloads on demand), keeps the running config when
 * a new one is invalid, listens, and shuts down in order.
 */
import { basename, dirname, resolve } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { ConfigError, configFromText, loadConfig, type Config } from '../config/load.js';
import { ConfigWatcher, type SettledChange } from '../config/watch.js';
import { buildApp } from '../http/app.js';
import { probeChecked } from '../http/on-demand.js';
import type { HealthReport } from '../http/routes/health.js';
import { OnDemandDrain } from '../http/shutdown.js';
import { createLogger } from '../log.js';
import { version as currentVersion } from '../version.js';
import { ServiceMetrics } from '../metrics/service-metrics.js';
import { probeTarget, systemResolver, type Resolver } from '../probe/index.js';
import { Scheduler, type DomainProbeFn, type ProbeFn } from '../scheduler/scheduler.js';
import { domainProbe, type DnsClientFactory, type DomainTestPorts } from './domain-probe.js';
import { SqliteResultsStore, type ResultsStore } from '../store/results-store.js';

export interface ServiceOptions {
  configPath: string;
  /** Overrides the config's listen (the CLI's --listen). */
  listen?: { host: string; port: number };
  logger?: Logger;
  resolver?: Resolver;
  probe?: ProbeFn;
  /** The domain check (default: probeDomain through the configured resolver). */
  probeDomain?: DomainProbeFn;
  /** Makes the DNS client of domain checks for a resolver address (default: createDnsClient). */
  dnsClient?: DnsClientFactory;
  /** Internal, for tests: the ports of their MX servers and MTA-STS policy host. */
  domainTestPorts?: DomainTestPorts;
  /** Reload when the file changes (default true). */
  watch?: boolean;
  /** Internal, for tests: the watcher's quiet time and read interval (ms). */
  watchTiming?: { debounceMs?: number; settleMs?: number; pollMs?: number };
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
  /** Reload now, as SIGHUP does. */
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
  const probeDomain = options.probeDomain ?? domainProbe(() => config.dns.resolver, options.dnsClient, options.domainTestPorts);
  const scheduler = new Scheduler({ probe, probeDomain, store, logger, concurrency: config.concurrency, jitterMs: config.jitterMs });
  scheduler.setTargets(config.targets);
  scheduler.setDomains(config.domains);

  let loadedAt = new Date().toISOString();
  let lastReload: HealthReport['config']['lastReload'] = null;
  const version = currentVersion();
  const metrics = new ServiceMetrics({
    store,
    targets: () => scheduler.configured(),
    intervalSeconds: (schedule) => scheduler.intervalSeconds(schedule),
    domains: () => scheduler.domains(),
    reload: () => lastReload ?? { ok: true, at: loadedAt },
    version,
  });
  let firstRoundDone = false;
  let closing = false;
  const drain = new OnDemandDrain();

  const app = await buildApp({
    logger,
    store,
    scheduler,
    probe: probeChecked,
    resolver,
    policy: () => config.onDemand,
    probeDomain,
    health: () => ({ config: { source: config.source, loadedAt, targets: config.targets.length, domains: config.domains.length, lastReload } }),
    notReady: () => (closing ? 'shutting down' : firstRoundDone ? null : 'the first round of probes is still running'),
    version,
    historySize: config.historySize,
    metrics,
    drain,
    allowedHosts: () => config.http.allowedHosts,
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

  type Trigger = { trigger: 'signal' } | { trigger: 'file'; sinceChangeMs: number; reads: number };

  const failed = (errors: string[], how: Trigger): ReloadOutcome => {
    lastReload = { at: new Date().toISOString(), ok: false, errors };
    logger.error({ config: options.configPath, errors, ...how }, 'configuration reload failed; the running configuration stays');
    return { ok: false, errors };
  };

  const apply = (next: Config, how: Trigger): ReloadOutcome => {
    const at = new Date().toISOString();
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
    const hosts = scheduler.setTargets(next.targets);
    const domains = scheduler.setDomains(next.domains);
    const diff = {
      added: [...hosts.added, ...domains.added],
      removed: [...hosts.removed, ...domains.removed],
      changed: [...hosts.changed, ...domains.changed],
    };
    loadedAt = at;
    lastReload = { at, ok: true };
    logger.info({ config: next.source, targets: next.targets.length, domains: next.domains.length, ...diff, ...how }, 'configuration reloaded');
    return { ok: true, ...diff };
  };

  // A reload during the shutdown would start what the shutdown is stopping.
  const ignoredWhileClosing = (how: Trigger): ReloadOutcome | null => {
    if (!closing) return null;
    logger.info({ config: options.configPath, ...how }, 'reload ignored: shutting down');
    return { ok: false, errors: ['shutting down'] };
  };

  const reload = (): ReloadOutcome => {
    const ignored = ignoredWhileClosing({ trigger: 'signal' });
    if (ignored) return ignored;
    try {
      return apply(loadConfig(options.configPath, env), { trigger: 'signal' });
    } catch (e) {
      return failed(e instanceof ConfigError ? e.problems : [String(e)], { trigger: 'signal' });
    }
  };

  // The text of the last change that failed: events on other files of the directory do not
  // repeat its error.
  let failedText: string | null = null;
  const fileChanged = ({ read, sinceChangeMs, reads }: SettledChange): void => {
    const how: Trigger = { trigger: 'file', sinceChangeMs, reads };
    if (ignoredWhileClosing(how)) return;
    const text = 'text' in read ? read.text : null;
    let next: Config;
    try {
      if (text === null) throw new ConfigError(options.configPath, ['problem' in read ? read.problem : 'cannot read the file']);
      next = configFromText(options.configPath, text, env);
    } catch (e) {
      if (text !== null && text === failedText) return;
      failedText = text;
      failed(e instanceof ConfigError ? e.problems : [String(e)], how);
      return;
    }
    failedText = null;
    // The directory is watched: a change elsewhere in it, or a rewrite with the same content,
    // is no reload.
    if (JSON.stringify(next) === JSON.stringify(config)) {
      logger.debug({ config: options.configPath, ...how }, 'configuration file touched; nothing changed');
      return;
    }
    apply(next, how);
  };

  let watcher: ConfigWatcher | undefined;
  if (options.watch !== false) {
    const w = new ConfigWatcher({
      path: config.source,
      ignoreNames: databaseFilesBeside(config.source, config.storage.path),
      ...options.watchTiming,
      onChange: fileChanged,
      onWarning: (message, err) => logger.warn({ err }, message),
    });
    try {
      w.start();
      watcher = w;
    } catch (err) {
      logger.warn({ err }, 'cannot watch the configuration file; reload with SIGHUP');
    }
  }

  const close = async (graceMs = 10_000): Promise<void> => {
    if (closing) return;
    closing = true;
    watcher?.close();
    metrics.close();
    const t0 = Date.now();
    logger.info({ graceMs }, 'stopping: no new probes; letting running ones finish');
    // /probe refuses new requests from here; running probes, scheduled or on demand, get the
    // same grace period.
    await Promise.all([scheduler.stop(graceMs), drain.drain(graceMs)]);
    // Anything still holding a connection after the grace (a slow client) is cut: the bound
    // of the shutdown is the grace period, not the client.
    const cut = setTimeout(() => app.server.closeAllConnections(), 500);
    await app.close();
    clearTimeout(cut);
    store.close();
    logger.info({ durationMs: Date.now() - t0 }, 'stopped');
  };

  return { app, scheduler, store, logger, address, config: () => config, reload, close };
}

/**
 * The results database's files (SQLite's journal and WAL files included) when they sit in
 * the configuration's directory, by name: their changes are not the configuration's.
 */
export function databaseFilesBeside(configPath: string, storagePath: string): string[] {
  if (storagePath === ':memory:' || dirname(resolve(storagePath)) !== dirname(resolve(configPath))) return [];
  const name = basename(storagePath);
  // Never the configuration itself, however it is named.
  return [name, `${name}-wal`, `${name}-shm`, `${name}-journal`].filter((n) => n !== basename(configPath));
}
