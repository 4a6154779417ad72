/**
 * Results of scheduled probes, kept in SQLite (node:sqlite) and mirrored in memory.
 * Memory holds what every scrape and /results need (latest result, status since, per-address
 * certificate state), compactly: the latest result as its JSON text, parsed only when asked
 * for, since a result's objects cost several times their text and a service keeps one per
 * target. The database holds history spans and certificate sightings, and brings the memory
 * back after a restart. A failed write is logged and counted, and the service goes
 * on from memory: probing must never stop because a disk is full or a file is locked.
 */
import type { DatabaseSync } from 'node:sqlite';
import type { CertificateFacts, Status, TargetResult } from '../probe/types.js';
import { flagReturns, RecentCertificates } from './consistency.js';
import { openDatabase } from './database.js';
import { DomainResults } from './domain-store.js';
import { Lru } from '../probe/lru.js';
import { Tables, type CertificateRow, type SpanEntry } from './tables.js';
import { WriteBehind, type Change } from './write-behind.js';
import { emptyRuns, type CertificateSighting, type HistoryEntry, type HistoryQuery, type ResultsStore, type Runs, type TargetRecord, type TargetSummary } from './types.js';

export type { AddressOutcome, CertificateSighting, HistoryEntry, HistoryQuery, ResultsStore, TargetRecord, TargetSummary } from './types.js';
export { StoreOpenError } from './database.js';
export { outcomeOf } from './write-behind.js';

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
const PRUNE_EVERY = 3_600_000;
const silent: StoreLogger = { info() {}, warn() {}, error() {} };

interface Memory {
  /**
   * The latest result's JSON, as UTF-8 outside the JS heap: the garbage collector's heap
   * grows with what it holds (V8 sizes it as a multiple of the live data), a Buffer does not
   * count there.
   */
  json: Buffer;
  status: Status;
  startedAt: string;
  statusSince: number;
  /** Per address of the latest result, the thumbprint served there (null: none). */
  served: ReadonlyArray<readonly [address: string, thumbprint: string | null]>;
  runs: Runs;
  version: number;
}

function memoryOf(json: string, result: TargetResult, statusSince: number, runs: Runs, version: number): Memory {
  // The thumbprint as interned by rowOf (record() saw every certificate first), not the result's own string.
  const served = result.addresses.map((a) => [a.address, a.certificate ? (rows.get(a.certificate.thumbprint)?.thumbprint ?? a.certificate.thumbprint) : null] as const);
  // Its own allocation, not a slice of Node's shared pool: a slice would keep the whole pool.
  const bytes = Buffer.allocUnsafeSlow(Buffer.byteLength(json));
  bytes.write(json);
  return { json: bytes, status: result.status, startedAt: result.startedAt, statusSince, served, runs, version };
}

/**
 * What the certificates table needs of a certificate, one object per thumbprint while it is
 * recently seen: targets sharing a certificate (a provider's servers) share it, and a
 * sighting kept until the next write holds no more than this.
 */
const rows = new Lru<string, CertificateRow>(4096);
function rowOf(c: CertificateFacts): CertificateRow {
  const known = rows.get(c.thumbprint);
  if (known && known.sha256 === c.sha256) return known;
  const row = {
    thumbprint: c.thumbprint,
    sha256: c.sha256,
    subject: c.subject,
    issuer: c.issuer,
    sans: JSON.stringify(c.dnsNames.concat(c.ipAddresses)),
    notAfter: Date.parse(c.notAfter),
    tlsCertificateName: c.tlsCertificateName,
  };
  rows.set(c.thumbprint, row);
  return row;
}

interface CertState {
  thumbprint: string;
  changedAt: number;
}

export class SqliteResultsStore implements ResultsStore {
  readonly path: string;
  /** Latest result of each scheduled mail domain (domain mode), in the same file. */
  readonly domains: DomainResults;
  private readonly db: DatabaseSync;
  private readonly tables: Tables;
  private readonly writes: WriteBehind;
  private readonly memory = new Map<string, Memory>();
  /** `target\0address` → the last certificate seen there. */
  private readonly certState = new Map<string, CertState>();
  /** Certificates seen per address within the last 24 h: returns and smtp_tls_cert_distinct. */
  private readonly recent = new RecentCertificates();
  private readonly listeners = new Set<(name: string) => void>();
  private version = 0;
  private readonly logger: StoreLogger;
  private readonly retentionMs: number;
  private readonly historySize: number;
  private readonly failuresKept: number;
  private failures = 0;
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
    this.writes = new WriteBehind(this.tables, (err, results) => {
      this.failures += results - 1;
      this.fail(err, 'cannot write probe results to the database; going on from memory', { results });
    });
    this.domains = new DomainResults(this.db, (err, msg) => this.fail(err, msg));
    for (const t of this.tables.loadTargets()) {
      this.memory.set(t.name, memoryOf(t.latest, JSON.parse(t.latest) as TargetResult, t.statusSince, emptyRuns(), ++this.version));
    }
    for (const a of this.tables.loadAddresses()) this.certState.set(`${a.target}\0${a.address}`, { thumbprint: a.thumbprint, changedAt: a.changedAt });
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
    const statusSince = prev && prev.status === result.status ? prev.statusSince : at;
    const runs = prev?.runs ?? emptyRuns();
    runs.total++;
    runs.byStatus[result.status]++;
    const json = JSON.stringify(result);

