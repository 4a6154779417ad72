/**
 * MTA-STS end to end as a sender sees it: the TXT record from a canned resolver, the policy
 * fetched over real TLS from a node:https server on loopback with certificates minted now,
 * the policy judged, and nothing left open behind.
 */
import type { ServerResponse } from 'node:http';
import t from 'tap';
import { checkMtaSts, mtaStsMxMatch, type MtaStsDeps } from '../../../src/probe/domain/mta-sts.js';
import { answeringDns, type Answer } from '../../helpers/dns-answers.js';
import { mint, pki } from '../../helpers/certs.js';
import { policyServer, type Handler, type PolicyServer } from '../../helpers/policy-server.js';

const policy = (mode: string, mx: string[] = ['mail.example.com', '*.example.net'], maxAge = '604800', eol = '\n') =>
  [`version: STSv1`, `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), `max_age: ${maxAge}`, ''].join(eol);
const text = (body: string | Buffer, type = 'text/plain; charset=utf-8'): Handler => (_req, res) => {
  res.writeHead(200, { 'Content-Type': type });
  res.end(body);
};

const DOMAINS = ['endlessheaders', 'drip', 'endlesschunks', 'enforce', 'testing', 'none', 'crlf', 'unknown', 'html', 'redirect', 'notfound', 'big', 'bigdeclared', 'ipmx', 'nomx', 'maxage', 'headers', 'slow', 'two', 'badid', 'servfail', 'refused', 'nxhost', 'binary'];
const lab = await (async () => {
  const p = await pki('Policy');
  const leaf = await p.leaf({ subject: 'CN=mta-sts', dns: DOMAINS.map((d) => `mta-sts.${d}.test`) });
  const other = await p.leaf({ subject: 'CN=www.other.test', dns: ['www.other.test'] });
  const expired = await p.leaf({ subject: 'CN=mta-sts.expired.test', dns: ['mta-sts.expired.test'], notBeforeDays: -60, notAfterDays: -1 });
  const stranger = await pki('Stranger');
  const untrusted = await stranger.leaf({ subject: 'CN=mta-sts.untrusted.test', dns: ['mta-sts.untrusted.test'] });
  const selfSigned = await mint({ subject: 'CN=mta-sts.self.test', dns: ['mta-sts.self.test'] });
  return { p, leaf, other, expired, untrusted, stranger, selfSigned };
})();

const slowSockets: ServerResponse[] = [];
function hostile(res: ServerResponse, head: string, more: () => string, everyMs = 1): void {
  const socket = res.socket!;
  socket.write(head);
  const timer = setInterval(() => {
    if (socket.destroyed || socket.writableNeedDrain) return;
    socket.write(more());
  }, everyMs);
  socket.on('close', () => clearInterval(timer));
}
const main = await policyServer(t, '127.0.0.2', [lab.leaf, lab.p.intermediate], {
  'mta-sts.enforce.test': text(policy('enforce')),
  'mta-sts.testing.test': text(policy('testing')),
  'mta-sts.none.test': text('version: STSv1\nmode: none\nmax_age: 86400\n'),
  'mta-sts.crlf.test': text(policy('enforce', undefined, undefined, '\r\n')),
  'mta-sts.unknown.test': text(`${policy('enforce')}x_future: yes\nreport-to: somewhere\n`),
  'mta-sts.html.test': text(policy('enforce'), 'text/html'),
  'mta-sts.redirect.test': (_q, res) => res.writeHead(301, { Location: 'https://elsewhere.test/.well-known/mta-sts.txt' }).end(),
  'mta-sts.notfound.test': (_q, res) => res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not here'),
  // Chunked, no Content-Length: the limit must hold while reading.
  'mta-sts.big.test': (_q, res) => {
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    for (let i = 0; i < 70; i++) res.write(`x_pad: ${'a'.repeat(1015)}\n`);
    res.end(policy('enforce'));
  },
  'mta-sts.bigdeclared.test': (_q, res) => {
    const body = `${'x_pad: 1\n'.repeat(8000)}${policy('enforce')}`;
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': Buffer.byteLength(body) }).end(body);
  },
  'mta-sts.ipmx.test': text(policy('enforce', ['192.0.2.25'])),
  'mta-sts.nomx.test': text(policy('enforce', [])),
  'mta-sts.maxage.test': text(policy('enforce', undefined, '31557601')),
  'mta-sts.headers.test': (_q, res) => res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Padding': 'p'.repeat(20_000) }).end(policy('enforce')),
  'mta-sts.slow.test': (_q, res) => void slowSockets.push(res),
  // Hostile hosts, written raw on the TLS socket: headers that never end, a body one byte at a
  // time, chunks without end. Each writer stops when the client goes away.
  'mta-sts.endlessheaders.test': (_q, res) => hostile(res, 'HTTP/1.1 200 OK\r\n', () => `X-Pad: ${'h'.repeat(1000)}\r\n`),
  'mta-sts.drip.test': (_q, res) => hostile(res, 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n', () => 'x', 50),
  'mta-sts.endlesschunks.test': (_q, res) => hostile(res, 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n', () => `1000\r\n${'c'.repeat(4096)}\r\n`),
  'mta-sts.binary.test': text(Buffer.from([0x76, 0xff, 0xfe, 0x0a])),
});
const wrongName = await policyServer(t, '127.0.0.3', [lab.other, lab.p.intermediate], {});
const expired = await policyServer(t, '127.0.0.4', [lab.expired, lab.p.intermediate], {});
const untrusted = await policyServer(t, '127.0.0.5', [lab.untrusted, lab.stranger.intermediate], {});
const selfSigned = await policyServer(t, '127.0.0.6', [lab.selfSigned], {});

const RECORD = 'v=STSv1; id=20260101T000000';

/** A zone where `<name>.test` publishes RECORD and its policy host resolves to `address`. */
function zone(name: string, address: string, txt: Answer = { records: [RECORD] }): Record<string, Answer> {
  return { [`_mta-sts.${name}.test TXT`]: txt, [`mta-sts.${name}.test A`]: { records: [address] } };
}

/** Unsigned names; anything not listed does not exist. */
const dnsOf = (zone: Record<string, Answer>) => answeringDns(zone, { security: 'insecure', missing: { rcode: 'NXDOMAIN' } });

async function check(name: string, o: { server?: PolicyServer; address?: string; txt?: Answer; timeoutMs?: number; deps?: Partial<MtaStsDeps> } = {}) {
  const server = o.server ?? main;
  const dns = dnsOf(zone(name, o.address ?? server.address, o.txt));
  const before = server.requests.length;
  const r = await checkMtaSts(`${name}.test`, { dns, policyCa: lab.p.root.certPem, policyPort: server.port, ...o.deps }, AbortSignal.timeout(o.timeoutMs ?? 5000));
  return { ...r, dns, codes: r.reasons.map((x) => `${x.code}/${x.severity}`), seen: server.requests.slice(before), settled: await server.settled() };
}

t.test('enforce: the policy fetched over verified TLS from the vetted address, one plain GET', async (t) => {
  const r = await check('enforce');
  t.same(r.codes, []);
  t.equal(r.facts.mode, 'enforce');
  t.same(r.facts.policy, { version: 'STSv1', mode: 'enforce', maxAge: 604800, mx: ['mail.example.com', '*.example.net'] });
  t.match(r.facts.record, { status: 'valid', id: '20260101T000000', raw: [RECORD] });
  t.match(r.facts.fetch, {
    url: 'https://mta-sts.enforce.test/.well-known/mta-sts.txt',
    address: '127.0.0.2',
    status: 200,
    contentType: 'text/plain; charset=utf-8',
    bytes: policy('enforce').length,
    certificate: { subject: 'CN=mta-sts', issuer: 'CN=Policy Issuing CA, O=Policy', authorizationError: null },
  });
  t.notOk(r.facts.fetch?.error);
  t.ok(r.facts.fetch?.certificate?.dnsNames.includes('mta-sts.enforce.test'));
  t.type(r.facts.fetch?.durationMs, 'number');
  t.equal(r.seen.length, 1, 'one request');
  t.match(r.seen[0], { host: 'mta-sts.enforce.test', method: 'GET', url: '/.well-known/mta-sts.txt' });
  for (const h of ['if-none-match', 'if-modified-since', 'cache-control', 'pragma']) t.notOk(r.seen[0]?.headers[h], `no ${h} header`);
  t.same(r.dns.asked.sort(), ['_mta-sts.enforce.test TXT', 'mta-sts.enforce.test A', 'mta-sts.enforce.test AAAA'], 'the policy host resolved through the injected resolver');
  t.ok(r.settled, 'no connection left open');

  t.same(mtaStsMxMatch(r.facts, 'MX1.example.net.'), { mtaStsMatch: true, mtaStsPattern: '*.example.net', reason: null });
  t.same(mtaStsMxMatch(r.facts, 'mail.example.com'), { mtaStsMatch: true, mtaStsPattern: 'mail.example.com', reason: null });
  const miss = mtaStsMxMatch(r.facts, 'a.b.example.net');
  t.match(miss, { mtaStsMatch: false, mtaStsPattern: null, reason: { code: 'mta_sts_mx_mismatch', severity: 'critical', mx: 'a.b.example.net', message: /not covered .*skip this MX/ } });
  t.match(mtaStsMxMatch(r.facts, 'mail.example.com.evil.net'), { mtaStsMatch: false });
});

t.test('testing, none, CRLF and unknown keys', async (t) => {
  const testing = await check('testing');
  t.equal(testing.facts.mode, 'testing');
  t.same(testing.codes, ['mta_sts_testing/warning']);
  t.match(mtaStsMxMatch(testing.facts, 'other.test'), { mtaStsMatch: false, reason: { code: 'mta_sts_mx_mismatch', severity: 'warning', message: /deliver anyway/ } });

  const none = await check('none');
  t.equal(none.facts.mode, 'none');
  t.same(none.codes, []);
  t.same(none.facts.policy, { version: 'STSv1', mode: 'none', maxAge: 86400, mx: [] });
  t.same(mtaStsMxMatch(none.facts, 'mail.example.com'), { mtaStsMatch: null, mtaStsPattern: null, reason: null }, 'mode none: nothing to match');

  const crlf = await check('crlf');
  t.same(crlf.codes, []);
  t.equal(crlf.facts.policy?.mx.length, 2);
  t.equal(crlf.facts.mode, 'enforce');

  const unknown = await check('unknown');
  t.same(unknown.codes, [], 'unknown keys ignored');
  t.equal(unknown.facts.mode, 'enforce');
});

t.test('the record: two v=STSv1 records, a bad id, a failed lookup: no fetch at all', async (t) => {
  const two = await check('two', { txt: { records: [RECORD, 'v=STSv1; id=2'] } });
  t.same(two.codes, ['mta_sts_record_invalid/warning']);
  t.match(two.facts, { record: { status: 'multiple' }, fetch: null, policy: null, mode: null });
  t.same(two.seen, [], 'nothing fetched');
  t.notOk(two.dns.asked.includes('mta-sts.two.test A'));

  const badId = await check('badid', { txt: { records: ['v=STSv1; id=2026-01-01'] } });
  t.same(badId.codes, ['mta_sts_record_invalid/warning']);
  t.match(badId.reasons[0]?.message, /_mta-sts\.badid\.test: the record has id="2026-01-01"; the id must be 1 to 32 letters and digits/);
  t.match(badId.facts, { record: { status: 'invalid' }, fetch: null, mode: null });

  const failed = await check('servfail', { txt: { rcode: 'SERVFAIL', error: 'upstream failed' } });
  t.match(failed.facts.record, { status: 'error', rcode: 'SERVFAIL' }, 'an error, not absent');
  t.same(failed.codes, ['mta_sts_record_invalid/unknown']);
  t.match(failed.reasons[0]?.message, /lookup of _mta-sts\.servfail\.test TXT failed \(SERVFAIL: upstream failed\)/);
  t.same(failed.seen, []);

  const absent = await checkMtaSts('nothing.test', { dns: dnsOf({}) }, AbortSignal.timeout(1000));
  t.same(absent.reasons, [], 'no record: no MTA-STS, no reason here (the expectation is the orchestrator\'s)');
  t.match(absent.facts, { record: { status: 'absent', rcode: 'NXDOMAIN' }, fetch: null, policy: null, mode: null });
});

t.test('HTTP: a redirect is not followed, only 200 counts, bodies and headers are bounded', async (t) => {
  const redirect = await check('redirect');
  t.same(redirect.codes, ['mta_sts_policy_fetch_failed/critical']);
  t.match(redirect.reasons[0]?.message, /answered 301 redirecting to "https:\/\/elsewhere\.test\/\.well-known\/mta-sts\.txt"; senders never follow/);
  t.equal(redirect.seen.length, 1, 'exactly one request: the redirect was not followed');
  t.match(redirect.facts, { fetch: { status: 301 }, policy: null, mode: null });
  t.ok(redirect.settled);

  const notFound = await check('notfound');
  t.same(notFound.codes, ['mta_sts_policy_fetch_failed/critical']);
  t.match(notFound.facts.fetch, { status: 404, error: /answered HTTP 404 "Not Found"; only 200/ });

  const big = await check('big');
  t.same(big.codes, ['mta_sts_policy_fetch_failed/critical']);
  t.match(big.facts.fetch?.error, /sent more than 65536 bytes of body/);
  t.ok((big.facts.fetch?.bytes ?? 0) > 65536 && (big.facts.fetch?.bytes ?? 0) < 70_000, 'reading stopped past the limit');
  t.ok(big.settled, 'the connection was closed');

  const declared = await check('bigdeclared');
  t.same(declared.codes, ['mta_sts_policy_fetch_failed/critical']);
  t.match(declared.facts.fetch?.error, /declares a body of \d+ bytes; a policy is at most 65536/);

  const headers = await check('headers');
  t.same(headers.codes, ['mta_sts_policy_fetch_failed/critical']);
  t.match(headers.facts.fetch?.error, /response headers larger than 16384 bytes/);

  // Hostile hosts: bounded by size where they send fast, by the deadline where they drip.
  const started = Date.now();
  const endless = await check('endlessheaders', { timeoutMs: 10_000 });
  t.match(endless.facts.fetch?.error, /response headers larger than 16384 bytes/);
  const chunks = await check('endlesschunks', { timeoutMs: 10_000 });
  t.match(chunks.facts.fetch?.error, /sent more than 65536 bytes of body/);
  t.ok(Date.now() - started < 8000, 'both ended by their size limits, not the deadline');
  t.ok(endless.settled && chunks.settled, 'the client closed both connections');
  const drip = await check('drip', { timeoutMs: 600 });
  t.match(drip.facts.fetch?.error, /deadline was reached fetching https:\/\/mta-sts\.drip\.test/);
  t.ok(drip.settled, 'the dripping connection was closed at the deadline');
  t.same(drip.codes, ['mta_sts_policy_fetch_failed/critical']);

  const html = await check('html');
  t.same(html.codes, ['mta_sts_policy_invalid/warning'], 'a wrong Content-Type is a warning only');
  t.match(html.reasons[0]?.message, /served as "text\/html"; RFC 8461 §3\.3 requires text\/plain/);
  t.equal(html.facts.mode, 'enforce', 'the policy still applies');

  const binary = await check('binary');
  t.same(binary.codes, ['mta_sts_policy_invalid/critical']);
  t.match(binary.reasons[0]?.message, /not UTF-8/);
});

t.test('the policy body is judged: IP in mx, mx missing under enforce, max_age out of range', async (t) => {
  const ip = await check('ipmx');
  t.same(ip.codes, ['mta_sts_policy_invalid/critical']);
  t.match(ip.reasons[0]?.message, /line 3: mx "192\.0\.2\.25" is an IP address/);
  t.match(ip.facts, { policy: null, mode: null, fetch: { status: 200 } });

  const nomx = await check('nomx');
  t.same(nomx.codes, ['mta_sts_policy_invalid/critical']);
  t.match(nomx.reasons[0]?.message, /mx: missing; mode enforce needs at least one mx line/);

  const maxAge = await check('maxage');
  t.same(maxAge.codes, ['mta_sts_policy_invalid/critical']);
  t.match(maxAge.reasons[0]?.message, /line 5: max_age "31557601" is not a whole number of seconds from 0 to 31557600/);
});

t.test('the policy host must prove its name with a WebPKI-valid certificate; no request otherwise', async (t) => {
  const other = await check('enforce', { server: wrongName });
  t.same(other.codes, ['mta_sts_cert_invalid/critical']);
  t.match(other.reasons[0]?.message, /certificate of mta-sts\.enforce\.test is for www\.other\.test, not mta-sts\.enforce\.test/);
  t.match(other.facts, { mode: null, policy: null, fetch: { address: '127.0.0.3', certificate: { dnsNames: ['www.other.test'], authorizationError: 'ERR_TLS_CERT_ALTNAME_INVALID' } } });
  t.same(other.seen, [], 'the request was never sent');
  t.ok(other.settled);

  const old = await check('expired', { server: expired });
  t.same(old.codes, ['mta_sts_cert_invalid/critical']);
  t.match(old.facts.fetch?.certificate, { authorizationError: 'CERT_HAS_EXPIRED' });
  t.same(old.seen, []);

  const stranger = await check('untrusted', { server: untrusted });
  t.same(stranger.codes, ['mta_sts_cert_invalid/critical']);
  t.match(stranger.reasons[0]?.message, /not trusted \(UNABLE_TO_GET_ISSUER_CERT_LOCALLY\)/);
  t.same(stranger.seen, []);

  const self = await check('self', { server: selfSigned });
  t.match(self.facts.fetch?.certificate, { authorizationError: 'DEPTH_ZERO_SELF_SIGNED_CERT' });

  const roots = await check('enforce', { deps: { policyCa: undefined } });
  t.same(roots.codes, ['mta_sts_cert_invalid/critical'], "Node's bundled roots do not know the test CA");
  t.match(roots.facts.fetch?.certificate?.authorizationError, /UNABLE_TO_GET_ISSUER_CERT_LOCALLY|UNABLE_TO_VERIFY_LEAF_SIGNATURE/);

  const later = await check('enforce', { deps: { now: () => new Date(Date.now() + 400 * 86_400_000) } });
  t.same(later.codes, ['mta_sts_cert_invalid/critical'], 'dates are judged against the injected clock too');
  t.match(later.reasons[0]?.message, /expired on/);
});

t.test('the policy host address: refused addresses are never contacted; unresolvable hosts fail', async (t) => {
  const before = main.connections;
  const refused = await check('refused', { deps: { refuse: (a) => (a.startsWith('127.') ? 'loopback' : null) } });
  t.same(refused.codes, ['mta_sts_policy_fetch_failed/critical']);
  t.match(refused.reasons[0]?.message, /every address of mta-sts\.refused\.test is refused by the address policy: 127\.0\.0\.2 \(loopback\)/);
  t.equal(main.connections, before, 'no connection was made');
  t.notOk(refused.facts.fetch?.address);

  const nx = await checkMtaSts('nxhost.test', { dns: dnsOf({ '_mta-sts.nxhost.test TXT': { records: [RECORD] } }) }, AbortSignal.timeout(1000));
  t.match(nx.facts.fetch?.error, /mta-sts\.nxhost\.test does not exist \(NXDOMAIN\)/);
  const failing = dnsOf({ '_mta-sts.nxhost.test TXT': { records: [RECORD] }, 'mta-sts.nxhost.test A': { rcode: 'SERVFAIL' }, 'mta-sts.nxhost.test AAAA': { rcode: 'TIMEOUT' } });
  const sf = await checkMtaSts('nxhost.test', { dns: failing }, AbortSignal.timeout(1000));
  t.match(sf.facts.fetch?.error, /could not be resolved: A SERVFAIL, AAAA TIMEOUT/);
  t.same(sf.reasons.map((r) => r.code), ['mta_sts_policy_fetch_failed']);

  // A first address that refuses TCP: the next one is tried.
  const dns = dnsOf({
    '_mta-sts.enforce.test TXT': { records: [RECORD] },
    'mta-sts.enforce.test A': { records: ['127.0.0.9', '127.0.0.2'] },
    'mta-sts.enforce.test AAAA': { records: ['not-an-address'] },
  });
  const next = await checkMtaSts('enforce.test', { dns, policyCa: lab.p.root.certPem, policyPort: main.port }, AbortSignal.timeout(5000));
  t.match(next.facts, { mode: 'enforce', fetch: { address: '127.0.0.2' } }, 'the second address served the policy; junk records ignored');

  // A zone listing many addresses: only the first few are tried.
  const many = dnsOf({ '_mta-sts.enforce.test TXT': { records: [RECORD] }, 'mta-sts.enforce.test A': { records: Array.from({ length: 20 }, (_, i) => `127.0.0.${30 + i}`) } });
  const mainBefore = main.connections;
  const capped = await checkMtaSts('enforce.test', { dns: many, policyCa: lab.p.root.certPem, policyPort: main.port }, AbortSignal.timeout(5000));
  t.equal(capped.facts.fetch?.error?.match(/127\.0\.0\.\d+: /g)?.length, 4, 'four addresses tried');
  t.match(capped.facts.fetch?.error, /\(16 more not tried\)$/);
  t.equal(main.connections, mainBefore);

  const v6 = await policyServer(t, '::1', [lab.leaf, lab.p.intermediate], { 'mta-sts.enforce.test': text(policy('testing')) });
  const aaaa = dnsOf({ '_mta-sts.enforce.test TXT': { records: [RECORD] }, 'mta-sts.enforce.test A': {}, 'mta-sts.enforce.test AAAA': { records: ['0:0:0:0:0:0:0:1'] } });
  const six = await checkMtaSts('enforce.test', { dns: aaaa, policyCa: lab.p.root.certPem, policyPort: v6.port }, AbortSignal.timeout(5000));
  t.match(six.facts, { mode: 'testing', fetch: { address: '::1' } }, 'an IPv6-only policy host, its address in canonical form');
  t.equal(v6.requests[0]?.host, 'mta-sts.enforce.test');
});

t.test('one deadline: a server that never answers is left at the deadline, its socket closed', async (t) => {
  const started = Date.now();
  const slow = await check('slow', { timeoutMs: 400 });
  t.same(slow.codes, ['mta_sts_policy_fetch_failed/critical']);
  t.match(slow.facts.fetch?.error, /deadline was reached fetching https:\/\/mta-sts\.slow\.test/);
  t.ok(Date.now() - started < 3000, 'returned near the deadline');
  t.equal(slow.seen.length, 1);
  t.ok(slow.settled, 'the client closed its socket');
  for (const res of slowSockets) res.destroy();

  const hung = dnsOf({ '_mta-sts.hang.test TXT': { records: [RECORD] }, 'mta-sts.hang.test A': { hang: true }, 'mta-sts.hang.test AAAA': { hang: true } });
  const r = await checkMtaSts('hang.test', { dns: hung }, AbortSignal.timeout(200));
  t.match(r.facts.fetch?.error, /deadline was reached resolving mta-sts\.hang\.test/);

  const aborted = new AbortController();
  aborted.abort();
  const before = main.connections;
  const none = await checkMtaSts('enforce.test', { dns: dnsOf(zone('enforce', '127.0.0.2')), policyCa: lab.p.root.certPem, policyPort: main.port }, aborted.signal);
  t.equal(none.facts.mode, null, 'an aborted signal fetches nothing');
  t.equal(main.connections, before);
});
