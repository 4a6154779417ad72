/**
 * Hostile /probe requests against the shipped default policy (loopback refused), with canary
 * listeners on loopback that count every connection: each spelling must be refused with a 4xx
 * and nothing may connect. To add a case, add a line to one of the tables below.
 */
import net from 'node:net';
import t from 'tap';
import { DEFAULTS, type OnDemandPolicy } from '../../src/config/load.js';
import { ADDRESS_CLASSES } from '../../src/config/schema.js';
import { buildApp } from '../../src/http/app.js';
import { probeChecked } from '../../src/http/on-demand.js';
import { createLogger } from '../../src/log.js';
import type { Resolver } from '../../src/probe/index.js';
import { MemoryResultsStore } from '../../src/store/results-store.js';

/** Where the test names resolve (no real lookup ever happens). `PORT` is the canary's port. */
const DNS: Record<string, string[]> = {
  'loopback.test': ['127.0.0.10'],
  'xn--bcher-kva.test': ['127.0.0.10'],
  localhost: ['127.0.0.1', '::1'],
  'mapped.test': ['::ffff:127.0.0.10'],
  'compat.test': ['::127.0.0.10'],
  'translated.test': ['::ffff:0:127.0.0.10'],
  'nat64.test': ['64:ff9b::7f00:a'],
  'sixtofour.test': ['2002:7f00:a::1'],
  'linklocal.test': ['169.254.169.254'],
  'mixed.test': ['192.0.2.1', '127.0.0.10'],
  'zone.test': ['fe80::1%lo'],
  'garbage.test': ['127.0.0.10#'],
  'octal.test': ['0177.0.0.10'],
  'private.test': ['10.0.0.5'],
  'cgnat.test': ['100.100.100.200'],
  'ula.test': ['fd00:ec2::254'],
};

/** Not a host: 400 naming host/target, before any lookup. Sent as host=, target= and with format=prometheus. */
const BAD_HOSTS = [
  '127.0.0.10#', '127.0.0.10.', '127.0.0.10?', '127.0.0.10\\', '127.0.0.10/', '127.0.0.10#.loopback.test',
  '2130706442', '0x7f00000a', '0X7F00000A', '0177.0.0.10', '0177.0.0.012', '017700000012', '127.1', '127.0.10',
  '127.000.000.010', '0x7f.0.0.10', '127.0.0.0xa', '0x7f.1', '4294967295', '0', '0.0.0.0.', '127.0.0.10..',
  ' 127.0.0.10', '127.0.0.10 ', '127.0.0.10\r\n', '127.0.0.10\0', '127.0.0.10\t', '127.0.0.10%2e', '%31%32%37.0.0.10',
  'loopback.test#', 'loopback.test?x', 'loopback.test\\', 'loopback.test%', 'loopback.test\nHost: x', 'loopback.test\0',
  'user@127.0.0.10', 'loopback.test@127.0.0.10', 'http://127.0.0.10', 'smtp://loopback.test', '127.0.0.10/x',
  '::1%lo', '::1%', 'fe80::1%eth0', '[::1%lo]', '[::1]%lo', '[127.0.0.10]', '[loopback.test]', '[::1', '::1]', '[[::1]]',
  '::ffff:127.1', '::ffff:0177.0.0.10', '1:2:3:4:5:6:7:8:9', '::1::', 'gggg::1',
  '127.0.0.10:0', '127.0.0.10:65536', '127.0.0.10:', ':PORT', '127.0.0.10:0PORT', '127.0.0.10:+PORT', '127.0.0.10: PORT',
  '１２７.０.０.１０', '127。0。0。10', '127\u00ad.0.0.10', 'loop\u200bback.test', 'loopback\u3000.test', 'loopback.test\u2028',
  '_x.test', 'loopback_.test', '-a.test', 'a-.test', 'a..test', '.a.test', '.', '*.test', 'xn--zz.test', 'xn--.test',
  `${'a'.repeat(64)}.test`, `${'abcdefghi.'.repeat(25)}test`, 'a.0x10', 'a.012',
];

