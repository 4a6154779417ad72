/**
 * The parts of an X.509 certificate (RFC 5280 §4.1) that Node's X509Certificate does not
 * expose in structured form: the names as RDNs, the version, the signature algorithm with its
 * parameters, and the raw extensions; plus GeneralName, which several extensions share.
 * Values read as the ASN.1 library used before read them, so that no rendering changes.
 */
import {
  DerError,
  TAG,
  bmp,
  boolean,
  checkWellFormed,
  children,
  childrenOf,
  content,
  encoded,
  expectTlv,
  hex,
  integer,
  latin1,
  oid,
  readTlv,
  readWhole,
  universal,
  utf8,
  type Tlv,
} from './der.js';
import type { Rdn } from './windows-dn.js';

export interface RawExtension {
  oid: string;
  critical: boolean;
  /** The content of extnValue: the extension's own DER. */
  value: Uint8Array;
}

export interface CertificateDer {
  /** As written: 0 for v1, 2 for v3. */
  version: number;
  subject: Rdn[];
  issuer: Rdn[];
  signatureAlgorithm: { oid: string; /** The parameters element as encoded; null when absent. */ parameters: Uint8Array | null };
  extensions: RawExtension[];
}

/** Throws DerError unless `der` is one Certificate with the fields of RFC 5280 in order. */
export function decodeCertificateDer(der: Uint8Array): CertificateDer {
  const cert = readWhole(der, TAG.sequence, 'Certificate');
  const [tbs, sigAlg, sig, ...rest] = children(der, cert);
  if (!tbs || !sigAlg || !sig || rest.length) throw new DerError('Certificate: expected tbsCertificate, signatureAlgorithm, signature');
  need(tbs, TAG.sequence, 'tbsCertificate');
  bitString(der, need(sig, TAG.bitString, 'signature'));
  const fields = children(der, tbs);
  let i = 0;
  let version = 0;
  if (fields[i]?.tag === 0xa0) {
    version = integer(der, expectTlv(der, fields[i]!.start, fields[i]!.end, TAG.integer, 'version'));
    i++;
  }
  integer(der, need(fields[i++], TAG.integer, 'serialNumber'));
  algorithm(der, need(fields[i++], TAG.sequence, 'signature'));
  const issuer = name(der, need(fields[i++], TAG.sequence, 'issuer'));
  validity(der, need(fields[i++], TAG.sequence, 'validity'));
  const subject = name(der, need(fields[i++], TAG.sequence, 'subject'));
  publicKeyInfo(der, need(fields[i++], TAG.sequence, 'subjectPublicKeyInfo'));
  if (fields[i]?.tag === 0x81) bitString(der, { ...fields[i++]!, tag: TAG.bitString }); // issuerUniqueID
  if (fields[i]?.tag === 0x82) bitString(der, { ...fields[i++]!, tag: TAG.bitString }); // subjectUniqueID
  let extensions: RawExtension[] = [];
  if (fields[i]?.tag === 0xa3) {
    const wrapper = fields[i++]!;
    const list = expectTlv(der, wrapper.start, wrapper.end, TAG.sequence, 'extensions');
    if (list.end !== wrapper.end) throw new DerError('extensions: octets after the list');
    extensions = childrenOf(der, list, TAG.sequence, 'Extension').map((e) => extension(der, e));
  }
  if (i !== fields.length) throw new DerError('tbsCertificate: unexpected fields at the end');
  return { version, subject, issuer, signatureAlgorithm: algorithm(der, sigAlg), extensions };
}

