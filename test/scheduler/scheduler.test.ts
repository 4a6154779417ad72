/**
 * The scheduler with a stand-in probe function (scheduling is what is tested here; the real
 * probe runs against fake servers in the service tests), and once with the real probe under load.
 */
import { getEventListeners } from 'node:events';
import t from 'tap';
import type { ConfiguredDomain } from '../../src/config/domains.js';
import type { ConfiguredTarget } from '../../src/config/load.js';
import { makeTarget, probeTarget, type ProbeOptions, type ProbeTarget, type TargetResult } from '../../src/probe/index.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';
import { ConcurrencyGovernor, LAG_HIGH_MS, LAG_LOW_MS } from '../../src/scheduler/governor.js';
import { Semaphore } from '../../src/scheduler/semaphore.js';
import { MAX_DEFAULT_SPREAD_MS, stableOffsetMs } from '../../src/scheduler/timetable.js';
import { MemoryResultsStore } from '../../src/store/results-store.js';
import { brokenDomain, fakeProbeDomain } from '../helpers/domain-results.js';
import { fakeSmtp } from '../helpers/fake-smtp.js';
import { watchListenerWarnings } from '../helpers/listeners.js';

const quiet = { info() {}, warn() {}, error() {}, debug() {} };

function target(name: string, schedule = '0 0 1 1 *'): ConfiguredTarget {
  return { name, schedule, timeoutMs: 1000, labels: {}, probe: makeTarget({ host: `${name}.test`, addresses: ['127.0.0.2'] }) };
}

function fakeResult(t: ProbeTarget): TargetResult {
  return {
    target: { host: t.host, port: t.port, expect: t.expect, sni: t.sni, implicitTls: t.implicitTls },
    status: 'ok',
    reasons: [],
    startedAt: new Date().toISOString(),
    durationMs: 1,
    addresses: [],
  };
}

/** A probe that holds until released, counting calls and the peak of concurrent runs. */
function controllableProbe() {
  let running = 0;
  const state = { calls: [] as string[], peak: 0, signals: [] as AbortSignal[], endedBy: [] as string[] };
  const waiters: Array<() => void> = [];
  const probe = async (t: ProbeTarget, o: ProbeOptions) => {
    state.calls.push(t.host);
    state.signals.push(o.signal!);
    running++;
    state.peak = Math.max(state.peak, running);
    state.endedBy.push(
      await new Promise<string>((resolve) => {
        waiters.push(() => resolve('release'));
        o.signal?.addEventListener('abort', () => resolve('abort'), { once: true });
      }),
    );
    running--;
    return fakeResult(t);
  };
  const releaseAll = async () => {
    while (waiters.length) waiters.shift()!();
    await new Promise((r) => setImmediate(r));
  };
  return { probe, state, releaseAll };
}

t.test('first round at start, results stored, ready resolves', async (t) => {
  const store = new MemoryResultsStore();
  const calls: string[] = [];
  const s = new Scheduler({
    store,
    logger: quiet,
    concurrency: 4,
    jitterMs: 0,
    probe: async (p) => {
      calls.push(p.host);
      return fakeResult(p);
    },
  });
  s.setTargets([target('a'), target('b')]);
  t.same(s.targets().map((x) => x.nextRun), [null, null], 'no next run before start');
  s.start();
  await s.ready();
  t.same(calls.sort(), ['a.test', 'b.test']);
  t.same(store.all().map((r) => r.name).sort(), ['a', 'b']);
  t.type(s.targets()[0]?.nextRun, Date, 'next run known once started');
  await s.stop(100);
});

t.test('no overlapping runs of one target; global concurrency cap', async (t) => {
  const c = controllableProbe();
  const s = new Scheduler({ store: new MemoryResultsStore(), logger: quiet, concurrency: 2, jitterMs: 0, probe: c.probe });
  s.setTargets(['a', 'b', 'c', 'd', 'e'].map((n) => target(n)));
  s.start();
  await new Promise((r) => setImmediate(r));
  void s.run('a', 'manual');
  void s.run('a', 'manual');
  await new Promise((r) => setImmediate(r));
  t.equal(c.state.calls.length, 2, 'only 2 running at once');
  for (let i = 0; i < 5; i++) await c.releaseAll();
  await s.ready();
  t.equal(c.state.peak, 2, 'peak concurrency is the cap');
  t.equal(c.state.calls.filter((h) => h === 'a.test').length, 1, 'the extra runs of a were skipped while it ran');
  await s.stop(100);
});

