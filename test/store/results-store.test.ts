import t from 'tap';
import { MemoryResultsStore } from '../../src/store/results-store.js';
import type { Status, TargetResult } from '../../src/probe/types.js';

let clock = Date.parse('2026-11-27T00:00:00Z');
function result(status: Status, thumbprint = 'AAAA', address = '127.0.0.2'): TargetResult {
  clock += 60_000;
  return {
    target: { host: 'h.test', port: 25, expect: ['h.test'], sni: 'h.test', implicitTls: false },
    status,
    reasons: [],
    startedAt: new Date(clock).toISOString(),
    durationMs: 5,
    addresses: [
      {
        address,
        status,
        reasons: status === 'ok' ? [] : [{ code: 'cert_name_mismatch', severity: 'critical', message: 'x' }],
        timings: { totalMs: 5 },
        smtp: { extensions: [] },
        tls: null,
        certificate: { thumbprint } as never,
        chain: [],
        names: [],
        exchangeOnline: null,
        remediation: [],
      },
    ],
  };
}

t.test('history is bounded; failures stay visible after successes push them out', async (t) => {
  const store = new MemoryResultsStore(5, 2);
  store.record('a', result('critical'));
  store.record('a', result('warning'));
  store.record('a', result('critical'));
  for (let i = 0; i < 1000; i++) store.record('a', result('ok'));
  const rec = store.get('a')!;
  t.equal(rec.history.length, 5, 'history capped');
  t.ok(rec.history.every((h) => h.status === 'ok'));
  t.equal(rec.recentFailures.length, 2, 'failures capped');
  t.same(rec.recentFailures.map((f) => f.status), ['critical', 'warning'], 'newest failure first');
  t.same(rec.recentFailures[0]?.addresses[0]?.reasons, ['cert_name_mismatch']);
  t.equal(rec.runs.total, 1003);
  t.same(rec.runs.byStatus, { ok: 1000, warning: 1, critical: 2, unknown: 0 });
  t.equal(rec.latest.status, 'ok');
});

t.test('per address, when the served thumbprint was first seen', async (t) => {
  const store = new MemoryResultsStore();
  const first = result('ok', 'AAAA');
  store.record('a', first);
  store.record('a', result('ok', 'AAAA'));
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': first.startedAt }, 'unchanged: the first sight stays');
  const changed = result('ok', 'BBBB');
  store.record('a', changed);
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': changed.startedAt }, 'moves when the certificate changes');
  const moved = result('ok', 'BBBB', '127.0.0.3');
  store.record('a', moved);
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.3': moved.startedAt }, 'an address gone from DNS takes its entry with it');
});

t.test('retain drops targets no longer configured', async (t) => {
  const store = new MemoryResultsStore();
  store.record('a', result('ok'));
  store.record('b', result('ok'));
  store.retain(['b', 'c']);
  t.same(store.all().map((r) => r.name), ['b']);
  t.equal(store.get('a'), undefined);
});