/** A valid host whose address the default policy refuses: 403 address_not_allowed. */
const REFUSED_HOSTS = [
  '127.0.0.10', '127.0.0.1', '127.255.255.254', '::1', '[::1]', '[::1]:PORT', '127.0.0.10:PORT', '0:0:0:0:0:0:0:1',
  '::ffff:127.0.0.10', '::FFFF:7F00:A', '[::ffff:127.0.0.10]:PORT', '0:0:0:0:0:ffff:7f00:a', '::127.0.0.10',
  '::ffff:0:127.0.0.10', '64:ff9b::127.0.0.10', '64:ff9b:1::127.0.0.10', '2002:7f00:a::1', '2002:a9fe:a9fe::1',
  '0.0.0.0', '0.1.2.3', '::', '169.254.169.254', 'fe80::1', '224.0.0.1', 'ff02::1', '255.255.255.255', '192.0.2.1',
  '198.51.100.7', '203.0.113.9', '198.18.0.1', '240.0.0.1', '192.0.0.8', '2001:db8::1', '3fff::1', '2001::1',
  '2001:2::1', '100::1', '::ffff:169.254.169.254', '64:ff9b::a9fe:a9fe',
  'localhost', 'LOCALHOST.', 'loopback.test', 'Loopback.Test.', 'bücher.test', 'mapped.test', 'compat.test',
  'translated.test', 'nat64.test', 'sixtofour.test', 'linklocal.test', 'mixed.test', 'zone.test', 'garbage.test',
  'octal.test',
];

/** Refused once `private` is refused too (never under the default policy: they would leave loopback). */
const PRIVATE_HOSTS = [
  '10.0.0.5', '172.16.0.1', '192.168.1.1', '100.100.100.200', 'fd00:ec2::254', 'fec0::1', '::ffff:10.0.0.5',
  '64:ff9b::10.0.0.5', '2002:0a00:0005::1', 'private.test', 'cgnat.test', 'ula.test',
];

/** Other parameters and headers, with host=loopback.test (which would be a 403 otherwise). */
const OTHER: Array<[parameter: string, value: string, status: 400 | 403, what: string]> = [
  ['port', '0x50', 400, 'port'],
  ['port', '1e1', 400, 'port'],
  ['port', '0PORT', 400, 'port'],
  ['port', '+PORT', 400, 'port'],
  ['port', 'PORT.0', 400, 'port'],
  ['port', ' PORT', 400, 'port'],
  ['port', '22', 403, 'port_not_allowed'],
  ['port', '-25', 400, 'port'],
  ['port', '25.5', 400, 'port'],
  ['port', '65536', 400, 'port'],
  ['port', '0', 400, 'port'],
  ['port', '', 400, 'port'],
  ['port', 'PORT\0', 400, 'port'],
  ['port', 'twenty-five', 400, 'port'],
  ['sni', 'a\r\nb.test', 400, 'sni'],
  ['sni', 'a\0.test', 400, 'sni'],
  ['sni', 'a b.test', 400, 'sni'],
  ['sni', 'a%b.test', 400, 'sni'],
  ['sni', 'a#b.test', 400, 'sni'],
  ['sni', '127.0.0.10', 400, 'sni'],
  ['sni', '::1', 400, 'sni'],
  ['sni', '\u200b', 400, 'sni'],
  ['sni', 'a..b', 400, 'sni'],
  ['sni', 'a_b.test', 400, 'sni'],
  ['sni', '', 400, 'sni'],
  ['sni', `${'a'.repeat(64)}.test`, 400, 'sni'],
  ['sni', 'bücher\n.test', 400, 'sni'],
  ['sni', 'a\tb', 400, 'sni'],
  ['expect', 'a\r\nb.test', 400, 'expect'],
  ['expect', 'a b.test', 400, 'expect'],
  ['expect', '\0', 400, 'expect'],
  ['expect', 'a\tb', 400, 'expect'],
  ['timeout', '0.0001', 400, 'timeout'],
  ['timeout', 'Infinity', 400, 'timeout'],
  ['timeout', 'NaN', 400, 'timeout'],
  ['timeout', '601', 400, 'timeout'],
  ['timeout', '1e400', 400, 'timeout'],
  ['x-prometheus-scrape-timeout-seconds', 'abc', 400, 'x-prometheus-scrape-timeout-seconds'],
  ['x-prometheus-scrape-timeout-seconds', 'Infinity', 400, 'x-prometheus-scrape-timeout-seconds'],
  ['x-prometheus-scrape-timeout-seconds', '-1', 400, 'x-prometheus-scrape-timeout-seconds'],
  ['x-prometheus-scrape-timeout-seconds', '0', 400, 'x-prometheus-scrape-timeout-seconds'],
  ['x-prometheus-scrape-timeout-seconds', '0x10', 400, 'x-prometheus-scrape-timeout-seconds'],
  ['x-prometheus-scrape-timeout-seconds', '1e400', 400, 'x-prometheus-scrape-timeout-seconds'],
  ['x-prometheus-scrape-timeout-seconds', '0.0001', 400, 'x-prometheus-scrape-timeout-seconds'],
];