    // A change is a certificate different from the last one seen at the address; probes
    // that got no certificate (timeouts, refusals) leave the state alone.
    const changed: Change[] = [];
    for (const a of result.addresses) {
      const c = a.certificate;
      const key = `${name}\0${a.address}`;
      // Every certificate this run saw at the address (several with samples), once.
      const seen = new Map<string, CertificateRow>();
      for (const x of [c, ...(a.samples ?? []).map((s) => s.certificate)]) if (x) seen.set(x.thumbprint, rowOf(x));
      for (const x of seen.values()) {
        this.writes.sighting(name, a.address, x, at);
        this.recent.add(key, x.thumbprint, x.subject, at, 1);
      }
      if (!c) continue;
      const before = this.certState.get(key);
      if (before?.thumbprint === c.thumbprint) continue;
      if (before) this.logger.info({ target: name, address: a.address, from: before.thumbprint, to: c.thumbprint }, 'certificate changed');
      const thumbprint = seen.get(c.thumbprint)!.thumbprint;
      this.certState.set(key, { thumbprint, changedAt: at });
      changed.push({ address: a.address, thumbprint, at });
    }
    this.memory.set(name, memoryOf(json, result, statusSince, runs, ++this.version));
    if (!this.closed) this.writes.enqueue(name, result, { json, status: result.status }, statusSince, changed, at);
    this.notify(name);
  }

  /**
   * `listener(name)` after each record() of a target and when retain() drops one: what
   * keeps a rendering of the results (the /metrics series) up to date without rereading all.
   * Returns the function that unsubscribes.
   */
  subscribe(listener: (name: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private notify(name: string): void {
    for (const l of this.listeners) l(name);
  }

  /** Every target's summary, in the order they were first recorded; nothing parsed. */
  summaries(): TargetSummary[] {
    return [...this.memory.entries()].map(([name, m]) => summaryOf(name, m));
  }

  summary(name: string): TargetSummary | undefined {
    const m = this.memory.get(name);
    return m && summaryOf(name, m);
  }

  /**
   * Writes what record() queued (it happens by itself on the next turns); reads call it first,
   * for their one target when they read one (a read must not wait for a whole round's writes).
   */
  flush(name?: string): void {
    if (!this.closed) this.writes.flush(name);
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
      this.writes.forget(name);
      this.notify(name);
    }
    // The certificate state of removed targets stays: re-added, they must not see a change.
  }

  history(name: string, query: HistoryQuery): HistoryEntry[] {
    this.flush(name);
    return this.withFolded(name, this.read(() => this.tables.history(name, query.before?.getTime() ?? Number.MAX_SAFE_INTEGER, query.limit), []));
  }

  recentFailures(name: string, limit = this.failuresKept): HistoryEntry[] {
    this.flush(name);
    return this.withFolded(name, this.read(() => this.tables.failures(name, limit), []));
  }

  /** Spans as they are: the open one with the probes folded into it that are not written yet. */
  private withFolded(name: string, spans: SpanEntry[]): HistoryEntry[] {
    const f = this.writes.unwrittenProbes(name);
    return spans.map(({ id, ...e }) => (f && id === f.span ? { ...e, count: e.count + f.n, lastSeen: new Date(Math.max(f.at, Date.parse(e.lastSeen))).toISOString() } : e));
  }

  certificates(target?: string): CertificateSighting[] {
    this.flush(target);
    const rows = this.read(() => this.tables.certificates(Date.now() - this.retentionMs, target), []);
    return rows.map((r) => {
      const latest = this.memory.get(r.target);
      const servedNow = latest?.served.find(([address]) => address === r.address)?.[1] === r.thumbprint;
      const count = r.count + this.writes.unwrittenCount(r.target, r.address, r.thumbprint);
      return { ...r, count, ...(servedNow && latest ? { lastSeen: latest.startedAt } : {}), servedNow };
    });
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
        const n = this.read(() => this.tables.prune(now - this.retentionMs, PRUNE_BATCH) + this.domains.prune(now - this.retentionMs, PRUNE_BATCH), 0);
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
    this.writes.writeBack(this.memory);
    this.writes.close();
    this.closed = true;
    this.domains.close();
    clearInterval(this.pruneTimer);
    try {
      this.db.close();
    } catch (err) {
      this.logger.warn({ err, path: this.path }, 'closing the database failed');
    }
  }

  private view(name: string, m: Memory): TargetRecord {
    const thumbprintSince: Record<string, string> = {};
    const distinctCertificates: Record<string, number> = {};
    const now = Date.parse(m.startedAt);
    for (const [address] of m.served) {
      const key = `${name}\0${address}`;
      const s = this.certState.get(key);
      if (s) thumbprintSince[address] = new Date(s.changedAt).toISOString();
      const n = this.recent.distinct(key, now);
      if (n > 0) distinctCertificates[address] = n;
    }
    const latest = JSON.parse(m.json.toString('utf8')) as TargetResult;
    return { name, latest, statusSince: new Date(m.statusSince).toISOString(), thumbprintSince, distinctCertificates, runs: m.runs };
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

function summaryOf(name: string, m: Memory): TargetSummary {
  return { name, status: m.status, startedAt: m.startedAt, runs: m.runs, version: m.version };
}