t.test('reload: added probed at once, removed gone from results, changed re-probed', async (t) => {
  const store = new MemoryResultsStore();
  const calls: string[] = [];
  const s = new Scheduler({ store, logger: quiet, concurrency: 4, jitterMs: 0, probe: async (p) => (calls.push(p.host), fakeResult(p)) });
  s.setTargets([target('a'), target('b')]);
  s.start();
  await s.ready();
  const diff = s.setTargets([target('b', '0 0 2 1 *'), target('c')]);
  t.same(diff, { added: ['c'], removed: ['a'], changed: ['b'] });
  await new Promise((r) => setTimeout(r, 20));
  t.same(store.all().map((r) => r.name).sort(), ['b', 'c']);
  t.same(calls.sort(), ['a.test', 'b.test', 'b.test', 'c.test']);
  t.same(s.targets().map((x) => x.target.name).sort(), ['b', 'c']);
  const same = s.setTargets([target('b', '0 0 2 1 *'), target('c')]);
  t.same(same, { added: [], removed: [], changed: [] }, 'an identical reload changes nothing');
  await s.stop(100);
});

t.test('a result of a target removed while it ran is dropped', async (t) => {
  const store = new MemoryResultsStore();
  const c = controllableProbe();
  const s = new Scheduler({ store, logger: quiet, concurrency: 4, jitterMs: 0, probe: c.probe });
  s.setTargets([target('a')]);
  s.start();
  await new Promise((r) => setImmediate(r));
  s.setTargets([]);
  await c.releaseAll();
  await s.ready();
  t.same(store.all(), []);
  await s.stop(100);
});

t.test('stop: running probes get the grace period, then are aborted', async (t) => {
  const c = controllableProbe();
  const s = new Scheduler({ store: new MemoryResultsStore(), logger: quiet, concurrency: 4, jitterMs: 0, probe: c.probe });
  s.setTargets([target('a')]);
  s.start();
  await new Promise((r) => setImmediate(r));
  const t0 = Date.now();
  await s.stop(150);
  t.ok(Date.now() - t0 >= 140, 'waited for the grace period');
  t.same(c.state.endedBy, ['abort'], 'then aborted the probe');
  t.same(s.targets(), [], 'nothing scheduled any more');

  const quick = controllableProbe();
  const s2 = new Scheduler({ store: new MemoryResultsStore(), logger: quiet, concurrency: 4, jitterMs: 0, probe: quick.probe });
  s2.setTargets([target('a')]);
  s2.start();
  await new Promise((r) => setImmediate(r));
  setTimeout(() => void quick.releaseAll(), 20);
  const t1 = Date.now();
  await s2.stop(5000);
  t.ok(Date.now() - t1 < 2000, 'returns as soon as running probes finish');
  t.same(quick.state.endedBy, ['release'], 'a probe that finishes within the grace period is not aborted');
});

t.test('cron schedule fires the probe', async (t) => {
  const calls: string[] = [];
  const s = new Scheduler({ store: new MemoryResultsStore(), logger: quiet, concurrency: 4, jitterMs: 0, probe: async (p) => (calls.push(p.host), fakeResult(p)) });
  s.setTargets([target('a', '* * * * * *')]); // every second
  s.start();
  await s.ready();
  await new Promise((r) => setTimeout(r, 2300));
  await s.stop(100);
  t.ok(calls.length >= 2, `start plus scheduled runs (${calls.length})`);
});

t.test('stable offsets: the same for a name, spread evenly over the window, capped by the interval', async (t) => {
  t.equal(stableOffsetMs('mx1', 60_000, null), stableOffsetMs('mx1', 60_000, null), 'stable');
  t.equal(stableOffsetMs('mx1', 60_000, 0), 0, 'jitter 0: at the cron time');
  t.equal(stableOffsetMs('mx1', null, null), 0, 'no interval known and no jitter: no delay');
  const buckets = new Array<number>(10).fill(0);
  const offsets = Array.from({ length: 5000 }, (_, i) => stableOffsetMs(`target-${i}`, 60_000, null));
  t.ok(Math.min(...offsets) >= 0 && Math.max(...offsets) < 54_000, 'within 90% of the interval');
  for (const o of offsets) buckets[Math.floor(o / 5_400)]!++;
  t.ok(Math.min(...buckets) > 400 && Math.max(...buckets) < 600, `even spread over the window (${buckets.join(' ')})`);
  const hourly = Array.from({ length: 200 }, (_, i) => stableOffsetMs(`t${i}`, 3_600_000, null));
  t.ok(Math.max(...hourly) < MAX_DEFAULT_SPREAD_MS && Math.max(...hourly) > 50_000, 'default window: at most a minute');
  t.ok(Math.max(...Array.from({ length: 200 }, (_, i) => stableOffsetMs(`t${i}`, 3_600_000, 600_000))) > 500_000, 'jitter widens it');
  t.ok(Math.max(...Array.from({ length: 200 }, (_, i) => stableOffsetMs(`t${i}`, 2_000, 600_000))) < 1_800, 'never past 90% of the interval');
});