interface Canary {
  port: number;
  hits(): number;
  close(): Promise<void>;
}

/** One port on several loopback addresses; every accepted connection counts. */
async function canary(): Promise<Canary> {
  let hits = 0;
  const servers: net.Server[] = [];
  const listen = (host: string, port: number) =>
    new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer((socket) => {
        hits++;
        socket.destroy();
      });
      s.once('error', reject).listen(port, host, () => resolve(s));
    });
  const first = await listen('127.0.0.10', 0);
  servers.push(first);
  const port = (first.address() as net.AddressInfo).port;
  for (const host of ['127.0.0.1', '127.0.0.2', '::1']) {
    // Best effort: the port may be taken there, or IPv6 missing; 127.0.0.10 is the main target.
    servers.push(...(await listen(host, port).then((s) => [s], () => [])));
  }
  return { port, hits: () => hits, close: async () => void (await Promise.all(servers.map((s) => new Promise((r) => s.close(r))))) };
}

let lookups = 0;
const resolver: Resolver = async (host) => {
  lookups++;
  const found = DNS[host];
  if (!found) throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  return found;
};

async function app(port: number, refuseAddresses: OnDemandPolicy['refuseAddresses']) {
  const policy: OnDemandPolicy = {
    enabled: true,
    ports: [...DEFAULTS.onDemand.ports, port],
    allowHosts: [],
    refuseAddresses,
    token: null,
    rateLimit: { max: 100_000, windowSeconds: 60 },
    maxConcurrent: 4,
    maxTimeoutMs: 60_000,
    probeDefaults: { ehloName: 'probe.test' },
    defaultTimeoutMs: 2000,
  };
  const metrics = { contentType: 'text/plain', renderProbe: async () => '', countOnDemand: () => undefined, scrape: async () => ({ parts: [], length: 0, release: () => undefined }) };
  const a = await buildApp({
    logger: createLogger('silent'),
    store: new MemoryResultsStore(),
    scheduler: { targets: () => [], target: () => undefined },
    probe: probeChecked,
    resolver,
    policy: () => policy,
    health: () => ({ config: { source: 'test', loadedAt: 'now', targets: 0, lastReload: null } }),
    notReady: () => null,
    version: '0.0.0',
    metrics,
  });
  t.teardown(() => a.close());
  return { app: a, policy };
}

const q = (parameter: string, value: string) => `${parameter}=${encodeURIComponent(value)}`;
/** For assertion names: a raw U+2028 or CR would break the TAP stream itself. */
const show = (text: string) => text.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);

