/**
 * The service's metrics: its own registry (never prom-client's global one) with process
 * metrics and counters, followed at each scrape by the series of the stored results, kept
 * rendered per target (result-cache.ts) and brought up to date in the background.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConfiguredDomain } from '../config/domains.js';
import type { ConfiguredTarget } from '../config/load.js';
import type { DomainResult } from '../probe/domain/types.js';
import type { TargetResult } from '../probe/types.js';
import type { ResultsStore } from '../store/results-store.js';
import { addBlackboxMetrics, type BlackboxContext } from './blackbox-metrics.js';
import { addDomainMetrics, type DomainEntry } from './domain-metrics.js';
import { ResultSeriesCache } from './result-cache.js';
import { addResultMetrics, type ResultEntry } from './result-metrics.js';

/** A label value escaped as the exposition format (and prom-client) has it. */
const labelValue = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

export interface ReloadState {
  ok: boolean;
  at: string;
}

export interface ServiceMetricsDeps {
  store: ResultsStore;
  targets: () => ReadonlyArray<{ target: ConfiguredTarget; intervalSeconds: number | null }>;
  /** Configured mail domains (their labels); absent: none. */
  domains?: () => ReadonlyArray<{ domain: ConfiguredDomain }>;
  reload: () => ReloadState;
  version: string;
}

export class ServiceMetrics {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;
  private readonly base = new Registry();
  private readonly onDemand: Counter<'outcome'>;
  private readonly results = new ResultSeriesCache();
  private readonly domainResults = new ResultSeriesCache<DomainEntry>(addDomainMetrics);
  private readonly refresher: NodeJS.Timeout;

  constructor(private readonly deps: ServiceMetricsDeps) {
    // New results are rendered as they come (in slices that yield to requests), not at the scrape.
    this.refresher = setInterval(() => {
      void this.results.refresh(this.entries()).catch(() => undefined);
      void this.domainResults.refresh(this.domainEntries()).catch(() => undefined);
    }, 1000);
    this.refresher.unref();
    collectDefaultMetrics({ register: this.base });
    const { store, targets, reload } = deps;
    new Gauge({
      name: 'smtp_tls_build_info',
      help: 'Version of smtp-tls-probe (1).',
      labelNames: ['version'],
      registers: [this.base],
      collect() {
        this.set({ version: deps.version }, 1);
      },
    });
    this.onDemand = new Counter({
      name: 'smtp_tls_on_demand_requests_total',
      help: 'On-demand /probe requests, by outcome: the probe status, or the refusal code.',
      labelNames: ['outcome'],
      registers: [this.base],
    });
    new Gauge({
      name: 'smtp_tls_config_reload_success',
      help: '1 if the last configuration load or reload succeeded, else 0 (the previous configuration stays in force).',
      registers: [this.base],
      collect() {
        this.set(reload().ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'smtp_tls_config_reload_timestamp_seconds',
      help: 'When the configuration was last loaded or a reload was attempted.',
      registers: [this.base],
      collect() {
        this.set(Date.parse(reload().at) / 1000);
      },
    });
    new Counter({
      name: 'smtp_tls_store_errors_total',
      help: 'Failed reads and writes of the results database (disk full, locked, ...); the service goes on from memory.',
      registers: [this.base],
      collect() {
        this.reset();
        this.inc(store.errors());
      },
    });
    new Gauge({
      name: 'smtp_tls_config_domains',
      help: 'Number of configured mail domains (domain mode).',
      registers: [this.base],
      collect() {
        this.set(deps.domains?.().length ?? 0);
      },
    });
    new Gauge({
      name: 'smtp_tls_config_targets',
      help: 'Number of configured targets.',
      registers: [this.base],
      collect() {
        this.set(targets().length);
      },
    });
  }

  countOnDemand(outcome: string): void {
    this.onDemand.inc({ outcome });
  }

  renderProbe(result: TargetResult, context?: BlackboxContext): Promise<string> {
    return renderProbeMetrics(result, context);
  }

  /** One on-demand domain check as metrics. */
  renderDomain(result: DomainResult): Promise<string> {
    return renderDomainMetrics(result);
  }

  /** Everything for GET /metrics: what one registry of the base and the results would give. */
  async render(): Promise<string> {
    const [base, results, domains] = await Promise.all([
      this.base.metrics(),
      this.results.text(this.entries()),
      this.domainResults.text(this.domainEntries()),
    ]);
    return `${base.replace(/\n$/, '')}\n\n${this.probesTotal()}\n\n${results}\n\n${domains}\n`;
  }

  /**
   * smtp_tls_probes_total, written directly: up to four series per target, which a prom-client
   * counter rebuilt at each scrape made the costliest part of the base registry.
   */
  private probesTotal(): string {
    const lines = ['# HELP smtp_tls_probes_total Scheduled probes run, by target and resulting status.', '# TYPE smtp_tls_probes_total counter'];
    for (const rec of this.deps.store.all()) {
      const target = labelValue(rec.name);
      for (const [status, n] of Object.entries(rec.runs.byStatus)) {
        if (n > 0) lines.push(`smtp_tls_probes_total{target="${target}",status="${status}"} ${n}`);
      }
    }
    return lines.join('\n');
  }

  /** Stop the background rendering. */
  close(): void {
    clearInterval(this.refresher);
  }

  private domainEntries(): DomainEntry[] {
    const configured = new Map((this.deps.domains?.() ?? []).map((d) => [d.domain.name, d.domain.labels]));
    return this.deps.store.domains.all().map((rec) => ({ name: rec.name, labels: configured.get(rec.name) ?? {}, result: rec.latest }));
  }

  private entries(): ResultEntry[] {
    const configured = new Map(this.deps.targets().map((t) => [t.target.name, t]));
    return this.deps.store.all().map((rec) => ({
      name: rec.name,
      labels: configured.get(rec.name)?.target.labels ?? {},
      result: rec.latest,
      thumbprintSince: rec.thumbprintSince,
      distinctCertificates: rec.distinctCertificates,
      intervalSeconds: configured.get(rec.name)?.intervalSeconds ?? null,
    }));
  }
}

/** One on-demand domain check as metrics (`target` is the domain). */
export async function renderDomainMetrics(result: DomainResult): Promise<string> {
  const registry = new Registry();
  addDomainMetrics(registry, [{ name: result.domain, labels: {}, result }]);
  return registry.metrics();
}

/** One on-demand probe as metrics: our names and blackbox_exporter's. */
export async function renderProbeMetrics(result: TargetResult, context?: BlackboxContext): Promise<string> {
  const registry = new Registry();
  addResultMetrics(registry, [{ name: result.target.host, labels: {}, result }]);
  addBlackboxMetrics(registry, result, context);
  return registry.metrics();
}
