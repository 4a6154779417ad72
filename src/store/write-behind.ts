/**
 * Writes behind memory. Storage grows with changes, and so do writes: a probe with the same
 * outcome as the last is folded into its span in memory; the span, the target's latest
 * result and its certificate sightings are written when something changed, else about
 * hourly, and everything at close. Writes go in one transaction on the next turn of the
 * event loop (a round's results arrive together).
 */
import type { Reason, Status, TargetResult } from '../probe/types.js';
import type { CertificateRow, Outcome, Tables } from './tables.js';

/** Results written per transaction at most. */
const MAX_BATCH = 1000;
/**
 * A write on its own turn of the event loop stops after this long and leaves the rest to the
 * next turn: a round's first results (every target new) must not hold requests for a whole
 * batch.
 */
const SLICE_MS = 8;
/**
 * An unchanged target is rewritten after this long plus up to as much again at random, so
 * that targets started together do not all come due in one round. Only a crash loses what
 * is newer (counts and last-seen times of unchanged probes; never a change).
 */
const REFRESH_MS = 6 * 3_600_000;

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

/** The outcome as one string, cheaper than its JSON; equal exactly when the outcomes are. */
function flatKey(result: TargetResult): string {
  const parts = [result.status, '|', result.reasons.map((r) => r.code).join(',')];
  for (const a of result.addresses) {
    parts.push('|', a.address, ' ', a.status, ' ', a.certificate?.thumbprint ?? '-');
    for (const r of a.reasons) parts.push(' ', r.code);
  }
  // Joined, not concatenated: a concatenation is a tree of its pieces and, kept for every
  // target, would keep each result's address and thumbprint strings alive.
  return parts.join('');
}

export interface Change {
  address: string;
  thumbprint: string;
  at: number;
}

interface Sighting {
  address: string;
  c: CertificateRow;
  /** Probes that saw it since the last write, the first and the last of them. */
  n: number;
  first: number;
  last: number;
}

/** The latest result as stored: its JSON, and its status for the row's column. */
export interface LatestText {
  json: string;
  status: Status;
}

interface PendingWrite {
  name: string;
  latest: LatestText;
  statusSince: number;
  outcome: Outcome;
  outcomeKey: string;
  changed: Change[];
  certs: Sighting[];
  at: number;
  /** Probes folded into the open span since it was last written. */
  fold: Fold | null;
  /** This write is a probe of its own (false: a write-back at close). */
  probe: boolean;
}

interface Fold {
  n: number;
  at: number;
}

export class WriteBehind {
  private pending: PendingWrite[] = [];
  private scheduled = false;
  private closed = false;
  private readonly openSpans = new Map<string, { id: number; key: string }>();
  private readonly lastOutcome = new Map<string, string>();
  private readonly lastFull = new Map<string, number>();
  private readonly nextFull = new Map<string, number>();
  private readonly unwritten = new Map<string, Map<string, Sighting>>();
  private readonly folds = new Map<string, Fold>();

  /** `onError(err, results)`: a batch could not be written (rolled back). */
  constructor(
    private readonly tables: Tables,
    private readonly onError: (err: unknown, results: number) => void,
  ) {
    for (const s of tables.loadOpenSpans()) this.openSpans.set(s.target, { id: s.id, key: s.outcome });
  }

  /** A certificate this probe saw at an address (all of them, samples included). */
  sighting(name: string, address: string, c: CertificateRow, at: number): void {
    let m = this.unwritten.get(name);
    if (!m) this.unwritten.set(name, (m = new Map()));
    const k = `${address}\0${c.thumbprint}`;
    const u = m.get(k);
    if (u) {
      u.n++;
      u.last = at;
    } else {
      m.set(k, { address, c, n: 1, first: at, last: at });
    }
  }

  /** Probes that saw this certificate and are not written yet. */
  unwrittenCount(name: string, address: string, thumbprint: string): number {
    return this.unwritten.get(name)?.get(`${address}\0${thumbprint}`)?.n ?? 0;
  }

  enqueue(name: string, result: TargetResult, latest: LatestText, statusSince: number, changed: Change[], at: number): void {
    // The common case (nothing changed) must cost next to nothing: compare a flat key first.
    const flat = flatKey(result);
    const same = this.lastOutcome.get(name) === flat;
    this.lastOutcome.set(name, flat);
    if (same && changed.length === 0 && at < (this.nextFull.get(name) ?? 0)) {
      const f = this.folds.get(name);
      if (f) {
        f.n++;
        f.at = at;
      } else this.folds.set(name, { n: 1, at });
      return;
    }
    const outcome = outcomeOf(result);
    const outcomeKey = JSON.stringify(outcome);
    this.push({ name, latest, statusSince, outcome, outcomeKey, changed, certs: this.takeSightings(name, at), at, fold: this.takeFold(name), probe: true });
  }

