/**
 * Results of scheduled probes, kept in SQLite (node:sqlite) and mirrored in memory.
 * Memory holds what every scrape and /results need (latest result, status since, per-address
 * certificate state); the database holds history spans and certificate sightings, and brings
 * the memory back after a restart. A failed write is logged and counted, and the service goes
 * on from memory: probing must never stop because a disk is full or a file is locked.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { CertificateFacts, Reason, Status, TargetResult } from '../probe/types.js';
import { flagReturns, RecentCertificates } from './consistency.js';
import { openDatabase } from './database.js';
import { Tables, type Outcome } from './tables.js';
import type { CertificateSighting, HistoryEntry, HistoryQuery, ResultsStore, TargetRecord } from './types.js';

export type { AddressOutcome, CertificateSighting, HistoryEntry, HistoryQuery, ResultsStore, TargetRecord } from './types.js';
export { StoreOpenError } from './database.js';

export interface StoreLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export interface StoreOptions {
  /** A file, or ':memory:'. */
  path: string;
  retentionDays?: number;
  /** Spans shown with /results/NAME. */
  historySize?: number;
  failuresKept?: number;
  logger?: StoreLogger;
}

const DAY = 86_400_000;
const PRUNE_BATCH = 500;
/** Results written per transaction at most. */
const MAX_BATCH = 1000;
/**
 * An unchanged target's row and sightings are rewritten after this long plus up to as much
 * again at random, so that targets started together do not all come due in one round. Only
 * a crash loses what is newer: close() writes everything.
 */
const REFRESH_MS = 60 * 60_000;
const PRUNE_EVERY = 3_600_000;
const silent: StoreLogger = { info() {}, warn() {}, error() {} };
const codes = (reasons: readonly Reason[]) => reasons.map((r) => r.code);

/** The outcome a span is made of: what must stay the same for a probe to extend it. */
export function outcomeOf(result: TargetResult): Outcome {
  return {
    status: result.status,
    reasons: codes(result.reasons),
    addresses: result.addresses.map((a) => ({
      address: a.address,
      status: a.status,
      reasons: codes(a.reasons),
      thumbprint: a.certificate?.thumbprint ?? null,
    })),
  };
}

interface Memory {
  latest: TargetResult;
  statusSince: number;
  runs: TargetRecord['runs'];
}

interface PendingWrite {
  name: string;
  result: TargetResult;
  statusSince: number;
  outcome: Outcome;
  outcomeKey: string;
  changed: Array<{ address: string; thumbprint: string; at: number }>;
  /** Sightings not yet written (n probes each); empty for a span-only write. */
  certs: Sighting[];
  /** Write the target's row and sightings, not only the span's extension. */
  full: boolean;
  at: number;
}

interface Sighting {
  address: string;
  c: CertificateFacts;
  /** Probes that saw it since the last write, the first and the last of them. */
  n: number;
  first: number;
  last: number;
}

interface CertState {
  thumbprint: string;
  changedAt: number;
}

export class SqliteResultsStore implements ResultsStore {
  readonly path: string;
  private readonly db: DatabaseSync;
  private readonly tables: Tables;
  private readonly memory = new Map<string, Memory>();
  /** `target\0address` → the last certificate seen there. */
  private readonly certState = new Map<string, CertState>();
  private readonly openSpans = new Map<string, { id: number; key: string }>();
  /** Certificates seen per address within the last 24 h: returns and smtp_tls_cert_distinct. */
  private readonly recent = new RecentCertificates();
  private readonly logger: StoreLogger;
  private readonly retentionMs: number;
  private readonly historySize: number;
  private readonly failuresKept: number;
  private failures = 0;
  private pending: PendingWrite[] = [];
  private readonly lastOutcome = new Map<string, string>();
  private readonly lastFull = new Map<string, number>();
  private readonly nextFull = new Map<string, number>();
  /** Per target, certificate sightings not yet written. */
  private readonly unwritten = new Map<string, Map<string, Sighting>>();
  private flushScheduled = false;
  private pruneTimer: NodeJS.Timeout | undefined;
  private closed = false;

  /** Opens (and migrates) the database and loads what it knows; throws StoreOpenError. */
  constructor(options: StoreOptions) {
    this.path = options.path;
    this.logger = options.logger ?? silent;
    this.retentionMs = (options.retentionDays ?? 90) * DAY;
    this.historySize = options.historySize ?? 50;
    this.failuresKept = options.failuresKept ?? 10;
    this.db = openDatabase(options.path);
    this.tables = new Tables(this.db);
    for (const t of this.tables.loadTargets()) {
      this.memory.set(t.name, { latest: t.latest, statusSince: t.statusSince, runs: emptyRuns() });
    }
    for (const a of this.tables.loadAddresses()) this.certState.set(`${a.target}\0${a.address}`, a);
    for (const s of this.tables.loadOpenSpans()) this.openSpans.set(s.target, { id: s.id, key: s.outcome });
    for (const c of this.tables.certificates(Date.now() - RecentCertificates.WINDOW_MS)) {
      this.recent.add(`${c.target}\0${c.address}`, c.thumbprint, c.subject, Date.parse(c.lastSeen), c.count);
    }
  }

