/**
 * Judged like a real validator (issue 9): Exchange's own self-signed certificate as setup
 * makes it, a lone leaf, the X.509 path rules OpenSSL and Windows enforce, and strict name
 * hygiene. Certificates are minted now and served over a real STARTTLS dialogue on loopback;
 * every path-rule case is also put to the openssl command line (`openssl verify`, the
 * component Postfix and most MTAs validate with), so the probe never calls OK what it refuses.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { GeneralName, GeneralSubtree, GeneralSubtrees, Name, NameConstraints, OtherName, SubjectAlternativeName } from '@peculiar/asn1-x509';
import { opensslReason } from '../../src/probe/cert/openssl-verdict.js';
import { reason } from '../../src/probe/reasons.js';
import { AsnConvert } from '@peculiar/asn1-schema';
import { x509 } from '../../src/probe/cert/x509.js';
import { exchangeSelfSigned, mint, pki, type MintOptions, type Minted, type Pki } from '../helpers/certs.js';
import { EXCHANGE_GREETING, fakeSmtp } from '../helpers/fake-smtp.js';
import { codes, probeFake } from '../helpers/probe.js';
import type { ProbeTarget } from '../../src/probe/types.js';

let ca: Pki;
const dir = mkdtempSync(join(tmpdir(), 'stp-validator-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
t.before(async () => {
  ca = await pki('Contoso');
});

const pem = (...certs: Minted[]) => certs.map((c) => c.certPem).join('');
const leafFor = (o: Partial<MintOptions>) => mint({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'], ...o });

/** Serve `leaf` + `chain`, probe it trusting `roots` (the CA file), and return the first address. */
async function probe(leaf: Minted, chain: Minted[], roots: Minted[] | null, target: Partial<ProbeTarget> = {}) {
  const srv = await fakeSmtp({ tls: { key: leaf.keyPem, cert: pem(leaf, ...chain) }, greeting: EXCHANGE_GREETING });
  try {
    const r = await probeFake(srv, { host: 'hybrid.domain.com', ...(roots ? { ca: pem(...roots) } : {}), ...target });
    await srv.drained();
    return { r, a: r.addresses[0]! };
  } finally {
    await srv.close();
  }
}

let files = 0;
/** `openssl verify` as a TLS client would (purpose sslserver), trusting only `roots`. */
function opensslVerify(leaf: Minted, chain: Minted[], roots: Minted[], extra: string[] = []): { ok: boolean; out: string } {
  const n = files++;
  const write = (name: string, text: string) => {
    const file = join(dir, `${n}-${name}.pem`);
    writeFileSync(file, text);
    return file;
  };
  const args = ['verify', '-purpose', 'sslserver', ...extra, '-CAfile', write('roots', pem(...roots))];
  if (chain.length) args.push('-untrusted', write('chain', pem(...chain)));
  args.push(write('leaf', leaf.certPem));
  const run = spawnSync('openssl', args, { encoding: 'utf8' });
  return { ok: run.status === 0, out: `${run.stdout}${run.stderr}` };
}

function nameConstraints(o: { permitted?: GeneralName[]; excluded?: GeneralName[] }): x509.Extension {
  const subtrees = (names?: GeneralName[]) => (names ? new GeneralSubtrees(names.map((base) => new GeneralSubtree({ base }))) : undefined);
  const value = new NameConstraints({ permittedSubtrees: subtrees(o.permitted), excludedSubtrees: subtrees(o.excluded) });
  return new x509.Extension('2.5.29.30', true, AsnConvert.serialize(value));
}
const dnsName = (n: string) => new GeneralName({ dNSName: n });

