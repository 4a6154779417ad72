/**
 * Runs the configured targets on their cron schedules (timetable.ts), plus a first round at
 * start and at once for targets added by a reload. One run of a target at a time, a global
 * cap on probes running together, a stable per-target delay on scheduled runs to spread load,
 * and each probe under its own deadline. Mail domains (domain mode) share all of it with host
 * targets: one namespace of names, one timetable, one cap. Results go to the store; nothing
 * here knows HTTP or metrics.
 */
import { createHash } from 'node:crypto';
import type { ConfiguredDomain } from '../config/domains.js';
import type { ConfiguredTarget } from '../config/load.js';
import type { DomainResult, DomainTarget } from '../probe/domain/types.js';
import type { ProbeOptions, ProbeTarget, TargetResult } from '../probe/index.js';
import type { ResultsStore } from '../store/results-store.js';
import { ConcurrencyGovernor, watchEventLoop } from './governor.js';
import { Semaphore } from './semaphore.js';
import { logDomain, logProbe, type RunCause, type SchedulerLogger } from './log.js';
import { Timetable } from './timetable.js';

export type ProbeFn = (target: ProbeTarget, options: ProbeOptions) => Promise<TargetResult>;
/** A mail domain checked end to end (probeDomain with the service's resolver bound). */
export type DomainProbeFn = (
  target: DomainTarget,
  options: { timeoutMs: number; signal: AbortSignal; refuse?: (address: string) => string | null },
) => Promise<DomainResult>;

export type { SchedulerLogger } from './log.js';

export interface SchedulerOptions {
  probe: ProbeFn;
  store: ResultsStore;
  logger: SchedulerLogger;
  /** The most probes at once; fewer while the event loop lags (governor.ts). */
  concurrency: number;
  /** Width of the window scheduled runs are spread over; null: the interval, up to a minute. */
  jitterMs: number | null;
  /** Runs the `domains:` targets; without it, domains are not scheduled. */
  probeDomain?: DomainProbeFn;
}

export interface ScheduledDomain {
  domain: ConfiguredDomain;
  nextRun: Date | null;
  intervalSeconds: number | null;
  running: boolean;
}

export interface ScheduledTarget {
  target: ConfiguredTarget;
  nextRun: Date | null;
  intervalSeconds: number | null;
  running: boolean;
}

export type { RunCause } from './log.js';

/** A host target or a mail domain: one namespace, one timetable, one cap on probes at once. */
type Entry = ({ kind: 'host'; target: ConfiguredTarget } | { kind: 'domain'; domain: ConfiguredDomain }) & {
  /** Identity of the definition: a changed definition is a new entry. */
  key: string;
};

const scheduleOf = (e: Entry) => (e.kind === 'host' ? e.target.schedule : e.domain.schedule);

export class Scheduler {
  private readonly entries = new Map<string, Entry>();
  private readonly running = new Map<string, { entry: Entry | undefined; done: Promise<void> }>();
  private readonly slots: Semaphore;
  private readonly stopping = new AbortController();
  private started = false;
  private firstRound: Promise<void> = Promise.resolve();
  private readonly timetable: Timetable;
  private readonly governor: ConcurrencyGovernor;
  private stopWatching: () => void = () => undefined;
  /** configured(), kept until the targets change. */
  private list: ConfiguredTarget[] | null = null;

  constructor(private readonly options: SchedulerOptions) {
    this.slots = new Semaphore(options.concurrency);
    this.governor = new ConcurrencyGovernor(options.concurrency);
    this.timetable = new Timetable((name) => void this.run(name, 'schedule'), options.logger, options.jitterMs);
  }

  /**
   * Targets as configured now, with their next scheduled run and the gap between the next
   * two runs (what "stale" is measured against).
   */
  targets(): ScheduledTarget[] {
    const now = Date.now();
    return [...this.entries.values()].flatMap((e) => (e.kind === 'host' ? [{ target: e.target, ...this.view(e.target, now) }] : []));
  }

  /** The configured host targets: the same array until setTargets() changes them. */
  configured(): readonly ConfiguredTarget[] {
    this.list ??= [...this.entries.values()].flatMap((e) => (e.kind === 'host' ? [e.target] : []));
    return this.list;
  }

