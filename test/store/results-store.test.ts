/**
 * The results store on a real SQLite file: history grows with changes, change detection that
 * ignores failed probes and restarts, bad database files, failed writes, retention.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import t from 'tap';
import { MemoryResultsStore, SqliteResultsStore, StoreOpenError } from '../../src/store/results-store.js';
import type { CertificateFacts, Status, TargetResult } from '../../src/probe/types.js';
import { SCHEMA_VERSION } from '../../src/store/database.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { brokenDomain, healthyDomain } from '../helpers/domain-results.js';

const DAY = 86_400_000;
let clock = Date.now() - 10 * DAY;
let dir: string;
t.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'stp-store-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
});

function cert(thumbprint: string): CertificateFacts {
  return {
    subject: `CN=hybrid.domain.com, O=${thumbprint}`,
    issuer: 'CN=Contoso Issuing CA',
    subjectDn: `CN=hybrid.domain.com,O=${thumbprint}`,
    issuerDn: 'CN=Contoso Issuing CA',
    serialNumber: '01',
    thumbprint,
    sha256: `${thumbprint}-256`,
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2027-01-01T00:00:00.000Z',
    daysRemaining: 30,
    dnsNames: ['hybrid.domain.com'],
    ipAddresses: [],
    alternateNames: 'hybrid.domain.com',
    keyType: 'EC',
    keyBits: 256,
    signatureAlgorithm: 'ecdsa-with-SHA256',
    selfSigned: false,
    tlsCertificateName: `<I>CN=Contoso Issuing CA<S>CN=hybrid.domain.com, O=${thumbprint}`,
    verifiedChainNotAfter: '2027-01-01T00:00:00.000Z',
  };
}

/** A probe result a minute after the last one; thumbprint null: the probe got no certificate. */
function result(status: Status, thumbprint: string | null = 'AAAA', address = '127.0.0.2'): TargetResult {
  clock += 60_000;
  const code = thumbprint === null ? 'connect_timeout' : 'cert_name_mismatch';
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
        reasons: status === 'ok' ? [] : [{ code, severity: 'critical', message: 'x' }],
        timings: { totalMs: 5 },
        smtp: { extensions: [] },
        tls: null,
        certificate: thumbprint === null ? null : cert(thumbprint),
        chain: [],
        names: [],
        exchangeOnline: null,
        remediation: [],
      },
    ],
  };
}

t.test('history grows with changes, not probes; failures stay visible', async (t) => {
  const store = new MemoryResultsStore(5, 2);
  store.record('a', result('critical'));
  store.record('a', result('warning'));
  store.record('a', result('critical'));
  const firstOk = result('ok');
  store.record('a', firstOk);
  for (let i = 0; i < 999; i++) store.record('a', result('ok'));
  const spans = store.history('a', { limit: 10 });
  t.equal(spans.length, 4, 'three failure spans and one span of 1000 ok probes');
  t.same(spans[0], { firstSeen: firstOk.startedAt, lastSeen: new Date(clock).toISOString(), count: 1000, status: 'ok', reasons: [], addresses: [{ address: '127.0.0.2', status: 'ok', reasons: [], thumbprint: 'AAAA' }] });
  const failures = store.recentFailures('a');
  t.same(failures.map((f) => f.status), ['critical', 'warning'], 'newest failure first, capped');
  t.same(failures[0]?.addresses[0]?.reasons, ['cert_name_mismatch']);
  const rec = store.get('a')!;
  t.equal(rec.runs.total, 1003);
  t.same(rec.runs.byStatus, { ok: 1000, warning: 1, critical: 2, unknown: 0 });
  t.equal(rec.statusSince, firstOk.startedAt, 'status ok since the first ok probe');

  const page1 = store.history('a', { limit: 2 });
  const page2 = store.history('a', { limit: 2, before: new Date(page1[1]!.lastSeen) });
  t.same(page1.concat(page2), spans, 'paging with before');
  t.same(store.history('nobody', { limit: 5 }), []);
});

