/**
 * Distinguished names as Go's crypto/x509/pkix Name.String() prints them, which is what
 * blackbox_exporter puts in probe_ssl_last_chain_info's subject and issuer labels: rules
 * written for it match a label value exactly, so the rendering has to be the same byte for byte.
 *
 * Go does not print the RDNs in their DER order: it fills named fields (C, ST, L, STREET,
 * POSTALCODE, O, OU, CN, SERIALNUMBER), rebuilds the sequence in that fixed order with all the
 * values of one type in one multi-valued RDN, puts the other attributes before them, and prints
 * the whole in reverse, joined by ','. Of CN and SERIALNUMBER only the last value counts.
 * Types without a short name print as `OID=#` and the hex DER of the value re-encoded.
 */
import type { Rdn } from './windows-dn.js';

/** In the order Go's Name.ToRDNSequence appends them. */
const NAMED: ReadonlyArray<readonly [oid: string, short: string, single: boolean]> = [
  ['2.5.4.6', 'C', false],
  ['2.5.4.8', 'ST', false],
  ['2.5.4.7', 'L', false],
  ['2.5.4.9', 'STREET', false],
  ['2.5.4.17', 'POSTALCODE', false],
  ['2.5.4.10', 'O', false],
  ['2.5.4.11', 'OU', false],
  ['2.5.4.3', 'CN', true],
  ['2.5.4.5', 'SERIALNUMBER', true],
];
const SHORT = new Map(NAMED.map(([oid, short]) => [oid, short]));

/** Go's escaping: `,+"\<>;` anywhere, a space first or last, `#` first. */
function escapeValue(value: string): string {
  let out = '';
  // Go compares byte offsets: a trailing space is last when it is the last byte.
  const bytes = Buffer.byteLength(value);
  let offset = 0;
  for (const c of value) {
    const escape = ',+"\\<>;'.includes(c) || (c === ' ' && (offset === 0 || offset === bytes - 1)) || (c === '#' && offset === 0);
    out += escape ? `\\${c}` : c;
    offset += Buffer.byteLength(c);
  }
  return out;
}

/** The DER length octets. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/**
 * How Go's asn1.Marshal encodes a Go string: PrintableString when every character is in its
 * set (without `*` and `&`), else UTF8String.
 */
function marshalString(value: string): string {
  const printable = /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value);
  const body = Buffer.from(value, printable ? 'latin1' : 'utf8');
  return Buffer.concat([Buffer.from([printable ? 0x13 : 0x0c]), derLength(body.length), body]).toString('hex');
}

function attribute(oid: string, value: string): string {
  const short = SHORT.get(oid);
  return short ? `${short}=${escapeValue(value)}` : `${oid}=#${marshalString(value)}`;
}

/** Render a name given as RDNs in DER order. */
export function goDn(rdns: readonly Rdn[]): string {
  const all = rdns.flat();
  // Attributes Go has no field for, each an RDN of its own, first in the sequence.
  const sequence: string[][] = all.filter((a) => !SHORT.has(a.oid)).map((a) => [attribute(a.oid, a.value)]);
  for (const [oid, , single] of NAMED) {
    const values = all.filter((a) => a.oid === oid).map((a) => a.value);
    // Go keeps the last CN and SERIALNUMBER, and drops an empty one.
    const kept = single ? values.slice(-1).filter((v) => v !== '') : values;
    if (kept.length) sequence.push(kept.map((v) => attribute(oid, v)));
  }
  return sequence
    .reverse()
    .map((rdn) => rdn.join('+'))
    .join(',');
}
