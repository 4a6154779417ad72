/**
 * The X.509 extensions a validator acts on, decoded from the DER: basic constraints, key
 * usages, name constraints, the identifiers of the subjectAltName, and critical extensions
 * no validator understands. The path rules (path-rules.ts) judge them.
 */
import type { X509Certificate } from 'node:crypto';
import { generalName, type CertificateDer, type GeneralName } from './certificate-der.js';
import { DerError, TAG, boolean, children, childrenOf, content, integer, oid, readWhole } from './der.js';

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

/** KeyUsage bits (RFC 5280 §4.2.1.3): bit n of the BIT STRING is 2^n here. */
export const KeyUsageFlags = {
  digitalSignature: 1,
  nonRepudiation: 2,
  keyEncipherment: 4,
  dataEncipherment: 8,
  keyAgreement: 16,
  keyCertSign: 32,
  cRLSign: 64,
  encipherOnly: 128,
  decipherOnly: 256,
} as const;

/** Each extension decoded once, from the certificate's own decode; the first of a kind counts. */
export function decodeExtensions(cert: CertificateDer, node: X509Certificate): Extensions {
  const raw = cert.extensions;
  const value = (oid: string) => raw.find((e) => e.oid === oid)?.value;
  const read = <T>(oid: string, parse: (der: Uint8Array) => T): T | null => {
    const der = value(oid);
    return der ? decoded(() => parse(der)) : null;
  };
  const san = value(OID.subjectAltName);
  return {
    basicConstraints: read(OID.basicConstraints, basicConstraints),
    keyUsage: read(OID.keyUsage, keyUsage),
    extKeyUsage: read(OID.extKeyUsage, (der) => childrenOf(der, readWhole(der, TAG.sequence, 'ExtKeyUsageSyntax'), TAG.oid, 'KeyPurposeId').map((t) => oid(der, t))),
    nameConstraints: read(OID.nameConstraints, dnsSubtrees),
    unknownCritical: raw.filter((e) => e.critical && !SUPPORTED.has(e.oid)).map((e) => e.oid),
    altNames: san ? altNames(san, node) : [],
    caIssuers: read(OID.authorityInfoAccess, caIssuers) ?? [],
  };
}

/**
 * A malformed extension reads as absent here rather than failing the whole verdict: OpenSSL
 * refuses such a certificate, and its verdict (openssl-verdict.ts) reports that.
 */
function decoded<T>(read: () => T | null): T | null {
  try {
    return read();
  } catch (e) {
    if (e instanceof DerError) return null;
    throw e;
  }
}

/** BasicConstraints: SEQUENCE { cA BOOLEAN DEFAULT FALSE, pathLenConstraint INTEGER OPTIONAL }. */
function basicConstraints(der: Uint8Array): NonNullable<Extensions['basicConstraints']> {
  const fields = children(der, readWhole(der, TAG.sequence, 'BasicConstraints'));
  let i = 0;
  const ca = fields[i]?.tag === TAG.boolean ? boolean(der, fields[i++]!) : false;
  const pathLength = fields[i]?.tag === TAG.integer ? integer(der, fields[i++]!) : null;
  if (i !== fields.length) throw new DerError('BasicConstraints: unexpected fields');
  return { ca, pathLength };
}

/**
 * KeyUsage, a BIT STRING: the first named bit is the first bit of the first octet. Computed
 * through a binary string as the previous decoder did, so that odd encodings (no octets, more
 * than 53 bits) give the same number, and so the same verdict, as before.
 */
function keyUsage(der: Uint8Array): number {
  const t = readWhole(der, TAG.bitString, 'KeyUsage');
  const bytes = content(der, t);
  const unused = bytes[0];
  if (unused === undefined || unused > 7) throw new DerError('KeyUsage: malformed BIT STRING');
  let bits = '';
  for (const b of bytes.subarray(1)) bits += b.toString(2).padStart(8, '0');
  bits = [...bits].reverse().join('');
  if (unused) bits = bits.slice(unused).padStart(unused, '0');
  return parseInt(bits, 2);
}

