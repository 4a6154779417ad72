/**
 * Certificates minted at run time, dates relative to now: for the demo and for the tests,
 * so nothing committed can expire. Keys are cached per type and size, since RSA generation
 * dominates the cost.
 */
import { webcrypto } from 'node:crypto';
import { x509 } from '../probe/cert/x509.js';

const crypto = webcrypto as unknown as Crypto;

/** `rsa-pss`: an RSA key that signs with RSASSA-PSS (the hash is the certificate's). */
export type KeySpec = { type: 'ec'; curve?: 'P-256' | 'P-384' } | { type: 'rsa' | 'rsa-pss'; bits?: number };
export type Hash = 'SHA-1' | 'SHA-256' | 'SHA-384';

export interface Minted {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  certPem: string;
  keyPem: string;
  /** SHA-1 of the DER, 40 uppercase hex characters. */
  thumbprint: string;
}

export interface MintOptions {
  /** Subject as an x509 name string in DER order (most general first), e.g. 'C=US, O=Contoso, CN=mail'. */
  subject: string;
  dns?: string[];
  ips?: string[];
  /** Days from now; negative values are in the past. */
  notBeforeDays?: number;
  notAfterDays?: number;
  key?: KeySpec;
  hash?: Hash;
  /** Signed by this issuer; self-signed when absent. */
  issuer?: Minted;
  ca?: boolean;
  /** Add an Authority Information Access caIssuers URL (as public CAs do). */
  aiaUrl?: string;
  /** Reuse a key pair (a cross-signed copy of a root has the root's key). */
  keys?: CryptoKeyPair;
  /** basicConstraints: omitted when false; by default cA as `ca` says, with this pathLenConstraint. */
  basicConstraints?: false | { ca: boolean; pathLength?: number };
  /** keyUsage flags (x509.KeyUsageFlags); by default keyCertSign + cRLSign on a CA, none on a leaf. */
  keyUsage?: number;
  /** extendedKeyUsage purposes (OIDs or x509.ExtendedKeyUsage values). */
  extKeyUsage?: string[];
  /** Key named by the authorityKeyIdentifier: the issuer's by default, none when false. */
  authorityKey?: CryptoKey | false;
  /** Further extensions, as minted by the caller (name constraints, unknown critical ones). */
  extensions?: x509.Extension[];
}

const keyCache = new Map<string, Promise<CryptoKeyPair>>();

function algorithmFor(key: KeySpec, hash: Hash): RsaHashedKeyGenParams | EcKeyGenParams {
  if (key.type !== 'ec') {
    return { name: key.type === 'rsa' ? 'RSASSA-PKCS1-v1_5' : 'RSA-PSS', modulusLength: key.bits ?? 2048, publicExponent: new Uint8Array([1, 0, 1]), hash };
  }
  return { name: 'ECDSA', namedCurve: key.curve ?? 'P-256' };
}

/** A fresh key pair each call when fresh is set, else one shared per key spec. */
export function keyPair(key: KeySpec, hash: Hash = 'SHA-256', fresh = false): Promise<CryptoKeyPair> {
  const id = `${JSON.stringify(key)}/${key.type === 'ec' ? '' : hash}`;
  const make = () => crypto.subtle.generateKey(algorithmFor(key, hash), true, ['sign', 'verify']) as Promise<CryptoKeyPair>;
  if (fresh) return make();
  let p = keyCache.get(id);
  if (!p) keyCache.set(id, (p = make()));
  return p;
}

const DAY = 86_400_000;
const HASH_BYTES: Record<Hash, number> = { 'SHA-1': 20, 'SHA-256': 32, 'SHA-384': 48 };

