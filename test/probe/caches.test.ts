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
  t.equal(store.issuersOf(root).length, 1, 'one entry for the root');
  t.ok(store.has(root) && store.has(intermediate), 'both are in the store');
  t.equal(store.issuersOf(intermediate)[0]?.fingerprint256, root.fingerprint256, 'the issuer is found');
});

t.test('the trust store finds an issuer by the name as Node prints it, however the name is encoded', async (t) => {
  // Lookups go through a key cut from the encoded name; the answer must stay that of Node's
  // text: a UTF8String and a PrintableString of the same name are the same issuer (OpenSSL
  // matches them too), and a value of a type the key does not read still matches.
  const keys = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const issue = async (subject: x509.Name | string, issuer: x509.Name | string, ca: boolean) =>
    new X509Certificate(
      Buffer.from(
        (await x509.X509CertificateGenerator.create({
          serialNumber: ca ? '01' : '02',
          subject,
          issuer,
          notBefore: new Date(Date.now() - 60_000),
          notAfter: new Date(Date.now() + 86_400_000),
          publicKey: keys.publicKey,
          signingKey: keys.privateKey,
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
          extensions: ca ? [new x509.BasicConstraintsExtension(true, undefined, true)] : [],
        })).rawData,
      ),
    );
  const utf8 = new x509.Name([{ O: [{ utf8String: 'Encodings' }] }, { CN: [{ utf8String: 'Encodings Root' }] }]);
  const printable = new x509.Name([{ O: [{ printableString: 'Encodings' }] }, { CN: [{ printableString: 'Encodings Root' }] }]);
  const root = await issue(utf8, utf8, true);
  const leaf = await issue('CN=mail.example.com', printable, false);
  t.not(Buffer.from(printable.toArrayBuffer()).toString('hex'), Buffer.from(utf8.toArrayBuffer()).toString('hex'), 'encoded apart');
  t.equal(leaf.issuer, root.subject, 'printed alike');
  const other = await pki('Other');
  const store = trustStore(root.toString() + other.root.certPem);
  t.same(store.issuersOf(leaf).map((c) => c.fingerprint256), [root.fingerprint256], 'found by its text');
  t.ok(store.has(root), 'the root itself is in the store');
  t.notOk(store.has(leaf), 'the leaf is not');
  t.same(store.issuersOf(new X509Certificate(other.intermediate.certPem)).map((c) => c.subject), [other.root.cert.subject.replace(', ', '\n')], 'another name finds its own');
  t.same(store.issuersOf(new X509Certificate((await pki('Third')).intermediate.certPem)), [], 'a name not in the store finds nothing');

  // A name with a value of a type the key does not read (a BIT STRING) prints as the text of
  // its octets, like a PrintableString of that text: the root holding it is still found.
  const odd = `CN=#030f00${Buffer.from('Encodings Root').toString('hex')}`;
  const oddRoot = await issue(odd, odd, true);
  const printed = new x509.Name([{ CN: [{ printableString: 'Encodings Root' }] }]);
  const oddLeaves = [await issue('CN=mail.example.com', odd, false), await issue('CN=mail.example.com', printed, false)];
  t.same(oddLeaves.map((c) => c.issuer), [oddRoot.subject, oddRoot.subject], 'printed alike');
  const oddStore = trustStore(`${other.root.certPem}${oddRoot.toString()}${root.toString()}`);
  for (const c of oddLeaves) t.same(oddStore.issuersOf(c).map((r) => r.fingerprint256), [oddRoot.fingerprint256], `found from ${c.issuer}`);
  t.same(oddStore.issuersOf(leaf).map((c) => c.fingerprint256), [root.fingerprint256], 'and not taken for another');
});