t.test('hostile spellings: a 4xx each and not one connection', async (t) => {
  const c = await canary();
  t.teardown(c.close);
  const sub = (text: string) => text.replaceAll('PORT', String(c.port));
  const byDefault = await app(c.port, [...DEFAULTS.onDemand.refuseAddresses]);
  const strict = await app(c.port, [...ADDRESS_CLASSES]);
  let sent = 0;
  const expectAnswer = async (
    target: typeof byDefault,
    url: string,
    status: number,
    what: string,
    headers: Record<string, string> = {},
  ) => {
    const r = await target.app.inject({ url, headers });
    sent++;
    const body = r.headers['content-type']?.startsWith('application/json') ? r.json() : { code: r.body.slice(0, 60) };
    t.equal(r.statusCode, status, show(`${url} ${JSON.stringify(headers)}: ${body.code} ${body.message}`));
    t.equal(status === 400 ? body.parameter : body.code, what, `${url}: ${status === 400 ? 'parameter' : 'code'}`);
  };
  const port = () => `&port=${c.port}`;

  for (const raw of BAD_HOSTS) {
    const host = sub(raw);
    const before = lookups;
    await expectAnswer(byDefault, `/probe?${q('host', host)}${port()}`, 400, 'host');
    await expectAnswer(byDefault, `/probe?${q('target', host)}${port()}`, 400, 'target');
    await expectAnswer(byDefault, `/probe?${q('target', host)}${port()}&format=prometheus`, 400, 'target');
    t.equal(lookups, before, show(`${JSON.stringify(host)}: refused before any lookup`));
  }
  for (const raw of REFUSED_HOSTS) {
    const host = sub(raw);
    await expectAnswer(byDefault, `/probe?${q('host', host)}${port()}`, 403, 'address_not_allowed');
    await expectAnswer(byDefault, `/probe?${q('target', host)}${port()}`, 403, 'address_not_allowed');
    await expectAnswer(byDefault, `/probe?${q('target', host)}${port()}&format=prometheus`, 403, 'address_not_allowed');
  }
  for (const host of PRIVATE_HOSTS) {
    await expectAnswer(strict, `/probe?${q('host', host)}${port()}`, 403, 'address_not_allowed');
  }
  for (const [parameter, raw, status, what] of OTHER) {
    const value = sub(raw);
    if (parameter.startsWith('x-')) {
      await expectAnswer(byDefault, `/probe?host=loopback.test${port()}`, status, what, { [parameter]: value });
    } else {
      await expectAnswer(byDefault, `/probe?host=loopback.test&${q(parameter, value)}${parameter === 'port' ? '' : port()}`, status, what);
    }
  }
  t.ok(sent >= 100, `${sent} hostile requests`);
  t.equal(c.hits(), 0, 'no connection reached the canary');
});

t.test('HEAD /probe answers without probing; GET does probe where allowed', async (t) => {
  const c = await canary();
  t.teardown(c.close);
  const { app: a } = await app(c.port, []);
  const head = await a.inject({ method: 'HEAD', url: `/probe?host=127.0.0.10&port=${c.port}` });
  t.equal(head.statusCode, 405);
  t.equal(head.headers.allow, 'GET');
  t.equal(c.hits(), 0, 'HEAD connected nowhere');
  // The canary works: with loopback allowed, the same GET reaches it once.
  const get = await a.inject({ url: `/probe?host=127.0.0.10&port=${c.port}&timeout=2` });
  t.equal(get.statusCode, 200);
  t.equal(c.hits(), 1, 'GET connected once');
  const name = await a.inject({ url: `/probe?host=loopback.test&port=${c.port}&timeout=2` });
  t.equal(name.json().addresses[0].address, '127.0.0.10');
  t.equal(c.hits(), 2, 'a name connects to the address it was checked with');
});

t.test('timeouts never produce a 500: fractional seconds become whole milliseconds', async (t) => {
  const { app: a } = await app(2525, [...DEFAULTS.onDemand.refuseAddresses]);
  for (const value of ['2.2', '1.1', '1.2345', '0.0015', '0.001', '599.9999', '600']) {
    const r = await a.inject({ url: `/probe?host=nx.test&timeout=${value}` });
    t.equal(r.statusCode, 200, `timeout=${value}: ${r.body.slice(0, 120)}`);
    t.same(r.json().reasons.map((x: { code: string }) => x.code), ['dns_error']);
    const h = await a.inject({ url: '/probe?host=nx.test', headers: { 'x-prometheus-scrape-timeout-seconds': value } });
    t.equal(h.statusCode, 200, `scrape timeout ${value}: ${h.body.slice(0, 120)}`);
  }
  const named = await a.inject({ url: '/probe?host=nx.test', headers: { 'x-prometheus-scrape-timeout-seconds': 'soon' } });
  t.match(named.json().message, /^x-prometheus-scrape-timeout-seconds: must be a number of seconds/);
  const tiny = await a.inject({ url: '/probe?host=nx.test&timeout=0.0004' });
  t.match(tiny.json().message, /^timeout: must be at least 0\.001/);
});
