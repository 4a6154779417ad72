/**
 * The service's metrics: its own registry (never prom-client's global one) with process
 * metrics and counters, followed at each scrape by the series of the stored results, kept
 * rendered per target (result-cache.ts) and brought up to date in the background as results
 * arrive: the store says which target has a new result, so nothing is reread or compared
 * for the others. A scrape sends the kept per-family buffers themselves, without a copy.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConfiguredDomain } from '../config/domains.js';
import type { ConfiguredTarget } from '../config/load.js';
import type { DomainResult } from '../probe/domain/types.js';
import type { TargetResult } from '../probe/types.js';
import type { ResultsStore, TargetSummary } from '../store/results-store.js';
import { addBlackboxMetrics, type BlackboxContext } from './blackbox-metrics.js';
import { addDomainMetrics, type DomainEntry } from './domain-metrics.js';
import { RegistrySeriesCache } from './registry-cache.js';
import { nextTurn, ResultSeriesCache, type Scrape } from './result-cache.js';
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
  /** The configured targets: the same array until the configuration changes. */
  targets: () => readonly ConfiguredTarget[];
  /** Seconds between the next two runs of a schedule (smtp_tls_schedule_interval_seconds); none: unknown. */
  intervalSeconds?: (schedule: string) => number | null;
  /** Configured mail domains (their labels); absent: none. */
  domains?: () => ReadonlyArray<{ domain: ConfiguredDomain }>;
  reload: () => ReloadState;
  version: string;
}

/** Targets of smtp_tls_probes_total written between two yields. */
const COUNTER_BATCH = 2000;
/** Passes of one refresh at most, when results keep arriving while it renders. */
const MAX_PASSES = 5;

export class ServiceMetrics {
  readonly contentType = PROMETHEUS_CONTENT_TYPE;
  private readonly base = new Registry();
  private readonly onDemand: Counter<'outcome'>;
  private readonly results = new ResultSeriesCache();
  /** Domains (few) keep the simpler path: rendered through a registry each, compared at each refresh. */
  private readonly domainResults = new RegistrySeriesCache<DomainEntry>(addDomainMetrics);
  private readonly refresher: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  /** Targets whose series must be rendered again (a new result, labels, interval, or gone). */
  private readonly dirty = new Set<string>();
  /** The label names of all targets may have changed: a target got its first result or went. */
  private membersChanged = true;
  private configured: readonly ConfiguredTarget[] | null = null;
  private byName = new Map<string, ConfiguredTarget>();
  /** Per schedule, the interval its targets were rendered with, and its targets. */
  private schedules = new Map<string, { interval: number | null; names: string[] }>();
  /** Per rendered target, its labels (JSON) and schedule when it was rendered. */
  private readonly renderedWith = new Map<string, { labels: string; schedule: string | null }>();
  private running: Promise<void> | null = null;

