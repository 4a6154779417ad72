/**
 * The host grammar (pure): what is an IP literal, what is a DNS name, and everything a lenient
 * parser would read as an address being refused as neither.
 */
import { isIP } from 'node:net';
import t from 'tap';
import { parseDnsName, parseHost, parseHostPort, parseServerName } from '../../src/probe/host.js';
import { ipVersion } from '../../src/probe/ip.js';

const ok = <T>(r: { ok: true; value: T } | { ok: false; problem: string }): T => {
  if (!r.ok) throw new Error(r.problem);
  return r.value;
};

t.test('IP literals: canonical forms only, IPv6 written out in RFC 5952 form', async (t) => {
  const table: Array<[string, string, 4 | 6]> = [
    ['192.0.2.1', '192.0.2.1', 4],
    ['0.0.0.0', '0.0.0.0', 4],
    ['::1', '::1', 6],
    ['0:0:0:0:0:0:0:1', '::1', 6],
    ['2001:DB8::0:1', '2001:db8::1', 6],
    ['::ffff:127.0.0.1', '::ffff:7f00:1', 6],
  ];
  for (const [text, address, family] of table) {
    const host = ok(parseHost(text));
    t.same({ ...host }, { kind: 'ip', family, address }, text);
  }
  for (const text of ['127.1', '0177.0.0.1', '0x7f.0.0.1', '2130706433', '127.0.0.1.', '01.2.3.4', '::1%lo', 'fe80::1%eth0', '1::2::3', '::ffff:127.1']) {
    t.notOk(parseHost(text).ok, `${text} is refused`);
  }
});

t.test('DNS names: LDH labels after IDNA, lengths, no number as the last label', async (t) => {
  t.equal(ok(parseDnsName('Mail.Example.COM.')), 'mail.example.com', 'lower case, trailing dot dropped');
  t.equal(ok(parseDnsName('bücher.example')), 'xn--bcher-kva.example', 'U-label to A-label');
  t.equal(ok(parseDnsName('xn--bcher-kva.example')), 'xn--bcher-kva.example');
  t.equal(ok(parseDnsName('SERVER1')), 'server1', 'a single label is a name');
  t.equal(ok(parseDnsName('0xdeadbeef.example')), '0xdeadbeef.example', 'only the last label must not be a number');
  t.equal(ok(parseDnsName('1.example')), '1.example');
  const longest = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(61)}`;
  t.equal(longest.length, 253);
  t.equal(ok(parseDnsName(longest)), longest, '253 octets is the limit');
  const refused: Array<[string, RegExp]> = [
    ['', /empty/],
    [`${longest}x`, /longer than 253/],
    [`${'a'.repeat(64)}.example`, /longer than 63/],
    ['a..example', /empty label/],
    ['-a.example', /not letters, digits and inner hyphens/],
    ['a-.example', /inner hyphens/],
    ['a_b.example', /contains "_"/],
    ['a#b', /contains "#"/],
    ['a%2eb', /contains "%"/],
    ['a b', /contains " "/],
    ['a\r\nb', /contains "\\r"/],
    ['a\u0000b', /contains "\\u0000"/],
    ['a\u00adb.example', /control, format or space/],
    ['a\u3000b.example', /control, format or space/],
    ['xn--zz.example', /not valid Punycode/],
    ['127.0.0.1', /ends in a number/],
    ['a.0x10', /ends in a number/],
    ['１２７.０.０.１', /ends in a number/],
  ];
  for (const [text, why] of refused) {
    const r = parseDnsName(text);
    t.equal(r.ok, false, JSON.stringify(text));
    if (!r.ok) t.match(r.problem, why, JSON.stringify(text));
  }
});

t.test('host:port and [v6]:port', async (t) => {
  const show = (text: string) => {
    const r = parseHostPort(text);
    return r.ok ? { host: { ...r.value.host }, port: r.value.port } : r.problem;
  };
  t.same(show('mail.example.com:2525'), { host: { kind: 'name', name: 'mail.example.com' }, port: 2525 });
  t.same(show('[2001:db8::1]:25'), { host: { kind: 'ip', family: 6, address: '2001:db8::1' }, port: 25 });
  t.same(show('[::1]'), { host: { kind: 'ip', family: 6, address: '::1' }, port: undefined });
  t.same(show('::1:25'), { host: { kind: 'ip', family: 6, address: '::1:25' }, port: undefined }, 'a bare IPv6 address has no port');
  t.same(show('192.0.2.1:587'), { host: { kind: 'ip', family: 4, address: '192.0.2.1' }, port: 587 });
  for (const text of ['a.test:0', 'a.test:65536', 'a.test:025', 'a.test:', ':25', 'a.test:25:26', '[192.0.2.1]:25', '[a.test]', '[::1]x', '[::1]:']) {
    t.type(show(text), 'string', `${text} is refused`);
  }
});

t.test('server names: DNS names only', async (t) => {
  t.equal(ok(parseServerName('Bücher.Example.')), 'xn--bcher-kva.example');
  t.match(parseServerName('192.0.2.1'), { ok: false, problem: /RFC 6066/ });
  t.match(parseServerName('::1'), { ok: false });
  t.match(parseServerName('a\nb'), { ok: false });
});

t.test('ipVersion answers exactly as node:net isIP, without running its IPv6 expression on names', async (t) => {
  const texts = [
    '192.0.2.1', '0.0.0.0', '255.255.255.255', '256.1.1.1', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1..2.3', '.1.2.3', '1.2.3.4 ', ' 1.2.3.4',
    '\u0661.2.3.4', '1.2.3.4\n', '::', '::1', '1::', '2001:db8::1', '2001:DB8:0:0:0:0:0:1', '::ffff:127.0.0.1', 'fe80::1%eth0', 'fe80::1%',
    '1:2:3:4:5:6:7:8:9', ':::', '[::1]', 'mail.example.com', 'xn--bcher-kva.example', 'b\u00fccher.example', '', '.', '12345', '1e3', '0x7f.1.1.1', 'localhost',
  ];
  for (const text of texts) t.equal(ipVersion(text), isIP(text), JSON.stringify(text));
});
