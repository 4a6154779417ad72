/**
 * One served certificate, decoded once into the facts the verdict and the report need.
 * Throws only on DER that is not a certificate; the caller turns that into a reason.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { AsnCertificate, AsnConvert, type AsnName } from './asn1.js';
import { decodeExtensions, type Extensions } from './extensions.js';
import { canonicalIp } from './identity.js';
import type { Rdn } from './windows-dn.js';
import { Lru } from '../lru.js';

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

/** One DER element: tag, and where its content starts and ends; null if it runs past `end`. */
function tlv(d: Uint8Array, at: number, end: number): { tag: number; start: number; end: number } | null {
  if (at + 2 > end) return null;
  const tag = d[at]!;
  let len = d[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 3 || start + n > end) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + d[start + i]!;
    start += n;
  }
  return start + len <= end ? { tag, start, end: start + len } : null;
}

/** The dotted text of an OBJECT IDENTIFIER's content. */
function oidText(d: Uint8Array, start: number, end: number): string {
  const arcs: number[] = [];
  let v = 0;
  for (let i = start; i < end; i++) {
    v = v * 128 + (d[i]! & 0x7f);
    if (!(d[i]! & 0x80)) {
      arcs.push(v);
      v = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  return [Math.min(2, Math.floor(first / 40)), first - Math.min(2, Math.floor(first / 40)) * 40, ...arcs].join('.');
}

/**
 * The hash of an RSASSA-PSS signature from its parameters (RFC 4055: SEQUENCE { [0]
 * hashAlgorithm DEFAULT sha1, ... }), or undefined when there are none or the hash is not
 * one of SHA-1/256/384/512.
 */
function pssHash(parameters: ArrayBuffer | null | undefined): string | undefined {
  if (!parameters) return undefined;
  const d = new Uint8Array(parameters);
  const seq = tlv(d, 0, d.length);
  if (!seq || seq.tag !== 0x30) return undefined;
  const first = tlv(d, seq.start, seq.end);
  if (!first || first.tag !== 0xa0) return 'SHA-1';
  const alg = tlv(d, first.start, first.end);
  const oid = alg && alg.tag === 0x30 ? tlv(d, alg.start, alg.end) : null;
  return oid && oid.tag === 0x06 ? HASHES[oidText(d, oid.start, oid.end)] : undefined;
}

const CURVE_BITS: Record<string, number> = {
  prime192v1: 192,
  secp224r1: 224,
  prime256v1: 256,
  secp256k1: 256,
  secp384r1: 384,
  secp521r1: 521,
};

function rdns(name: AsnName): Rdn[] {
  return name.map((rdn) => rdn.map((atv) => ({ oid: atv.type, value: atv.value.toString() })));
}

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
  const asn = AsnConvert.parse(der, AsnCertificate);
  const subjectRdns = rdns(asn.tbsCertificate.subject);
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
    issuerRdns: rdns(asn.tbsCertificate.issuer),
    commonNames: subjectRdns.flat().filter((a) => a.oid === CN).map((a) => a.value),
    dnsNames: sanItems.filter((n) => n.type === 'dns').map((n) => n.value),
    ipAddresses: sanItems
      .filter((n) => n.type === 'ip')
      .map((n) => canonicalIp(n.value) ?? n.value),
    otherIds: sanItems.filter((n) => n.type === 'uri' || n.type === 'srv').map((n) => `${n.type.toUpperCase()}:${n.value}`),
    version: asn.tbsCertificate.version + 1,
    extensions,
    signature: signatureAlgorithm(
      asn.signatureAlgorithm.algorithm,
      asn.signatureAlgorithm.algorithm === RSASSA_PSS ? pssHash(asn.signatureAlgorithm.parameters) : undefined,
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

function safeVerify(c: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return c.verify(issuer.publicKey);
  } catch {
    return false;
  }
}
