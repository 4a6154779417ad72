/**
 * Runs the configured targets on their cron schedules (timetable.ts), plus a first round at
 * start and at once for targets added by a reload. One run of a target at a time, a global
 * cap on probes running together, a stable per-target delay on scheduled runs to spread load,
 * and each probe under its own deadline. Results go to the store; nothing here knows HTTP or
 * metrics.
 */
import { createHash } from 'node:crypto';
import type { ConfiguredTarget } from '../config/load.js';
import type { ProbeOptions, ProbeTarget, Reason, TargetResult } from '../probe/index.js';
import type { ResultsStore } from '../store/results-store.js';
import { ConcurrencyGovernor, watchEventLoop } from './governor.js';
import { Semaphore } from './semaphore.js';
import { Timetable } from './timetable.js';

export type ProbeFn = (target: ProbeTarget, options: ProbeOptions) => Promise<TargetResult>;

export interface SchedulerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export interface SchedulerOptions {
  probe: ProbeFn;
  store: ResultsStore;
  logger: SchedulerLogger;
  /** The most probes at once; fewer while the event loop lags (governor.ts). */
  concurrency: number;
  /** Width of the window scheduled runs are spread over; null: the interval, up to a minute. */
  jitterMs: number | null;
}

export interface ScheduledTarget {
  target: ConfiguredTarget;
  nextRun: Date | null;
  intervalSeconds: number | null;
  running: boolean;
}

export type RunCause = 'start' | 'schedule' | 'reload' | 'manual';

interface Entry {
  target: ConfiguredTarget;
  /** Identity of the definition: a changed definition is a new entry. */
  key: string;
}

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
    return [...this.entries.values()].map(({ target }) => this.view(target, now));
  }

  /** The configured targets: the same array until setTargets() changes them. */
  configured(): readonly ConfiguredTarget[] {
    this.list ??= [...this.entries.values()].map((e) => e.target);
    return this.list;
  }

  /** Seconds between the next two runs of a schedule (cached until they pass). */
  intervalSeconds(schedule: string): number | null {
    return this.timetable.intervalSeconds(schedule, Date.now());
  }

  /** One target as targets() has it, or undefined if none is so named. */
  target(name: string): ScheduledTarget | undefined {
    const entry = this.entries.get(name);
    return entry && this.view(entry.target, Date.now());
  }

  private view(target: ConfiguredTarget, now: number): ScheduledTarget {
    return {
      target,
      nextRun: this.timetable.nextRun(target.name, target.schedule, now),
      intervalSeconds: this.timetable.intervalSeconds(target.schedule, now),
      running: this.running.has(target.name),
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
    const next = new Map(targets.map((t) => [t.name, t]));
    const added: string[] = [];
    const removed: string[] = [];
    const changed: string[] = [];
    this.list = null;
    for (const [name, entry] of this.entries) {
      const t = next.get(name);
      if (!t || keyOf(t) !== entry.key) {
        this.timetable.remove(name, entry.target.schedule);
        this.entries.delete(name);
        (t ? changed : removed).push(name);
      }
    }
    for (const t of targets) {
      if (this.entries.has(t.name)) continue;
      this.entries.set(t.name, { target: t, key: keyOf(t) });
      this.timetable.add(t.name, t.schedule);
      if (!changed.includes(t.name)) added.push(t.name);
      if (this.started) void this.run(t.name, 'reload');
    }
    this.options.store.retain(next.keys());
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
}

/**
 * One line per probed address. A probe that could not run for a cause on this machine (out of
 * descriptors, memory or ports; a source address it cannot use) is an error of ours, logged as
 * such with the error code in `local`: it says nothing about the server.
 */
function logProbe(log: SchedulerLogger, fields: Record<string, unknown>, reasons: readonly Reason[]): void {
  const local = reasons.find((r) => r.local);
  if (!local) return log.info(fields, 'probe');
  log.error({ ...fields, local: local.local, problem: local.message }, 'probe could not run: a problem of this machine, not of the server');
}

/** A digest of the definition, not the definition's text: kept for every target. */
function keyOf(t: ConfiguredTarget): string {
  return createHash('sha256').update(JSON.stringify(t)).digest('base64');
}
