/**
 * The certificate decoder the probe used before its own DER reader (@peculiar/asn1-x509, a
 * dev dependency now), kept as the oracle of the differential test: the reader must give the
 * same facts for every certificate, and fail where it failed.
 */
import type { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  AuthorityInfoAccessSyntax,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  KeyUsage,
  NameConstraints,
  SubjectAlternativeName,
  type GeneralName,
  type Name,
} from '@peculiar/asn1-x509';
import type { Extensions } from '../../src/probe/cert/extensions.js';
import type { Rdn } from '../../src/probe/cert/windows-dn.js';

export interface ReferenceFacts {
  version: number;
  subject: Rdn[];
  issuer: Rdn[];
  signatureOid: string;
  /** Hex of the signature algorithm's parameters element; null when absent or NULL. */
  signatureParameters: string | null;
  extensions: Array<{ oid: string; critical: boolean; value: string }>;
  decoded: Extensions;
}

const rdns = (name: Name): Rdn[] => name.map((rdn) => rdn.map((atv) => ({ oid: atv.type, value: atv.value.toString() })));
const hex = (b: ArrayBuffer) => Buffer.from(b).toString('hex');

const SUPPORTED = new Set([
  '2.16.840.1.113730.1.1', '2.5.29.15', '2.5.29.17', '2.5.29.19', '2.5.29.32', '2.5.29.31', '2.5.29.37',
  '1.3.6.1.5.5.7.1.7', '1.3.6.1.5.5.7.1.8', '1.3.6.1.5.5.7.48.1.5', '2.5.29.36', '1.3.6.1.5.5.7.1.14',
  '2.5.29.30', '2.5.29.33', '2.5.29.54',
]);

/** Throws where the library throws on the certificate as a whole. */
export function referenceFacts(der: Uint8Array, node: X509Certificate): ReferenceFacts {
  const asn = AsnConvert.parse(der, Certificate);
  const raw = asn.tbsCertificate.extensions ?? [];
  const value = (oid: string) => raw.find((e) => e.extnID === oid)?.extnValue.buffer;
  const read = <T>(oid: string, parse: (der: ArrayBuffer) => T): T | null => {
    const v = value(oid);
    if (!v) return null;
    try {
      return parse(v);
    } catch {
      return null;
    }
  };
  const bc = read('2.5.29.19', (d) => AsnConvert.parse(d, BasicConstraints));
  const aia = read('1.3.6.1.5.5.7.1.1', (d) => [...AsnConvert.parse(d, AuthorityInfoAccessSyntax)]);
  const san = value('2.5.29.17');
  const params = asn.signatureAlgorithm.parameters;
  return {
    version: asn.tbsCertificate.version,
    subject: rdns(asn.tbsCertificate.subject),
    issuer: rdns(asn.tbsCertificate.issuer),
    signatureOid: asn.signatureAlgorithm.algorithm,
    signatureParameters: params ? hex(params) : null,
    extensions: raw.map((e) => ({ oid: e.extnID, critical: e.critical, value: hex(e.extnValue.buffer) })),
    decoded: {
      basicConstraints: bc ? { ca: bc.cA, pathLength: bc.pathLenConstraint ?? null } : null,
      keyUsage: read('2.5.29.15', (d) => AsnConvert.parse(d, KeyUsage).toNumber()),
      extKeyUsage: read('2.5.29.37', (d) => [...AsnConvert.parse(d, ExtendedKeyUsage)].map(String)),
      nameConstraints: read('2.5.29.30', (d) => {
        const nc = AsnConvert.parse(d, NameConstraints);
        const dns = (list: readonly { base: GeneralName }[] | undefined) =>
          (list ?? []).map((s) => s.base.dNSName).filter((n): n is string => n !== undefined);
        return { permitted: dns(nc.permittedSubtrees), excluded: dns(nc.excludedSubtrees) };
      }),
      unknownCritical: raw.filter((e) => e.critical && !SUPPORTED.has(e.extnID)).map((e) => e.extnID),
      altNames: san ? altNames(san, node) : [],
      caIssuers: (aia ?? [])
        .filter((d) => d.accessMethod === '1.3.6.1.5.5.7.48.2' && d.accessLocation.uniformResourceIdentifier !== undefined)
        .map((d) => d.accessLocation.uniformResourceIdentifier!),
    },
  };
}

function altNames(der: ArrayBuffer, node: X509Certificate): Extensions['altNames'] {
  let names: GeneralName[];
  try {
    names = [...AsnConvert.parse(der, SubjectAlternativeName)];
  } catch {
    return altNamesFromText(node);
  }
  return names.map((n) => {
    if (n.dNSName !== undefined) return { type: 'dns', value: n.dNSName };
    if (n.iPAddress !== undefined) return { type: 'ip', value: n.iPAddress };
    if (n.uniformResourceIdentifier !== undefined) return { type: 'uri', value: n.uniformResourceIdentifier };
    if (n.otherName?.typeId === '1.3.6.1.5.5.7.8.7') return { type: 'srv', value: srvValue(n.otherName.value) };
    return { type: 'other', value: n.otherName?.typeId ?? '' };
  });
}

/** What both decoders fall back to when they refuse a subjectAltName: Node's rendering of it. */
export function altNamesFromText(node: X509Certificate): Extensions['altNames'] {
  const kinds: Record<string, 'dns' | 'ip' | 'uri'> = { DNS: 'dns', 'IP Address': 'ip', URI: 'uri' };
  return (node.subjectAltName ?? '')
    .split(/, (?=[A-Za-z ]+:)/)
    .map((item) => /^(DNS|IP Address|URI):(.*)$/.exec(item))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ type: kinds[m[1] ?? ''] ?? 'dns', value: m[2] ?? '' }));
}

function srvValue(value: ArrayBuffer): string {
  const bytes = new Uint8Array(value);
  if (bytes[0] !== 0x16) return '';
  const long = bytes[1] === 0x81;
  const len = long ? (bytes[2] ?? 0) : (bytes[1] ?? 0);
  const start = long ? 3 : 2;
  return Buffer.from(bytes.subarray(start, start + len)).toString('latin1');
}
