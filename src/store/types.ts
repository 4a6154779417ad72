/** What the results store holds and answers: the contract between scheduler, metrics and API. */
import type { Status, TargetResult } from '../probe/types.js';
import type { DomainStore } from './domain-store.js';

export interface AddressOutcome {
  address: string;
  status: Status;
  reasons: string[];
  thumbprint: string | null;
}

/**
 * A span of history: consecutive probes of a target with the same outcome (status, reason
 * codes, and per address status, reasons and thumbprint), first and last seen, how many.
 */
export interface HistoryEntry {
  firstSeen: string;
  lastSeen: string;
  count: number;
  status: Status;
  /** Reason codes of the target as a whole (dns_error ...). */
  reasons: string[];
  addresses: AddressOutcome[];
}

export interface TargetRecord {
  name: string;
  latest: TargetResult;
  /** When the target's current status began (survives restarts). */
  statusSince: string;
  /**
   * Per address of the latest result, when the certificate served there last really changed:
   * a probe that got a certificate different from the last one seen there. Failed probes and
   * restarts do not move it.
   */
  thumbprintSince: Record<string, string>;
  /** Per address of the latest result, distinct certificates served there within the last 24 h. */
  distinctCertificates: Record<string, number>;
  /** Runs since this process started (a Prometheus counter resets on restart). */
  runs: Runs;
}

/** A target's latest result in brief: what costs nothing to read (no result is parsed). */
export interface TargetSummary {
  name: string;
  status: Status;
  startedAt: string;
  runs: TargetRecord['runs'];
  /** Changes with every recorded result: an unchanged version is the same latest result. */
  version: number;
}

/** A distinct certificate seen at an address of a target. */
export interface CertificateSighting {
  target: string;
  address: string;
  thumbprint: string;
  sha256: string;
  subject: string;
  issuer: string;
  dnsNames: string[];
  notAfter: string;
  tlsCertificateName: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
  /** The latest probe of the address got this certificate. */
  servedNow: boolean;
}

export interface HistoryQuery {
  limit: number;
  /** Only spans last seen strictly before this time (paging: pass the last one's lastSeen). */
  before?: Date;
}

export interface ResultsStore {
  /** Latest result of each scheduled mail domain (domain mode). */
  readonly domains: DomainStore;
  record(name: string, result: TargetResult): void;
  get(name: string): TargetRecord | undefined;
  all(): TargetRecord[];
  /** One target in brief, without its result. */
  summary(name: string): TargetSummary | undefined;
  /** Every target in brief, in the order of all(). */
  summaries(): TargetSummary[];
  /** Called with a target's name after each result recorded for it and when it is dropped; returns the unsubscribe. */
  subscribe(listener: (name: string) => void): () => void;
  /** Keep only these targets in view (after a config reload); their history stays stored. */
  retain(names: Iterable<string>): void;
  /** Newest first. */
  history(name: string, query: HistoryQuery): HistoryEntry[];
  /** The most recent non-ok spans, newest first, however far history has moved on. */
  recentFailures(name: string, limit?: number): HistoryEntry[];
  /** Every certificate seen within the retention window, by target and address. */
  certificates(target?: string): CertificateSighting[];
  /** Failed reads and writes of the storage since start (smtp_tls_store_errors_total). */
  errors(): number;
  close(): void;
}

/** Runs since this process started, by status. */
export type Runs = { total: number; byStatus: Record<Status, number> };

/** What the stores keep in memory per name: the latest result, since when its status holds, the runs. */
export interface Latest<R extends { status: Status }> {
  latest: R;
  /** Milliseconds since the epoch. */
  statusSince: number;
  runs: Runs;
}

export function emptyRuns(): Runs {
  return { total: 0, byStatus: { ok: 0, warning: 0, critical: 0, unknown: 0 } };
}

/** The entry after one more result started at `at`: the status keeps its start while it holds. */
export function nextLatest<R extends { status: Status }>(prev: Latest<R> | undefined, result: R, at: number): Latest<R> {
  const statusSince = prev && prev.latest.status === result.status ? prev.statusSince : at;
  const runs = prev?.runs ?? emptyRuns();
  runs.total++;
  runs.byStatus[result.status]++;
  return { latest: result, statusSince, runs };
}
