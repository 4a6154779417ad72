/**
 * The probe against a real MTA: Debian's Postfix on loopback (test/helpers/postfix.ts), one
 * listener per case, certificates minted now. Postfix's own log shows what the probe did on
 * the wire. Skipped, visibly, only where Postfix is not installed; under CI=true that fails.
 */
import { webcrypto } from 'node:crypto';
import t from 'tap';
import { x509 } from '../../src/probe/cert/x509.js';
import { keyPair, pki } from '../helpers/certs.js';
import { postfixMissing, startPostfix } from '../helpers/postfix.js';
import { codes, probeFake } from '../helpers/probe.js';

const HOST = 'mail.postfix.test';

/**
 * The certificate Exchange setup (New-ExchangeCertificate) makes: self-signed CN=SERVER1,
 * keyUsage digitalSignature + keyEncipherment only (no keyCertSign), an SKI and no AKI.
 */
async function exchangeSelfSigned(): Promise<{ pem: string; thumbprint: string }> {
  const keys = await keyPair({ type: 'rsa', bits: 2048 }, 'SHA-256', true);
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: '5e361bf9a07d1c69da7cebbe',
    subject: 'CN=SERVER1',
    issuer: 'CN=SERVER1',
    notBefore: new Date(Date.now() - 86_400_000),
    notAfter: new Date(Date.now() + 5 * 365 * 86_400_000),
    publicKey: keys.publicKey,
    signingKey: keys.privateKey,
    signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } as Algorithm,
    extensions: [
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'SERVER1' },
        { type: 'dns', value: 'SERVER1.domain.com' },
      ]),
    ],
  });
  const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey)).toString('base64');
  const key = `-----BEGIN PRIVATE KEY-----\n${pkcs8.replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END PRIVATE KEY-----\n`;
  const thumbprint = Buffer.from(await cert.getThumbprint('SHA-1')).toString('hex').toUpperCase();
  return { pem: key + cert.toString('pem').trim() + '\n', thumbprint };
}

const missing = postfixMissing();
const inCi = process.env.CI === 'true';

if (missing && inCi) {
  t.fail(`CI=true but ${missing}: the tests against a real Postfix cannot run (.ci/run installs it)`);
} else {
  t.test('a real Postfix: the verdict on each certificate it serves', { skip: missing ? `needs Postfix: ${missing}` : false }, async (t) => {
    const ca = await pki('Contoso');
    const good = await ca.leaf({ subject: `CN=${HOST}`, dns: [HOST] });
    const bare = await ca.leaf({ subject: `CN=${HOST}`, dns: [HOST], aiaUrl: 'http://pki.contoso.test/issuing.crt' });
    const expired = await ca.leaf({ subject: `CN=${HOST}`, dns: [HOST], notBeforeDays: -400, notAfterDays: -3 });
    const exchange = await exchangeSelfSigned();
    const withKey = (c: { keyPem: string; certPem: string }, ...chain: string[]) => c.keyPem + c.certPem + chain.join('');

    const mta = await startPostfix([
      { name: 'good', chain: withKey(good, ca.intermediate.certPem) },
      { name: 'exchange', chain: exchange.pem },
      { name: 'bare', chain: withKey(bare) },
      { name: 'expired', chain: withKey(expired, ca.intermediate.certPem) },
      { name: 'plain' },
    ]);
    t.teardown(() => mta.stop());
    const probe = (name: string) => probeFake({ host: mta.host, port: mta.port(name) }, { host: HOST, ca: ca.root.certPem }, 5000);
    const [ok, self, incomplete, old, plain] = await Promise.all(['good', 'exchange', 'bare', 'expired', 'plain'].map(probe));

    await t.test('a good chain (leaf + intermediate): ok, and EHLO again over TLS as a sender does', async (t) => {
      t.equal(ok!.status, 'ok');
      t.same(codes(ok!), []);
      const a = ok!.addresses[0]!;
      t.equal(a.certificate?.thumbprint, good.thumbprint);
      t.equal(a.chain.length, 2, 'leaf and intermediate sent');
      t.match(a.smtp.greeting, /^220 mx\.postfix\.test ESMTP Postfix/);
      t.equal(a.smtp.ehloHost, 'mx.postfix.test');
      t.ok(a.smtp.extensions.includes('STARTTLS'), 'STARTTLS offered in clear');
      t.equal(a.smtp.tlsEhloHost, 'mx.postfix.test');
      t.ok(a.smtp.tlsExtensions && a.smtp.tlsExtensions.length > 0, 'extensions over TLS recorded');
      t.notOk(a.smtp.tlsExtensions?.includes('STARTTLS'), 'no STARTTLS once TLS is up');
      t.type(a.timings.tlsEhloMs, 'number');
      const line = await mta.waitForLog(/postfix\/good\/smtpd\[\d+\]: disconnect from /);
      t.match(line, / ehlo=2 starttls=1 quit=1 commands=4$/, 'Postfix saw EHLO, STARTTLS, EHLO, QUIT');
    });

    t.test("Exchange's self-signed CN=SERVER1 (keyUsage without keyCertSign)", async (t) => {
      // Self-signed by its signature, although its keyUsage lacks keyCertSign.
      t.same(codes(self!), ['cert_name_mismatch', 'cert_self_signed']);
      t.equal(self!.status, 'critical');
      t.equal(self!.addresses[0]?.certificate?.thumbprint, exchange.thumbprint);
      t.same(self!.addresses[0]?.exchangeOnline, { code: '450 4.7.320', msg: 'Certificate validation failed [Message=SubjectMismatch]' });
      const line = await mta.waitForLog(/postfix\/exchange\/smtpd\[\d+\]: disconnect from /);
      t.match(line, / ehlo=2 starttls=1 quit=1 /, 'the dialogue goes on after a bad certificate, as the verdict needs');
    });

    await t.test('a leaf without its intermediate: cert_chain_incomplete', async (t) => {
      t.same(codes(incomplete!), ['cert_chain_incomplete']);
      t.equal(incomplete!.addresses[0]?.chain.length, 1);
    });

    await t.test('an expired certificate: cert_expired', async (t) => {
      t.same(codes(old!), ['cert_expired']);
      t.equal(old!.status, 'critical');
    });

    await t.test('no STARTTLS: starttls_not_offered, what Exchange Online says', async (t) => {
      t.same(codes(plain!), ['starttls_not_offered']);
      const a = plain!.addresses[0]!;
      t.equal(a.tls, null, 'no handshake');
      t.match(a.reasons[0]?.message, /mx\.postfix\.test does not offer STARTTLS/);
      t.equal(`${a.exchangeOnline?.code} ${a.exchangeOnline?.msg}`,
        '450 4.4.317 Cannot connect to remote server [Message=451 5.7.3 STARTTLS is required to send mail]');
      const line = await mta.waitForLog(/postfix\/plain\/smtpd\[\d+\]: disconnect from /);
      t.match(line, / ehlo=1 quit=1 commands=2$/);
    });

    await mta.stop();
    t.pass('Postfix stopped: no process of it is left');
  });
}
