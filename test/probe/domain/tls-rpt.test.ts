/**
 * TLS-RPT (RFC 8460 §3): exactly one v=TLSRPTv1 record with mailto:/https: rua URIs; a
 * failed lookup is never reported as "missing".
 */
import t from 'tap';
import { checkTlsRpt, parseTlsRptRecord, ruaProblem } from '../../../src/probe/domain/tls-rpt.js';
import { answeringDns, type Answer } from '../../helpers/dns-answers.js';

const NAME = '_smtp._tls.example.com';
const run = (txt: Answer | undefined) =>
  checkTlsRpt('example.com', answeringDns(txt ? { [`${NAME} TXT`]: txt } : {}, { security: 'insecure', missing: { rcode: 'NXDOMAIN' } }), AbortSignal.timeout(2000));
const codes = (r: { reasons: Array<{ code: string; severity: string }> }) => r.reasons.map((x) => `${x.code}/${x.severity}`);

t.test('a valid record: the rua URIs, no reason', async (t) => {
  const one = await run({ records: ['v=TLSRPTv1; rua=mailto:tlsrpt@example.com'], security: 'secure' });
  t.same(one.facts, { status: 'valid', rcode: 'NOERROR', dnssec: 'secure', raw: ['v=TLSRPTv1; rua=mailto:tlsrpt@example.com'], rua: ['mailto:tlsrpt@example.com'] });
  t.same(one.reasons, []);
  const two = await run({ records: ['v=spf1 -all', 'v=TLSRPTv1;rua=mailto:a@example.com, https://reports.example.net/tlsrpt;'] });
  t.same(two.facts.rua, ['mailto:a@example.com', 'https://reports.example.net/tlsrpt'], 'comma-separated, white space around the comma');
  t.equal(two.facts.status, 'valid');
  const ext = await run({ records: ['v=TLSRPTv1; ext=1; rua=MAILTO:r@example.com;'] });
  t.same(ext.facts.rua, ['MAILTO:r@example.com'], 'unknown fields ignored, scheme case-insensitive');
});

t.test('absent, invalid, two records and a failed lookup are told apart', async (t) => {
  const absent = await run(undefined);
  t.match(absent.facts, { status: 'absent', rcode: 'NXDOMAIN', rua: [] });
  t.same(codes(absent), ['tls_rpt_missing/warning']);
  const other = await run({ records: ['v=spf1 -all'] });
  t.match(other.facts, { status: 'absent', rcode: 'NOERROR' }, 'no record of this version');
  t.same(codes(other), ['tls_rpt_missing/warning']);

  const twice = await run({ records: ['v=TLSRPTv1; rua=mailto:a@example.com', 'v=TLSRPTv1; rua=mailto:b@example.com'] });
  t.match(twice.facts, { status: 'multiple', rua: [], problem: /2 records start with v=TLSRPTv1/ });
  t.same(codes(twice), ['tls_rpt_invalid/warning']);

  for (const rcode of ['SERVFAIL', 'TIMEOUT'] as const) {
    const failed = await run({ rcode, error: 'no answer' });
    t.match(failed.facts, { status: 'error', rcode, rua: [] }, `${rcode} is an error`);
    t.same(codes(failed), ['tls_rpt_invalid/unknown'], `${rcode}: not tls_rpt_missing`);
    t.match(failed.reasons[0]?.message, new RegExp(`lookup of ${NAME.replace(/\./g, '\\.')} TXT failed \\(${rcode}: no answer\\)`));
  }
  const bogus = await run({ rcode: 'SERVFAIL', security: 'bogus', ede: [{ code: 6, text: 'DNSSEC Bogus' }] });
  t.match(bogus.facts, { status: 'error', dnssec: 'bogus' });
  t.match(bogus.reasons[0]?.message, /TXT failed \(SERVFAIL, EDE 6 DNSSEC Bogus, DNSSEC validation failed\)/, 'a DNSSEC failure is told from an outage');

  const badRua = await run({ records: ['v=TLSRPTv1; rua=ftp://reports.example.com/'] });
  t.match(badRua.facts, { status: 'invalid', rua: [], problem: /"ftp:\/\/reports\.example\.com\/" is neither a mailto: nor an https: URI/ });
  t.same(codes(badRua), ['tls_rpt_invalid/warning']);
  t.match(badRua.reasons[0]?.message, /^_smtp\._tls\.example\.com: the record has rua/);
});

t.test('the record grammar and the rua URIs', async (t) => {
  const invalid: Array<[string, RegExp]> = [
    ['v=TLSRPTv1', /no field/],
    ['v=TLSRPTv1;', /no field/],
    ['v=TLSRPTv1; ext=1', /no rua field/],
    ['v=TLSRPTv1; rua=mailto:a@example.com; rua=mailto:b@example.com', /field rua twice/],
    ['v=TLSRPTv1; rua=', /value that is empty/],
    ['v=TLSRPTv1; rua=mailto:a@example.com,', /empty URI/],
    ['v=TLSRPTv1; rua=mailto:a@example.com,,https://r.example.com/', /empty URI/],
    ['v=TLSRPTv1; rua=a@example.com', /neither a mailto: nor an https: URI/],
    ['v=TLSRPTv1; rua=http://r.example.com/', /neither a mailto: nor an https: URI/],
    ['v=TLSRPTv1; rua=mailto:', /not mailto: followed by one address/],
    ['v=TLSRPTv1; rua=mailto:nobody', /not mailto: followed by one address/],
    ['v=TLSRPTv1; rua=mailto:a@-bad-.example', /not mailto: followed by one address/],
    ['v=TLSRPTv1; rua=https:reports', /not a valid https: URL/],
    ['v=TLSRPTv1; rua=https://', /not a valid https: URL/],
    ['v=TLSRPTv1 rua=mailto:a@example.com', /where ';' must follow/],
  ];
  for (const [text, problem] of invalid) t.match(parseTlsRptRecord(text), { ok: false, problem }, text);
  t.same(parseTlsRptRecord('v=TLSRPTv1 ; rua=https://r.example.com/a?b=c ;'), { ok: true, rua: ['https://r.example.com/a?b=c'] });
  t.equal(ruaProblem('mailto:tls-reports+x@sub.example.com'), null);
  t.equal(ruaProblem('https://[2001:db8::1]/r'), null, 'an https URL may name an address');
});

t.test('rua URIs: white space only around commas', async (t) => {
  t.match(parseTlsRptRecord('v=TLSRPTv1; rua=mailto:a b@example.com'), { ok: false, problem: /holds white space/ });
  t.match(parseTlsRptRecord('v=TLSRPTv1; rua=https://r.example.com/\u0001'), { ok: false, problem: /control character/ });
  t.same(parseTlsRptRecord('v=TLSRPTv1; rua=mailto:a@example.com\t,\thttps://r.example.com/'), { ok: true, rua: ['mailto:a@example.com', 'https://r.example.com/'] });
});
