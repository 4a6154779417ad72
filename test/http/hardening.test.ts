/**
 * The HTTP surface around the routes: the request log without secrets, rate-limit buckets
 * that bad tokens cannot drain for a good client, the Host header rule (DNS rebinding), the
 * JSON body of every error (404, 405, 413, 415, 400, 431, 500), the security headers, and
 * /probe during a shutdown. Probes go to a fake SMTP server on loopback that never greets.
 */
import net from 'node:net';
import Fastify, { type InjectOptions } from 'fastify';
import t, { type Test } from 'tap';
import type { OnDemandPolicy } from '../../src/config/load.js';
import { buildApp } from '../../src/http/app.js';
import { registerErrorHandling } from '../../src/http/errors.js';
import { hostOfHeader } from '../../src/http/host-header.js';
import { probeChecked, type OnDemandProbe } from '../../src/http/on-demand.js';
import { redactUrl } from '../../src/http/request-log.js';
import { OnDemandDrain } from '../../src/http/shutdown.js';
import { createLogger } from '../../src/log.js';
import { ServiceMetrics } from '../../src/metrics/service-metrics.js';
import { probeTarget, type Resolver } from '../../src/probe/index.js';
import { Scheduler, type ProbeFn } from '../../src/scheduler/scheduler.js';
import { MemoryResultsStore } from '../../src/store/results-store.js';
import { fakeSmtp, type FakeSmtp } from '../helpers/fake-smtp.js';

let silent: FakeSmtp;
t.before(async () => {
  silent = await fakeSmtp({ host: '127.0.0.5', greeting: null });
  t.teardown(() => silent.close());
});

