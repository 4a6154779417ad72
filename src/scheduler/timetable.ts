/**
 * When each target runs: one cron task per distinct schedule (not one per target), its next
 * runs computed when they have passed (node-cron computes them through Intl, about 90 µs
 * each: too slow to do per target on every /targets or /metrics), and each target delayed
 * from the cron time by a stable offset derived from its name, so that targets sharing a
 * schedule are spread over the interval the way Prometheus spreads scrapes, and each target
 * keeps the same place in it from round to round. One timer per schedule walks its targets in
 * the order of their offsets: a timer per target cost the event loop 100 ms or more at each
 * cron tick with 10,000 targets (Node keeps a timer list per distinct delay).
 */
import cron, { type ScheduledTask } from 'node-cron';

export interface TimetableLogger {
  debug(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

/** The widest default spread: a daily schedule still runs within a minute of its time. */
export const MAX_DEFAULT_SPREAD_MS = 60_000;

/** A run may slide by at most this share of the interval, so it never reaches the next run. */
const MAX_SHARE = 0.9;

/**
 * 32-bit FNV-1a of the name, then MurmurHash3's finaliser (FNV alone leaves names that differ
 * in their last character close together in the high bits): stable across processes and
 * restarts, unlike a random delay, and even over the window.
 */
export function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) {
    h ^= name.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * The delay of a target's scheduled runs after the cron time: a stable fraction (from the
 * name) of the spread window. The window is `jitterMs` when set (0: no delay), else the
 * interval up to MAX_DEFAULT_SPREAD_MS; never more than 90% of the interval.
 */
export function stableOffsetMs(name: string, intervalMs: number | null, jitterMs: number | null): number {
  const cap = intervalMs === null ? Infinity : intervalMs * MAX_SHARE;
  const window = Math.min(jitterMs ?? Math.min(intervalMs ?? 0, MAX_DEFAULT_SPREAD_MS), cap);
  return window > 0 ? Math.floor((nameHash(name) / 2 ** 32) * window) : 0;
}

/** The members of a schedule by offset, and where each one is in that order. */
interface Order {
  runs: Array<{ name: string; offset: number }>;
  at: Map<string, number>;
  /** The interval and jitter the offsets were computed with. */
  key: string;
}

interface Group {
  task: ScheduledTask;
  members: Set<string>;
  /** Cached next cron time (ms) and the gap after it; recomputed once it has passed. */
  next: number | null;
  intervalMs: number | null;
  /** When the task last fired (ms), for the runs still waiting for their offset. */
  fired: number | null;
  /** The order for the next ticks; null once members, interval or jitter changed. */
  order: Order | null;
  /** The order of the current cycle (since the last tick) and the next of its runs to fire. */
  cycle: Order | null;
  cursor: number;
  timer: NodeJS.Timeout | undefined;
}

export class Timetable {
  private readonly groups = new Map<string, Group>();
  private started = false;

  constructor(
    private readonly fire: (name: string) => void,
    private readonly logger: TimetableLogger,
    private jitterMs: number | null,
  ) {}

  setJitter(ms: number | null): void {
    this.jitterMs = ms;
    for (const g of this.groups.values()) g.order = null;
  }

  add(name: string, schedule: string): void {
    let g = this.groups.get(schedule);
    if (!g) {
      g = { task: this.createTask(schedule), members: new Set(), next: null, intervalMs: null, fired: null, order: null, cycle: null, cursor: 0, timer: undefined };
      this.groups.set(schedule, g);
      if (this.started) void g.task.start();
    }
    g.members.add(name);
    g.order = null;
  }

  /** The target's waiting run, if any, is dropped with it. */
  remove(name: string, schedule: string): void {
    const g = this.groups.get(schedule);
    if (!g) return;
    g.members.delete(name);
    g.order = null;
    if (g.members.size === 0) {
      clearTimeout(g.timer);
      void g.task.destroy();
      this.groups.delete(schedule);
    }
  }

