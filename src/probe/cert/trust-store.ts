/**
 * Trust anchors: Node's bundled roots plus NODE_EXTRA_CA_CERTS by default (what node:tls
 * trusts), or the certificates of a CA file (which replaces them, as it does for node:tls).
 *
 * Indexed once per distinct source, but not parsed: a probe needs at most the few
 * certificates named as the issuer of something on the served path, and parsing every one
 * (121 bundled roots, plus often the system's bundle) with X509Certificate was most of a
 * one-shot check's verdict. Each certificate is kept as its DER, found by its bytes (has) or
 * by a key cut from its subject name with the DER reader (issuersOf), and parsed only when a
 * lookup reaches it; the answer is still decided by Node's own subject text.
 */
import type * as nodeCrypto from 'node:crypto';
import { rootCertificates } from 'node:tls';
import { DerError, TAG, readTlv, type Tlv } from './der.js';

// Node's own module object rather than an ESM import, whose namespace reads every export
// and so loads what a one-shot check never uses (README "Performance", `check`).
const { X509Certificate } = process.getBuiltinModule('node:crypto');
const { readFileSync } = process.getBuiltinModule('node:fs');
type X509Certificate = nodeCrypto.X509Certificate;

export interface TrustStore {
  /** Is this certificate, byte for byte, one of the store's? */
  has(cert: X509Certificate): boolean;
  /** The store's certificates whose subject is `cert`'s issuer name (as Node prints names), in the order of the source. */
  issuersOf(cert: X509Certificate): readonly X509Certificate[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const BEGIN = '-----BEGIN CERTIFICATE-----'.length;
const END = '-----END CERTIFICATE-----'.length;

export function splitPem(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

/** How many octets one character takes in the string types OpenSSL prints as text. */
const WIDTH: Record<number, number> = {
  [TAG.utf8String]: 1,
  0x12: 1, // NumericString
  [TAG.printableString]: 1,
  [TAG.teletexString]: 1,
  [TAG.ia5String]: 1,
  0x1a: 1, // VisibleString
  [TAG.universalString]: 4,
  [TAG.bmpString]: 2,
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

const asciiAlnum = (b: number) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);

/**
 * A key of a Name that two names with the same text (Node's `subject`/`issuer`) always share:
 * the ASCII letters and digits of each attribute value, whatever string type encodes them
 * (a UTF8String and a PrintableString of the same text print alike, and OpenSSL matches them).
 * Names with the same key may still print differently, which the lookup then checks. null
 * when a value is of a type, or in an encoding, this does not read: such a name may match
 * anything.
 */
function nameKey(d: Uint8Array, name: Tlv): string | null {
  // Walked with readTlv alone (no lists): every certificate of the store is keyed at start.
  if (name.tag !== TAG.sequence) return null;
  let key = '';
  for (let r = name.start; r < name.end; ) {
    const rdn = readTlv(d, r, name.end);
    r = rdn.end;
    if (rdn.tag !== TAG.set) return null;
    for (let a = rdn.start; a < rdn.end; ) {
      const atv = readTlv(d, a, rdn.end);
      a = atv.end;
      if (atv.tag !== TAG.sequence) return null;
      const value = readTlv(d, readTlv(d, atv.start, atv.end).end, atv.end);
      const width = WIDTH[value.tag];
      if (!width || value.end !== atv.end || (value.end - value.start) % width) return null;
      let ascii = true;
      // A character is ASCII when all but its last octet are zero (in UTF-8, every octet
      // of a longer character is 0x80 or more).
      for (let i = value.start; i < value.end; i += width) {
        const last = d[i + width - 1]!;
        let high = 0;
        for (let j = i; j < i + width - 1; j++) high |= d[j]!;
        if (high !== 0 || last >= 0x80) ascii = false;
        else if (asciiAlnum(last)) key += String.fromCharCode(last);
      }
      if (!ascii && value.tag === TAG.utf8String) {
        try {
          utf8.decode(d.subarray(value.start, value.end));
        } catch {
          return null; // OpenSSL does not print it as text either
        }
      }
      key += '|';
    }
  }
  return key;
}

/** The issuer or subject Name of a certificate, as encoded; throws DerError on what is not one. */
function nameOf(d: Uint8Array, which: 'issuer' | 'subject'): Tlv {
  const cert = readTlv(d, 0, d.length);
  if (cert.tag !== TAG.sequence) throw new DerError('not a Certificate');
  const tbs = readTlv(d, cert.start, cert.end);
  if (tbs.tag !== TAG.sequence) throw new DerError('not a tbsCertificate');
  const next = (t: Tlv) => readTlv(d, t.end, tbs.end);
  let field = readTlv(d, tbs.start, tbs.end);
  if (field.tag === 0xa0) field = next(field); // version, then serialNumber
  const issuer = next(next(field)); // after the signature algorithm
  return which === 'issuer' ? issuer : next(next(issuer)); // after the validity
}

function keyOf(der: Uint8Array, which: 'issuer' | 'subject'): string | null {
  try {
    return nameKey(der, nameOf(der, which));
  } catch {
    return null;
  }
}

interface Entry {
  pem: string;
  /** Its place in the source: lookups answer in that order. */
  index: number;
  /** Parsed on first use; null when Node cannot read it (it then counts for nothing). */
  node?: X509Certificate | null;
}

function parsed(e: Entry): X509Certificate | null {
  if (e.node === undefined) {
    try {
      e.node = new X509Certificate(e.pem);
    } catch {
      e.node = null;
    }
  }
  return e.node;
}

function build(pems: readonly string[]): TrustStore {
  const byKey = new Map<string, Entry[]>();
  /** Certificates whose subject has no key: candidates for any name. */
  const unkeyed: Entry[] = [];
  const all: Entry[] = [];
  for (const pem of pems) {
    const entry: Entry = { pem, index: all.length };
    all.push(entry);
    const key = keyOf(Buffer.from(pem.slice(BEGIN, pem.length - END), 'base64'), 'subject');
    if (key === null) unkeyed.push(entry);
    else {
      const list = byKey.get(key);
      if (list) list.push(entry);
      else byKey.set(key, [entry]);
    }
  }
  /**
   * The certificates that may have this subject name, parsed, without repeats (the same
   * DER, however wrapped: NODE_EXTRA_CA_CERTS often names the system's bundle, which holds
   * most of Node's own roots again, 96 of 144 on Debian); the first copy is the one kept.
   */
  const named = (key: string | null, subject: string): X509Certificate[] => {
    let candidates = key === null ? all : (byKey.get(key) ?? []);
    if (key !== null && unkeyed.length) candidates = [...candidates, ...unkeyed].sort((a, b) => a.index - b.index);
    const seen = new Set<string>();
    const out: X509Certificate[] = [];
    for (const entry of candidates) {
      const node = parsed(entry);
      if (!node || node.subject !== subject || seen.has(node.fingerprint256)) continue;
      seen.add(node.fingerprint256);
      out.push(node);
    }
    return out;
  };
  return {
    // The same bytes have the same subject, so the certificate is among those of its subject's key.
    has: (c) => named(keyOf(c.raw, 'subject'), c.subject).some((r) => r.fingerprint256 === c.fingerprint256),
    issuersOf: (c) => named(keyOf(c.raw, 'issuer'), c.issuer),
  };
}

/** Node adds NODE_EXTRA_CA_CERTS to its default roots at start; so do we. */
function extraCaCerts(file = process.env.NODE_EXTRA_CA_CERTS): string[] {
  if (!file) return [];
  try {
    return splitPem(readFileSync(file, 'utf8'));
  } catch {
    return []; // Node warns about an unreadable file itself
  }
}

let bundled: TrustStore | undefined;
const custom = new Map<string, TrustStore>();

/** The store for a CA file's PEM text, or Node's bundled roots when none is given. */
export function trustStore(caPem?: string): TrustStore {
  if (caPem === undefined) return (bundled ??= build([...rootCertificates, ...extraCaCerts()]));
  let store = custom.get(caPem);
  if (!store) {
    // A long-running service sees few distinct CA files; keep the cache from growing anyway.
    if (custom.size >= 32) custom.clear();
    store = build(splitPem(caPem));
    custom.set(caPem, store);
  }
  return store;
}