t.test("Exchange's own certificate is self-signed whatever its keyUsage and AKI say", async (t) => {
  const plain = await exchangeSelfSigned();
  const otherKey = await mint({ subject: 'CN=Some Other Key', ca: true });
  const withAki = await exchangeSelfSigned({ authorityKey: otherKey.keys.publicKey });
  // OpenSSL calls the AKI variant's issuer unfound rather than the certificate self-signed
  // (its issuer check compares the AKI with the key): a refusal either way, which
  // cert_self_signed explains, so no cert_chain_invalid is added.
  const variants = [
    ['as setup makes it', plain, 'DEPTH_ZERO_SELF_SIGNED_CERT'],
    ['with an AKI naming another key', withAki, 'UNABLE_TO_VERIFY_LEAF_SIGNATURE'],
  ] as const;
  for (const [label, cert, node] of variants) {
    t.equal(cert.cert.getExtension(x509.KeyUsagesExtension)?.usages, x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, `${label}: no keyCertSign`);
    t.notOk(cert.cert.getExtension(x509.BasicConstraintsExtension), `${label}: no basicConstraints`);
    for (const sni of ['hybrid.domain.com', null]) {
      const { r, a } = await probe(cert, [], [ca.root], { sni });
      const what = `${label}, SNI ${sni ?? 'none'}`;
      t.equal(r.status, 'critical', what);
      t.same(codes(r), ['cert_name_mismatch', 'cert_self_signed'], what);
      t.equal(a.certificate?.selfSigned, true, what);
      t.equal(a.certificate?.alternateNames, 'SERVER1;SERVER1.domain.com');
      t.equal(a.certificate?.tlsCertificateName, '<I>CN=SERVER1<S>CN=SERVER1');
      t.equal(a.tls?.servername, sni);
      t.match(a.remediation[0], /self-signed "CN=SERVER1": Exchange falls back to its own certificate/, what);
      t.match(a.remediation[1], /No sender trusts a self-signed certificate/, what);
      t.equal(a.tls?.authorizationError, node, what);
    }
  }
});

t.test('a lone leaf is incomplete; a sent untrusted root stays untrusted', async (t) => {
  const good = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  const other = await pki('Fabrikam');
  const lone = await probe(good, [], [other.root]);
  t.same(codes(lone.r), ['cert_chain_incomplete'], 'public CAs never issue from a root: the intermediate is missing');
  t.match(lone.a.reasons[0]?.message, /sent only its own certificate; its issuer "CN=Contoso Issuing CA, O=Contoso" was not sent/);
  t.match(lone.a.reasons[0]?.message, /private CA, the sender does not trust that CA/, 'the other possibility is named');
  t.match(lone.a.remediation[0], /Intermediate Certification Authorities/);

  const untrustedRoot = await probe(good, [ca.intermediate, ca.root], [other.root]);
  t.same(codes(untrustedRoot.r), ['cert_untrusted']);
  t.match(untrustedRoot.a.reasons[0]?.message, /Contoso Root CA.*not a trusted root/);
});

