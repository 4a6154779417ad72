/**
 * The DNS client against scripted servers on loopback: what a hostile or broken resolver can
 * do (truncate, answer another query, send garbage, lie about a TCP length, flood, stay
 * silent) must end in an answer with a code, within the deadline, with no socket left open.
 */
import packet from 'dns-packet';
import t, { type Test } from 'tap';
import {
  checkValidating,
  createDnsClient,
  parseResolverAddress,
  resolverFromResolvConf,
  resolverText,
} from '../../../src/probe/dns/client.js';
import { MAX_TCP_BYTES } from '../../../src/probe/dns/transport.js';
import { fakeDns, framed, openSockets, reply, type Decoded, type Scripts } from '../../helpers/fake-dns.js';

const A = (name: string, address: string) => ({ type: 'A' as const, name, ttl: 60, data: address });
const rrsig = (name: string, expiration: number) => ({
  type: 'RRSIG' as const, name, ttl: 60,
  data: { typeCovered: 'A', algorithm: 13, labels: 2, originalTTL: 60, expiration, inception: expiration - 86400, keyTag: 1, signersName: 'x.test', signature: Buffer.alloc(64) },
});
const ede = (code: number, text = '') => {
  const data = Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(text)]);
  return { type: 'OPT' as const, name: '.', udpPayloadSize: 1232, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [{ code: 15, data }] } as unknown as packet.Answer;
};

async function withServer(t: Test, scripts: Scripts) {
  const server = await fakeDns(scripts);
  t.teardown(() => server.close());
  return { server, client: createDnsClient(server, { tryTimeoutMs: 300 }) };
}

const deadline = () => AbortSignal.timeout(5000);

/** Open sockets once handles closed by earlier steps are gone. */
async function settledSockets(kind: 'udp' | 'tcp'): Promise<number> {
  await new Promise((r) => setTimeout(r, 50));
  return openSockets(kind);
}

t.test('a plain UDP answer: the query asks with DO and 1232 bytes; AD, EDE, RRSIG expiry and names are read', async (t) => {
  const exp = Math.floor(Date.UTC(2030, 0, 2) / 1000);
  const { server, client } = await withServer(t, {
    udp: (q) => [reply(q, {
      flags: packet.RECURSION_AVAILABLE | packet.AUTHENTIC_DATA,
      answers: [A('MX1.Example.TEST.', '192.0.2.1'), A('mx1.example.test', '192.0.2.2'), rrsig('mx1.example.test', exp), rrsig('mx1.example.test', exp + 99)],
      additionals: [ede(0, 'other\u0000note')],
    })],
  });
  const a = await client.query('MX1.example.test.', 'A', deadline());
  t.match(a, { name: 'mx1.example.test', type: 'A', rcode: 'NOERROR', ad: true, security: 'secure', cnames: [], server: `127.0.0.1:${server.port}` });
  t.same(a.records, [{ address: '192.0.2.1' }, { address: '192.0.2.2' }]);
  t.same(a.ede, [{ code: 0, text: 'other note' }]);
  t.equal(a.signatureExpires, '2030-01-02T00:00:00.000Z');
  const q = server.seen[0]!.query;
  t.equal(q.questions![0]!.name, 'mx1.example.test');
  t.ok(q.flag_rd, 'recursion desired');
  const opt = q.additionals!.find((r) => r.type === 'OPT') as packet.OptAnswer;
  t.equal(opt.udpPayloadSize, 1232);
  t.ok(opt.flag_do, 'DNSSEC OK set so that RRSIGs come back');
});

t.test('ids are random', async (t) => {
  const { server, client } = await withServer(t, { udp: (q) => [reply(q)] });
  for (let i = 0; i < 4; i++) await client.query('a.test', 'A', deadline());
  t.ok(new Set(server.seen.map((s) => s.query.id)).size > 1);
});