const TOKEN = 'correct-horse-battery-staple';
const resolver: Resolver = async (host) => {
  if (host === 'mx.example.test') return ['127.0.0.5'];
  throw Object.assign(new Error(`ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
};

interface Options {
  policy?: Partial<OnDemandPolicy>;
  allowedHosts?: string[];
  probe?: OnDemandProbe;
  drain?: OnDemandDrain;
  metrics?: ServiceMetrics;
}

async function harness(o: Options = {}) {
  const policy: OnDemandPolicy = {
    enabled: true,
    ports: [25, silent.port],
    allowHosts: [],
    refuseAddresses: [],
    token: null,
    rateLimit: { max: 1000, windowSeconds: 60 },
    maxConcurrent: 4,
    maxTimeoutMs: 60_000,
    probeDefaults: { ehloName: 'probe.test' },
    defaultTimeoutMs: 3000,
    ...o.policy,
  };
  const logs: Array<Record<string, unknown>> = [];
  const raw: string[] = [];
  const logger = createLogger('debug', {
    write: (line: string) => {
      raw.push(line);
      logs.push(JSON.parse(line));
    },
  });
  const store = new MemoryResultsStore();
  const scheduled: ProbeFn = (target, p) => probeTarget(target, { resolver, ...p });
  const scheduler = new Scheduler({ probe: scheduled, store, logger, concurrency: 1, jitterMs: 0 });
  const app = await buildApp({
    logger,
    store,
    scheduler,
    probe: o.probe ?? probeChecked,
    resolver,
    policy: () => policy,
    health: () => ({ config: { source: 'test', loadedAt: 'now', targets: 0, lastReload: null } }),
    notReady: () => null,
    version: '9.9.9',
    metrics: o.metrics ?? new ServiceMetrics({ store, targets: () => [], reload: () => ({ ok: true, at: 'now' }), version: '9.9.9' }),
    allowedHosts: () => o.allowedHosts ?? [],
    ...(o.drain ? { drain: o.drain } : {}),
  });
  t.teardown(async () => {
    await scheduler.stop(0);
    await app.close();
  });
  return { app, logs, raw };
}

/** A request written on a raw socket; the whole answer until the server closes. */
async function rawRequest(port: number, text: string): Promise<{ status: number; headers: Record<string, string>; body: any }> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(text);
  const chunks: Buffer[] = [];
  for await (const chunk of socket) chunks.push(chunk as Buffer);
  const answer = Buffer.concat(chunks).toString();
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: JSON.parse(body) };
}

function securityHeaders(t: Test, headers: Record<string, unknown>, what: string): void {
  t.equal(headers['x-content-type-options'], 'nosniff', `${what}: nosniff`);
  t.equal(headers['cache-control'], 'no-store', `${what}: no-store`);
  t.equal(headers['x-frame-options'], 'DENY', `${what}: x-frame-options`);
  t.equal(headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'", `${what}: CSP`);
  t.equal(headers['referrer-policy'], 'no-referrer', `${what}: referrer-policy`);
}

t.test('secrets in query strings never reach the log', async (t) => {
  t.equal(redactUrl('/probe?host=a.test&token=s3cret&port=25'), '/probe?host=a.test&token=[redacted]&port=25');
  t.equal(redactUrl('/x?ACCESS_TOKEN=a&Password=b&%74oken=c&to+ken=d'), '/x?ACCESS_TOKEN=[redacted]&Password=[redacted]&%74oken=[redacted]&to+ken=d');
  t.equal(redactUrl('/x?a=%zz&token&b=%20'), '/x?a=%zz&token=[redacted]&b=%20', 'the rest byte for byte; a bare name too');
  t.equal(redactUrl('/healthz'), '/healthz');

  const { app, logs, raw } = await harness();
  const urls = [
    `/probe?host=mx.example.test&port=${silent.port}&token=s3cret`,
    '/results?access_token=s3cret',
    '/nope?PassWord=s3cret&x=1',
    '/healthz?%74oken=s3cret',
  ];
  for (const url of urls) await app.inject({ url });
  await app.inject({ method: 'POST', url: '/nope?token=s3cret', headers: { 'content-type': 'application/json' }, payload: '{bad' });
  const incoming = logs.filter((l) => l.msg === 'incoming request').map((l) => (l.req as { url: string }).url);
  t.same(incoming.slice(0, 4), [
    `/probe?host=mx.example.test&port=${silent.port}&token=[redacted]`,
    '/results?access_token=[redacted]',
    '/nope?PassWord=[redacted]&x=1',
    '/healthz?%74oken=[redacted]',
  ]);
  t.ok(raw.length >= 10, `${raw.length} log lines captured`);
  t.notMatch(raw.join(''), /s3cret/, 'the secret is nowhere in the log');
});

t.test('bad tokens exhaust a bucket of their own, not the good client’s', async (t) => {
  const { app } = await harness({ policy: { token: TOKEN, rateLimit: { max: 2, windowSeconds: 60 } } });
  // Port 80 is refused after authentication: a 403 port_not_allowed shows the request got through.
  const url = '/probe?host=mx.example.test&port=80';
  const bad = { authorization: 'Bearer wrong-horse-battery-staple' };
  const good = { authorization: `Bearer ${TOKEN}` };
  const codes: number[] = [];
  for (let i = 0; i < 3; i++) codes.push((await app.inject({ url, headers: bad })).statusCode);
  codes.push((await app.inject({ url })).statusCode);
  t.same(codes, [401, 401, 429, 429], 'bad and missing tokens share one limited bucket');
  const first = await app.inject({ url, headers: good });
  t.equal(first.statusCode, 403, 'the client with the token still gets through');
  t.equal(first.json().code, 'port_not_allowed');
  // Issue 11: the token holder (a Prometheus scraping many targets) is not rate limited at all.
  for (let i = 0; i < 5; i++) t.equal((await app.inject({ url, headers: good })).statusCode, 403, 'the client with the token is never limited');
});

t.test('Host header: without a token only IP literals, localhost and http.allowedHosts', async (t) => {
  const table: Array<[string | undefined, string | null]> = [
    ['127.0.0.1:9925', '127.0.0.1'],
    ['[::1]:9925', '::1'],
    ['[::1]', '::1'],
    ['LocalHost.:80', 'localhost'],
    ['probe.internal', 'probe.internal'],
    ['[fe80::1%25eth0]', null],
    ['a b', null],
    ['', null],
    [undefined, null],
  ];
  for (const [header, host] of table) t.equal(hostOfHeader(header), host, String(header));

  const { app } = await harness({ allowedHosts: ['probe.internal'] });
  const url = '/probe?host=mx.example.test&port=80';
  for (const host of ['evil.example', 'localhost.evil.example', '127.0.0.1.nip.io', 'probe.internal.evil.example', 'rebind.example:9925']) {
    const r = await app.inject({ url, headers: { host } });
    t.equal(r.statusCode, 403, host);
    t.equal(r.json().code, 'host_header_not_allowed', `${host}: code`);
    t.match(r.json().message, /http\.allowedHosts/, `${host}: says what to do`);
  }
  for (const host of ['127.0.0.1:9925', '[::1]:9925', '10.1.2.3', 'localhost', 'LOCALHOST:80', 'localhost.', 'probe.internal:9925', 'Probe.Internal.']) {
    const r = await app.inject({ url, headers: { host } });
    t.equal(r.json().code, 'port_not_allowed', `${host}: answered`);
  }
  t.equal((await app.inject({ url: '/healthz', headers: { host: 'evil.example' } })).statusCode, 200, 'the rule guards /probe only');

  const withToken = await harness({ policy: { token: TOKEN } });
  const r = await withToken.app.inject({ url, headers: { host: 'evil.example', authorization: `Bearer ${TOKEN}` } });
  t.equal(r.json().code, 'port_not_allowed', 'with a token any Host is answered');
  const anonymous = await withToken.app.inject({ url, headers: { host: 'evil.example' } });
  t.equal(anonymous.json().code, 'unauthorized', 'and the token is still required');
});

t.test('two Host headers are a 400, not a choice of the first', async (t) => {
  const { app } = await harness();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as net.AddressInfo).port;
  const r = await rawRequest(port, 'GET /probe?host=mx.example.test&port=80 HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
  t.equal(r.status, 400, 'refused');
  t.same(r.body, { code: 'bad_request', message: 'more than one Host header' });
  const one = await rawRequest(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  t.equal(one.status, 200, 'one Host header is fine');
});

t.test('Sec-Fetch-Site: without a token a page of another site cannot start a probe', async (t) => {
  const { app } = await harness();
  const url = '/probe?host=mx.example.test&port=80';
  for (const site of ['cross-site', 'same-site', 'bogus']) {
    const r = await app.inject({ url, headers: { 'sec-fetch-site': site } });
    t.equal(r.statusCode, 403, site);
    t.equal(r.json().code, 'cross_site_request', `${site}: code`);
  }
  for (const site of ['same-origin', 'none', undefined]) {
    const r = await app.inject({ url, headers: site ? { 'sec-fetch-site': site } : {} });
    t.equal(r.json().code, 'port_not_allowed', `${site ?? 'no header'}: answered (the status page, a typed URL, a program)`);
  }
  const withToken = await harness({ policy: { token: TOKEN } });
  const r = await withToken.app.inject({ url, headers: { 'sec-fetch-site': 'cross-site', authorization: `Bearer ${TOKEN}` } });
  t.equal(r.json().code, 'port_not_allowed', 'a token holder is answered whatever the header says');
});

t.test('every error is JSON { code, message } with the security headers', async (t) => {
  const { app } = await harness();
  const json = { 'content-type': 'application/json' };
  const cases: Array<[string, InjectOptions, number, string]> = [
    ['unknown route', { url: '/nope' }, 404, 'not_found'],
    ['wrong method', { method: 'DELETE', url: '/probe?host=a.test' }, 405, 'method_not_allowed'],
    ['wrong method, parametric route', { method: 'PUT', url: '/results/x' }, 405, 'method_not_allowed'],
    ['body too large', { method: 'POST', url: '/nope', headers: json, payload: JSON.stringify({ x: 'y'.repeat(20_000) }) }, 413, 'body_too_large'],
    ['malformed JSON', { method: 'POST', url: '/nope', headers: json, payload: '{bad' }, 400, 'malformed_body'],
    ['undecodable URL', { url: '/%zz' }, 400, 'bad_url'],
    ['path parameter too long', { url: `/results/${'a'.repeat(200)}` }, 414, 'uri_too_long'],
    ['malformed query', { url: '/probe?host=a.test&port=x' }, 400, 'bad_parameter'],
    ['refused on demand', { url: '/probe?host=a.test&port=80' }, 403, 'port_not_allowed'],
  ];
  for (const [what, request, status, code] of cases) {
    const r = await app.inject(request);
    t.equal(r.statusCode, status, what);
    t.match(r.headers['content-type'], /^application\/json/, `${what}: JSON`);
    t.equal(r.json().code, code, `${what}: code`);
    t.type(r.json().message, 'string', `${what}: message`);
    securityHeaders(t, r.headers, what);
  }
  const m = await app.inject({ method: 'POST', url: '/probe' });
  t.equal(m.headers.allow, 'GET', '405 names only what is allowed: HEAD /probe is itself a 405');
  t.match(m.json().message, /allowed GET$/, 'and so does its message');

  // No route of the API takes a body, so 415 is met by Fastify's body parsing on one that does.
  const bodied = Fastify();
  t.teardown(() => bodied.close());
  registerErrorHandling(bodied);
  bodied.post('/in', async () => ({}));
  bodied.get('/teapot', async () => {
    throw Object.assign(new Error('short and stout'), { statusCode: 418, code: 'SOME_LIBRARY_CODE' });
  });
  bodied.get('/odd', async () => {
    throw Object.assign(new Error('redirect?'), { statusCode: 302 });
  });
  const r415 = await bodied.inject({ method: 'POST', url: '/in', headers: { 'content-type': 'text/xml' }, payload: '<a/>' });
  t.equal(r415.statusCode, 415);
  t.same(Object.keys(r415.json()).sort(), ['code', 'message']);
  t.equal(r415.json().code, 'unsupported_media_type');
  // A client error without a code of ours is named after its status; a status that is not an error is a 500.
  t.same((await bodied.inject({ url: '/teapot' })).json(), { code: 'i_m_a_teapot', message: 'short and stout' });
  const odd = await bodied.inject({ url: '/odd' });
  t.equal(odd.statusCode, 500);
  t.equal(odd.json().code, 'internal_error');
});

t.test('headers too large: 431 JSON from a real listener, secret-free log', async (t) => {
  const { app, raw } = await harness();
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as net.AddressInfo).port;
  const r = await rawRequest(port, `GET /healthz?token=s3cret HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
  t.equal(r.status, 431);
  t.same(r.body, { code: 'headers_too_large', message: 'the request headers are too large' });
  securityHeaders(t, r.headers, '431');
  const garbage = await rawRequest(port, 'NOT HTTP AT ALL\r\n\r\n');
  t.equal(garbage.status, 400);
  t.equal(garbage.body.code, 'bad_request');
  t.ok(raw.some((l) => l.includes('client error')), 'logged');
  t.notMatch(raw.join(''), /s3cret/, 'without the raw request');
});

t.test('a failure inside: 500 with a generic message, the full error in the log', async (t) => {
  const { app, logs } = await harness({
    probe: async () => {
      throw new Error('disk on fire under /var/lib/secret');
    },
  });
  const r = await app.inject({ url: `/probe?host=mx.example.test&port=${silent.port}` });
  t.equal(r.statusCode, 500);
  t.same(r.json(), { code: 'internal_error', message: 'internal error; see the service log' });
  securityHeaders(t, r.headers, '500');
  const line = logs.find((l) => l.msg === 'request failed');
  t.match((line?.err as { message: string }).message, /disk on fire/);
});

t.test('security headers on answers that succeed', async (t) => {
  const { app } = await harness();
  for (const url of ['/healthz', '/results', '/metrics', `/probe?host=mx.example.test&port=${silent.port}&timeout=0.2`]) {
    const r = await app.inject({ url });
    t.equal(r.statusCode, 200, url);
    securityHeaders(t, r.headers, url);
  }
});

t.test('shutdown: /probe refused at once, a running probe aborted after the grace', async (t) => {
  const drain = new OnDemandDrain();
  const { app } = await harness({ drain });
  const before = silent.accepted();
  const running = app.inject({ url: `/probe?host=mx.example.test&port=${silent.port}&timeout=30` });
  for (let waited = 0; silent.accepted() === before; waited += 10) {
    if (waited > 5000) throw new Error('the probe never connected');
    await new Promise((r) => setTimeout(r, 10));
  }
  const stopped = drain.drain(100);
  const late = await app.inject({ url: `/probe?host=mx.example.test&port=${silent.port}` });
  t.equal(late.statusCode, 503);
  t.equal(late.json().code, 'shutting_down');
  await stopped;
  const cut = await running;
  t.equal(cut.statusCode, 503, 'the running probe answers 503, not a verdict about the server');
  t.equal(cut.json().code, 'shutting_down');
  await drain.drain(100);
  t.pass('draining twice is harmless');
  const metrics = (await app.inject({ url: '/metrics' })).body;
  t.match(metrics, /smtp_tls_on_demand_requests_total\{outcome="shutting_down"\} 2\n/, 'both counted by their code');
});

t.test('/metrics: a client gone before the answer leaves no buffer held; HEAD sends the headers only', async (t) => {
  // The scrape's buffers are held until its response closes; a client gone while the scrape
  // was made got no 'close' after that, and its buffers stayed held for good.
  const real = new ServiceMetrics({ store: new MemoryResultsStore(), targets: () => [], reload: () => ({ ok: true, at: 'now' }), version: '9.9.9' });
  t.teardown(() => real.close());
  let open = (): void => undefined;
  let gate = Promise.resolve();
  const metrics = Object.assign(Object.create(real) as ServiceMetrics, {
    scrape: async () => {
      await gate;
      return real.scrape();
    },
  });
  const { app } = await harness({ metrics });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as net.AddressInfo;
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
  const answer = async (text: string) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    socket.end(text);
    const chunks: Buffer[] = [];
    for await (const chunk of socket) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString();
  };

  gate = new Promise<void>((r) => (open = r));
  const gone = net.connect(port, '127.0.0.1');
  gone.on('error', () => undefined);
  gone.write('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
  await sleep(200); // the request is in, its scrape waits
  gone.destroy();
  await sleep(100); // the server has seen the client go
  open();
  await sleep(200);
  t.equal(real.heldBuffers, 0, 'nothing held for a client gone before the answer');

  const got = await answer('GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  t.match(got, /^HTTP\/1\.1 200 /);
  t.match(got, /\r\nx-content-type-options: nosniff\r\n/i, 'the security headers');
  const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(got)?.[1]);
  t.equal(Buffer.byteLength(got.slice(got.indexOf('\r\n\r\n') + 4)), length, 'the whole text, as long as said');
  t.match(got, /# TYPE smtp_tls_target_success gauge/);

  const head = await answer('HEAD /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
  t.match(head, /^HTTP\/1\.1 200 /);
  t.ok(Number(/\r\ncontent-length: (\d+)\r\n/i.exec(head)?.[1]) > 0, 'HEAD: the length of the text');
  t.equal(head.slice(head.indexOf('\r\n\r\n') + 4), '', 'HEAD: no body');
  await sleep(100);
  t.equal(real.heldBuffers, 0, 'nothing held once the answers are sent');
});
