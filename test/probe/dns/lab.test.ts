/**
 * The DNS client against a real validating resolver: Debian's unbound in the test lab, with
 * zones signed at run time. What the resolver says for secure, insecure, bogus, expired and
 * not-yet-valid data is what domain mode reads; these tests pin it down.
 */
import { existsSync } from 'node:fs';
import t from 'tap';
import { checkValidating, createDnsClient } from '../../../src/probe/dns/client.js';
import { dnsLabMissing, startDnsLab, type DnsLab } from '../../helpers/dns-lab.js';

const TLSA_HEX = '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08';
const expires = new Date(Math.floor((Date.now() + 10 * 86_400_000) / 1000) * 1000);

const s = () => AbortSignal.timeout(5000);

const missing = dnsLabMissing();
if (missing && process.env.CI === 'true') t.fail(`CI=true but ${missing}: the DNSSEC lab cannot run (.ci/run installs it)`);
const skip = missing ? `needs the DNS lab: ${missing}` : false;

t.test('one validating lab', { skip }, async (t) => {
  const [lab, plain] = await Promise.all([
    startDnsLab({
      teardown: t.teardown.bind(t),
      zones: [
        {
          origin: 'example.test',
          records: [
            '@ MX 10 mx1', '@ MX 20 mx2',
            'mx1 A 127.0.0.2', 'mx2 A 127.0.0.3', 'mx2 AAAA ::1',
            '_25._tcp.mx1 TLSA 3 1 1 ' + TLSA_HEX,
            '_mta-sts TXT "v=STSv1; " "id=20261128"',
            'www CNAME alias', 'alias CNAME mx1',
          ],
          validity: { inception: new Date(Date.now() - 3_600_000), expiration: expires },
        },
        { origin: 'plain.test', records: ['@ MX 10 mx', 'mx A 127.0.0.4'], dnssec: 'unsigned' },
        { origin: '_tcp.mx2.example.test', records: ['_25 TLSA 3 1 1 ' + TLSA_HEX], dnssec: 'unsigned' },
        { origin: 'sub.example.test', records: ['www A 127.0.0.11'] },
        { origin: 'bogus.test', records: ['mx A 127.0.0.5', 'ok A 127.0.0.6'], tamper: (z) => z.replace(/\t127\.0\.0\.5$/m, '\t127.0.0.99') },
        { origin: 'expired.test', records: ['mx A 127.0.0.7'], dnssec: 'expired' },
        { origin: 'future.test', records: ['mx A 127.0.0.8'], dnssec: 'future' },
        { origin: 'nokey.test', records: ['mx A 127.0.0.9'], tamper: (z) => z.replace(/^.*\tDNSKEY\t.*$/gm, '') },
        { origin: 'nosig.test', records: ['mx A 127.0.0.10'], tamper: (z) => z.replace(/^mx\.nosig\.test\.\t.*\tRRSIG\tA .*$/m, '') },
      ],
    }),
    startDnsLab({ zones: [{ origin: 'example.test', records: ['mx1 A 127.0.0.2'] }], validating: false }),
  ]);
  t.teardown(() => plain.close());
  t.not(lab.server.port, plain.server.port, 'two labs side by side');
  const q = lab.client;

  t.test('secure answers carry AD and the earliest signature expiry', async (t) => {
    const mx = await q.query('Example.TEST.', 'MX', s());
    t.match(mx, { name: 'example.test', rcode: 'NOERROR', ad: true, security: 'secure', ede: [] });
    t.same(mx.records.sort((a, b) => a.preference - b.preference), [{ preference: 10, exchange: 'mx1.example.test' }, { preference: 20, exchange: 'mx2.example.test' }]);
    t.equal(mx.signatureExpires, expires.toISOString());
    const a = await q.query('mx2.example.test', 'AAAA', s());
    t.same(a.records, [{ address: '::1' }]);
    t.equal(a.security, 'secure');
    const tlsa = await q.query('_25._tcp.mx1.example.test', 'TLSA', s());
    t.match(tlsa, { security: 'secure', records: [{ usage: 3, selector: 1, matchingType: 1, data: TLSA_HEX }] });
  });

  t.test('TXT character-strings are joined', async (t) => {
    const txt = await q.query('_mta-sts.example.test', 'TXT', s());
    t.same(txt.records, [{ text: 'v=STSv1; id=20261128' }]);
    t.equal(txt.security, 'secure');
  });

  t.test('a CNAME chain is followed to the asked type', async (t) => {
    const a = await q.query('www.example.test', 'A', s());
    t.same(a.cnames, ['alias.example.test', 'mx1.example.test']);
    t.same(a.records, [{ address: '127.0.0.2' }]);
    t.equal(a.security, 'secure');
  });

  t.test('secure NXDOMAIN and NODATA', async (t) => {
    const nx = await q.query('nothere.example.test', 'A', s());
    t.match(nx, { rcode: 'NXDOMAIN', ad: true, security: 'secure', records: [] });
    const noTlsa = await q.query('_25._tcp.nope.example.test', 'TLSA', s());
    t.match(noTlsa, { rcode: 'NXDOMAIN', security: 'secure' });
    const nodata = await q.query('mx1.example.test', 'TLSA', s());
    t.match(nodata, { rcode: 'NOERROR', ad: true, security: 'secure', records: [] });
    const noTld = await q.query('nothere.test', 'MX', s());
    t.match(noTld, { rcode: 'NXDOMAIN', security: 'secure' }, 'the parent zone denies too');
  });

  t.test('an unsigned child is an insecure delegation', async (t) => {
    const mx = await q.query('plain.test', 'MX', s());
    t.match(mx, { rcode: 'NOERROR', ad: false, security: 'insecure', records: [{ preference: 10, exchange: 'mx.plain.test' }] });
    t.equal(mx.signatureExpires, undefined);
    const nx = await q.query('none.plain.test', 'A', s());
    t.match(nx, { rcode: 'NXDOMAIN', security: 'insecure' });
  });

  t.test('zones inside zones: an unsigned one under a signed one is insecure, a signed one secure', async (t) => {
    const a = await q.query('mx2.example.test', 'A', s());
    t.match(a, { security: 'secure', records: [{ address: '127.0.0.3' }] });
    const tlsa = await q.query('_25._tcp.mx2.example.test', 'TLSA', s());
    t.match(tlsa, { rcode: 'NOERROR', ad: false, security: 'insecure', records: [{ usage: 3, selector: 1, matchingType: 1, data: TLSA_HEX }] });
    const sub = await q.query('www.sub.example.test', 'A', s());
    t.match(sub, { security: 'secure', records: [{ address: '127.0.0.11' }] });
  });

  t.test('a record changed after signing is bogus: SERVFAIL with EDE 6', async (t) => {
    const a = await q.query('mx.bogus.test', 'A', s());
    t.match(a, { rcode: 'SERVFAIL', ad: false, security: 'bogus', records: [] });
    t.match(a.ede, [{ code: 6, text: /validation failure <mx\.bogus\.test\. A IN>/ }]);
    const ok = await q.query('ok.bogus.test', 'A', s());
    t.match(ok, { security: 'secure', records: [{ address: '127.0.0.6' }] }, 'the untouched records of that zone stay secure');
  });

  t.test('expired signatures: SERVFAIL with EDE 7; not yet valid: EDE 8', async (t) => {
    const expired = await q.query('mx.expired.test', 'A', s());
    t.match(expired, { rcode: 'SERVFAIL', security: 'bogus', ede: [{ code: 7, text: /signature expired/ }] });
    const future = await q.query('mx.future.test', 'A', s());
    t.match(future, { rcode: 'SERVFAIL', security: 'bogus', ede: [{ code: 8, text: /before inception/ }] });
  });

  t.test('a zone without its DNSKEY: EDE 9; a signature stripped: SERVFAIL, and unbound names no EDE', async (t) => {
    const nokey = await q.query('mx.nokey.test', 'A', s());
    t.match(nokey, { rcode: 'SERVFAIL', security: 'bogus', ede: [{ code: 9 }] });
    const nosig = await q.query('mx.nosig.test', 'A', s());
    t.match(nosig, { rcode: 'SERVFAIL', ad: false, security: 'indeterminate', ede: [], records: [] });
  });

  t.test('names outside the lab fail without a packet leaving unbound', async (t) => {
    const a = await q.query('example.com', 'A', s());
    t.match(a, { rcode: 'SERVFAIL', security: 'indeterminate' });
  });

  t.test('checkValidating: the lab validates, the same zones without the validator do not', async (t) => {
    t.equal(await checkValidating(lab.client, 'example.test', s()), true);
    t.equal(await checkValidating(plain.client, 'example.test', s()), false);
    const a = await plain.client.query('mx1.example.test', 'A', s());
    t.match(a, { rcode: 'NOERROR', ad: false, security: 'insecure', records: [{ address: '127.0.0.2' }] });
    t.ok(a.signatureExpires, 'the signatures are there, nobody checked them');
  });
});

t.test('close kills unbound and removes the temp dir; bad zones are refused', { skip }, async (t) => {
  let lab: DnsLab | undefined = await startDnsLab({ zones: [{ origin: 'a.test', records: ['x A 127.0.0.2'] }] });
  const { dir, server } = lab;
  t.ok(existsSync(dir));
  t.match(await lab.log(), /start of service/);
  await Promise.all([lab.close(), lab.close()]);
  lab = undefined;
  t.notOk(existsSync(dir), 'temp dir removed');
  const after = await createDnsClient(server, { tryTimeoutMs: 200, udpTries: 1 }).query('x.a.test', 'A', s());
  t.match(after.rcode, /ERROR|TIMEOUT/, 'nothing answers on the port any more');

  await t.rejects(startDnsLab({ zones: [{ origin: 'example.com', records: [] }] }), /must be a lowercase name under test/);
  await t.rejects(startDnsLab({ zones: [{ origin: 'a.test', records: [] }, { origin: 'a.test', records: [] }] }), /zone a\.test is given twice/);
  await t.rejects(startDnsLab({ zones: [{ origin: 'a.test', records: ['x BOGUSTYPE 1'] }] }), /ldns-signzone/);
});