t.test('a truncated UDP reply is asked again over TCP', async (t) => {
  const { server, client } = await withServer(t, {
    udp: (q) => [reply(q, { flags: packet.TRUNCATED_RESPONSE })],
    tcp: (q, s) => s.write(framed(reply(q, { answers: [{ type: 'TXT', name: 'big.test', ttl: 1, data: ['part one, ', 'part two'] }] }))),
  });
  const a = await client.query('big.test', 'TXT', deadline());
  t.same(server.seen.map((s) => s.transport), ['udp', 'tcp']);
  t.equal(a.rcode, 'NOERROR');
  t.same(a.records, [{ text: 'part one, part two' }], 'character-strings joined without separator');
  t.equal(a.security, 'insecure');
});

t.test('an IPv6 resolver, over UDP then TCP', async (t) => {
  const server = await fakeDns({
    udp: (q) => [reply(q, { flags: packet.TRUNCATED_RESPONSE })],
    tcp: (q, s) => s.write(framed(reply(q, { answers: [A('v6.test', '192.0.2.6')] }))),
  }, '::1');
  t.teardown(() => server.close());
  const client = createDnsClient(server, { tryTimeoutMs: 1000 });
  t.equal(client.server, `[::1]:${server.port}`);
  const a = await client.query('v6.test', 'A', deadline());
  t.same(a.records, [{ address: '192.0.2.6' }]);
  t.same(server.seen.map((s) => s.transport), ['udp', 'tcp']);
});

t.test('replies to another id or question are ignored; the right one after them is taken', async (t) => {
  const { client } = await withServer(t, {
    udp: (q) => [
      reply(q, { id: (q.id! + 1) & 0xffff, answers: [A('a.test', '192.0.2.66')] }),
      reply(q, { questions: [{ type: 'A', name: 'evil.test' }], answers: [A('a.test', '192.0.2.66')] }),
      reply(q, { questions: [{ type: 'AAAA', name: 'a.test' }] }),
      Buffer.from(q.id!.toString(16).padStart(4, '0') + '8180ffff', 'hex'),
      reply(q, { answers: [A('a.test', '192.0.2.1')] }),
    ],
  });
  const a = await client.query('a.test', 'A', deadline());
  t.same(a.records, [{ address: '192.0.2.1' }]);
});

t.test('nothing but wrong replies: a timeout after one retry that says what was ignored', async (t) => {
  const cases: Array<[string, (q: Decoded) => Buffer, RegExp]> = [
    ['wrong id', (q) => reply(q, { id: (q.id! + 1) & 0xffff }), /another id/],
    ['wrong question', (q) => reply(q, { questions: [{ type: 'A', name: 'b.test' }] }), /another question/],
    ['short garbage', () => Buffer.from('hello'), /shorter than a DNS header/],
    ['garbage with our id', (q) => Buffer.concat([reply(q).subarray(0, 12), Buffer.from([0xc0, 0xff, 0xff, 0xff])]), /malformed/],
    ['a query, not a reply', (q) => packet.encode({ type: 'query', id: q.id, questions: q.questions }), /a query instead of a reply/],
    ['a header announcing 60000 records', (q) => { const b = reply(q); b.writeUInt16BE(60000, 6); return b; }, /announcing 60001 records/],
  ];
  await Promise.all(cases.map(async ([name, bad, why]) => {
    const { server, client } = await withServer(t, { udp: (q) => [bad(q)] });
    const a = await client.query('a.test', 'A', deadline());
    t.equal(a.rcode, 'TIMEOUT', name);
    t.equal(a.security, 'indeterminate', name);
    t.match(a.error, why, name);
    t.match(a.error, /no reply after 2 tries/, name);
    t.equal(server.seen.length, 2, `${name}: one retry`);
  }));
});