  /** Seconds between the next two runs of a schedule (cached until they pass). */
  intervalSeconds(schedule: string): number | null {
    return this.timetable.intervalSeconds(schedule, Date.now());
  }

  /** One target as targets() has it, or undefined if none is so named. */
  target(name: string): ScheduledTarget | undefined {
    const entry = this.entries.get(name);
    return entry?.kind === 'host' ? { target: entry.target, ...this.view(entry.target, Date.now()) } : undefined;
  }

  /** Mail domains as configured now, with their next scheduled run. */
  domains(): ScheduledDomain[] {
    const now = Date.now();
    return [...this.entries.values()].flatMap((e) => (e.kind === 'domain' ? [{ domain: e.domain, ...this.view(e.domain, now) }] : []));
  }

  /** One domain as domains() has it. */
  domain(name: string): ScheduledDomain | undefined {
    const entry = this.entries.get(name);
    return entry?.kind === 'domain' ? { domain: entry.domain, ...this.view(entry.domain, Date.now()) } : undefined;
  }

  private view(job: { name: string; schedule: string }, now: number): Omit<ScheduledTarget, 'target'> {
    return {
      nextRun: this.timetable.nextRun(job.name, job.schedule, now),
      intervalSeconds: this.timetable.intervalSeconds(job.schedule, now),
      running: this.running.has(job.name),
    };
  }

  /** Resolves when the first round (at start) has finished. */
  ready(): Promise<void> {
    return this.firstRound;
  }

  setConcurrency(n: number): void {
    this.slots.resize(this.governor.setMax(n));
  }

  /** Probes allowed at once now (the governor's choice, at most `concurrency`). */
  get concurrency(): number {
    return this.governor.limit;
  }

  /** Applies from the next scheduled run on. */
  setJitter(ms: number | null): void {
    this.timetable.setJitter(ms);
  }

  /**
   * Apply a (re)loaded target list: removed targets stop and their results go, added or
   * changed ones are scheduled and, once started, probed at once.
   */
  setTargets(targets: readonly ConfiguredTarget[]): { added: string[]; removed: string[]; changed: string[] } {
    const diff = this.sync(
      'host',
      targets.map((target) => ({ name: target.name, entry: { kind: 'host', target, key: keyOf(target) } })),
    );
    this.options.store.retain(targets.map((t) => t.name));
    return diff;
  }

  /** As setTargets, for the `domains:` list (names are unique across both lists). */
  setDomains(domains: readonly ConfiguredDomain[]): { added: string[]; removed: string[]; changed: string[] } {
    const diff = this.sync(
      'domain',
      domains.map((domain) => ({ name: domain.name, entry: { kind: 'domain', domain, key: keyOf(domain) } })),
    );
    this.options.store.domains.retain(domains.map((d) => d.name));
    return diff;
  }

  /** Bring the entries of one kind to `next`; an entry of the other kind under a name in `next` was converted. */
  private sync(kind: Entry['kind'], next: Array<{ name: string; entry: Entry }>): { added: string[]; removed: string[]; changed: string[] } {
    const wanted = new Map(next.map((n) => [n.name, n.entry]));
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    this.list = null;
    for (const [name, entry] of this.entries) {
      const t = wanted.get(name);
      if (entry.kind !== kind && !t) continue;
      if (!t || t.key !== entry.key || t.kind !== entry.kind) {
        this.timetable.remove(name, scheduleOf(entry));
        this.entries.delete(name);
        (t ? changed : removed).push(name);
      }
    }
    for (const { name, entry } of next) {
      if (this.entries.has(name)) continue;
      this.entries.set(name, entry);
      this.timetable.add(name, scheduleOf(entry));
      if (!changed.includes(name)) added.push(name);
      if (this.started) void this.run(name, 'reload');
    }
    return { added, removed, changed };
  }