t.test('paths OpenSSL refuses are never OK: each broken rule is critical and named', async (t) => {
  const root = ca.root;
  const notCa = await mint({ subject: 'O=Contoso, CN=Not A CA', issuer: root, basicConstraints: { ca: false } });
  const noBc = await mint({ subject: 'O=Contoso, CN=No Basic Constraints', issuer: root, basicConstraints: false });
  const pathLen0 = await mint({ subject: 'O=Contoso, CN=Policy CA', ca: true, issuer: root, basicConstraints: { ca: true, pathLength: 0 } });
  const tooDeep = await mint({ subject: 'O=Contoso, CN=Deep CA', ca: true, issuer: pathLen0 });
  const permitted = await mint({ subject: 'O=Contoso, CN=Fabrikam Only CA', ca: true, issuer: root, extensions: [nameConstraints({ permitted: [dnsName('fabrikam.com')] })] });
  const excluded = await mint({ subject: 'O=Contoso, CN=Not Domain CA', ca: true, issuer: root, extensions: [nameConstraints({ excluded: [dnsName('domain.com')] })] });
  const clientCa = await mint({ subject: 'O=Contoso, CN=Client CA', ca: true, issuer: root, extKeyUsage: ['1.3.6.1.5.5.7.3.2'] });
  const noCertSign = await mint({ subject: 'O=Contoso, CN=Signing CA', ca: true, issuer: root, keyUsage: x509.KeyUsageFlags.digitalSignature });
  const expiredRoot = await mint({ subject: 'O=Old, CN=Old Root', ca: true, notBeforeDays: -3650, notAfterDays: -2 });
  const underExpired = await mint({ subject: 'O=Old, CN=Old Issuing CA', ca: true, issuer: expiredRoot });
  const unknownCritical = new x509.Extension('1.3.6.1.4.1.55555.1', true, new Uint8Array([5, 0]));

  const cases: Array<{ what: string; leaf: Minted; chain: Minted[]; roots?: Minted[]; code: string; message: RegExp; node: string; cli: RegExp }> = [
    { what: 'issuer with basicConstraints cA:FALSE', leaf: await leafFor({ issuer: notCa }), chain: [notCa], code: 'cert_chain_invalid', message: /issuer is not a CA: the intermediate "CN=Not A CA, O=Contoso" has basicConstraints cA:FALSE/, node: 'INVALID_PURPOSE', cli: /invalid CA certificate/ },
    { what: 'issuer without basicConstraints', leaf: await leafFor({ issuer: noBc }), chain: [noBc], code: 'cert_chain_invalid', message: /issuer is not a CA: the intermediate "CN=No Basic Constraints, O=Contoso" has no basicConstraints/, node: 'INVALID_PURPOSE', cli: /invalid CA certificate/ },
    { what: 'path length constraint', leaf: await leafFor({ issuer: tooDeep }), chain: [tooDeep, pathLen0], code: 'cert_chain_invalid', message: /path length constraint exceeded: the intermediate "CN=Policy CA, O=Contoso" allows 0 intermediate CA\(s\) below it.*has 1/, node: 'PATH_LENGTH_EXCEEDED', cli: /path length constraint exceeded/ },
    { what: 'permitted subtree', leaf: await leafFor({ issuer: permitted }), chain: [permitted], code: 'cert_chain_invalid', message: /name constraints violated: the name "hybrid\.domain\.com" of the certificate is outside the names the intermediate "CN=Fabrikam Only CA, O=Contoso" may issue for \(permitted: fabrikam\.com\)/, node: 'UNSPECIFIED', cli: /permitted subtree violation/ },
    { what: 'excluded subtree', leaf: await leafFor({ issuer: excluded }), chain: [excluded], code: 'cert_chain_invalid', message: /name constraints violated: the name "hybrid\.domain\.com" of the certificate is in a subtree the intermediate "CN=Not Domain CA, O=Contoso" excludes \("domain\.com"\)/, node: 'UNSPECIFIED', cli: /excluded subtree violation/ },
    { what: 'leaf EKU without serverAuth', leaf: await leafFor({ issuer: ca.intermediate, extKeyUsage: ['1.3.6.1.5.5.7.3.2'] }), chain: [ca.intermediate], code: 'cert_chain_invalid', message: /the certificate is not valid for TLS servers: its extended key usage \(clientAuth\) does not include serverAuth/, node: 'INVALID_PURPOSE', cli: /unsuitable certificate purpose/ },
    { what: 'intermediate EKU without serverAuth', leaf: await leafFor({ issuer: clientCa }), chain: [clientCa], code: 'cert_chain_invalid', message: /the intermediate "CN=Client CA, O=Contoso" is not valid for TLS servers: its extended key usage \(clientAuth\)/, node: 'INVALID_PURPOSE', cli: /unsuitable certificate purpose/ },
    { what: 'leaf keyUsage keyCertSign only (RSA)', leaf: await leafFor({ issuer: ca.intermediate, key: { type: 'rsa' }, keyUsage: x509.KeyUsageFlags.keyCertSign }), chain: [ca.intermediate], code: 'cert_chain_invalid', message: /key usage \(keyCertSign\) forbids the TLS key exchange/, node: 'INVALID_PURPOSE', cli: /unsuitable certificate purpose/ },
    { what: 'issuer keyUsage without keyCertSign', leaf: await leafFor({ issuer: noCertSign }), chain: [noCertSign], code: 'cert_chain_invalid', message: /the intermediate "CN=Signing CA, O=Contoso" may not sign certificates: its key usage \(digitalSignature\) lacks keyCertSign/, node: 'UNSPECIFIED', cli: /invalid CA certificate/ },
    { what: 'unknown critical extension', leaf: await leafFor({ issuer: ca.intermediate, extensions: [unknownCritical] }), chain: [ca.intermediate], code: 'cert_chain_invalid', message: /the certificate has an unknown critical extension \(OID 1\.3\.6\.1\.4\.1\.55555\.1\)/, node: 'UNSPECIFIED', cli: /unhandled critical extension/ },
    { what: 'expired trust anchor', leaf: await leafFor({ issuer: underExpired }), chain: [underExpired], roots: [expiredRoot], code: 'cert_expired', message: /the root "CN=Old Root, O=Old" expired on/, node: 'CERT_HAS_EXPIRED', cli: /certificate has expired/ },
  ];
  for (const c of cases) {
    const roots = c.roots ?? [root];
    const { r, a } = await probe(c.leaf, c.chain, roots);
    t.equal(r.status, 'critical', c.what);
    t.same(codes(r), [c.code], c.what);
    t.match(a.reasons[0]?.message, c.message, c.what);
    t.equal(a.reasons[0]?.severity, 'critical');
    t.same(a.exchangeOnline?.code, '450 4.7.320', c.what);
    // Node's verdict (OpenSSL 3.5, which keeps going and reports the last error it met) and
    // the openssl command line (which stops at the first) both refuse. For an issuer that is
    // not a CA, Node says INVALID_PURPOSE where the command line says "invalid CA
    // certificate": the same certificate breaks both checks, only the one reported differs. UNSPECIFIED is Node's word for
    // the errors it has no name for (name constraints, unknown critical extension, keyUsage
    // without keyCertSign); OpenSSL's text for them is in its handle and in the CLI output.
    t.equal(a.tls?.authorizationError, c.node, `${c.what}: Node's verdict`);
    const cli = opensslVerify(c.leaf, c.chain, roots);
    t.notOk(cli.ok, `${c.what}: openssl verify refuses it too`);
    t.match(cli.out, c.cli, `${c.what}: openssl verify names the rule`);
  }
  const good = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'], extKeyUsage: ['1.3.6.1.5.5.7.3.1'] });
  const { r } = await probe(good, [ca.intermediate], [root]);
  t.same(codes(r), [], 'the control: serverAuth, a proper CA, no constraints is ok');
  t.ok(opensslVerify(good, [ca.intermediate], [root]).ok, 'and openssl verify accepts it');
  const within = await mint({ subject: 'O=Contoso, CN=Domain Only CA', ca: true, issuer: root, extensions: [nameConstraints({ permitted: [dnsName('domain.com')], excluded: [dnsName('bad.domain.com')] })] });
  const ok = await probe(await leafFor({ issuer: within }), [within], [root]);
  t.same(codes(ok.r), [], 'a name inside the permitted and outside the excluded subtrees is ok');
});

