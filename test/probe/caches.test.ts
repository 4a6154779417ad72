/**
 * The engine's caches: bounded (least recently used goes first), keyed so that what differs
 * is never shared (certificate bytes, CA text), and invisible in the verdicts: the same
 * server probed with one CA then another is judged against each.
 */
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { Lru } from '../../src/probe/lru.js';
import { parseCertificate, parsedCacheSize } from '../../src/probe/cert/parse.js';
import { secureContext } from '../../src/probe/smtp/connection.js';
import { trustStore } from '../../src/probe/cert/trust-store.js';
import { GeneralName, OtherName, SubjectAlternativeName } from '@peculiar/asn1-x509';
import { AsnConvert } from '@peculiar/asn1-schema';
import { x509 } from '../../src/probe/cert/x509.js';
import { mint, pki } from '../helpers/certs.js';
import { fakeSmtp } from '../helpers/fake-smtp.js';
import { codes, probeFake } from '../helpers/probe.js';

t.test('Lru keeps at most max entries and drops the least recently used', async (t) => {
  const lru = new Lru<string, number>(3);
  lru.set('a', 1);
  lru.set('b', 2);
  lru.set('c', 3);
  t.equal(lru.get('a'), 1, 'a is now the most recently used');
  lru.set('d', 4);
  t.equal(lru.size, 3, 'bounded');
  t.equal(lru.get('b'), undefined, 'b, least recently used, went');
  t.same([lru.get('a'), lru.get('c'), lru.get('d')], [1, 3, 4]);
  let made = 0;
  t.equal(lru.getOrSet('a', () => ++made), 1, 'a hit does not call make');
  t.equal(made, 0);
  t.throws(() => lru.getOrSet('x', () => { throw new Error('bad'); }), /bad/);
  t.equal(lru.get('x'), undefined, 'a failed make stores nothing');
  t.throws(() => new Lru(0), /max must be at least 1/);
});

t.test('decoded certificates are shared by bytes, bounded, and a copy of the bytes', async (t) => {
  const ca = await pki('Cache');
  const leaf = await ca.leaf({ subject: 'CN=a.test', dns: ['a.test'] });
  const der = new X509Certificate(leaf.certPem).raw;
  const first = parseCertificate(der);
  const again = parseCertificate(Buffer.from(der));
  t.equal(again, first, 'the same bytes decode once');
  der.fill(0);
  t.equal(first.dnsNames[0], 'a.test');
  t.not(first.der[0], 0, 'the cached entry does not alias the caller\'s buffer');
  t.not(parseCertificate(new X509Certificate(ca.intermediate.certPem).raw), first, 'other bytes, other entry');
  t.throws(() => parseCertificate(Buffer.from('not a certificate')), 'garbage still throws');
  t.ok(parsedCacheSize() <= 4096, 'bounded');
});

t.test('one decode gives every fact the verdict reads: SRV and URI names, AIA, the PSS hash, key usages', async (t) => {
  // SRVName (RFC 4985) is an IA5String inside otherName.
  const srv = Buffer.concat([Buffer.from([0x16, 0x17]), Buffer.from('_smtp.mail.example.com.', 'latin1')]);
  const san = new SubjectAlternativeName([
    new GeneralName({ dNSName: 'mail.example.com' }),
    new GeneralName({ otherName: new OtherName({ typeId: '1.3.6.1.5.5.7.8.7', value: new Uint8Array(srv).buffer }) }),
    new GeneralName({ uniformResourceIdentifier: 'smtp://mail.example.com' }),
  ]);
  const cert = await mint({
    subject: 'CN=mail.example.com',
    key: { type: 'rsa-pss' },
    hash: 'SHA-256',
    aiaUrl: 'http://ca.example.com/issuer.crt',
    keyUsage: x509.KeyUsageFlags.digitalSignature,
    extKeyUsage: ['1.3.6.1.5.5.7.3.1'],
    extensions: [new x509.Extension('2.5.29.17', false, AsnConvert.serialize(san))],
  });
  const c = parseCertificate(new X509Certificate(cert.certPem).raw);
  t.same(c.dnsNames, ['mail.example.com']);
  t.same(c.otherIds, ['SRV:_smtp.mail.example.com.', 'URI:smtp://mail.example.com']);
  t.same(c.caIssuers, ['http://ca.example.com/issuer.crt']);
  t.equal(c.signature.name, 'rsassaPss with SHA-256');
  t.equal(c.signature.weak, false);
  t.equal(c.extensions.keyUsage, x509.KeyUsageFlags.digitalSignature);
  t.same(c.extensions.extKeyUsage, ['1.3.6.1.5.5.7.3.1']);
  t.same(c.extensions.basicConstraints, { ca: false, pathLength: null });
});

t.test('one TLS context per CA text; verdicts still follow the CA given', async (t) => {
  const right = await pki('Right');
  const other = await pki('Other');
  t.equal(secureContext(right.root.certPem), secureContext(`${right.root.certPem}`), 'same text, same context');
  t.not(secureContext(right.root.certPem), secureContext(other.root.certPem), 'other CA, other context');
  t.equal(secureContext(), secureContext(undefined), "Node's roots: one context");
  t.not(secureContext(), secureContext(right.root.certPem));

  const leaf = await right.leaf({ subject: 'CN=mail.example.com', dns: ['mail.example.com'] });
  const srv = await fakeSmtp({ tls: { key: leaf.keyPem, cert: leaf.certPem + right.intermediate.certPem } });
  t.teardown(() => srv.close());
  for (let i = 0; i < 2; i++) {
    const ok = await probeFake(srv, { ca: right.root.certPem });
    t.equal(ok.status, 'ok', `trusted by its own CA (round ${i + 1})`);
    t.equal(ok.addresses[0]?.tls?.authorizationError, null, 'OpenSSL verified against the right CA');
    const untrusted = await probeFake(srv, { ca: other.root.certPem });
    t.same(codes(untrusted), ['cert_untrusted'], `not trusted by another CA (round ${i + 1})`);
    t.equal(untrusted.addresses[0]?.tls?.authorizationError, 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', "OpenSSL's verdict too");
  }
});

t.test('the trust store parses a certificate once however often a CA text repeats it, wrapped alike or not', async (t) => {
  // NODE_EXTRA_CA_CERTS often names the system bundle, which repeats most of Node's own roots.
  const ca = await pki('Repeat');
  const body = ca.root.certPem.replace(/-----[A-Z ]+-----|\s/g, '');
  const rewrapped = `-----BEGIN CERTIFICATE-----\n${body.replace(/.{76}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
  const store = trustStore(ca.root.certPem + ca.intermediate.certPem + rewrapped + ca.root.certPem);
  const root = new X509Certificate(ca.root.certPem);
  const intermediate = new X509Certificate(ca.intermediate.certPem);
  t.equal(store.bySubject(root.subject).length, 1, 'one entry for the root');
  t.ok(store.has(root) && store.has(intermediate), 'both are in the store');
  t.equal(store.bySubject(intermediate.issuer)[0]?.fingerprint256, root.fingerprint256, 'the issuer is found');
});
