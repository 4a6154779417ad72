/**
 * A small, strict DER reader: enough of ASN.1 to walk a certificate and the extensions the
 * verdict reads. Definite lengths only, single-octet tags only, every element inside its
 * parent, a bound on elements per list; the one recursive walk (checkWellFormed) stops at 16
 * levels. Anything else is a DerError, which the certificate decoder turns into "not a
 * certificate" or "extension absent", as the ASN.1 library it replaces did.
 */

export class DerError extends Error {
  override name = 'DerError';
}

/** One element: its tag octet, where its header starts, and its content [start, end). */
export interface Tlv {
  tag: number;
  at: number;
  start: number;
  end: number;
}

/** Universal and context tags the decoders use (class and constructed bits included). */
export const TAG = {
  boolean: 0x01,
  integer: 0x02,
  bitString: 0x03,
  octetString: 0x04,
  null: 0x05,
  oid: 0x06,
  utf8String: 0x0c,
  printableString: 0x13,
  teletexString: 0x14,
  ia5String: 0x16,
  universalString: 0x1c,
  bmpString: 0x1e,
  sequence: 0x30,
  set: 0x31,
} as const;

/** More elements than any real certificate has in one list (SANs included); a bound on work. */
const MAX_ITEMS = 10_000;

/** The element starting at `at`; its content must end by `limit`. */
export function readTlv(d: Uint8Array, at: number, limit: number): Tlv {
  if (at + 2 > limit) throw new DerError(`truncated element at offset ${at}`);
  const tag = d[at]!;
  // High tag numbers (0x1f) do not occur in the structures read here.
  if ((tag & 0x1f) === 0x1f) throw new DerError(`multi-octet tag at offset ${at}`);
  let len = d[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // 0x80 is BER's indefinite length; more than 4 octets of length is beyond any certificate.
    if (n === 0) throw new DerError(`indefinite length at offset ${at}`);
    if (n > 4) throw new DerError(`length of ${n} octets at offset ${at}`);
    if (start + n > limit) throw new DerError(`truncated length at offset ${at}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + d[start + i]!;
    start += n;
  }
  const end = start + len;
  if (end > limit) throw new DerError(`element at offset ${at} runs past its container`);
  return { tag, at, start, end };
}

/** The element at `at`, which must have this tag. */
export function expectTlv(d: Uint8Array, at: number, limit: number, tag: number, what: string): Tlv {
  const t = readTlv(d, at, limit);
  if (t.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${t.tag.toString(16)}`);
  return t;
}

/** The only element of d, which must fill it exactly. */
export function readWhole(d: Uint8Array, tag: number, what: string): Tlv {
  const t = expectTlv(d, 0, d.length, tag, what);
  if (t.end !== d.length) throw new DerError(`${what}: ${d.length - t.end} octets after the element`);
  return t;
}

/** The elements inside a constructed element, which must fill its content exactly. */
export function children(d: Uint8Array, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end; ) {
    if (out.length >= MAX_ITEMS) throw new DerError(`more than ${MAX_ITEMS} elements in one list`);
    const t = readTlv(d, at, parent.end);
    out.push(t);
    at = t.end;
  }
  return out;
}