  /** Queue a write of every target whose row, span or sightings lag behind memory (at close). */
  writeBack(latest: Iterable<[string, { json: Buffer; status: Status; startedAt: string; statusSince: number }]>): void {
    for (const [name, m] of latest) {
      const at = Date.parse(m.startedAt);
      if (this.lastFull.get(name) === at && !this.unwritten.has(name) && !this.folds.has(name)) continue;
      const json = m.json.toString('utf8');
      const outcome = outcomeOf(JSON.parse(json) as TargetResult);
      const certs = this.takeSightings(name, at);
      const text = { json, status: m.status };
      this.pending.push({ name, latest: text, statusSince: m.statusSince, outcome, outcomeKey: JSON.stringify(outcome), changed: [], certs, at, fold: this.takeFold(name), probe: false });
    }
  }

  /** The open span of a target and the probes folded into it that are not written yet. */
  unwrittenProbes(name: string): { span: number; n: number; at: number } | null {
    const f = this.folds.get(name);
    const open = this.openSpans.get(name);
    return f && open ? { span: open.id, ...f } : null;
  }

  /** Flushes, then writes nothing more (the database is about to close). */
  close(): void {
    this.flush();
    this.closed = true;
  }

  forget(name: string): void {
    this.folds.delete(name);
    this.lastOutcome.delete(name);
    this.lastFull.delete(name);
    this.nextFull.delete(name);
    this.unwritten.delete(name);
  }

  /**
   * Writes what is queued (reads and close need it written): everything, or only what is
   * queued for one target (its spans are its own), which a read of that target needs.
   */
  flush(name?: string): void {
    if (name === undefined) {
      while (this.pending.length > 0 && !this.closed) this.write(this.pending, Infinity);
      return;
    }
    if (!this.pending.some((w) => w.name === name)) return;
    const mine = this.pending.filter((w) => w.name === name);
    this.pending = this.pending.filter((w) => w.name !== name);
    while (mine.length > 0 && !this.closed) this.write(mine, Infinity);
  }

  /** One transaction of at most MAX_BATCH results of `queue`, stopped once `budgetMs` has passed. */
  private write(queue: PendingWrite[], budgetMs: number): void {
    if (queue.length === 0 || this.closed) return;
    const started = performance.now();
    const batch: PendingWrite[] = [];
    try {
      this.tables.transaction(() => {
        for (const w of queue) {
          if (batch.length >= MAX_BATCH || (batch.length > 0 && performance.now() - started > budgetMs)) break;
          batch.push(w);
          const open = this.openSpans.get(w.name);
          // Folded probes had the open span's outcome: they extend it, whatever comes next.
          if (w.fold && open) this.tables.extend(open.id, w.fold.at, w.fold.n);
          if (w.probe) {
            if (open && open.key === w.outcomeKey) this.tables.extend(open.id, w.at, 1);
            else this.openSpans.set(w.name, { id: this.tables.insertSpan(w.name, w.outcome, w.outcomeKey, w.at), key: w.outcomeKey });
          }
          this.tables.writeTarget(w.name, w.latest, w.statusSince, w.at, w.changed, w.certs);
        }
      });
      queue.splice(0, batch.length);
    } catch (err) {
      // Failed before its first write (BEGIN on a locked file): the batch is what it would have been.
      if (batch.length === 0) batch.push(...queue.slice(0, MAX_BATCH));
      queue.splice(0, batch.length);
      // Rolled back: start new spans, and write those targets in full, next time.
      for (const w of batch) {
        this.openSpans.delete(w.name);
        this.nextFull.delete(w.name);
      }
      this.onError(err, batch.length);
    }
  }

  private takeSightings(name: string, at: number): Sighting[] {
    this.lastFull.set(name, at);
    this.nextFull.set(name, at + REFRESH_MS * (1 + Math.random()));
    const certs = [...(this.unwritten.get(name)?.values() ?? [])];
    this.unwritten.delete(name);
    return certs;
  }

  private takeFold(name: string): Fold | null {
    const f = this.folds.get(name) ?? null;
    this.folds.delete(name);
    return f;
  }

  private push(w: PendingWrite): void {
    this.pending.push(w);
    this.schedule();
  }

  /** A slice of the queue on the next turn, and so on until it is empty. */
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.write(this.pending, SLICE_MS);
      if (this.pending.length > 0) this.schedule();
    });
  }
}
