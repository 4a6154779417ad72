/**
 * The SQL side of the store: prepared statements over the schema of migrations.ts, and rows
 * turned into the store's types. Only the service writes (one writer).
 */
import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { Status } from '../probe/types.js';
import type { AddressOutcome, CertificateSighting, HistoryEntry } from './types.js';

const iso = (ms: number) => new Date(ms).toISOString();

export interface Outcome {
  status: Status;
  reasons: string[];
  addresses: AddressOutcome[];
}

export interface LoadedTarget {
  name: string;
  /** The latest result's JSON, as stored. */
  latest: string;
  statusSince: number;
}

/** What the certificates table keeps of a certificate (a sighting holds no more than this). */
export interface CertificateRow {
  thumbprint: string;
  sha256: string;
  subject: string;
  issuer: string;
  /** DNS names and IP addresses, as a JSON array. */
  sans: string;
  notAfter: number;
  tlsCertificateName: string;
}

interface SpanRow {
  id: number;
  outcome: string;
  first_seen: number;
  last_seen: number;
  count: number;
}

interface CertRow {
  target: string;
  address: string;
  thumbprint: string;
  sha256: string;
  subject: string;
  issuer: string;
  sans: string;
  not_after: number;
  tls_certificate_name: string;
  first_seen: number;
  last_seen: number;
  count: number;
}

export class Tables {
  private readonly s: Record<string, StatementSync>;

  constructor(readonly db: DatabaseSync) {
    const p = (sql: string) => db.prepare(sql);
    this.s = {
      upsertTarget: p(`INSERT INTO targets (name, latest, status, status_since, updated_at) VALUES (?, ?, ?, ?, ?)
        ON CONFLICT (name) DO UPDATE SET latest = excluded.latest, status = excluded.status,
          status_since = excluded.status_since, updated_at = excluded.updated_at`),
      extendSpan: p('UPDATE spans SET last_seen = max(last_seen, ?), count = count + ? WHERE id = ?'),
      insertSpan: p('INSERT INTO spans (target, outcome, status, first_seen, last_seen, count) VALUES (?, ?, ?, ?, ?, 1)'),
      upsertAddress: p(`INSERT INTO addresses (target, address, thumbprint, changed_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (target, address) DO UPDATE SET thumbprint = excluded.thumbprint, changed_at = excluded.changed_at`),
      upsertCert: p(`INSERT INTO certificates (target, address, thumbprint, sha256, subject, issuer, sans, not_after,
          tls_certificate_name, first_seen, last_seen, count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (target, address, thumbprint) DO UPDATE SET last_seen = excluded.last_seen, count = count + excluded.count`),
      history: p(`SELECT id, outcome, first_seen, last_seen, count FROM spans WHERE target = ? AND last_seen < ?
        ORDER BY id DESC LIMIT ?`),
      failures: p(`SELECT id, outcome, first_seen, last_seen, count FROM spans WHERE target = ? AND status <> 'ok'
        ORDER BY id DESC LIMIT ?`),
      certs: p('SELECT * FROM certificates WHERE last_seen >= ? ORDER BY target, address, last_seen DESC'),
      certsOf: p('SELECT * FROM certificates WHERE target = ? AND last_seen >= ? ORDER BY address, last_seen DESC'),
      lastSeenCert: p('SELECT last_seen FROM certificates WHERE target = ? AND address = ? AND thumbprint = ?'),
      pruneSpans: p('DELETE FROM spans WHERE id IN (SELECT id FROM spans WHERE last_seen < ? LIMIT ?)'),
      pruneCerts: p(`DELETE FROM certificates WHERE (target, address, thumbprint) IN
        (SELECT target, address, thumbprint FROM certificates WHERE last_seen < ? LIMIT ?)`),
      pruneTargets: p('DELETE FROM targets WHERE name IN (SELECT name FROM targets WHERE updated_at < ? LIMIT ?)'),
      // An address's change state goes with the last certificate seen there.
      pruneAddresses: p(`DELETE FROM addresses WHERE (target, address) IN (SELECT a.target, a.address FROM addresses a
        WHERE NOT EXISTS (SELECT 1 FROM certificates c WHERE c.target = a.target AND c.address = a.address) LIMIT ?)`),
    };
  }

  loadTargets(): LoadedTarget[] {
    const rows = this.db.prepare('SELECT name, latest, status_since FROM targets').all() as Array<{ name: string; latest: string; status_since: number }>;
    return rows.map((r) => ({ name: r.name, latest: r.latest, statusSince: r.status_since }));
  }