t.test('an RSA-PSS signature with SHA-1 is a weak signature, not a handshake failure', async (t) => {
  const pssRoot = await mint({ subject: 'O=Contoso, CN=PSS Root', ca: true, key: { type: 'rsa-pss' }, hash: 'SHA-1' });
  const leaf = await leafFor({ issuer: pssRoot, hash: 'SHA-1' });
  const { r, a } = await probe(leaf, [], [pssRoot]);
  t.same(codes(r), ['cert_weak_signature']);
  t.equal(a.certificate?.signatureAlgorithm, 'rsassaPss with SHA-1');
  t.match(a.reasons[0]?.message, /the certificate is signed with rsassaPss with SHA-1/);
  // Node's handshake runs at security level 0 so that it can see weak chains at all; there
  // OpenSSL accepts SHA-1 (authorizationError null), as `openssl verify` does by default.
  // At security level 1, what OpenSSL 3 uses for TLS by default, it refuses the digest.
  t.equal(a.tls?.authorizationError, null);
  const strict = opensslVerify(leaf, [], [pssRoot], ['-auth_level', '1']);
  t.notOk(strict.ok, 'openssl verify -auth_level 1 refuses it');
  t.match(strict.out, /too weak/);
});

t.test("OpenSSL's refusal is the backstop for what our own rules do not cover", async (t) => {
  // A directoryName constraint: our rules check DNS names only, OpenSSL checks the subject DN.
  const dn = AsnConvert.parse(new x509.Name('O=Fabrikam').toArrayBuffer(), Name);
  const dirCa = await mint({ subject: 'O=Contoso, CN=Fabrikam DN CA', ca: true, issuer: ca.root, extensions: [nameConstraints({ permitted: [new GeneralName({ directoryName: dn })] })] });
  const leaf = await mint({ subject: 'O=Contoso, CN=hybrid.domain.com', dns: ['hybrid.domain.com'], issuer: dirCa });
  const { r, a } = await probe(leaf, [dirCa], [ca.root]);
  t.same(codes(r), ['cert_chain_invalid']);
  t.match(a.reasons[0]?.message, /^OpenSSL refuses the path: a name is outside a CA's permitted name constraints \(permitted subtree violation\)/);
  t.notOk(opensslVerify(leaf, [dirCa], [ca.root]).ok, 'openssl verify refuses it too');

  const trust = [reason('cert_untrusted', 'x')];
  t.equal(opensslReason({ code: 'SELF_SIGNED_CERT_IN_CHAIN' }, trust), null, 'explained by our trust verdict');
  t.equal(opensslReason({ code: 'CERT_HAS_EXPIRED' }, [reason('cert_expired', 'x')]), null);
  t.equal(opensslReason({ code: 'HOSTNAME_MISMATCH' }, []), null, 'names are ours to judge');
  t.equal(opensslReason({ code: 'INVALID_CA' }, [reason('cert_chain_invalid', 'x')]), null, 'already named by our rules');
  t.match(opensslReason({ code: 'INVALID_CA' }, trust), { code: 'cert_chain_invalid', severity: 'critical', message: /not a CA \(basicConstraints\) \(INVALID_CA\)/ });
  t.match(opensslReason({ code: 'UNABLE_TO_GET_ISSUER_CERT' }, []), { code: 'cert_chain_invalid', message: /self-signed root of the trust store/ }, 'refused though we found it trusted');
  t.match(opensslReason({ code: 'UNSPECIFIED', text: 'CA md too weak' }, [reason('cert_weak_signature', 'x')]), null);
});

t.test('an intermediate alone in the CA file: OpenSSL wants the root too', async (t) => {
  // With only the intermediate as anchor, OpenSSL (without partial chains, as Node and MTAs
  // run it) finds no self-signed root and refuses; our path building stopped at a store
  // certificate and called it trusted. The OpenSSL verdict keeps that from being OK.
  const good = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  const { r, a } = await probe(good, [ca.intermediate], [ca.intermediate]);
  t.same(codes(r), ['cert_chain_invalid']);
  t.match(a.reasons[0]?.message, /does not end at a self-signed root of the trust store \(UNABLE_TO_GET_ISSUER_CERT\)/);
  t.notOk(opensslVerify(good, [ca.intermediate], [ca.intermediate]).ok);
});

t.test('names: only plain LDH ASCII as the certificate has it; CN only without DNS, SRV or URI identifiers', async (t) => {
  for (const [label, san] of [
    ['trailing space', 'hybrid.domain.com '],
    ['soft hyphen', 'hy\u00adbrid.domain.com'],
    ['feminine ordinal', 'hybrid.dom\u00aain.com'],
  ] as const) {
    const leaf = await ca.leaf({ subject: 'CN=mail.domain.com', dns: [san, 'mail.domain.com'] });
    const { r, a } = await probe(leaf, [ca.intermediate], [ca.root]);
    t.same(codes(r), ['cert_name_mismatch'], label);
    t.same(a.names, [{ name: 'hybrid.domain.com', matched: false, via: null }], label);
    t.match(a.reasons[0]?.message, /not a plain ASCII host name, so validators match nothing against it/, label);
  }
  const uriOnly = await ca.leaf({
    subject: 'CN=hybrid.domain.com',
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: 'https://hybrid.domain.com/' }])],
  });
  const u = await probe(uriOnly, [ca.intermediate], [ca.root]);
  t.same(codes(u.r), ['cert_name_mismatch'], 'a URI SAN makes the CN no identity');
  t.match(u.a.reasons[0]?.message, /URI:https:\/\/hybrid\.domain\.com\/.*CN matches, but the CN does not count/);
  const srvName = Buffer.concat([Buffer.from([0x16, 16]), Buffer.from('_smtp.domain.com')]);
  const srvSan = new SubjectAlternativeName([new GeneralName({ otherName: new OtherName({ typeId: '1.3.6.1.5.5.7.8.7', value: new Uint8Array(srvName).buffer }) })]);
  const srvOnly = await ca.leaf({ subject: 'CN=hybrid.domain.com', extensions: [new x509.Extension('2.5.29.17', false, AsnConvert.serialize(srvSan))] });
  const srv = await probe(srvOnly, [ca.intermediate], [ca.root]);
  t.same(codes(srv.r), ['cert_name_mismatch'], 'an SRV SAN makes the CN no identity');
  t.match(srv.a.reasons[0]?.message, /alternate names: SRV:_smtp\.domain\.com;/);
  const cnOnly = await probe(await ca.leaf({ subject: 'CN=hybrid.domain.com' }), [ca.intermediate], [ca.root]);
  t.same(codes(cnOnly.r), ['cert_name_cn_only'], 'no identifier at all: the CN, as a warning');
});
