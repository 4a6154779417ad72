/**
 * The MTA-STS texts as a sender reads them (RFC 8461): MX patterns (anchored, one wildcard
 * label, A-labels), the `_mta-sts` TXT record and the policy body. Pure functions, tables.
 */
import t from 'tap';
import { coveringPattern, mxPatternMatches, parseMxPattern } from '../../../src/probe/domain/mx-pattern.js';
import { judgeStsRecord, parseStsRecord } from '../../../src/probe/domain/mta-sts-record.js';
import { MAX_AGE_LIMIT, parseMtaStsPolicy } from '../../../src/probe/domain/mta-sts-policy.js';
import type { DnsAnswer } from '../../../src/probe/dns/types.js';

t.test('mx patterns: anchored, case-insensitive, one wildcard label, A-labels', async (t) => {
  const table: Array<[pattern: string, host: string, matches: boolean, why: string]> = [
    ['mail.example.com', 'mail.example.com', true, 'exact'],
    ['mail.example.com', 'MAIL.Example.COM', true, 'case-insensitive'],
    ['mail.example.com.', 'mail.example.com', true, 'trailing dot on the pattern'],
    ['mail.example.com', 'mail.example.com.', true, 'trailing dot on the host'],
    ['Mail.Example.Com', 'mail.example.com', true, 'case in the pattern'],
    ['mail.example.com', 'mail.example.com.evil.net', false, 'anchored at the end (checkdmarc)'],
    ['mail.example.com', 'evilmail.example.com', false, 'anchored at the start'],
    ['mail.example.com', 'x.mail.example.com', false, 'no implicit subdomains'],
    ['example.com', 'mail.example.com', false, 'a plain pattern is not a suffix'],
    ['*.example.net', 'mx1.example.net', true, 'wildcard covers one label'],
    ['*.example.net', 'MX1.EXAMPLE.NET.', true, 'wildcard, case and trailing dot'],
    ['*.example.net', 'example.net', false, 'wildcard needs one label'],
    ['*.example.net', 'a.b.example.net', false, 'wildcard covers exactly one label (checkdmarc)'],
    ['*.example.net', 'mx1.example.net.evil.org', false, 'wildcard anchored at the end'],
    ['*.example.net', 'mx1.notexample.net', false, 'label boundary'],
    ['*.example.net', 'mx1example.net', false, 'no label at all'],
    ['mx*.example.net', 'mx1.example.net', false, 'partial wildcard is no pattern'],
    ['*.*.example.net', 'a.b.example.net', false, 'two wildcards are no pattern'],
    ['a.*.example.net', 'a.b.example.net', false, 'wildcard not left-most'],
    ['bücher.example', 'xn--bcher-kva.example', true, 'U-label pattern against the A-label host'],
    ['xn--bcher-kva.example', 'BÜCHER.example', true, 'U-label host against the A-label pattern'],
    ['*.bücher.example', 'mx.xn--bcher-kva.example', true, 'U-label under a wildcard'],
    ['192.0.2.1', '192.0.2.1', false, 'an IP literal is never a pattern'],
    ['', 'mail.example.com', false, 'empty pattern'],
    ['*.', 'mail', false, 'bare wildcard'],
    ['mail.example.com', '', false, 'empty host'],
  ];
  for (const [pattern, host, matches, why] of table) t.equal(mxPatternMatches(pattern, host), matches, `${pattern} vs ${host}: ${why}`);
  t.equal(coveringPattern(['mx.other.test', '*.example.net', 'mail.example.net'], 'mail.example.net'), '*.example.net', 'the first covering pattern, as written');
  t.equal(coveringPattern(['mail.example.com'], 'mail.example.com.evil.net'), null);
  t.equal(coveringPattern([], 'mail.example.com'), null);
  t.match(parseMxPattern('[192.0.2.1]'), { ok: false, problem: /IP address/ });
  t.match(parseMxPattern('2001:db8::25'), { ok: false, problem: /IP address/ });
  t.match(parseMxPattern('mail_1.example.com'), { ok: false, problem: /"mail_1\.example\.com" contains "_"/ });
  t.same(parseMxPattern('*.Example.NET.'), { ok: true, value: { wildcard: true, name: 'example.net' } });
});

const txt = (records: string[], rcode = 'NOERROR'): DnsAnswer<'TXT'> => ({
  name: '_mta-sts.example.com',
  type: 'TXT',
  rcode,
  ad: false,
  security: 'insecure',
  ede: [],
  records: records.map((text) => ({ text })),
  cnames: [],
  server: '127.0.0.1:53',
});