t.test('a certificate changes only when a probe gets a different one; restarts and timeouts do not count', async (t) => {
  const file = join(dir, 'change.db');
  let store = new SqliteResultsStore({ path: file });
  const first = result('ok', 'AAAA');
  store.record('a', first);
  store.record('a', result('ok', 'AAAA'));
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': first.startedAt }, 'the first sight');
  store.record('a', result('critical', null));
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': first.startedAt }, 'a timeout keeps the state (and the metric) as it was');
  store.record('a', result('ok', 'AAAA'));
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': first.startedAt }, 'the same certificate after a timeout is no change');
  const statusSince = store.get('a')!.statusSince;
  store.close();

  store = new SqliteResultsStore({ path: file });
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': first.startedAt }, 'a restart is no change');
  t.equal(store.get('a')!.statusSince, statusSince, 'status since survives');
  t.equal(store.get('a')!.latest.status, 'ok', 'the latest result survives');
  t.same(store.recentFailures('a').map((f) => f.addresses[0]!.reasons), [['connect_timeout']], 'and the recent failures');
  t.equal(store.certificates().length, 1, 'and the sightings');
  store.record('a', result('ok', 'AAAA'));
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': first.startedAt }, 'nor is the first probe after it');
  t.equal(store.get('a')!.statusSince, statusSince);
  t.same(store.history('a', { limit: 10 }).map((s) => [s.status, s.count]), [['ok', 2], ['critical', 1], ['ok', 2]], 'the open span is extended across the restart');

  const renewed = result('ok', 'BBBB');
  store.record('a', renewed);
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': renewed.startedAt }, 'a new certificate is a change');
  store.record('a', result('ok', 'BBBB'));
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': renewed.startedAt });

  const certs = store.certificates();
  t.same(certs.map((c) => [c.target, c.address, c.thumbprint, c.count, c.servedNow]), [
    ['a', '127.0.0.2', 'BBBB', 2, true],
    ['a', '127.0.0.2', 'AAAA', 4, false],
  ], 'each certificate once per address, newest first');
  t.equal(certs[1]!.firstSeen, first.startedAt);
  t.equal(certs[0]!.tlsCertificateName, '<I>CN=Contoso Issuing CA<S>CN=hybrid.domain.com, O=BBBB');
  t.same(certs[0]!.dnsNames, ['hybrid.domain.com']);
  t.equal(certs[0]!.notAfter, '2027-01-01T00:00:00.000Z');
  store.close();
});

t.test('files the store cannot use: a clear message naming the file, and the file left as it was', async (t) => {
  const newer = join(dir, 'newer.db');
  const db = new DatabaseSync(newer);
  db.exec('CREATE TABLE x (y); PRAGMA user_version = 99');
  db.close();
  const before = await readFile(newer);
  t.throws(() => new SqliteResultsStore({ path: newer }), {
    name: 'StoreOpenError',
    message: new RegExp(`${newer} was written by a newer smtp-tls-probe \\(schema version 99; this version knows up to ${SCHEMA_VERSION}\\)`),
  });
  t.same(await readFile(newer), before, 'untouched');

  const garbage = join(dir, 'garbage.db');
  await writeFile(garbage, 'this is not a database, it is a shopping list\n'.repeat(200));
  const g = await readFile(garbage);
  let err: unknown;
  try {
    new SqliteResultsStore({ path: garbage });
  } catch (e) {
    err = e;
  }
  t.ok(err instanceof StoreOpenError);
  t.match((err as Error).message, `${garbage} is not a readable SQLite database`);
  t.match((err as Error).message, /move it aside/);
  t.same(await readFile(garbage), g, 'untouched');

  const busy = join(dir, 'busy.db');
  const other = new DatabaseSync(busy);
  other.exec('CREATE TABLE x (y); BEGIN EXCLUSIVE; INSERT INTO x VALUES (1)');
  t.throws(() => new SqliteResultsStore({ path: busy }), {
    name: 'StoreOpenError',
    message: new RegExp(`${busy} is locked by another process .*Only one smtp-tls-probe service may use a database file`),
  });
  other.exec('ROLLBACK');
  other.close();

  const blocker = join(dir, 'a-file');
  await writeFile(blocker, 'x');
  t.throws(() => new SqliteResultsStore({ path: join(blocker, 'sub', 'probe.db') }), {
    name: 'StoreOpenError',
    message: new RegExp(`cannot open ${blocker}/sub/probe.db for writing .*volume at /var/lib/smtp-tls-probe`),
  });
});

t.test('a failed write (database locked) is counted, and the store goes on from memory', async (t) => {
  const file = join(dir, 'locked.db');
  const store = new SqliteResultsStore({ path: file });
  store.record('a', result('ok'));
  store.flush();
  const other = new DatabaseSync(file);
  other.exec('BEGIN IMMEDIATE');
  const during = result('critical', 'CCCC');
  store.record('a', during);
  t.equal(store.errors(), 0, 'written on the next turn, with the rest of the round');
  store.flush();
  t.equal(store.errors(), 1, 'counted');
  t.equal(store.get('a')!.latest.startedAt, during.startedAt, 'the latest result is served from memory');
  t.same(store.get('a')!.thumbprintSince, { '127.0.0.2': during.startedAt });
  other.exec('ROLLBACK');
  other.close();
  store.record('a', result('critical', 'CCCC'));
  await new Promise((r) => setImmediate(r));
  t.equal(store.errors(), 1, 'writes resume once the lock is gone');
  t.same(store.history('a', { limit: 5 }).map((s) => [s.status, s.count]), [['critical', 1], ['ok', 1]]);
  store.close();
});

t.test('retention prunes old spans and sightings; retain hides removed targets', async (t) => {
  const store = new SqliteResultsStore({ path: ':memory:', retentionDays: 3 });
  clock = Date.now() - 10 * DAY;
  for (let i = 0; i < 1200; i++) store.record('old', result(i % 2 ? 'ok' : 'critical', `T${i}`));
  clock = Date.now() - 60_000;
  store.record('new', result('ok'));
  const pruned = await store.prune();
  t.ok(pruned >= 2400, `pruned ${pruned} rows in batches`);
  t.same(store.history('old', { limit: 5 }), []);
  t.same(store.certificates().map((c) => c.target), ['new']);
  t.equal(store.history('new', { limit: 5 }).length, 1);

  store.retain(['new', 'other']);
  t.same(store.all().map((r) => r.name), ['new']);
  t.equal(store.get('old'), undefined);
  store.close();
});