t.test('TCP: a length that lies, a flood of frames, a connection closed at once', async (t) => {
  const tc = (q: Decoded) => [reply(q, { flags: packet.TRUNCATED_RESPONSE })];
  const cases: Array<[string, Scripts['tcp'], string, RegExp]> = [
    ['announces more than it sends, then closes', (q, s) => s.end(framed(reply(q), 5000)), 'ERROR', /closed before a reply.*of the 5000 bytes announced/],
    ['announces more than it sends, then waits', (q, s) => s.write(framed(reply(q), 5000)), 'TIMEOUT', /no reply/],
    ['announces less than the message', (q, s) => s.end(framed(reply(q, { answers: [A('a.test', '192.0.2.1')] }), 20)), 'ERROR', /closed before a reply/],
    ['floods frames for other ids', (q, s) => {
      const other = framed(reply(q, { id: (q.id! + 1) & 0xffff, answers: Array.from({ length: 2000 }, () => A('a.test', '192.0.2.9')) }));
      const write = () => { while (!s.destroyed && s.write(other)); };
      s.on('drain', write);
      write();
    }, 'ERROR', new RegExp(`more than ${MAX_TCP_BYTES} bytes`)],
    ['closes at once', undefined, 'ERROR', /closed before a reply/],
  ];
  for (const [name, tcp, rcode, why] of cases) {
    const { client } = await withServer(t, { udp: tc, ...(tcp ? { tcp } : {}) });
    const a = await client.query('a.test', 'A', deadline());
    t.equal(a.rcode, rcode, name);
    t.match(a.error, why, name);
  }
});

t.test('silence: the deadline ends the query, and no socket is left open', async (t) => {
  const server = await fakeDns({});
  t.teardown(() => server.close());
  const before = await settledSockets('udp');
  const client = createDnsClient(server, { tryTimeoutMs: 60_000 });
  const started = Date.now();
  const a = await client.query('a.test', 'A', AbortSignal.timeout(200));
  t.equal(a.rcode, 'TIMEOUT');
  t.match(a.error, /deadline passed/);
  t.ok(Date.now() - started < 5000, 'the per-try timeout of a minute did not hold the query');
  t.equal(await settledSockets('udp'), before, 'the UDP socket was closed');
  t.equal(server.seen.length, 1, 'no retry after the deadline');

  const aborted = new AbortController();
  aborted.abort();
  const b = await client.query('a.test', 'A', aborted.signal);
  t.equal(b.rcode, 'TIMEOUT');
  t.equal(server.seen.length, 1, 'nothing sent once the deadline has passed');
});

t.test('a TCP try cut by the deadline leaves no socket', async (t) => {
  const server = await fakeDns({ udp: (q) => [reply(q, { flags: packet.TRUNCATED_RESPONSE })], tcp: () => undefined });
  t.teardown(() => server.close());
  const before = await settledSockets('tcp');
  const a = await createDnsClient(server, { tryTimeoutMs: 60_000 }).query('a.test', 'A', AbortSignal.timeout(300));
  t.equal(a.rcode, 'TIMEOUT');
  t.equal(await settledSockets('tcp'), before, 'the TCP socket was closed');
});

t.test('a closed port is an ERROR, a name that cannot be sent is an ERROR without a packet', async (t) => {
  const server = await fakeDns({});
  const port = server.port;
  await server.close();
  const a = await createDnsClient({ address: '127.0.0.1', port }, { tryTimeoutMs: 1000 }).query('a.test', 'A', deadline());
  t.equal(a.rcode, 'ERROR');
  t.match(a.error, /ECONNREFUSED/);
  const { server: s2, client } = await withServer(t, { udp: (q) => [reply(q)] });
  for (const bad of ['a..test', `${'x'.repeat(64)}.test`, 'ü.test', 'a b.test', `${'abc.'.repeat(64)}test`]) {
    const b = await client.query(bad, 'A', deadline());
    t.equal(b.rcode, 'ERROR', bad);
    t.match(b.error, /the name/, bad);
  }
  t.equal(s2.seen.length, 0);
});

