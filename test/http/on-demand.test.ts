/**
 * The on-demand policy as pure rules: the class of every special-purpose range, the host
 * allowlist, what checkTarget lets through, and seconds → whole milliseconds for deadlines.
 */
import t from 'tap';
import { MAX_HEADER_SECONDS, scrapeDeadlineMs, secondsToMs } from '../../src/http/deadline.js';
import { addressClass, checkTarget, hostAllowed } from '../../src/http/on-demand.js';
import { makeTarget, parseHost, type ParsedHost, type Resolver } from '../../src/probe/index.js';

t.test('address classes of the IANA special-purpose ranges', async (t) => {
  const table: Array<[string, string | null]> = [
    ['127.0.0.1', 'loopback'],
    ['127.255.0.9', 'loopback'],
    ['::1', 'loopback'],
    ['169.254.169.254', 'link-local'],
    ['fe80::1', 'link-local'],
    ['0.0.0.0', 'unspecified'],
    ['0.1.2.3', 'unspecified'],
    ['::', 'unspecified'],
    ['224.0.0.1', 'multicast'],
    ['239.255.255.250', 'multicast'],
    ['ff02::1', 'multicast'],
    ['255.255.255.255', 'broadcast'],
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['172.31.255.255', 'private'],
    ['172.32.0.1', null],
    ['192.168.1.1', 'private'],
    ['100.64.0.1', 'private'],
    ['100.100.100.200', 'private'],
    ['100.128.0.1', null],
    ['fd00::1', 'private'],
    ['fc00::1', 'private'],
    ['fec0::1', 'private'],
    // documentation, benchmarking, IETF protocol assignments, future use
    ['192.0.2.10', 'reserved'],
    ['198.51.100.1', 'reserved'],
    ['203.0.113.1', 'reserved'],
    ['198.18.0.1', 'reserved'],
    ['198.19.255.255', 'reserved'],
    ['192.0.0.8', 'reserved'],
    ['240.0.0.1', 'reserved'],
    ['255.255.255.254', 'reserved'],
    ['2001:db8::1', 'reserved'],
    ['3fff::1', 'reserved'],
    ['2001:2::1', 'reserved'],
    ['2001::1', 'reserved'],
    ['2001:0:4136:e378:8000:63bf:3fff:fdd2', 'reserved'],
    ['100::1', 'reserved'],
    ['2001:20::1', 'reserved'],
    ['::1:2:3:4', 'reserved'],
    ['4000::1', 'reserved'],
    // IPv6 that carries an IPv4 address is judged by it
    ['::ffff:127.0.0.1', 'loopback'],
    ['::ffff:7f00:1', 'loopback'],
    ['::ffff:169.254.169.254', 'link-local'],
    ['::ffff:10.0.0.1', 'private'],
    ['::ffff:192.0.3.1', null],
    ['::127.0.0.1', 'loopback'],
    ['::192.0.3.1', 'reserved'],
    ['::ffff:0:127.0.0.1', 'loopback'],
    ['::ffff:0:192.0.3.1', 'reserved'],
    ['64:ff9b::127.0.0.1', 'loopback'],
    ['64:ff9b::a9fe:a9fe', 'link-local'],
    ['64:ff9b::192.0.3.1', null],
    ['64:ff9b:1::127.0.0.1', 'loopback'],
    ['64:ff9b:1::192.0.3.1', 'private'],
    ['2002:7f00:1::1', 'loopback'],
    ['2002:a9fe:a9fe::1', 'link-local'],
    ['2002:c000:301::1', null],
    // ordinary
    ['192.0.3.10', null],
    ['8.8.8.8', null],
    ['2a00:1450:4001::1', null],
    ['2606:4700::1111', null],
    // not an address
    ['example.com', null],
    ['127.0.0.1#', null],
  ];
  for (const [ip, cls] of table) t.equal(addressClass(ip), cls, ip);
});

t.test('host allowlist', async (t) => {
  t.equal(hostAllowed('mail.contoso.com', []), true, 'empty list allows all');
  t.equal(hostAllowed('Mail.Contoso.com.', ['*.contoso.com']), true);
  t.equal(hostAllowed('a.b.contoso.com', ['*.contoso.com']), true, 'any depth below');
  t.equal(hostAllowed('contoso.com', ['*.contoso.com']), false, 'not the apex');
  t.equal(hostAllowed('evilcontoso.com', ['*.contoso.com']), false);
  t.equal(hostAllowed('hybrid.domain.com', ['HYBRID.domain.com']), true);
  t.equal(hostAllowed('2001:db8::1', ['2001:DB8:0::1']), true, 'IP entries compare canonically');
});

