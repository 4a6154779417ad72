/**
 * DANE for SMTP (RFC 7672): what each TLSA record of an MX host says and which certificate of
 * what the server sent it matched. Part of the JSON contract (AddressResult.dane).
 */
import type { TlsaRecord } from '../dns/types.js';

/** DANE-TA(2) and DANE-EE(3) are usable for SMTP; PKIX-TA(0) and PKIX-EE(1) are not (RFC 7672 §3.1.3). */
export type TlsaUsability = 'usable' | 'unusable';

export interface TlsaRecordFacts extends TlsaRecord {
  usability: TlsaUsability;
  /**
   * Why unusable: 'pkix-ta', 'pkix-ee', 'unknown usage', 'unknown selector', 'unknown matching
   * type', 'bad length' (a digest of the wrong size, or no data), 'bad data' (not hex, or Full(0)
   * data that is not a certificate / SubjectPublicKeyInfo as the selector says).
   */
  unusableWhy?: string;
  /** `3 1 1 9f86…` as in a zone file (data shortened to 12 hex digits plus an ellipsis). */
  text: string;
}

/** One record judged against what one address served. */
export interface TlsaMatch {
  record: TlsaRecordFacts;
  matched: boolean;
  /**
   * The certificate it matched: 0 = leaf, n = n-th certificate of the sent chain; null when none,
   * or when a 2 0 0 / 2 1 0 record carries an issuer the server did not send.
   */
  depth: number | null;
  /** 'leaf certificate', 'leaf SPKI', 'chain[1] SPKI'...; null when none. */
  against: string | null;
  /**
   * Why a usable record was not used, or what its match did not achieve, for people: e.g. a
   * SHA-256 record beside a SHA-512 one of the same usage and selector (RFC 7671 §9), or a
   * DANE-TA match on a certificate off the path from the leaf.
   */
  note?: string;
}

/**
 * Why a server is not authenticated, for code (daneReasons maps these to reason codes):
 * no-tls: no TLS session came up, so there was nothing to match (DANE makes TLS mandatory);
 * no-usable-records: every record is unusable (TLS mandatory, but unauthenticated);
 * no-match: no usable record matched;
 * ta-not-sent: DANE-TA records matched nothing sent, and the chain's top was issued by a
 *   certificate the server did not send (the anchor must be sent, RFC 7672 §3.1.2);
 * chain-invalid / name-mismatch / expired: a DANE-TA record matched, but the path from the
 *   leaf to that anchor fails (signatures, CA rules), the leaf's names do not cover the
 *   reference identifiers, or a certificate is out of date.
 */
export type DaneFailure = 'no-tls' | 'no-usable-records' | 'no-match' | 'ta-not-sent' | 'chain-invalid' | 'name-mismatch' | 'expired';

export interface DaneAddressFacts {
  /** The TLSA base domain sent as SNI (RFC 7672 §3.2.2). */
  sni: string;
  matches: TlsaMatch[];
  /** True when a usable record matched and, for DANE-TA, the path from it verified with names and dates. */
  authenticated: boolean;
  /** For people: why not authenticated (e.g. 'no usable record matched', 'DANE-TA anchor not in the sent chain'). */
  problem?: string;
  /** Set whenever authenticated is false. */
  failure?: DaneFailure;
  /**
   * Whether the leaf's names cover the reference identifiers (the TLSA base domain, the MX
   * host) and whether it is in date: RFC 7672 ignores both for DANE-EE(3), Exchange Online's
   * documentation suggests it does not (4.7.322 certificate-expired, 4.7.325
   * certificate-host-mismatch), so a report can show both views. Absent without a leaf.
   */
  leafNamesMatch?: boolean;
  leafInDate?: boolean;
}