t.test('security from RCODE, AD and EDE', async (t) => {
  const cases: Array<[string, Partial<packet.Packet> & { rcode?: string }, string]> = [
    ['NXDOMAIN with AD', { rcode: 'NXDOMAIN', flags: packet.AUTHENTIC_DATA }, 'secure'],
    ['NXDOMAIN without AD', { rcode: 'NXDOMAIN' }, 'insecure'],
    ['SERVFAIL with EDE 6 (DNSSEC Bogus)', { rcode: 'SERVFAIL', additionals: [ede(6, 'validation failure')] }, 'bogus'],
    ['SERVFAIL with EDE 7 (Signature Expired)', { rcode: 'SERVFAIL', additionals: [ede(7)] }, 'bogus'],
    ['SERVFAIL with EDE 22 (No Reachable Authority)', { rcode: 'SERVFAIL', additionals: [ede(22)] }, 'indeterminate'],
    ['SERVFAIL without EDE', { rcode: 'SERVFAIL' }, 'indeterminate'],
    ['REFUSED', { rcode: 'REFUSED' }, 'indeterminate'],
  ];
  for (const [name, over, security] of cases) {
    const { client } = await withServer(t, { udp: (q) => [reply(q, over)] });
    const a = await client.query('a.test', 'A', deadline());
    t.equal(a.security, security, name);
    t.equal(a.rcode, over.rcode, name);
  }
});

t.test('CNAME chains: followed to the asked type, loops stop, asking CNAME gives the CNAME', async (t) => {
  const cname = (name: string, target: string) => ({ type: 'CNAME' as const, name, ttl: 1, data: target });
  const { client } = await withServer(t, {
    udp: (q) => [reply(q, {
      answers: q.questions![0]!.name === 'loop.test'
        ? [cname('loop.test', 'b.test'), cname('b.test', 'loop.test')]
        : [cname('www.test', 'B.test.'), cname('b.test', 'c.test'), A('c.test', '192.0.2.3'), A('www.test', '192.0.2.66')],
    })],
  });
  const a = await client.query('www.test', 'A', deadline());
  t.same(a.cnames, ['b.test', 'c.test']);
  t.same(a.records, [{ address: '192.0.2.3' }]);
  const loop = await client.query('loop.test', 'A', deadline());
  t.same(loop.cnames, ['b.test', 'loop.test']);
  t.same(loop.records, []);
  const c = await client.query('www.test', 'CNAME', deadline());
  t.same(c.records, [{ target: 'b.test' }]);
  t.same(c.cnames, []);
});

t.test('record shapes: MX, TLSA, SOA, DS, DNSKEY, AAAA, TXT', async (t) => {
  const answers: Record<string, packet.Answer[]> = {
    MX: [{ type: 'MX', name: 'd.test', ttl: 1, data: { preference: 10, exchange: 'MX1.D.test.' } }],
    TLSA: [{ type: 'TLSA', name: 'd.test', ttl: 1, data: { usage: 3, selector: 1, matchingType: 1, certificate: Buffer.from('9F86', 'hex') } }],
    SOA: [{ type: 'SOA', name: 'd.test', ttl: 1, data: { mname: 'NS.test.', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 1 } }],
    DS: [{ type: 'DS', name: 'd.test', ttl: 1, data: { keyTag: 4242, algorithm: 13, digestType: 2, digest: Buffer.alloc(32) } }],
    DNSKEY: [{ type: 'DNSKEY', name: 'd.test', ttl: 1, data: { flags: 257, algorithm: 13, key: Buffer.alloc(64) } }],
    AAAA: [{ type: 'AAAA', name: 'd.test', ttl: 1, data: '2001:db8::1' }],
    TXT: [{ type: 'TXT', name: 'd.test', ttl: 1, data: [Buffer.from('caf\xc3', 'latin1'), Buffer.from('\xa9', 'latin1')] }],
    NS: [{ type: 'NS', name: 'd.test', ttl: 1, data: 'ns.test' }],
  };
  const { client } = await withServer(t, { udp: (q) => [reply(q, { answers: answers[q.questions![0]!.type]! })] });
  const s = deadline();
  t.same((await client.query('d.test', 'MX', s)).records, [{ preference: 10, exchange: 'mx1.d.test' }]);
  t.same((await client.query('d.test', 'TLSA', s)).records, [{ usage: 3, selector: 1, matchingType: 1, data: '9f86' }]);
  t.same((await client.query('d.test', 'SOA', s)).records, [{ mname: 'ns.test' }]);
  t.same((await client.query('d.test', 'DS', s)).records, [{ keyTag: 4242 }]);
  t.same((await client.query('d.test', 'DNSKEY', s)).records, [{ flags: 257 }]);
  t.same((await client.query('d.test', 'AAAA', s)).records, [{ address: '2001:db8::1' }]);
  t.same((await client.query('d.test', 'TXT', s)).records, [{ text: 'café' }], 'a UTF-8 sequence split over two character-strings');
  t.same((await client.query('d.test', 'NS' as 'A', s)).records, [], 'a type without a record shape gives no records');
});