function need(t: Tlv | undefined, tag: number, what: string): Tlv {
  if (!t) throw new DerError(`${what}: missing`);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

/**
 * The fields read by no one here are still checked for form, so that a certificate is
 * refused as a whole where the ASN.1 library refused it, not half-read.
 */
function validity(d: Uint8Array, t: Tlv): void {
  const times = children(d, t);
  if (times.length !== 2 || !times.every((x) => x.tag === 0x17 || x.tag === 0x18)) throw new DerError('validity: expected two times');
}

function publicKeyInfo(d: Uint8Array, t: Tlv): void {
  const [alg, key, ...rest] = children(d, t);
  if (!alg || !key || rest.length) throw new DerError('subjectPublicKeyInfo: expected an algorithm and a key');
  algorithm(d, alg);
  bitString(d, need(key, TAG.bitString, 'subjectPublicKey'));
}

function bitString(d: Uint8Array, t: Tlv): void {
  if (t.tag !== TAG.bitString || t.end === t.start || d[t.start]! > 7) throw new DerError('malformed BIT STRING');
}

function algorithm(d: Uint8Array, t: Tlv): CertificateDer['signatureAlgorithm'] {
  need(t, TAG.sequence, 'AlgorithmIdentifier');
  const [id, params, ...rest] = children(d, t);
  if (!id || rest.length) throw new DerError('AlgorithmIdentifier: expected an OID and at most one parameter');
  if (params) checkWellFormed(d, params);
  return { oid: oid(d, id), parameters: params && params.tag !== TAG.null ? encoded(d, params) : null };
}

function extension(d: Uint8Array, t: Tlv): RawExtension {
  const parts = children(d, t);
  const id = need(parts[0], TAG.oid, 'extnID');
  const critical = parts.length === 3 ? boolean(d, need(parts[1], TAG.boolean, 'critical')) : false;
  const value = need(parts[parts.length === 3 ? 2 : 1], TAG.octetString, 'extnValue');
  if (parts.length !== 2 && parts.length !== 3) throw new DerError('Extension: expected 2 or 3 fields');
  return { oid: oid(d, id), critical, value: content(d, value) };
}

/** Name: SEQUENCE OF RelativeDistinguishedName (SET OF AttributeTypeAndValue). */
export function name(d: Uint8Array, t: Tlv): Rdn[] {
  return childrenOf(d, need(t, TAG.sequence, 'Name'), TAG.set, 'RelativeDistinguishedName').map((rdn) =>
    childrenOf(d, rdn, TAG.sequence, 'AttributeTypeAndValue').map((atv) => {
      const [type, value, ...rest] = children(d, atv);
      if (!type || !value || rest.length) throw new DerError('AttributeTypeAndValue: expected a type and a value');
      return { oid: oid(d, type), value: attributeValue(d, value) };
    }),
  );
}

/**
 * DirectoryString and IA5String read as text; any other type as the hex of its encoding and
 * NULL as '', which is how the names rendered before.
 */
function attributeValue(d: Uint8Array, t: Tlv): string {
  const bytes = content(d, t);
  switch (t.tag) {
    case TAG.printableString:
    case TAG.teletexString:
    case TAG.ia5String:
      return latin1(bytes);
    case TAG.utf8String:
      return utf8(bytes);
    case TAG.bmpString:
      return bmp(bytes);
    case TAG.universalString:
      return universal(bytes);
    case TAG.null:
      return '';
    default:
      checkWellFormed(d, t);
      return hex(encoded(d, t));
  }
}

export type GeneralName =
  | { type: 'dns' | 'email' | 'uri'; value: string }
  | { type: 'ip'; value: string }
  | { type: 'other'; typeId: string; /** The value inside the [0] EXPLICIT wrapper, as encoded. */ value: Uint8Array }
  | { type: 'directory' | 'x400' | 'edi' | 'registeredId' };

/** GeneralName (RFC 5280 §4.2.1.6), the CHOICE element itself. */
export function generalName(d: Uint8Array, t: Tlv): GeneralName {
  switch (t.tag) {
    case 0xa0: {
      const [typeId, wrapper, ...rest] = children(d, t);
      if (!typeId || !wrapper || rest.length || wrapper.tag !== 0xa0) throw new DerError('otherName: expected a type and a [0] value');
      const inner = readTlv(d, wrapper.start, wrapper.end);
      if (inner.end !== wrapper.end) throw new DerError('otherName: more than one value');
      return { type: 'other', typeId: oid(d, typeId), value: encoded(d, inner) };
    }
    case 0x81:
      return { type: 'email', value: latin1(content(d, t)) };
    case 0x82:
      return { type: 'dns', value: latin1(content(d, t)) };
    case 0xa3:
      return { type: 'x400' };
    case 0xa4: {
      const inner = readTlv(d, t.start, t.end);
      if (inner.end !== t.end) throw new DerError('directoryName: more than one Name');
      name(d, need(inner, TAG.sequence, 'directoryName'));
      return { type: 'directory' };
    }
    case 0xa5: {
      // EDIPartyName: nameAssigner [0] OPTIONAL, partyName [1]
      const parts = children(d, t);
      const last = parts[parts.length - 1];
      if (!last || last.tag !== 0xa1 || parts.length > 2 || (parts.length === 2 && parts[0]!.tag !== 0xa0)) throw new DerError('ediPartyName: expected [0] and [1]');
      return { type: 'edi' };
    }
    case 0x86:
      return { type: 'uri', value: latin1(content(d, t)) };
    case 0x87:
      return { type: 'ip', value: ipText(content(d, t)) };
    case 0x88:
      oid(d, { ...t, tag: TAG.oid });
      return { type: 'registeredId' };
    default:
      throw new DerError(`GeneralName: unknown tag 0x${t.tag.toString(16)}`);
  }
}

/** IPv6 groups in lower-case hex, the longest run of two or more zero groups (the first of equals) as "::". */
function ipv6Text(b: Uint8Array): string {
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i]! << 8) | b[i + 1]!).toString(16));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  if (best < 0) return groups.join(':');
  return `${groups.slice(0, best).join(':')}::${groups.slice(best + bestLen).join(':')}`;
}

const ones = (bytes: Uint8Array) => bytes.reduce((n, b) => n + b.toString(2).replaceAll('0', '').length, 0);

/**
 * An iPAddress as text: an address of 4 or 16 octets, an address with its mask (8 or 32, as
 * name constraints have them) as address/prefix length, anything else as hex.
 */
export function ipText(b: Uint8Array): string {
  if (b.length === 4) return b.join('.');
  if (b.length === 16) return ipv6Text(b);
  if (b.length === 8 || b.length === 32) {
    if (b.every((x) => x === 0)) return b.length === 8 ? '0.0.0.0/0' : '::/0';
    const half = b.length / 2;
    const addr = b.subarray(0, half);
    return `${half === 4 ? addr.join('.') : ipv6Text(addr)}/${ones(b.subarray(half))}`;
  }
  return hex(b);
}