  loadAddresses(): Array<{ target: string; address: string; thumbprint: string; changedAt: number }> {
    const rows = this.db.prepare('SELECT target, address, thumbprint, changed_at FROM addresses').all() as Array<{ target: string; address: string; thumbprint: string; changed_at: number }>;
    return rows.map((r) => ({ target: r.target, address: r.address, thumbprint: r.thumbprint, changedAt: r.changed_at }));
  }

  /** The open (newest) span of each target, to extend on the next probe. */
  loadOpenSpans(): Array<{ target: string; id: number; outcome: string }> {
    const rows = this.db
      .prepare('SELECT id, target, outcome FROM spans WHERE id IN (SELECT max(id) FROM spans GROUP BY target)')
      .all() as Array<{ id: number; target: string; outcome: string }>;
    return rows;
  }

  /** The target's row, its certificate changes and sightings (inside transaction()). */
  writeTarget(
    name: string,
    latest: { json: string; status: Status },
    statusSince: number,
    at: number,
    changed: Array<{ address: string; thumbprint: string; at: number }>,
    certs: Array<{ address: string; c: CertificateRow; n: number; first: number; last: number }>,
  ): void {
    this.s.upsertTarget!.run(name, latest.json, latest.status, statusSince, at);
    for (const ch of changed) this.s.upsertAddress!.run(name, ch.address, ch.thumbprint, ch.at);
    for (const { address, c, n, first, last } of certs) {
      this.s.upsertCert!.run(name, address, c.thumbprint, c.sha256, c.subject, c.issuer, c.sans, c.notAfter, c.tlsCertificateName, first, last, n);
    }
  }

  /** A new span of one probe; returns its id. */
  insertSpan(name: string, outcome: Outcome, outcomeKey: string, at: number): number {
    return Number(this.s.insertSpan!.run(name, outcomeKey, outcome.status, at, at).lastInsertRowid);
  }

  /** `n` more probes with the span's outcome, the last at `at`. */
  extend(span: number, at: number, n: number): void {
    this.s.extendSpan!.run(at, n, span);
  }

  /** All or nothing. */
  transaction(work: () => void): void {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      work();
      this.db.exec('COMMIT');
    } catch (e) {
      // Not db.isTransaction: it is newer than the oldest Node we support (22.13).
      try {
        this.db.exec('ROLLBACK');
      } catch {
        /* SQLite already rolled back (disk full, I/O error) */
      }
      throw e;
    }
  }

  history(name: string, before: number, limit: number): SpanEntry[] {
    return (this.s.history!.all(name, before, limit) as unknown as SpanRow[]).map(toEntry);
  }

  failures(name: string, limit: number): SpanEntry[] {
    return (this.s.failures!.all(name, limit) as unknown as SpanRow[]).map(toEntry);
  }

  certificates(since: number, target?: string): Array<Omit<CertificateSighting, 'servedNow'>> {
    const rows = (target === undefined ? this.s.certs!.all(since) : this.s.certsOf!.all(target, since)) as unknown as CertRow[];
    return rows.map((r) => ({
      target: r.target,
      address: r.address,
      thumbprint: r.thumbprint,
      sha256: r.sha256,
      subject: r.subject,
      issuer: r.issuer,
      dnsNames: JSON.parse(r.sans) as string[],
      notAfter: iso(r.not_after),
      tlsCertificateName: r.tls_certificate_name,
      firstSeen: iso(r.first_seen),
      lastSeen: iso(r.last_seen),
      count: r.count,
    }));
  }

  /** When this certificate was last seen at this address, or null if never. */
  lastSeen(target: string, address: string, thumbprint: string): number | null {
    const row = this.s.lastSeenCert!.get(target, address, thumbprint) as { last_seen: number } | undefined;
    return row?.last_seen ?? null;
  }

  /** Deletes at most `batch` rows older than `cutoff` from each table; returns how many went. */
  prune(cutoff: number, batch: number): number {
    let n = 0;
    n += Number(this.s.pruneSpans!.run(cutoff, batch).changes);
    n += Number(this.s.pruneCerts!.run(cutoff, batch).changes);
    n += Number(this.s.pruneTargets!.run(cutoff, batch).changes);
    n += Number(this.s.pruneAddresses!.run(batch).changes);
    return n;
  }
}

/** A history entry with the span's row id (to add probes not written yet). */
export type SpanEntry = HistoryEntry & { id: number };

function toEntry(r: SpanRow): SpanEntry {
  const o = JSON.parse(r.outcome) as Outcome;
  return { id: r.id, firstSeen: iso(r.first_seen), lastSeen: iso(r.last_seen), count: r.count, status: o.status, reasons: o.reasons, addresses: o.addresses };
}
