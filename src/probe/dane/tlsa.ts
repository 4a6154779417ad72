/**
 * One TLSA record on its own: can an SMTP client use it at all (RFC 7672 §3.1.3, RFC 7671
 * §4), and how it reads in a zone file. Matching it against what a server sent is match.ts.
 */
import type { TlsaRecord } from '../dns/types.js';
import type { TlsaRecordFacts } from './types.js';

// Node's own module object rather than an ESM import, whose namespace reads every export
// and so loads what a one-shot check never uses (README "Performance", `check`).
const { X509Certificate, createPublicKey } = process.getBuiltinModule('node:crypto');

export const PKIX_TA = 0;
export const PKIX_EE = 1;
export const DANE_TA = 2;
export const DANE_EE = 3;
export const SELECTOR_CERT = 0;
export const SELECTOR_SPKI = 1;
export const MATCH_FULL = 0;
export const MATCH_SHA256 = 1;
export const MATCH_SHA512 = 2;

/** Digest lengths in bytes by matching type; Full(0) has no fixed length. */
const DIGEST_BYTES: Readonly<Record<number, number>> = { [MATCH_SHA256]: 32, [MATCH_SHA512]: 64 };
/** Hash names as node:crypto takes them, by matching type. */
export const DIGEST_OF: Readonly<Record<number, string>> = { [MATCH_SHA256]: 'sha256', [MATCH_SHA512]: 'sha512' };

const HEX = /^(?:[0-9a-f]{2})*$/;
const SHOWN_HEX = 12;

/** The association data as lower-case hex without blanks (zone files split long data). */
export function normalHex(data: string): string {
  return data.replace(/\s+/g, '').toLowerCase();
}

/** `3 1 1 9f86d081884c…` as a zone file has it, the data cut to 12 hex digits. */
export function tlsaText(r: TlsaRecord): string {
  const hex = normalHex(r.data);
  const shown = hex.length > SHOWN_HEX ? `${hex.slice(0, SHOWN_HEX)}…` : hex || '-';
  return `${r.usage} ${r.selector} ${r.matchingType} ${shown}`;
}

/**
 * Full(0) data must be what the selector says: a certificate or a SubjectPublicKeyInfo.
 * OpenSSL refuses a record whose full data does not decode, so a sender never uses it.
 */
function fullDataDecodes(selector: number, der: Buffer): boolean {
  try {
    if (selector === SELECTOR_CERT) new X509Certificate(der);
    else createPublicKey({ key: der, format: 'der', type: 'spki' });
    return true;
  } catch {
    return false;
  }
}

/** Why an SMTP client ignores the record, or null when it can use it. */
function unusableWhy(r: TlsaRecord): string | null {
  if (r.usage === PKIX_TA) return 'pkix-ta';
  if (r.usage === PKIX_EE) return 'pkix-ee';
  if (r.usage !== DANE_TA && r.usage !== DANE_EE) return 'unknown usage';
  if (r.selector !== SELECTOR_CERT && r.selector !== SELECTOR_SPKI) return 'unknown selector';
  if (r.matchingType !== MATCH_FULL && r.matchingType !== MATCH_SHA256 && r.matchingType !== MATCH_SHA512) {
    return 'unknown matching type';
  }
  const hex = normalHex(r.data);
  if (!HEX.test(hex)) return 'bad data';
  const bytes = hex.length / 2;
  const want = DIGEST_BYTES[r.matchingType];
  if (want !== undefined) return bytes === want ? null : 'bad length';
  if (bytes === 0) return 'bad length';
  return fullDataDecodes(r.selector, Buffer.from(hex, 'hex')) ? null : 'bad data';
}

/**
 * The record as the report shows it. PKIX-TA(0) and PKIX-EE(1) would need the sender to
 * trust some CA, which SMTP senders do not agree on (RFC 7672 §3.1.3); unknown parameters
 * and data of the wrong length are ignored as RFC 7671 §4 says (OpenSSL refuses them too).
 */
export function tlsaFacts(record: TlsaRecord): TlsaRecordFacts {
  const why = unusableWhy(record);
  return {
    usage: record.usage,
    selector: record.selector,
    matchingType: record.matchingType,
    data: normalHex(record.data),
    usability: why === null ? 'usable' : 'unusable',
    ...(why !== null ? { unusableWhy: why } : {}),
    text: tlsaText(record),
  };
}

/**
 * Can the next key or certificate be published before it is deployed (RFC 7671 §8.1)? Only
 * with two or more distinct usable records: with one, any change breaks delivery until the
 * DNS catches up.
 */
export function hasRollover(records: readonly TlsaRecord[]): boolean {
  const usable = new Set(
    records
      .map(tlsaFacts)
      .filter((f) => f.usability === 'usable')
      .map((f) => `${f.usage} ${f.selector} ${f.matchingType} ${f.data}`),
  );
  return usable.size >= 2;
}
