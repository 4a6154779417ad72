/**
 * DANE for SMTP (RFC 7672): what each TLSA record of an MX host says and which certificate of
 * what the server sent it matched. Part of the JSON contract (AddressResult.dane).
 */
import type { TlsaRecord } from '../dns/types.js';

/** DANE-TA(2) and DANE-EE(3) are usable for SMTP; PKIX-TA(0) and PKIX-EE(1) are not (RFC 7672 §3.1.3). */
export type TlsaUsability = 'usable' | 'unusable';

export interface TlsaRecordFacts extends TlsaRecord {
  usability: TlsaUsability;
  /** Why unusable: 'pkix-ta', 'pkix-ee', 'unknown usage', 'unknown selector', 'unknown matching type', 'bad length'. */
  unusableWhy?: string;
  /** `3 1 1 9f86…` as in a zone file (data shortened to 12 hex digits plus an ellipsis). */
  text: string;
}

/** One record judged against what one address served. */
export interface TlsaMatch {
  record: TlsaRecordFacts;
  matched: boolean;
  /** The certificate it matched: 0 = leaf, n = n-th certificate of the sent chain; null when none. */
  depth: number | null;
  /** 'leaf certificate', 'leaf SPKI', 'chain[1] SPKI'...; null when none. */
  against: string | null;
}

export interface DaneAddressFacts {
  /** The TLSA base domain sent as SNI (RFC 7672 §3.2.2). */
  sni: string;
  matches: TlsaMatch[];
  /** True when a usable record matched and, for DANE-TA, the path from it verified with names and dates. */
  authenticated: boolean;
  /** For people: why not authenticated (e.g. 'no usable record matched', 'DANE-TA anchor not in the sent chain'). */
  problem?: string;
}