t.test('checkValidating: the top-level zone, then the root; null when nothing conclusive came', async (t) => {
  const root = await withServer(t, { udp: (q) => [reply(q, { flags: q.questions![0]!.name === '.' ? packet.AUTHENTIC_DATA : 0 })] });
  t.equal(await checkValidating(root.client, 'Example.COM.', deadline()), true);
  t.same(root.server.seen.map((s) => s.query.questions![0]), [{ name: 'com', type: 'DNSKEY', class: 'IN' }, { name: '.', type: 'DNSKEY', class: 'IN' }]);
  const plain = await withServer(t, { udp: (q) => [reply(q)] });
  t.equal(await checkValidating(plain.client, 'example.com', deadline()), false);
  const failing = await withServer(t, { udp: (q) => [reply(q, { rcode: 'SERVFAIL' })] });
  t.equal(await checkValidating(failing.client, 'example.com', deadline()), null);
  const silent = await fakeDns({});
  t.teardown(() => silent.close());
  t.equal(await checkValidating(createDnsClient(silent, { tryTimeoutMs: 50 }), 'example.com', deadline()), null);
});

t.test('parseResolverAddress: IP, IP:PORT, [v6]:PORT, nothing else', async (t) => {
  t.same(parseResolverAddress('127.0.0.1'), { address: '127.0.0.1', port: 53 });
  t.same(parseResolverAddress('127.0.0.1:5353'), { address: '127.0.0.1', port: 5353 });
  t.same(parseResolverAddress('::1'), { address: '::1', port: 53 });
  t.same(parseResolverAddress('2001:DB8:0::1'), { address: '2001:db8::1', port: 53 });
  t.same(parseResolverAddress('[2001:db8::1]:853'), { address: '2001:db8::1', port: 853 });
  for (const bad of ['', 'dns.example', 'dns.example:53', '127.0.0.1:', '127.0.0.1:0', '127.0.0.1:65536', '127.0.0.1:053', '127.0.0.1:53x',
    '[127.0.0.1]:53', '[::1]', '[::1]:', 'fe80::1%eth0', '127.1', '127.0.0.1:53:53', ' 127.0.0.1']) {
    t.throws(() => parseResolverAddress(bad), { message: /--resolver, dns\.resolver/ }, JSON.stringify(bad));
  }
  t.throws(() => parseResolverAddress('127.0.0.1:99999'), { message: /port "99999"/ });
  t.equal(resolverText({ address: '::1', port: 53 }), '[::1]:53');
  t.equal(resolverText({ address: '127.0.0.1', port: 53 }), '127.0.0.1:53');
});

t.test('resolverFromResolvConf: the first usable nameserver', async (t) => {
  t.same(resolverFromResolvConf('# generated\nsearch example.com\nnameserver 10.0.0.2\nnameserver 10.0.0.3\n'), { address: '10.0.0.2', port: 53 });
  t.same(resolverFromResolvConf('nameserver fe80::1%eth0\n nameserver\t2001:db8::53 # v6\n'), { address: '2001:db8::53', port: 53 });
  t.same(resolverFromResolvConf(';nameserver 10.0.0.9\r\nnameserver 10.0.0.1\r\n'), { address: '10.0.0.1', port: 53 });
  t.equal(resolverFromResolvConf('options edns0\nnameserver dns.example\n'), null);
  t.equal(resolverFromResolvConf(''), null);
});