t.test('checkTarget: one lookup, every answer classified, the checked addresses are what gets probed', async (t) => {
  const calls: string[] = [];
  const answers: Record<string, string[]> = {
    'ok.test': ['192.0.3.1', '2a00:1450:4001:0:0:0:0:1'],
    'mixed.test': ['192.0.3.1', '::ffff:127.0.0.1'],
    'zone.test': ['fe80::1%eth0'],
  };
  const resolver: Resolver = async (name) => {
    calls.push(name);
    const a = answers[name];
    if (!a) throw Object.assign(new Error('nx'), { code: 'ENOTFOUND' });
    return a;
  };
  const host = (text: string) => {
    const r = parseHost(text);
    if (!r.ok) throw new Error(r.problem);
    return r.value as ParsedHost;
  };
  const policy = { refuseAddresses: ['loopback', 'link-local', 'reserved'] as const };
  const check = (text: string) =>
    checkTarget(host(text), makeTarget({ host: text }), { refuseAddresses: [...policy.refuseAddresses] }, resolver, new AbortController().signal);

  const good = await check('OK.test.');
  t.ok(good.ok);
  if (good.ok) {
    t.same(good.checked.resolution, { addresses: ['192.0.3.1', '2a00:1450:4001::1'] }, 'answers in canonical form');
    t.equal(good.checked.target.host, 'ok.test', 'the parsed host, not the text');
  }
  t.same(calls, ['ok.test'], 'one lookup, of the parsed name');
  t.same(await check('mixed.test'), { ok: false, refused: [{ address: '::ffff:7f00:1', class: 'loopback' }] });
  t.same(await check('zone.test'), { ok: false, refused: [{ address: 'fe80::1%eth0', class: 'reserved' }] }, 'a zone ID is never connected to');
  const literal = await check('192.0.3.7');
  t.same(literal.ok && literal.checked.resolution, { addresses: ['192.0.3.7'] });
  t.equal(calls.length, 3, 'an IP literal is not looked up');
  const nx = await check('nx.test');
  t.same(nx.ok && 'failure' in nx.checked.resolution && nx.checked.resolution.failure.code, 'dns_error', 'no address: a dns_error result, no connection');
});

/** Deterministic PRNG (mulberry32): the same thousands of values on every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

t.test('seconds → whole milliseconds: property over thousands of values', async (t) => {
  const random = prng(8);
  const values: number[] = [2.2, 1.1, 1.2345, 0.0005, 0.0015, 599.9995, 600, Number.MIN_VALUE, 0.1 + 0.2];
  for (let i = 0; i < 5000; i++) {
    const scale = [0.001, 0.01, 1, 10, 600][i % 5]!;
    values.push(random() * scale, Math.round(random() * 600_000) / 1000, random() * 1e4 - 5e3);
  }
  let accepted = 0;
  let problems = 0;
  for (const s of values) {
    const r = secondsToMs(s, 600);
    if (r.ok) {
      accepted++;
      if (!Number.isInteger(r.ms) || r.ms < 1 || r.ms > 600_000 || Math.abs(r.ms - s * 1000) > 0.5 + 1e-9) {
        problems++;
        t.fail(`${s} s gave ${r.ms} ms`);
      }
      // What threw before (a 500): a timer or AbortSignal.timeout with a fractional delay.
      AbortSignal.timeout(r.ms);
    } else if (s > 0 && s <= 600 && Math.round(s * 1000) >= 1) {
      problems++;
      t.fail(`${s} s refused: ${r.problem}`);
    }
  }
  t.equal(problems, 0, `${values.length} values, ${accepted} accepted`);
  t.ok(accepted > 8000, `${accepted} of them in range`);
  for (const bad of [0, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 600.001, 0.0004]) {
    t.equal(secondsToMs(bad, 600).ok, false, `${bad} refused`);
  }
});

t.test('scrape timeout header → deadline: half a second early, whole ms, only plain decimals', async (t) => {
  const random = prng(9);
  const wrong: string[] = [];
  for (let i = 0; i < 3000; i++) {
    const text = (random() * 120).toFixed(1 + (i % 6));
    const r = scrapeDeadlineMs(text);
    const expected = Math.max(500, Math.round(Number(text) * 1000) - 500);
    if (r.ok ? r.ms !== expected || !Number.isInteger(r.ms) : Math.round(Number(text) * 1000) >= 1) wrong.push(text);
  }
  t.same(wrong, [], '3000 header values');
  t.same(scrapeDeadlineMs('10'), { ok: true, ms: 9500 });
  t.same(scrapeDeadlineMs('1.2345'), { ok: true, ms: 735 });
  t.same(scrapeDeadlineMs('0.2'), { ok: true, ms: 500 });
  t.same(scrapeDeadlineMs(' 15 '), { ok: true, ms: 14_500 });
  for (const bad of ['', 'abc', '0x10', '1e400', 'Infinity', 'NaN', '-1', '0', '1,2', `${MAX_HEADER_SECONDS + 1}`]) {
    t.equal(scrapeDeadlineMs(bad).ok, false, `"${bad}" refused`);
  }
});