t.test('the _mta-sts record: exact v=STSv1, one record, an id of 1 to 32 alphanumerics', async (t) => {
  const valid: Array<[string, string]> = [
    ['v=STSv1; id=20240101T000000', '20240101T000000'],
    ['v=STSv1;id=abc', 'abc'],
    ['v=STSv1; id=abc;', 'abc'],
    ['v=STSv1 ; id=abc ; ', 'abc'],
    ['v=STSv1;\tid=abc;\t', 'abc'],
    ['v=STSv1; id=a; ext_1=value.x', 'a'],
    ['v=STSv1; foo=bar; id=Z9', 'Z9'],
    [`v=STSv1; id=${'a'.repeat(32)}`, 'a'.repeat(32)],
  ];
  for (const [text, id] of valid) t.same(parseStsRecord(text), { ok: true, id }, text);
  const invalid: Array<[string, RegExp]> = [
    ['v=STSv1', /no field/],
    ['v=STSv1;', /no field/],
    ['v=STSv1; ', /no field/],
    ['v=STSv1 id=abc', /after v=STSv1 where ';' must follow/],
    ['v=STSv1; id=', /value that is empty/],
    ['v=STSv1; id=abc-123', /id must be 1 to 32 letters and digits/],
    ['v=STSv1; id=abc_123', /id must be 1 to 32 letters and digits/],
    [`v=STSv1; id=${'a'.repeat(33)}`, /id must be 1 to 32/],
    ['v=STSv1; id=abc def', /ends with white space|value that is empty or holds a space/],
    ['v=STSv1; id=abc ', /ends with white space without a ';'/],
    ['v=STSv1; ext=1', /has no id field/],
    ['v=STSv1; id=a; id=b', /field id twice/],
    ['v=STSv1;; id=abc', /empty field/],
    ['v=STSv1; id=abc; =x', /not a name=value field/],
    ['v=STSv1; id=abc; flag', /not a name=value field/],
  ];
  for (const [text, problem] of invalid) t.match(parseStsRecord(text), { ok: false, problem }, text);

  t.same(judgeStsRecord(txt(['v=STSv1; id=abc'])), { rcode: 'NOERROR', dnssec: 'insecure', raw: ['v=STSv1; id=abc'], status: 'valid', id: 'abc' });
  t.match(judgeStsRecord(txt(['v=spf1 -all', 'v=STSv1; id=abc', 'google-site-verification=x'])), { status: 'valid', id: 'abc' }, 'other TXT records are ignored');
  const two = judgeStsRecord(txt(['v=STSv1; id=abc', 'v=STSv1; id=def']));
  t.match(two, { status: 'multiple', problem: /2 records start with v=STSv1/ }, 'two records: no policy (Hardenize passed this)');
  t.equal(two.id, undefined);
  t.match(judgeStsRecord(txt(['v=STSv1; id=abc', 'v=STSv1; id=abc'])), { status: 'multiple' }, 'even when identical');
  t.match(judgeStsRecord(txt(['v=STSv1; id=abc', 'v=STSv10; id=def'])), { status: 'valid', id: 'abc' }, 'v=STSv10 is not this version');
  t.match(judgeStsRecord(txt(['v=STSv1; id=bad-id'])), { status: 'invalid', problem: /id must be/ });
  t.match(judgeStsRecord(txt(['V=stsv1; id=abc'])), { status: 'invalid', problem: /does not start with exactly "v=STSv1" \(case/ }, 'wrong case: senders ignore it, the publisher is told');
  t.match(judgeStsRecord(txt([' v=STSv1; id=abc'])), { status: 'invalid' }, 'a leading space');
  t.match(judgeStsRecord(txt(['v = STSv1; id=abc'])), { status: 'invalid' }, 'spaces around =');
  t.match(judgeStsRecord(txt(['v=STSv10; id=abc'])), { status: 'absent' }, 'another version is not a near miss');
  t.same(judgeStsRecord(txt([], 'NXDOMAIN')), { rcode: 'NXDOMAIN', dnssec: 'insecure', raw: [], status: 'absent' });
  t.match(judgeStsRecord(txt(['v=spf1 -all'])), { status: 'absent' }, 'NODATA for this version');
  for (const rcode of ['SERVFAIL', 'TIMEOUT', 'REFUSED', 'ERROR']) {
    t.match(judgeStsRecord(txt([], rcode)), { status: 'error', problem: new RegExp(`failed \\(${rcode}`) }, `${rcode} is an error, never absent`);
  }
});

t.test('the policy body: key: value lines, LF or CRLF, the fields checked and named with their line', async (t) => {
  const enforce = 'version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n';
  const policy = { version: 'STSv1', mode: 'enforce', maxAge: 604800, mx: ['mail.example.com', '*.example.net'] };
  t.same(parseMtaStsPolicy(enforce), { ok: true, policy }, 'LF');
  t.same(parseMtaStsPolicy(enforce.replace(/\n/g, '\r\n')), { ok: true, policy }, 'CRLF');
  t.same(parseMtaStsPolicy(enforce.trimEnd()), { ok: true, policy }, 'no final line break');
  t.same(parseMtaStsPolicy('version: STSv1\r\nmode: enforce\nmx: mail.example.com\r\nmx: *.example.net\nmax_age: 604800'), { ok: true, policy }, 'mixed');
  t.same(parseMtaStsPolicy('version:STSv1\nmode:\tenforce  \nmx:   mail.example.com\nmx: *.example.net\nmax_age: 604800\n'), { ok: true, policy }, 'white space around values');
  t.same(parseMtaStsPolicy(`${enforce}x_extension: anything at all\nfuture.key: 1\n`), { ok: true, policy }, 'unknown keys are ignored');
  t.same(parseMtaStsPolicy('max_age: 86400\nmx: *.example.net\nmx: mail.example.com\nmode: enforce\nversion: STSv1\n'), {
    ok: true,
    policy: { ...policy, maxAge: 86400, mx: ['*.example.net', 'mail.example.com'] },
  }, 'any order');
  t.same(parseMtaStsPolicy('version: STSv1\nmode: none\nmax_age: 0\n'), { ok: true, policy: { version: 'STSv1', mode: 'none', maxAge: 0, mx: [] } }, 'none needs no mx; max_age 0');
  t.same(parseMtaStsPolicy(`version: STSv1\nmode: testing\nmx: mx.example.com\nmax_age: ${MAX_AGE_LIMIT}\n`), {
    ok: true,
    policy: { version: 'STSv1', mode: 'testing', maxAge: 31557600, mx: ['mx.example.com'] },
  }, 'testing; the largest max_age');

  const invalid: Array<[string, string[]]> = [
    ['version: STSv1\nmode: enforce\nmax_age: 604800\n', ['mx: missing; mode enforce needs at least one mx line']],
    ['version: STSv1\nmode: testing\nmax_age: 604800\n', ['mx: missing; mode testing needs at least one mx line']],
    ['version: STSv1\nmode: enforce\nmx: 192.0.2.25\nmax_age: 604800\n', ['line 3: mx "192.0.2.25" is an IP address; mx patterns name hosts']],
    ['version: STSv1\nmode: enforce\nmx: [2001:db8::25]\nmax_age: 604800\n', ['line 3: mx "[2001:db8::25]" is an IP address; mx patterns name hosts']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 31557601\n', ['line 4: max_age "31557601" is not a whole number of seconds from 0 to 31557600']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: -1\n', ['line 4: max_age "-1" is not a whole number of seconds from 0 to 31557600']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 1e5\n', ['line 4: max_age "1e5" is not a whole number of seconds from 0 to 31557600']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 86400.0\n', ['line 4: max_age "86400.0" is not a whole number of seconds from 0 to 31557600']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 0x100\n', ['line 4: max_age "0x100" is not a whole number of seconds from 0 to 31557600']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: \n', ['line 4: max_age "" is not a whole number of seconds from 0 to 31557600']],
    ['version: STSv2\nmode: enforce\nmx: mail.example.com\nmax_age: 1\n', ['line 1: version "STSv2" is not STSv1']],
    ['version: STSv1\nmode: Enforce\nmx: mail.example.com\nmax_age: 1\n', ['line 2: mode "Enforce" is not enforce, testing or none']],
    ['version: STSv1\nmode: reject\nmx: mail.example.com\nmax_age: 1\n', ['line 2: mode "reject" is not enforce, testing or none']],
    ['version: STSv1\nMode: enforce\nmx: mail.example.com\nmax_age: 1\n', ['mode: missing (keys are case-sensitive: line 2 has "Mode")']],
    ['mode: enforce\nmx: mail.example.com\nmax_age: 1\n', ['version: missing']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\n', ['max_age: missing']],
    ['version: STSv1\nmode: enforce\nmode: none\nmx: mail.example.com\nmax_age: 1\n', ['line 3: mode appears again (first on line 2); senders may read either']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 1\nthis line has no colon\n', ['line 5: "this line has no colon" is not a "key: value" line']],
    ['version: STSv1\nmode: enforce\nmx: mail.example.com\nmax_age: 1\n mx: other.example.com\n', ['line 5: " mx: other.example.com" is not a "key: value" line']],
    ['version: STSv1\nmode: enforce\nmx: *.*.example.com\nmax_age: 1\n', ['line 3: mx "*.*.example.com" contains "*", which is not allowed in a host name']],
    ['', ['version: missing', 'mode: missing', 'max_age: missing']],
  ];
  for (const [body, problems] of invalid) t.same(parseMtaStsPolicy(body), { ok: false, problems }, JSON.stringify(body));
  const blank = parseMtaStsPolicy('\nversion: STSv1\n\nmode: none\n   \nmax_age: 5\n\n');
  t.match(blank, { ok: true }, 'blank lines are tolerated');
});