  start(): void {
    if (this.started || this.stopping.signal.aborted) return;
    this.started = true;
    this.timetable.start();
    this.stopWatching = watchEventLoop(1000, (lag) => {
      const before = this.governor.limit;
      const after = this.governor.sample(lag, this.slots.waiting > 0);
      if (after === before) return;
      this.slots.resize(after);
      this.options.logger.debug({ concurrency: after, before, eventLoopLagP99Ms: Math.round(lag) }, 'probe concurrency adjusted');
    });
    this.firstRound = Promise.all([...this.entries.keys()].map((name) => this.run(name, 'start'))).then(() => undefined);
  }

  /** Run one target now (unless it is already running). */
  run(name: string, cause: RunCause): Promise<void> {
    const existing = this.running.get(name);
    const entry = this.entries.get(name);
    if (existing) {
      // A redefined target runs again once the run of its old definition (whose result is dropped) ends.
      if (existing.entry !== entry && entry) return existing.done.then(() => this.run(name, cause));
      this.options.logger.debug({ target: name, cause }, 'probe skipped: the previous run of this target is still going');
      return existing.done;
    }
    const done = this.execute(name, cause).finally(() => this.running.delete(name));
    this.running.set(name, { entry, done });
    return done;
  }

  /**
   * Stop scheduling, let running probes finish within graceMs, then abort them.
   * Resolves when nothing runs any more.
   */
  async stop(graceMs: number): Promise<void> {
    this.timetable.stop();
    this.stopWatching();
    this.entries.clear();
    this.list = null;
    const all = Promise.all([...this.running.values()].map((r) => r.done));
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
    });
    await Promise.race([all, grace]);
    clearTimeout(timer);
    this.stopping.abort(new Error('shutting down'));
    await all;
  }

  private async execute(name: string, cause: RunCause): Promise<void> {
    const entry = this.entries.get(name);
    if (!entry) return;
    if (entry.kind === 'domain') return this.executeDomain(name, entry, cause);
    const { target } = entry;
    const log = this.options.logger;
    const queuedAt = Date.now();
    if (!(await this.slots.acquire(this.stopping.signal))) return;
    try {
      const result = await this.options.probe(target.probe, { timeoutMs: target.timeoutMs, signal: this.stopping.signal });
      // A reload may have removed or redefined the target meanwhile: drop a stale result.
      if (this.entries.get(name) !== entry) return;
      this.options.store.record(name, result);
      if (result.addresses.length === 0) {
        logProbe(
          log,
          { target: name, cause, status: result.status, reasons: result.reasons.map((r) => r.code), durationMs: result.durationMs },
          result.reasons,
        );
      }
      for (const a of result.addresses) {
        logProbe(
          log,
          {
            target: name,
            cause,
            address: a.address,
            status: a.status,
            reasons: a.reasons.map((r) => r.code),
            thumbprint: a.certificate?.thumbprint,
            durationMs: Math.round(a.timings.totalMs),
            queuedMs: result.startedAt ? Math.max(0, Date.parse(result.startedAt) - queuedAt) : undefined,
          },
          a.reasons,
        );
      }
    } catch (e) {
      log.error({ target: name, err: e }, 'probe failed unexpectedly');
    } finally {
      this.slots.release();
    }
  }

  /** A domain check takes one slot like a host probe: its MX probes run inside its own deadline. */
  private async executeDomain(name: string, entry: Entry & { kind: 'domain' }, cause: RunCause): Promise<void> {
    const probe = this.options.probeDomain;
    if (!probe) return;
    if (!(await this.slots.acquire(this.stopping.signal))) return;
    try {
      const result = await probe(entry.domain.domain, { timeoutMs: entry.domain.timeoutMs, signal: this.stopping.signal });
      if (this.entries.get(name) !== entry) return;
      this.options.store.domains.record(name, result);
      logDomain(this.options.logger, name, cause, result);
    } catch (e) {
      this.options.logger.error({ target: name, domain: entry.domain.domain.domain, err: e }, 'domain check failed unexpectedly');
    } finally {
      this.slots.release();
    }
  }
}

/** A digest of the definition, not the definition's text: kept for every target. */
function keyOf(t: ConfiguredTarget | ConfiguredDomain): string {
  return createHash('sha256').update(JSON.stringify(t)).digest('base64');
}