  start(): void {
    this.started = true;
    for (const g of this.groups.values()) void g.task.start();
  }

  stop(): void {
    for (const g of this.groups.values()) {
      clearTimeout(g.timer);
      void g.task.destroy();
    }
    this.groups.clear();
  }

  /** The gap between the schedule's next two runs, in seconds (what "stale" is measured against). */
  intervalSeconds(schedule: string, now = Date.now()): number | null {
    const g = this.refresh(schedule, now);
    return g?.intervalMs ? g.intervalMs / 1000 : null;
  }

  offsetMs(name: string, schedule: string, now = Date.now()): number {
    return stableOffsetMs(name, this.refresh(schedule, now)?.intervalMs ?? null, this.jitterMs);
  }

  /** The target's next scheduled run, its offset included; null before start. */
  nextRun(name: string, schedule: string, now = Date.now()): Date | null {
    const g = this.refresh(schedule, now);
    if (!this.started || !g || g.next === null) return null;
    const offset = stableOffsetMs(name, g.intervalMs, this.jitterMs);
    // Fired, but this target's run is still waiting for its offset.
    if (g.fired !== null && (g.cycle?.at.get(name) ?? -1) >= g.cursor) return new Date(g.fired + offset);
    return new Date(g.next + offset);
  }

  private refresh(schedule: string, now: number): Group | undefined {
    const g = this.groups.get(schedule);
    if (g && (g.next === null || g.next <= now)) {
      const [a, b] = g.task.getNextRuns(2);
      g.next = a ? a.getTime() : null;
      g.intervalMs = a && b ? b.getTime() - a.getTime() : null;
    }
    return g;
  }

  private onTick(schedule: string): void {
    const now = Date.now();
    const g = this.groups.get(schedule);
    if (!g) return;
    // The cron time, not the moment the timer ran late: offsets stay stable under load.
    const fired = Math.floor(now / 1000) * 1000;
    // A second tick for the same cron second would start the cycle's runs again.
    if (g.fired === fired) return;
    g.fired = fired;
    this.refresh(schedule, now + 1000);
    // Runs of the last cycle still waiting (the loop ran late) give way to this one's.
    clearTimeout(g.timer);
    g.cycle = this.orderOf(g);
    g.cursor = 0;
    this.fireDue(g);
  }

  /** Fire the runs of the cycle whose time has come, then wait for the next one. */
  private fireDue(g: Group): void {
    g.timer = undefined;
    const cycle = g.cycle;
    if (!cycle || g.fired === null) return;
    const now = Date.now();
    while (g.cursor < cycle.runs.length && g.fired + cycle.runs[g.cursor]!.offset <= now) {
      const { name } = cycle.runs[g.cursor++]!;
      // Removed by a reload since the tick: no run.
      if (g.members.has(name)) this.fire(name);
    }
    if (g.cursor < cycle.runs.length) g.timer = setTimeout(() => this.fireDue(g), g.fired + cycle.runs[g.cursor]!.offset - now);
  }

  /** The members by offset, computed again only when members, interval or jitter changed. */
  private orderOf(g: Group): Order {
    const key = `${g.intervalMs}|${this.jitterMs}`;
    if (g.order?.key === key) return g.order;
    const runs = [...g.members].map((name) => ({ name, offset: stableOffsetMs(name, g.intervalMs, this.jitterMs) })).sort((a, b) => a.offset - b.offset);
    g.order = { runs, at: new Map(runs.map((r, i) => [r.name, i])), key };
    return g.order;
  }

  private createTask(schedule: string): ScheduledTask {
    const log = this.logger;
    return cron.createTask(schedule, () => this.onTick(schedule), {
      noOverlap: false,
      logger: {
        info: (m) => log.debug({ schedule }, String(m)),
        warn: (m) => log.warn({ schedule }, String(m)),
        error: (m) => log.error({ schedule }, String(m)),
        debug: (m) => log.debug({ schedule }, String(m)),
      },
    });
  }
}