  record(name: string, result: TargetResult): void {
    const at = Date.parse(result.startedAt);
    // Before anything is kept: a return to a certificate the address had stopped serving
    // (A, B, A within 24 h) is judged here, where the past is known.
    flagReturns(name, result, this.certState, this.recent, at);
    const prev = this.memory.get(name);
    const statusSince = prev && prev.latest.status === result.status ? prev.statusSince : at;
    const runs = prev?.runs ?? emptyRuns();
    runs.total++;
    runs.byStatus[result.status]++;
    this.memory.set(name, { latest: result, statusSince, runs });

    // A change is a certificate different from the last one seen at the address; probes
    // that got no certificate (timeouts, refusals) leave the state alone.
    const changed: Array<{ address: string; thumbprint: string; at: number }> = [];
    const unwritten = this.unwritten.get(name) ?? new Map<string, Sighting>();
    this.unwritten.set(name, unwritten);
    for (const a of result.addresses) {
      const c = a.certificate;
      const key = `${name}\0${a.address}`;
      // Every certificate this run saw at the address (several with samples), once.
      const seen = new Map<string, CertificateFacts>();
      for (const x of [c, ...(a.samples ?? []).map((s) => s.certificate)]) if (x) seen.set(x.thumbprint, x);
      for (const x of seen.values()) {
        const k = `${a.address}\0${x.thumbprint}`;
        const u = unwritten.get(k);
        if (u) {
          u.n++;
          u.last = at;
        } else unwritten.set(k, { address: a.address, c: x, n: 1, first: at, last: at });
        this.recent.add(key, x.thumbprint, x.subject, at, 1);
      }
      if (!c) continue;
      const before = this.certState.get(key);
      if (before?.thumbprint === c.thumbprint) continue;
      if (before) this.logger.info({ target: name, address: a.address, from: before.thumbprint, to: c.thumbprint }, 'certificate changed');
      this.certState.set(key, { thumbprint: c.thumbprint, changedAt: at });
      changed.push({ address: a.address, thumbprint: c.thumbprint, at });
    }

    const outcome = outcomeOf(result);
    const outcomeKey = JSON.stringify(outcome);
    if (this.closed) return;
    // Storage grows with changes: an unchanged outcome only extends its span, and the latest
    // result and sightings are rewritten at most every REFRESH_MS (and at close).
    const full = changed.length > 0 || this.lastOutcome.get(name) !== outcomeKey || at >= (this.nextFull.get(name) ?? 0);
    this.lastOutcome.set(name, outcomeKey);
    let certs: Sighting[] = [];
    if (full) {
      this.lastFull.set(name, at);
      this.nextFull.set(name, at + REFRESH_MS * (1 + Math.random()));
      certs = [...unwritten.values()];
      this.unwritten.delete(name);
    }
    this.pending.push({ name, result, statusSince, outcome, outcomeKey, changed, certs, full, at });
    // Results of a round arrive together: one transaction for all of them, on the next turn.
    if (this.pending.length >= MAX_BATCH) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Writes what record() queued, in one transaction. Reads call it first. */
  flush(): void {
    this.flushScheduled = false;
    const batch = this.pending;
    if (batch.length === 0 || this.closed) return;
    this.pending = [];
    const opened: string[] = [];
    try {
      this.tables.transaction(() => {
        for (const w of batch) {
          const open = this.openSpans.get(w.name);
          const extend = open && open.key === w.outcomeKey ? open.id : null;
          let id = extend;
          if (!w.full && id !== null) this.tables.extend(id, w.at);
          else id = this.tables.write(w.name, w.result, w.statusSince, { target: w.name, extend, outcome: w.outcome, outcomeKey: w.outcomeKey, at: w.at }, w.changed, w.certs);
          this.openSpans.set(w.name, { id, key: w.outcomeKey });
          opened.push(w.name);
        }
      });
    } catch (err) {
      // Rolled back: the next write starts new spans rather than extend rows that are gone.
      for (const name of opened) this.openSpans.delete(name);
      for (const w of batch) {
        this.openSpans.delete(w.name);
        this.lastFull.delete(w.name);
        this.nextFull.delete(w.name);
      }
      this.failures += batch.length - 1;
      this.fail(err, 'cannot write probe results to the database; going on from memory', { results: batch.length });
    }
  }

  get(name: string): TargetRecord | undefined {
    const m = this.memory.get(name);
    return m && this.view(name, m);
  }

  all(): TargetRecord[] {
    return [...this.memory.entries()].map(([name, m]) => this.view(name, m));
  }

