/**
 * Latest result of each scheduled domain (domain mode), in memory and in the `domains` table
 * of the same SQLite file, so that /results/domains and the domain series come back after a
 * restart. No history spans yet: a domain result is one row, replaced by the next. A failed
 * write is reported to the owning store (logged and counted) and the service goes on from memory.
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { DomainResult } from '../probe/domain/types.js';
import { emptyRuns, nextLatest, type Latest, type Runs } from './types.js';

export interface DomainRecord {
  name: string;
  latest: DomainResult;
  /** When the domain's current status began (survives restarts). */
  statusSince: string;
  /** Runs since this process started. */
  runs: Runs;
}

export interface DomainStore {
  record(name: string, result: DomainResult): void;
  get(name: string): DomainRecord | undefined;
  all(): DomainRecord[];
  /** Keep only these domains in view (after a reload); their rows age out with the retention. */
  retain(names: Iterable<string>): void;
}

type Memory = Latest<DomainResult>;

export class DomainResults implements DomainStore {
  private readonly memory = new Map<string, Memory>();
  private readonly upsert: StatementSync;
  private readonly pruneRows: StatementSync;
  private closed = false;

  /** @param fail reports a failed read or write (the owner logs and counts it). */
  constructor(
    db: DatabaseSync,
    private readonly fail: (err: unknown, msg: string) => void,
  ) {
    this.upsert = db.prepare(`INSERT INTO domains (name, latest, status, status_since, updated_at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (name) DO UPDATE SET latest = excluded.latest, status = excluded.status,
        status_since = excluded.status_since, updated_at = excluded.updated_at`);
    this.pruneRows = db.prepare('DELETE FROM domains WHERE name IN (SELECT name FROM domains WHERE updated_at < ? LIMIT ?)');
    try {
      const rows = db.prepare('SELECT name, latest, status_since FROM domains').all() as Array<{ name: string; latest: string; status_since: number }>;
      for (const r of rows) this.memory.set(r.name, { latest: JSON.parse(r.latest) as DomainResult, statusSince: r.status_since, runs: emptyRuns() });
    } catch (err) {
      this.fail(err, 'cannot read domain results from the database; starting without them');
    }
  }

  record(name: string, result: DomainResult): void {
    const at = Date.parse(result.startedAt);
    const entry = nextLatest(this.memory.get(name), result, at);
    this.memory.set(name, entry);
    if (this.closed) return;
    // One row per domain and run, every few minutes at most: written at once, not batched.
    try {
      this.upsert.run(name, JSON.stringify(result), result.status, entry.statusSince, at);
    } catch (err) {
      this.fail(err, 'cannot write a domain result to the database; going on from memory');
    }
  }

  get(name: string): DomainRecord | undefined {
    const m = this.memory.get(name);
    return m && view(name, m);
  }

  all(): DomainRecord[] {
    return [...this.memory.entries()].map(([name, m]) => view(name, m));
  }

  retain(names: Iterable<string>): void {
    const keep = new Set(names);
    for (const name of this.memory.keys()) if (!keep.has(name)) this.memory.delete(name);
  }

  /** Rows not updated since `cutoff` (removed domains), at most `batch`; returns how many went. */
  prune(cutoff: number, batch: number): number {
    return this.closed ? 0 : Number(this.pruneRows.run(cutoff, batch).changes);
  }

  close(): void {
    this.closed = true;
  }
}

function view(name: string, m: Memory): DomainRecord {
  return { name, latest: m.latest, statusSince: new Date(m.statusSince).toISOString(), runs: m.runs };
}