export async function mint(o: MintOptions): Promise<Minted> {
  const hash = o.hash ?? 'SHA-256';
  const keySpec = o.key ?? { type: 'ec' };
  // A CA gets its own key so that issuers are told apart by key too.
  const keys = o.keys ?? (await keyPair(keySpec, hash, o.ca === true || !o.issuer));
  const signer = o.issuer ? o.issuer.keys : keys;
  const signerSpec = o.issuer ? (o.issuer.keys.privateKey.algorithm as KeyAlgorithm) : keys.privateKey.algorithm;
  const signingAlgorithm =
    signerSpec.name === 'ECDSA'
      ? ({ name: 'ECDSA', hash } as EcdsaParams)
      : signerSpec.name === 'RSA-PSS'
        ? ({ name: 'RSA-PSS', hash, saltLength: HASH_BYTES[hash] } as RsaPssParams)
        : ({ name: 'RSASSA-PKCS1-v1_5', hash } as Algorithm);
  const extensions: x509.Extension[] = [await x509.SubjectKeyIdentifierExtension.create(keys.publicKey)];
  const bc = o.basicConstraints ?? { ca: o.ca === true };
  if (bc) extensions.unshift(new x509.BasicConstraintsExtension(bc.ca, bc.pathLength, true));
  const authorityKey = o.authorityKey ?? o.issuer?.keys.publicKey;
  if (authorityKey) extensions.push(await x509.AuthorityKeyIdentifierExtension.create(authorityKey));
  const names = [
    ...(o.dns ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(o.ips ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length) extensions.push(new x509.SubjectAlternativeNameExtension(names));
  const keyUsage = o.keyUsage ?? (o.ca ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign : undefined);
  if (keyUsage !== undefined) extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
  if (o.extKeyUsage) extensions.push(new x509.ExtendedKeyUsageExtension(o.extKeyUsage));
  extensions.push(...(o.extensions ?? []));
  if (o.aiaUrl) {
    extensions.push(
      new x509.AuthorityInfoAccessExtension({ caIssuers: [new x509.GeneralName('url', o.aiaUrl)] }),
    );
  }
  // Backdate by a minute: a certificate "valid from now" must not look not-yet-valid to a peer.
  const now = Date.now() - 60_000;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: o.subject,
    issuer: o.issuer ? o.issuer.cert.subjectName : o.subject,
    notBefore: new Date(now + (o.notBeforeDays ?? 0) * DAY),
    notAfter: new Date(now + (o.notAfterDays ?? 90) * DAY),
    publicKey: keys.publicKey,
    signingKey: signer.privateKey,
    signingAlgorithm,
    extensions,
  });
  const pkcs8 = await crypto.subtle.exportKey('pkcs8', keys.privateKey);
  const thumb = Buffer.from(await cert.getThumbprint('SHA-1')).toString('hex').toUpperCase();
  return { cert, keys, certPem: `${cert.toString('pem').trim()}\n`, keyPem: toPem(pkcs8, 'PRIVATE KEY'), thumbprint: thumb };
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(12));
  bytes[0] = (bytes[0] ?? 0) & 0x7f | 0x10;
  return Buffer.from(bytes).toString('hex');
}

function toPem(der: ArrayBuffer, label: string): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n');
  return `-----BEGIN ${label}-----\n${b64}${b64.endsWith('\n') ? '' : '\n'}-----END ${label}-----\n`;
}

/** A root, an intermediate under it, and a convenience to issue leaves from the intermediate. */
export interface Pki {
  root: Minted;
  intermediate: Minted;
  leaf(o: Omit<MintOptions, 'issuer'>): Promise<Minted>;
}

export async function pki(name = 'Test', key: KeySpec = { type: 'ec' }): Promise<Pki> {
  const root = await mint({ subject: `O=${name}, CN=${name} Root CA`, ca: true, notAfterDays: 3650, key });
  const intermediate = await mint({
    subject: `O=${name}, CN=${name} Issuing CA`,
    ca: true,
    issuer: root,
    notAfterDays: 1825,
    key,
  });
  return { root, intermediate, leaf: (o) => mint({ ...o, issuer: intermediate }) };
}

/**
 * Exchange's own certificate as setup and New-ExchangeCertificate make it: self-signed RSA,
 * CN=SERVER1, the server's names, keyUsage digitalSignature + keyEncipherment only (no
 * keyCertSign), a subjectKeyIdentifier and no authorityKeyIdentifier. `authorityKey` adds an
 * AKI naming another key (seen on re-issued copies), which must not change the verdict.
 */
export function exchangeSelfSigned(o: { server?: string; domain?: string; notAfterDays?: number; authorityKey?: CryptoKey } = {}): Promise<Minted> {
  const server = o.server ?? 'SERVER1';
  return mint({
    subject: `CN=${server}`,
    dns: [server, `${server}.${o.domain ?? 'domain.com'}`],
    key: { type: 'rsa' },
    basicConstraints: false,
    keyUsage: x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
    authorityKey: o.authorityKey ?? false,
    notAfterDays: o.notAfterDays ?? 1825,
  });
}
