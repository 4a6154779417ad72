/**
 * One served certificate, decoded once into the facts the verdict and the report need.
 * Throws only on DER that is not a certificate; the caller turns that into a reason.
 */
import type * as nodeCrypto from 'node:crypto';
import { decodeCertificateDer } from './certificate-der.js';
import { TAG, oid, readTlv } from './der.js';
import { decodeExtensions, type Extensions } from './extensions.js';
import { canonicalIp } from './identity.js';
import type { Rdn } from './windows-dn.js';
import { Lru } from '../lru.js';

// Node's own module object rather than an ESM import, whose namespace reads every export
// and so loads what a one-shot check never uses (README "Performance", `check`).
const { X509Certificate, createHash } = process.getBuiltinModule('node:crypto');
type X509Certificate = nodeCrypto.X509Certificate;

export interface SignatureAlgorithm {
  oid: string;
  name: string;
  /** MD2/MD5/SHA-1: rejected by browsers and Microsoft since 2016-2017. */
  weak: boolean;
}

export interface ParsedCert {
  der: Buffer;
  node: X509Certificate;
  subjectRdns: Rdn[];
  issuerRdns: Rdn[];
  commonNames: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** URI and SRV identifiers ("URI:…", "SRV:…"): with these, the CN is never an identity (RFC 9525). */
  otherIds: string[];
  /** X.509 version as written (1 or 3). */
  version: number;
  extensions: Extensions;
  signature: SignatureAlgorithm;
  keyType: string;
  keyBits: number | null;
  /** Authority Information Access caIssuers URLs: where the issuer's certificate is published. */
  caIssuers: string[];
  thumbprint: string;
  sha256: string;
  selfSigned: boolean;
}