t.test('scheduled runs fire at their offset; next runs follow the clock and include the offset', async (t) => {
  const fired = new Map<string, number[]>();
  const s = new Scheduler({
    store: new MemoryResultsStore(),
    logger: quiet,
    concurrency: 8,
    jitterMs: 1000,
    probe: async (p) => (fired.get(p.host)?.push(Date.now()), fakeResult(p)),
  });
  const names = ['a', 'b', 'c', 'd'];
  s.setTargets(names.map((n) => target(n, '*/2 * * * * *'))); // every 2 s, spread over 1 s
  s.start();
  await s.ready();
  // Counted from the middle of an interval (every offset is under 1 s, so none is due then):
  // a window opened just after a run, when the tick before it came before start(), may
  // otherwise hold only one run of a target with a late offset, whatever the scheduler does.
  await new Promise((r) => setTimeout(r, (3000 - (Date.now() % 2000)) % 2000));
  for (const n of names) fired.set(`${n}.test`, []);
  const before = s.targets();
  t.same(s.targets(), before, 'asked again before anything passes: the same answer');
  for (const x of before) {
    t.equal(x.intervalSeconds, 2);
    t.equal(x.nextRun!.getTime() % 2000, stableOffsetMs(x.target.name, 2000, 1000), `${x.target.name}: next run is cron time + offset`);
  }
  await new Promise((r) => setTimeout(r, 4300));
  const after = s.targets();
  await s.stop(100);
  for (const x of after) t.ok(x.nextRun!.getTime() > Date.now() - 200, `${x.target.name}: next run moved on with the clock`);
  for (const n of names) {
    const times = fired.get(`${n}.test`)!;
    t.ok(times.length >= 2, `${n}: scheduled runs (${times.length})`);
    const offset = stableOffsetMs(n, 2000, 1000);
    for (const at of times) t.ok(Math.abs((at % 2000) - offset) < 150, `${n} fired ${at % 2000} ms into its interval, offset ${offset}`);
  }
  t.ok(new Set(names.map((n) => stableOffsetMs(n, 2000, 1000))).size > 1, 'the targets do not all start together');
});

t.test('concurrency governor: halves while the event loop lags, grows back by one while probes wait, never past the maximum', async (t) => {
  const g = new ConcurrencyGovernor(16);
  t.equal(g.limit, 16, 'starts at the configured maximum');
  t.equal(g.sample(LAG_HIGH_MS + 1, true), 8, 'lagging: halved');
  t.equal(g.sample(LAG_HIGH_MS + 1, true), 4);
  t.equal(g.sample(LAG_HIGH_MS, true), 4, 'at the threshold: kept');
  for (let i = 0; i < 5; i++) g.sample(LAG_HIGH_MS * 10, false);
  t.equal(g.limit, 1, 'never below one');
  t.equal(g.sample(LAG_LOW_MS - 1, false), 1, 'keeping up but nothing waits: kept');
  t.equal(g.sample(LAG_LOW_MS - 1, true), 2, 'keeping up and probes wait: one more');
  t.equal(g.sample(LAG_LOW_MS + 1, true), 2, 'between the thresholds: kept');
  for (let i = 0; i < 40; i++) g.sample(0, true);
  t.equal(g.limit, 16, 'up to the maximum, not past it');
  t.equal(g.setMax(4), 4, 'a lower maximum (reload) applies at once');
  t.equal(g.sample(0, true), 4);
  t.equal(g.setMax(10), 4, 'a higher one is grown into');
});

t.test('semaphore: waiters give up on abort, resize lets more in', async (t) => {
  const sem = new Semaphore(1);
  t.equal(await sem.acquire(), true);
  const ac = new AbortController();
  const waiting = sem.acquire(ac.signal);
  t.equal(sem.waiting, 1);
  ac.abort();
  t.equal(await waiting, false);
  t.equal(sem.waiting, 0);
  const next = sem.acquire();
  sem.resize(2);
  t.equal(await next, true);
  t.equal(sem.running, 2);
  t.equal(await sem.acquire(AbortSignal.abort()), false);
});