/** AuthorityInfoAccessSyntax: SEQUENCE OF { accessMethod OID, accessLocation GeneralName }; the caIssuers URIs. */
function caIssuers(der: Uint8Array): string[] {
  const out: string[] = [];
  for (const ad of childrenOf(der, readWhole(der, TAG.sequence, 'AuthorityInfoAccessSyntax'), TAG.sequence, 'AccessDescription')) {
    const [method, location, ...rest] = children(der, ad);
    if (!method || !location || rest.length) throw new DerError('AccessDescription: expected a method and a location');
    const isCaIssuers = oid(der, method) === OID.caIssuers;
    const name = generalName(der, location);
    if (isCaIssuers && name.type === 'uri') out.push(name.value);
  }
  return out;
}

/** NameConstraints: SEQUENCE { permittedSubtrees [0], excludedSubtrees [1] }, each a list of GeneralSubtree. */
function dnsSubtrees(der: Uint8Array): { permitted: string[]; excluded: string[] } {
  const fields = children(der, readWhole(der, TAG.sequence, 'NameConstraints'));
  let i = 0;
  const subtrees = (tag: number): string[] => {
    const f = fields[i];
    if (f?.tag !== tag) return [];
    i++;
    return childrenOf(der, f, TAG.sequence, 'GeneralSubtree').flatMap((s) => {
      const [base, ...bounds] = children(der, s);
      if (!base) throw new DerError('GeneralSubtree: no base');
      let j = 0;
      if (bounds[j]?.tag === 0x80) integer(der, { ...bounds[j++]!, tag: TAG.integer });
      if (bounds[j]?.tag === 0x81) integer(der, { ...bounds[j++]!, tag: TAG.integer });
      if (j !== bounds.length) throw new DerError('GeneralSubtree: unexpected fields');
      const name = generalName(der, base);
      return name.type === 'dns' ? [name.value] : [];
    });
  };
  const permitted = subtrees(0xa0);
  const excluded = subtrees(0xa1);
  if (i !== fields.length) throw new DerError('NameConstraints: unexpected fields');
  return { permitted, excluded };
}

/**
 * Every entry as the certificate has it: no trimming, no case folding, no IDNA. If our reader
 * refuses the extension, Node's text rendering still lists the DNS, IP and URI entries.
 */
function altNames(der: Uint8Array, node: X509Certificate): Extensions['altNames'] {
  let names: GeneralName[];
  try {
    names = children(der, readWhole(der, TAG.sequence, 'SubjectAltName')).map((t) => generalName(der, t));
  } catch (e) {
    if (!(e instanceof DerError)) throw e;
    const kinds: Record<string, 'dns' | 'ip' | 'uri'> = { DNS: 'dns', 'IP Address': 'ip', URI: 'uri' };
    return (node.subjectAltName ?? '')
      .split(/, (?=[A-Za-z ]+:)/)
      .map((item) => /^(DNS|IP Address|URI):(.*)$/.exec(item))
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => ({ type: kinds[m[1] ?? ''] ?? 'dns', value: m[2] ?? '' }));
  }
  return names.map((n) => {
    if (n.type === 'dns' || n.type === 'ip' || n.type === 'uri') return { type: n.type, value: n.value };
    if (n.type === 'other' && n.typeId === OID.srvName) return { type: 'srv', value: srvValue(n.value) };
    return { type: 'other', value: n.type === 'other' ? n.typeId : '' };
  });
}

/** The IA5String of an SRVName otherName, or '' if it is not one. */
function srvValue(bytes: Uint8Array): string {
  // IA5String with a short or one-octet long length: a DNS name is at most 255 octets
  if (bytes[0] !== 0x16) return '';
  const long = bytes[1] === 0x81;
  const len = long ? (bytes[2] ?? 0) : (bytes[1] ?? 0);
  const start = long ? 3 : 2;
  return Buffer.from(bytes.subarray(start, start + len)).toString('latin1');
}
