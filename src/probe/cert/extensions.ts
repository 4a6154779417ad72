/**
 * The X.509 extensions a validator acts on, decoded from the DER: basic constraints, key
 * usages, name constraints, the identifiers of the subjectAltName, and critical extensions
 * no validator understands. The path rules (path-rules.ts) judge them.
 */
import type { X509Certificate } from 'node:crypto';
import {
  AsnConvert,
  AuthorityInfoAccessSyntax,
  BasicConstraints,
  ExtendedKeyUsage,
  KeyUsage,
  NameConstraints,
  SubjectAlternativeName,
  type AsnCertificate,
  type GeneralName,
} from './asn1.js';

export interface Extensions {
  /** null when the extension is absent. */
  basicConstraints: { ca: boolean; pathLength: number | null } | null;
  /** KeyUsageFlags bits; null when absent (any use allowed). */
  keyUsage: number | null;
  /** extendedKeyUsage OIDs; null when absent (any purpose allowed). */
  extKeyUsage: string[] | null;
  /** dNSName subtrees of a nameConstraints extension; null when absent. */
  nameConstraints: { permitted: string[]; excluded: string[] } | null;
  /** OIDs of critical extensions OpenSSL does not process (it refuses such a certificate). */
  unknownCritical: string[];
  /** subjectAltName entries, in order; `other` for the forms we do not match on. */
  altNames: Array<{ type: 'dns' | 'ip' | 'uri' | 'srv' | 'other'; value: string }>;
  /** Authority Information Access caIssuers URLs: where the issuer's certificate is published. */
  caIssuers: string[];
}

const OID = {
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  nameConstraints: '2.5.29.30',
  authorityInfoAccess: '1.3.6.1.5.5.7.1.1',
  caIssuers: '1.3.6.1.5.5.7.48.2',
  srvName: '1.3.6.1.5.5.7.8.7',
};

/**
 * What OpenSSL's X509_supported_extension() knows; a critical extension outside this list
 * makes it refuse the certificate (X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION). Windows knows
 * a few more, so this is the stricter of the two.
 */
const SUPPORTED = new Set([
  '2.16.840.1.113730.1.1', // netscape cert type
  '2.5.29.15', // keyUsage
  '2.5.29.17', // subjectAltName
  '2.5.29.19', // basicConstraints
  '2.5.29.32', // certificatePolicies
  '2.5.29.31', // cRLDistributionPoints
  '2.5.29.37', // extKeyUsage
  '1.3.6.1.5.5.7.1.7', // sbgp-ipAddrBlock
  '1.3.6.1.5.5.7.1.8', // sbgp-autonomousSysNum
  '1.3.6.1.5.5.7.48.1.5', // OCSP noCheck
  '2.5.29.36', // policyConstraints
  '1.3.6.1.5.5.7.1.14', // proxyCertInfo
  '2.5.29.30', // nameConstraints
  '2.5.29.33', // policyMappings
  '2.5.29.54', // inhibitAnyPolicy
]);

/** Each extension decoded once, from the certificate's own decode; the first of a kind counts. */
export function decodeExtensions(asn: AsnCertificate, node: X509Certificate): Extensions {
  const raw = asn.tbsCertificate.extensions ?? [];
  const value = (oid: string) => raw.find((e) => e.extnID === oid)?.extnValue.buffer;
  const read = <T>(oid: string, parse: (der: ArrayBuffer) => T): T | null => {
    const der = value(oid);
    return der ? decoded(() => parse(der)) : null;
  };
  const bc = read(OID.basicConstraints, (der) => AsnConvert.parse(der, BasicConstraints));
  const ku = read(OID.keyUsage, (der) => AsnConvert.parse(der, KeyUsage).toNumber());
  const eku = read(OID.extKeyUsage, (der) => [...AsnConvert.parse(der, ExtendedKeyUsage)].map(String));
  const aia = read(OID.authorityInfoAccess, (der) => [...AsnConvert.parse(der, AuthorityInfoAccessSyntax)]);
  const san = value(OID.subjectAltName);
  return {
    basicConstraints: bc ? { ca: bc.cA, pathLength: bc.pathLenConstraint ?? null } : null,
    keyUsage: ku,
    extKeyUsage: eku,
    nameConstraints: read(OID.nameConstraints, dnsSubtrees),
    unknownCritical: raw.filter((e) => e.critical && !SUPPORTED.has(e.extnID)).map((e) => e.extnID),
    altNames: san ? altNames(san, node) : [],
    caIssuers: (aia ?? [])
      .filter((d) => d.accessMethod === OID.caIssuers && d.accessLocation.uniformResourceIdentifier !== undefined)
      .map((d) => d.accessLocation.uniformResourceIdentifier!),
  };
}

/**
 * A malformed extension reads as absent here rather than failing the whole verdict: OpenSSL
 * refuses such a certificate, and its verdict (openssl-verdict.ts) reports that.
 */
function decoded<T>(read: () => T | null): T | null {
  try {
    return read();
  } catch {
    return null;
  }
}

function dnsSubtrees(der: ArrayBuffer): { permitted: string[]; excluded: string[] } {
  const nc = AsnConvert.parse(der, NameConstraints);
  const dns = (list: readonly { base: GeneralName }[] | undefined) =>
    (list ?? []).map((s) => s.base.dNSName).filter((n): n is string => n !== undefined);
  return { permitted: dns(nc.permittedSubtrees), excluded: dns(nc.excludedSubtrees) };
}

/**
 * Every entry as the certificate has it: no trimming, no case folding, no IDNA. If the
 * schema refuses an entry, Node's text rendering still lists the DNS, IP and URI entries.
 */
function altNames(der: ArrayBuffer, node: X509Certificate): Extensions['altNames'] {
  let names: GeneralName[];
  try {
    names = [...AsnConvert.parse(der, SubjectAlternativeName)];
  } catch {
    const kinds: Record<string, 'dns' | 'ip' | 'uri'> = { DNS: 'dns', 'IP Address': 'ip', URI: 'uri' };
    return (node.subjectAltName ?? '')
      .split(/, (?=[A-Za-z ]+:)/)
      .map((item) => /^(DNS|IP Address|URI):(.*)$/.exec(item))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ type: kinds[m[1] ?? ''] ?? 'dns', value: m[2] ?? '' }));
  }
  return names.map((n) => {
    if (n.dNSName !== undefined) return { type: 'dns', value: n.dNSName };
    if (n.iPAddress !== undefined) return { type: 'ip', value: n.iPAddress };
    if (n.uniformResourceIdentifier !== undefined) return { type: 'uri', value: n.uniformResourceIdentifier };
    if (n.otherName?.typeId === OID.srvName) return { type: 'srv', value: srvValue(n.otherName.value) };
    return { type: 'other', value: n.otherName?.typeId ?? '' };
  });
}

/** The IA5String of an SRVName otherName (the schema hands out the inner TLV), or '' if it is not one. */
function srvValue(value: ArrayBuffer): string {
  const bytes = new Uint8Array(value);
  // IA5String with a short or one-octet long length: a DNS name is at most 255 octets
  if (bytes[0] !== 0x16) return '';
  const long = bytes[1] === 0x81;
  const len = long ? (bytes[2] ?? 0) : (bytes[1] ?? 0);
  const start = long ? 3 : 2;
  return Buffer.from(bytes.subarray(start, start + len)).toString('latin1');
}