t.test('200 targets, 8 at a time, real probes on loopback: no listener pile-up, no MaxListenersExceededWarning', async (t) => {
  const watch = watchListenerWarnings();
  t.teardown(() => watch.stop());
  const srv = await fakeSmtp({ host: '127.0.0.2', greeting: '554 5.3.2 too busy\r\n' });
  t.teardown(() => srv.close());
  let peak = 0;
  const probe = (p: ProbeTarget, o: ProbeOptions) => {
    peak = Math.max(peak, getEventListeners(o.signal!, 'abort').length);
    return probeTarget(p, o);
  };
  const store = new MemoryResultsStore();
  const s = new Scheduler({ store, logger: quiet, concurrency: 8, jitterMs: 0, probe });
  s.setTargets(
    Array.from({ length: 200 }, (_, i) => ({ ...target(`t${i}`), probe: makeTarget({ host: 'mx.test', addresses: ['127.0.0.2'], port: srv.port }) })),
  );
  s.start();
  await s.ready();
  t.equal(store.all().length, 200, 'every target probed');
  t.ok(peak <= 1, `the shutdown signal held ${peak} listener(s) with 192 probes queued`);
  t.same(await watch.warnings(), []);
  await s.stop(100);
});

t.test('domains: scheduled beside host targets (one namespace, one timetable), results kept per domain, reloads applied', async (t) => {
  const store = new MemoryResultsStore();
  const { probe: probeDomain, calls } = fakeProbeDomain({ 'bad.test': brokenDomain('bad.test'), 'fail.test': new Error('resolver gone') });
  const hostCalls: string[] = [];
  const errors: object[] = [];
  const s = new Scheduler({
    store,
    logger: { ...quiet, error: (o: object) => errors.push(o) },
    concurrency: 4,
    jitterMs: 1000,
    probe: async (p) => {
      hostCalls.push(p.host);
      return fakeResult(p);
    },
    probeDomain,
  });
  const domain = (name: string, d = name, schedule = '*/2 * * * * *'): ConfiguredDomain => ({
    name,
    schedule,
    timeoutMs: 4321,
    labels: {},
    domain: { domain: d, senders: ['rfc', 'exo'], smtp: true, expect: {}, probe: { port: 25, warnDays: 30, minTlsVersion: 'TLSv1.2', ehloName: 'probe.test' } },
  });
  s.setTargets([target('a', '*/2 * * * * *')]);
  s.setDomains([domain('good.test'), domain('bad', 'bad.test'), domain('fail.test')]);
  t.same(s.targets().map((x) => x.target.name), ['a'], 'targets() lists host targets only');
  t.same(s.domains().map((x) => x.domain.name), ['good.test', 'bad', 'fail.test']);
  s.start();
  await s.ready();
  t.same(hostCalls, ['a.test']);
  t.same(calls.map((c) => [c.target.domain, c.timeoutMs]).sort(), [['bad.test', 4321], ['fail.test', 4321], ['good.test', 4321]], 'every domain checked in the first round, under its own deadline');
  t.same(store.domains.all().map((r) => [r.name, r.latest.status]).sort(), [['bad', 'critical'], ['good.test', 'ok']], 'results by name; a failed check stores nothing');
  t.match(errors, [{ target: 'fail.test', domain: 'fail.test' }], 'a check that throws is logged as ours');
  t.same(store.all().map((r) => r.name), ['a'], 'host results apart');
  const views = s.domains();
  for (const v of views) {
    t.equal(v.intervalSeconds, 2);
    t.equal(v.nextRun!.getTime() % 2000, stableOffsetMs(v.domain.name, 2000, 1000), `${v.domain.name}: cron time + its stable offset, as a host target`);
  }
  t.equal(s.domain('bad')?.domain.domain.domain, 'bad.test');
  t.equal(s.domain('a'), undefined, 'a host target is not a domain');
  t.equal(s.target('bad'), undefined, 'a domain is not a host target');

  // Reload: one removed, one changed, a name converted from a host target to a domain.
  calls.length = 0;
  const hosts = s.setTargets([]);
  const domains = s.setDomains([domain('good.test', 'good.test', '*/5 * * * * *'), domain('a', 'a.test')]);
  t.same(hosts, { added: [], removed: ['a'], changed: [] });
  t.same(domains, { added: ['a'], removed: ['bad', 'fail.test'], changed: ['good.test'] });
  await new Promise((r) => setTimeout(r, 50));
  t.same(calls.map((c) => c.target.domain).sort(), ['a.test', 'good.test'], 'added and changed domains are checked at once');
  t.same(store.domains.all().map((r) => r.name).sort(), ['a', 'good.test'], 'a removed domain leaves the results at once');
  t.equal(store.domains.get('good.test')?.runs.total, 2);
  await s.stop(100);
});