t.test('domain results: latest per domain and since when its status holds, in the same file, through restarts and migration', async (t) => {
  // A database of the first schema version (before domain mode) is migrated at open.
  const file = join(dir, 'domains.db');
  const old = new DatabaseSync(file);
  old.exec(`${MIGRATIONS[0]}; PRAGMA user_version = 1`);
  old.close();
  let store = new SqliteResultsStore({ path: file });
  const bad = { ...brokenDomain(), startedAt: new Date(clock).toISOString() };
  const good = (at: number) => ({ ...healthyDomain('broken.test'), startedAt: new Date(at).toISOString() });
  store.domains.record('mail', bad);
  store.domains.record('mail', { ...bad, startedAt: new Date(clock + 60_000).toISOString() });
  t.equal(store.domains.get('mail')?.statusSince, bad.startedAt, 'the same status: since the first');
  store.domains.record('mail', good(clock + 120_000));
  t.equal(store.domains.get('mail')?.statusSince, new Date(clock + 120_000).toISOString(), 'a new status: since now');
  t.same(store.domains.get('mail')?.runs, { total: 3, byStatus: { ok: 1, warning: 0, critical: 2, unknown: 0 } });
  store.domains.record('other', bad);
  store.close();

  store = new SqliteResultsStore({ path: file, retentionDays: 1 });
  t.same(store.domains.all().map((r) => [r.name, r.latest.status, r.statusSince]).sort(), [
    ['mail', 'ok', new Date(clock + 120_000).toISOString()],
    ['other', 'critical', bad.startedAt],
  ], 'both come back after a restart');
  t.same(store.domains.get('mail')?.latest.senders.map((s) => s.verdict), ['deliver', 'deliver'], 'the whole result');
  store.domains.retain(['mail']);
  t.same(store.domains.all().map((r) => r.name), ['mail'], 'a removed domain leaves the view');
  // Retention (one day here): rows not updated for longer are deleted.
  t.ok((await store.prune(clock + 120_000 + 2 * DAY)) >= 2);
  store.close();
  store = new SqliteResultsStore({ path: file });
  t.same(store.domains.all(), [], 'pruned');
  store.close();
});

t.test('summaries and notices: what /metrics follows without reading results; writes of many targets go in slices', async (t) => {
  const file = join(dir, 'slices.db');
  const store = new SqliteResultsStore({ path: file });
  const notified: string[] = [];
  const unsubscribe = store.subscribe((name) => notified.push(name));
  const first = result('ok');
  store.record('a', first);
  store.record('b', result('critical'));
  const again = result('ok');
  store.record('a', again);
  t.same(notified, ['a', 'b', 'a'], 'one notice per recorded result');
  t.same(
    store.summaries().map((s) => [s.name, s.status, s.startedAt, s.runs.total]),
    [['a', 'ok', again.startedAt, 2], ['b', 'critical', store.get('b')!.latest.startedAt, 1]],
    'in the order of all(), first recorded first',
  );
  const v = store.summary('a')!.version;
  store.record('a', result('ok'));
  t.ok(store.summary('a')!.version > v, 'a new result, a new version');
  t.same(store.get('a')!.latest.addresses[0]!.certificate, cert('AAAA'), 'the latest result as it was recorded');
  store.retain(['a']);
  t.equal(notified.at(-1), 'b', 'a dropped target is announced');
  t.equal(store.summary('b'), undefined);
  unsubscribe();
  store.record('a', result('ok'));
  t.equal(notified.length, 5, 'nothing after unsubscribing');

  // A round's first results: every target new, every one written. The queue drains over
  // several turns of the event loop, and all of it is in the file.
  const many = 3000;
  for (let i = 0; i < many; i++) store.record(`m${i}`, result(i % 3 ? 'ok' : 'warning', `M${i}`));
  store.record('x', result('critical'));
  const reader = new DatabaseSync(file, { readOnly: true });
  const written = () => Number(reader.prepare("SELECT count(*) AS n FROM targets WHERE name LIKE 'm%'").get()!.n);
  t.same(store.history('x', { limit: 5 }).map((s) => s.status), ['critical'], 'a read of one target sees its result');
  t.equal(written(), 0, 'and writes only what is queued for that target, not the whole round');
  let turns = 0;
  while (written() !== many && ++turns < 10_000) await new Promise((r) => setImmediate(r));
  reader.close();
  t.ok(turns < 10_000, `${many} targets written within ${turns} turns of the event loop`);
  store.close();
  const reopened = new SqliteResultsStore({ path: file });
  // retain() hides a target; its stored rows stay, and come back with it.
  t.same(reopened.all().map((r) => r.name).filter((n) => !n.startsWith('m')).sort(), ['a', 'b', 'x']);
  t.equal(reopened.all().length, many + 3, 'every target back after a restart');
  t.equal(reopened.get('m1')!.latest.addresses[0]!.certificate?.thumbprint, 'M1');
  reopened.close();
});