  retain(names: Iterable<string>): void {
    const keep = new Set(names);
    this.flush();
    for (const name of this.memory.keys()) {
      if (keep.has(name)) continue;
      this.memory.delete(name);
      this.lastOutcome.delete(name);
      this.lastFull.delete(name);
      this.nextFull.delete(name);
      this.unwritten.delete(name);
    }
  }

  history(name: string, query: HistoryQuery): HistoryEntry[] {
    this.flush();
    return this.read(() => this.tables.history(name, query.before?.getTime() ?? Number.MAX_SAFE_INTEGER, query.limit), []);
  }

  recentFailures(name: string, limit = this.failuresKept): HistoryEntry[] {
    this.flush();
    return this.read(() => this.tables.failures(name, limit), []);
  }

  certificates(target?: string): CertificateSighting[] {
    this.flush();
    const rows = this.read(() => this.tables.certificates(Date.now() - this.retentionMs, target), []);
    return rows.map((r) => {
      const latest = this.memory.get(r.target)?.latest;
      const servedNow = latest?.addresses.find((a) => a.address === r.address)?.certificate?.thumbprint === r.thumbprint;
      const extra = this.unwritten.get(r.target)?.get(`${r.address}\0${r.thumbprint}`)?.n ?? 0;
      return { ...r, count: r.count + extra, ...(servedNow && latest ? { lastSeen: latest.startedAt } : {}), servedNow };
    });
  }

  /** Queue a full write of every target whose row or sightings lag behind memory. */
  private writeBack(): void {
    for (const [name, m] of this.memory) {
      const at = Date.parse(m.latest.startedAt);
      const certs = [...(this.unwritten.get(name)?.values() ?? [])];
      if (this.lastFull.get(name) === at && certs.length === 0) continue;
      const outcome = outcomeOf(m.latest);
      this.pending.push({ name, result: m.latest, statusSince: m.statusSince, outcome, outcomeKey: JSON.stringify(outcome), changed: [], certs, full: true, at });
      this.unwritten.delete(name);
      this.lastFull.set(name, at);
    }
  }

  /** The default number of spans /results/NAME shows. */
  get defaultHistory(): number {
    return this.historySize;
  }

  errors(): number {
    return this.failures;
  }

  /**
   * Drop what is older than the retention window, a small batch at a time so that the event
   * loop is never held for long; the rest follows on the next turns.
   */
  prune(now = Date.now()): Promise<number> {
    return new Promise((resolve) => {
      let total = 0;
      const step = () => {
        if (this.closed) return resolve(total);
        const n = this.read(() => this.tables.prune(now - this.retentionMs, PRUNE_BATCH), 0);
        total += n;
        if (n > 0) setImmediate(step);
        else resolve(total);
      };
      this.flush();
      step();
    });
  }

  /** Prune now and then hourly, until close(). */
  startRetention(): void {
    const run = () => {
      void this.prune().then((n) => n && this.logger.info({ rows: n, retentionDays: this.retentionMs / DAY }, 'pruned old history'));
    };
    run();
    this.pruneTimer = setInterval(run, PRUNE_EVERY);
    this.pruneTimer.unref();
  }

  close(): void {
    if (this.closed) return;
    this.writeBack();
    this.flush();
    this.closed = true;
    clearInterval(this.pruneTimer);
    try {
      this.db.close();
    } catch (err) {
      this.logger.warn({ err, path: this.path }, 'closing the database failed');
    }
  }

  private view(name: string, m: Memory): TargetRecord {
    const thumbprintSince: Record<string, string> = {};
    for (const a of m.latest.addresses) {
      const s = this.certState.get(`${name}\0${a.address}`);
      if (s) thumbprintSince[a.address] = new Date(s.changedAt).toISOString();
    }
    const distinctCertificates: Record<string, number> = {};
    const now = Date.parse(m.latest.startedAt);
    for (const a of m.latest.addresses) {
      const n = this.recent.distinct(`${name}\0${a.address}`, now);
      if (n > 0) distinctCertificates[a.address] = n;
    }
    return { name, latest: m.latest, statusSince: new Date(m.statusSince).toISOString(), thumbprintSince, distinctCertificates, runs: m.runs };
  }

  private read<T>(query: () => T, fallback: T): T {
    if (this.closed) return fallback;
    try {
      return query();
    } catch (err) {
      this.fail(err, 'cannot read the database');
      return fallback;
    }
  }

  private fail(err: unknown, msg: string, extra: object = {}): void {
    this.failures++;
    this.logger.error({ err, path: this.path, ...extra }, msg);
  }
}

/** The store on an in-memory database: tests, and what nothing needs to survive. */
export class MemoryResultsStore extends SqliteResultsStore {
  constructor(historySize = 50, failuresKept = 10) {
    super({ path: ':memory:', historySize, failuresKept });
  }
}

function emptyRuns(): TargetRecord['runs'] {
  return { total: 0, byStatus: { ok: 0, warning: 0, critical: 0, unknown: 0 } satisfies Record<Status, number> };
}