/** Children that must all have one tag (SEQUENCE OF, SET OF). */
export function childrenOf(d: Uint8Array, parent: Tlv, tag: number, what: string): Tlv[] {
  const list = children(d, parent);
  for (const c of list) {
    if (c.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}, found 0x${c.tag.toString(16)}`);
  }
  return list;
}

/** Deeper than any structure a certificate nests in an algorithm's parameters. */
const MAX_DEPTH = 16;

/**
 * Checks that an element the probe does not interpret (an algorithm's parameters, an
 * attribute value of an unknown type) is DER all the way down: known primitive types well
 * formed, no constructed form of a primitive type, at most MAX_DEPTH levels. The library
 * decoded these too and refused the certificate when they were broken; so do we, rather
 * than judge a certificate half-read.
 */
export function checkWellFormed(d: Uint8Array, t: Tlv, depth = 0): void {
  if (depth > MAX_DEPTH) throw new DerError(`nested deeper than ${MAX_DEPTH} levels`);
  const universal = (t.tag & 0xc0) === 0;
  const number = t.tag & 0x1f;
  if (universal && (number === 0 || number === 15)) throw new DerError(`reserved tag 0x${t.tag.toString(16)}`);
  if (t.tag & 0x20) {
    if (universal && number !== 0x10 && number !== 0x11) throw new DerError(`constructed encoding of primitive tag 0x${t.tag.toString(16)}`);
    for (const c of children(d, t)) checkWellFormed(d, c, depth + 1);
    return;
  }
  if (!universal) return;
  if (number === TAG.sequence - 0x20 || number === TAG.set - 0x20) throw new DerError('primitive encoding of a SEQUENCE or SET');
  if (number === TAG.boolean) boolean(d, t);
  else if (number === TAG.integer) integer(d, t);
  else if (number === TAG.oid) oid(d, t);
  else if (number === 0x0a) integer(d, { ...t, tag: TAG.integer }); // ENUMERATED
  else if (number === 0x0d && (t.end === t.start || d[t.end - 1]! & 0x80)) throw new DerError('malformed RELATIVE-OID');
  else if (number === TAG.null && t.end !== t.start) throw new DerError('NULL with content');
  else if (number === TAG.bitString && (t.end === t.start || d[t.start]! > 7)) throw new DerError('malformed BIT STRING');
}

export const content = (d: Uint8Array, t: Tlv): Uint8Array => d.subarray(t.start, t.end);
/** Header and content, as the element was encoded. */
export const encoded = (d: Uint8Array, t: Tlv): Uint8Array => d.subarray(t.at, t.end);

/** Dotted text of an OBJECT IDENTIFIER; the first octet carries two arcs (X.690 8.19.4). */
export function oid(d: Uint8Array, t: Tlv): string {
  if (t.tag !== TAG.oid) throw new DerError(`expected an OBJECT IDENTIFIER, found tag 0x${t.tag.toString(16)}`);
  if (t.start === t.end) throw new DerError('empty OBJECT IDENTIFIER');
  if (d[t.end - 1]! & 0x80) throw new DerError('OBJECT IDENTIFIER ends inside an arc');
  const arcs: string[] = [];
  let v = 0n;
  let small = 0;
  let big = false;
  for (let i = t.start; i < t.end; i++) {
    const b = d[i]!;
    // Arcs past 2^53 stay exact through BigInt; ordinary ones never leave plain numbers.
    if (!big && small >= 2 ** 45) {
      big = true;
      v = BigInt(small);
    }
    if (big) v = v * 128n + BigInt(b & 0x7f);
    else small = small * 128 + (b & 0x7f);
    if (b & 0x80) continue;
    if (arcs.length === 0) {
      const first = big ? v : BigInt(small);
      const top = first < 40n ? 0n : first < 80n ? 1n : 2n;
      arcs.push(String(top), String(first - top * 40n));
    } else {
      arcs.push(big ? String(v) : String(small));
    }
    v = 0n;
    small = 0;
    big = false;
  }
  return arcs.join('.');
}

/** An INTEGER as a number (two's complement); past 2^53 it is rounded, as any number is. */
export function integer(d: Uint8Array, t: Tlv): number {
  if (t.tag !== TAG.integer) throw new DerError(`expected an INTEGER, found tag 0x${t.tag.toString(16)}`);
  if (t.start === t.end) throw new DerError('empty INTEGER');
  const bytes = d.subarray(t.start, t.end);
  if (bytes.length > 6) return Number(BigInt.asIntN(bytes.length * 8, BigInt(`0x${hex(bytes)}`)));
  let v = 0;
  for (const b of bytes) v = v * 256 + b;
  return bytes[0]! & 0x80 ? v - 2 ** (8 * bytes.length) : v;
}

export function boolean(d: Uint8Array, t: Tlv): boolean {
  if (t.tag !== TAG.boolean || t.end - t.start !== 1) throw new DerError('malformed BOOLEAN');
  return d[t.start] !== 0;
}

/** One character per octet: the reading of IA5, Printable and Teletex strings. */
export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 4096) s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  return s;
}

const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** UTF8String; octets that are not UTF-8 are read one character per octet rather than refused. */
export function utf8(bytes: Uint8Array): string {
  try {
    return utf8Decoder.decode(bytes);
  } catch {
    return latin1(bytes);
  }
}

/** BMPString: UTF-16 code units, big-endian. */
export function bmp(bytes: Uint8Array): string {
  if (bytes.length % 2) throw new DerError('BMPString of odd length');
  let s = '';
  for (let i = 0; i < bytes.length; i += 2) s += String.fromCharCode((bytes[i]! << 8) | bytes[i + 1]!);
  return s;
}

/**
 * UniversalString: UCS-4, big-endian. Read as the previous decoder (asn1js) read it, so that
 * names render as before: the low 16 bits of each character, one code unit each.
 */
export function universal(bytes: Uint8Array): string {
  if (bytes.length % 4) throw new DerError('UniversalString length not a multiple of 4');
  let s = '';
  for (let i = 0; i < bytes.length; i += 4) s += String.fromCharCode((bytes[i + 2]! << 8) | bytes[i + 3]!);
  return s;
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}
