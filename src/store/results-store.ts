/**
 * Results of scheduled probes: the latest per target (with every address), and a bounded
 * history per target. Failures are kept apart so that a long run of successes does not push
 * the last problems out of sight. Memory is bounded by targets × (history + failures kept).
 * The interface is what a persistent store (SQLite, on the roadmap) would implement.
 */
import type { Reason, Status, TargetResult } from '../probe/types.js';

export interface HistoryEntry {
  startedAt: string;
  durationMs: number;
  status: Status;
  /** Reason codes of the target and of each address, for a compact timeline. */
  reasons: string[];
  addresses: Array<{ address: string; status: Status; reasons: string[]; thumbprint: string | null }>;
}

export interface TargetRecord {
  name: string;
  latest: TargetResult;
  history: HistoryEntry[];
  /** The most recent non-ok entries, kept even when history has moved past them. */
  recentFailures: HistoryEntry[];
  /**
   * Per address, when the currently served leaf thumbprint was first seen (ISO time): it moves
   * when the certificate changes.
   */
  thumbprintSince: Record<string, string>;
  runs: { total: number; byStatus: Record<Status, number> };
}

export interface ResultsStore {
  record(name: string, result: TargetResult): void;
  get(name: string): TargetRecord | undefined;
  all(): TargetRecord[];
  /** Keep only these targets (after a config reload); the others' results go. */
  retain(names: Iterable<string>): void;
}

const codes = (reasons: readonly Reason[]) => reasons.map((r) => r.code);

export function summarize(result: TargetResult): HistoryEntry {
  return {
    startedAt: result.startedAt,
    durationMs: result.durationMs,
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

export class MemoryResultsStore implements ResultsStore {
  private readonly records = new Map<string, TargetRecord>();

  constructor(
    private readonly historySize = 50,
    private readonly failuresKept = 10,
  ) {}

  record(name: string, result: TargetResult): void {
    const entry = summarize(result);
    const previous = this.records.get(name);
    const rec: TargetRecord = previous ?? {
      name,
      latest: result,
      history: [],
      recentFailures: [],
      thumbprintSince: {},
      runs: { total: 0, byStatus: { ok: 0, warning: 0, critical: 0, unknown: 0 } },
    };
    const before = new Map((previous?.latest.addresses ?? []).map((a) => [a.address, a.certificate?.thumbprint]));
    const since: Record<string, string> = {};
    for (const a of result.addresses) {
      const now = a.certificate?.thumbprint;
      if (!now) continue;
      const kept = before.get(a.address) === now ? rec.thumbprintSince[a.address] : undefined;
      since[a.address] = kept ?? result.startedAt;
    }
    // Addresses that left DNS, or serve no certificate now, take their entry with them.
    rec.thumbprintSince = since;
    rec.latest = result;
    rec.history.unshift(entry);
    rec.history.length = Math.min(rec.history.length, this.historySize);
    if (entry.status !== 'ok') {
      rec.recentFailures.unshift(entry);
      rec.recentFailures.length = Math.min(rec.recentFailures.length, this.failuresKept);
    }
    rec.runs.total++;
    rec.runs.byStatus[entry.status]++;
    this.records.set(name, rec);
  }

  get(name: string): TargetRecord | undefined {
    return this.records.get(name);
  }

  all(): TargetRecord[] {
    return [...this.records.values()];
  }

  retain(names: Iterable<string>): void {
    const keep = new Set(names);
    for (const name of this.records.keys()) if (!keep.has(name)) this.records.delete(name);
  }
}