const SIGNATURES: Record<string, [string, boolean]> = {
  '1.2.840.113549.1.1.2': ['md2WithRSAEncryption', true],
  '1.2.840.113549.1.1.4': ['md5WithRSAEncryption', true],
  '1.2.840.113549.1.1.5': ['sha1WithRSAEncryption', true],
  '1.3.14.3.2.29': ['sha1WithRSAEncryption', true],
  '1.2.840.10040.4.3': ['dsaWithSHA1', true],
  '1.2.840.10045.4.1': ['ecdsa-with-SHA1', true],
  '1.2.840.113549.1.1.11': ['sha256WithRSAEncryption', false],
  '1.2.840.113549.1.1.12': ['sha384WithRSAEncryption', false],
  '1.2.840.113549.1.1.13': ['sha512WithRSAEncryption', false],
  '1.2.840.113549.1.1.14': ['sha224WithRSAEncryption', false],
  '1.2.840.113549.1.1.10': ['rsassaPss', false],
  '1.2.840.10045.4.3.1': ['ecdsa-with-SHA224', false],
  '1.2.840.10045.4.3.2': ['ecdsa-with-SHA256', false],
  '1.2.840.10045.4.3.3': ['ecdsa-with-SHA384', false],
  '1.2.840.10045.4.3.4': ['ecdsa-with-SHA512', false],
  '1.3.101.112': ['Ed25519', false],
  '1.3.101.113': ['Ed448', false],
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';

/** `pssHash`: the hash named in RSASSA-PSS parameters (SHA-1 when they are absent, RFC 4055). */
export function signatureAlgorithm(oid: string, pssHash?: string): SignatureAlgorithm {
  if (oid === RSASSA_PSS && pssHash) {
    return { oid, name: `rsassaPss with ${pssHash}`, weak: /^(SHA-1|MD5|MD2)$/i.test(pssHash) };
  }
  const [name, weak] = SIGNATURES[oid] ?? [`OID.${oid}`, false];
  return { oid, name, weak };
}

const HASHES: Record<string, string> = {
  '1.3.14.3.2.26': 'SHA-1',
  '2.16.840.1.101.3.4.2.1': 'SHA-256',
  '2.16.840.1.101.3.4.2.2': 'SHA-384',
  '2.16.840.1.101.3.4.2.3': 'SHA-512',
};

/**
 * The hash of an RSASSA-PSS signature from its parameters (RFC 4055: SEQUENCE { [0]
 * hashAlgorithm DEFAULT sha1, ... }), or undefined when there are none or the hash is not
 * one of SHA-1/256/384/512.
 */
function pssHash(d: Uint8Array | null): string | undefined {
  if (!d) return undefined;
  const tlv = (at: number, end: number) => {
    try {
      return readTlv(d, at, end);
    } catch {
      return null;
    }
  };
  const seq = tlv(0, d.length);
  if (!seq || seq.tag !== TAG.sequence) return undefined;
  const first = tlv(seq.start, seq.end);
  if (!first || first.tag !== 0xa0) return 'SHA-1';
  const alg = tlv(first.start, first.end);
  const id = alg && alg.tag === TAG.sequence ? tlv(alg.start, alg.end) : null;
  try {
    return id ? HASHES[oid(d, id)] : undefined;
  } catch {
    return undefined;
  }
}

const CURVE_BITS: Record<string, number> = {
  prime192v1: 192,
  secp224r1: 224,
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
};

const CN = '2.5.4.3';

/**
 * Decoded certificates by their DER: a service sees the same certificates round after round
 * (and the same intermediates and roots across targets), and decoding is most of a probe's
 * CPU. Bounded so that servers sending ever new certificates cannot grow it; a ParsedCert is
 * never modified once made, so sharing one between results is safe.
 */
const parsed = new Lru<string, ParsedCert>(4096);

/** The decoded certificate, from the cache when these exact bytes were decoded before. */
export function parseCertificate(der: Buffer): ParsedCert {
  return parsed.getOrSet(der.toString('latin1'), () => decodeCertificate(Buffer.from(der)));
}

/** For tests: how many decoded certificates are kept. */
export function parsedCacheSize(): number {
  return parsed.size;
}

function decodeCertificate(der: Buffer): ParsedCert {
  const node = new X509Certificate(der);
  const asn = decodeCertificateDer(der);
  const subjectRdns = asn.subject;
  const extensions = decodeExtensions(asn, node);
  const sanItems = extensions.altNames;
  const key = node.publicKey;
  const details = key.asymmetricKeyDetails ?? {};
  const keyBits =
    details.modulusLength ??
    (details.namedCurve ? (CURVE_BITS[details.namedCurve] ?? null) : null) ??
    ({ ed25519: 256, ed448: 456 } as Record<string, number>)[key.asymmetricKeyType ?? ''] ??
    null;
  return {
    der,
    node,
    subjectRdns,
    issuerRdns: asn.issuer,
    commonNames: subjectRdns.flat().filter((a) => a.oid === CN).map((a) => a.value),
    dnsNames: sanItems.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: sanItems
      .filter((n) => n.type === 'ip')
      .map((n) => canonicalIp(n.value) ?? n.value),
    otherIds: sanItems.filter((n) => n.type === 'uri' || n.type === 'srv').map((n) => `${n.type.toUpperCase()}:${n.value}`),
    version: asn.version + 1,
    extensions,
    signature: signatureAlgorithm(
      asn.signatureAlgorithm.oid,
      asn.signatureAlgorithm.oid === RSASSA_PSS ? pssHash(asn.signatureAlgorithm.parameters) : undefined,
    ),
    keyType: (key.asymmetricKeyType ?? 'unknown').toUpperCase(),
    keyBits,
    caIssuers: extensions.caIssuers,
    thumbprint: createHash('sha1').update(der).digest('hex').toUpperCase(),
    sha256: createHash('sha256').update(der).digest('hex').toUpperCase(),
    selfSigned: isSelfSigned(node),
  };
}

/**
 * Issued by itself and signed by its own key, whatever its keyUsage or authorityKeyIdentifier
 * say: Exchange's own certificate has no keyCertSign, which checkIssued() would demand.
 */
export function isSelfSigned(c: X509Certificate): boolean {
  return c.subject === c.issuer && safeVerify(c, c);
}

/**
 * Is `issuer` named as c's issuer and does its key verify c's signature? Not checkIssued(),
 * which also demands keyCertSign: an issuer without it is still the issuer, and the path
 * rules say what is wrong with it instead of calling it missing.
 */
export function issuedBy(c: X509Certificate, issuer: X509Certificate): boolean {
  return c.issuer === issuer.subject && safeVerify(c, issuer);
}

/**
 * Signature checks already made, per certificate object and issuer object: a service judges
 * the same chains round after round (decoded certificates and trust anchors are kept), and
 * verifying a signature again was 5 % of its CPU. The outcome depends only on the two
 * certificates' bytes; weak maps, so nothing is kept past the certificates themselves.
 */
const verified = new WeakMap<X509Certificate, WeakMap<X509Certificate, boolean>>();

function safeVerify(c: X509Certificate, issuer: X509Certificate): boolean {
  let byIssuer = verified.get(c);
  const known = byIssuer?.get(issuer);
  if (known !== undefined) return known;
  let ok: boolean;
  try {
    ok = c.verify(issuer.publicKey);
  } catch {
    ok = false;
  }
  if (!byIssuer) verified.set(c, (byIssuer = new WeakMap()));
  byIssuer.set(issuer, ok);
  return ok;
}