  constructor(private readonly deps: ServiceMetricsDeps) {
    this.unsubscribe = deps.store.subscribe((name) => {
      this.dirty.add(name);
      if (!this.results.has(name)) this.membersChanged = true;
    });
    for (const s of deps.store.summaries()) this.dirty.add(s.name);
    // New results are rendered as they come (in slices that yield to requests), not at the scrape.
    this.refresher = setInterval(() => {
      void this.refresh().catch(() => undefined);
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

  /** Everything for GET /metrics as one string: what one registry of the base and the results would give. */
  async render(): Promise<string> {
    const scrape = await this.scrape();
    const text = Buffer.concat(scrape.parts).toString('utf8');
    scrape.release();
    return text;
  }

  /**
   * GET /metrics: the results brought up to date first (an error here is the scrape's error),
   * then the text as buffers to write one after the other, mostly the kept per-family buffers
   * themselves (release() once the response is sent). The domain series (domain mode) follow
   * the host targets' series.
   */
  async scrape(): Promise<Scrape> {
    const [base, domains] = await Promise.all([this.base.metrics(), this.domainResults.text(this.domainEntries())]);
    const probesTotal = await this.probesTotal(this.deps.store.summaries());
    // Last, with no turn of the loop before the results are taken: an update the refresher
    // started meanwhile (new label names: every target rendered again) is complete by then.
    await this.refresh();
    return this.results.scrape(
      this.deps.store.summaries().map((s) => s.name),
      [Buffer.from(`${base.replace(/\n$/, '')}\n\n`), ...probesTotal, Buffer.from('\n\n')],
      [Buffer.from(`\n${domains}\n`)],
    );
  }

  /**
   * smtp_tls_probes_total, written directly: up to four series per target, which a prom-client
   * counter rebuilt at each scrape made the costliest part of the base registry.
   */
  private async probesTotal(summaries: readonly TargetSummary[]): Promise<Buffer[]> {
    const out: Buffer[] = [];
    let text = '# HELP smtp_tls_probes_total Scheduled probes run, by target and resulting status.\n# TYPE smtp_tls_probes_total counter';
    for (let i = 0; i < summaries.length; i++) {
      const s = summaries[i]!;
      const target = labelValue(s.name);
      for (const [status, n] of Object.entries(s.runs.byStatus)) {
        if (n > 0) text += `\nsmtp_tls_probes_total{target="${target}",status="${status}"} ${n}`;
      }
      if (i % COUNTER_BATCH === COUNTER_BATCH - 1) {
        out.push(Buffer.from(text));
        text = '';
        await nextTurn();
      }
    }
    out.push(Buffer.from(text));
    return out;
  }

  /** For tests: per-family buffers that scrapes still hold. */
  get heldBuffers(): number {
    return this.results.heldBuffers;
  }

  /** Stop the background rendering. */
  close(): void {
    clearInterval(this.refresher);
    this.unsubscribe();
  }

  private domainEntries(): DomainEntry[] {
    const configured = new Map((this.deps.domains?.() ?? []).map((d) => [d.domain.name, d.domain.labels]));
    return this.deps.store.domains.all().map((rec) => ({ name: rec.name, labels: configured.get(rec.name) ?? {}, result: rec.latest }));
  }

  /**
   * Render what changed since the last call. Calls while one runs wait for it and then run
   * again, so that the caller sees every result recorded before it called.
   */
  refresh(): Promise<void> {
    const run = async (): Promise<void> => {
      while (this.running) await this.running;
      this.running = this.update().finally(() => (this.running = null));
      return this.running;
    };
    return run();
  }

  private async update(): Promise<void> {
    this.followConfig();
    for (let pass = 0; pass < MAX_PASSES && (this.dirty.size > 0 || this.membersChanged); pass++) {
      // Targets gone first: their label names may go with them.
      for (const name of this.dirty) {
        if (this.deps.store.summary(name)) continue;
        this.dirty.delete(name);
        if (this.results.has(name)) this.membersChanged = true;
        this.forget(name);
      }
      if (this.membersChanged) {
        this.membersChanged = false;
        const names = new Set<string>();
        for (const s of this.deps.store.summaries()) for (const k of Object.keys(this.byName.get(s.name)?.labels ?? {})) names.add(k);
        // A label name one target has is a label (empty) of every target's series.
        if (!this.results.setLabelNames([...names].sort())) {
          this.renderedWith.clear();
          for (const s of this.deps.store.summaries()) this.dirty.add(s.name);
        }
      }
      await this.results.render(this.dirtyEntries());
    }
    // Into the per-family buffers now, a second's results at a time, rather than at the scrape.
    await this.results.sync(this.deps.store.summaries().map((s) => s.name));
  }

  /** The entries of the dirty targets, taken one at a time (parsed only when rendered). */
  private *dirtyEntries(): Generator<ResultEntry> {
    for (const name of this.dirty) {
      this.dirty.delete(name);
      const rec = this.deps.store.get(name);
      if (!rec) {
        // Dropped meanwhile.
        if (this.results.has(name)) this.membersChanged = true;
        this.forget(name);
        continue;
      }
      const configured = this.byName.get(name);
      const labels = configured?.labels ?? {};
      this.renderedWith.set(name, { labels: JSON.stringify(labels), schedule: configured?.schedule ?? null });
      yield {
        name,
        labels,
        result: rec.latest,
        thumbprintSince: rec.thumbprintSince,
        distinctCertificates: rec.distinctCertificates,
        intervalSeconds: configured ? (this.schedules.get(configured.schedule)?.interval ?? null) : null,
      };
    }
  }

  /** After a reload, targets whose labels changed; at any time, schedules whose interval changed. */
  private followConfig(): void {
    const targets = this.deps.targets();
    const interval = this.deps.intervalSeconds ?? (() => null);
    if (targets !== this.configured) {
      this.configured = targets;
      this.byName = new Map(targets.map((t) => [t.name, t]));
      const schedules = new Map<string, { interval: number | null; names: string[] }>();
      for (const t of targets) {
        let g = schedules.get(t.schedule);
        if (!g) schedules.set(t.schedule, (g = { interval: this.schedules.get(t.schedule)?.interval ?? interval(t.schedule), names: [] }));
        g.names.push(t.name);
        const before = this.renderedWith.get(t.name);
        if (before && (before.labels !== JSON.stringify(t.labels) || before.schedule !== t.schedule)) this.dirty.add(t.name);
      }
      this.schedules = schedules;
      this.membersChanged = true;
    }
    for (const [schedule, g] of this.schedules) {
      const now = interval(schedule);
      if (now === g.interval) continue;
      g.interval = now;
      for (const name of g.names) if (this.results.has(name)) this.dirty.add(name);
    }
  }

  private forget(name: string): void {
    this.results.delete(name);
    this.renderedWith.delete(name);
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
