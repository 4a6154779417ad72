/**
 * Domain mode's public types: a mail domain judged the way senders do (MX, MTA-STS, DANE,
 * TLS-RPT), with one verdict per sender. The JSON result is part of the public contract.
 */
import type { TlsaRecordFacts } from '../dane/types.js';
import type { DnsSecurity, Rcode } from '../dns/types.js';
import type { AddressResult, ProbeTarget, Status } from '../types.js';
import type { DomainReasonCode } from './reasons.js';

/** rfc: a sender following RFC 7672 and RFC 8461 (Postfix with DANE and MTA-STS). exo: Exchange Online. */
export type Sender = 'rfc' | 'exo';
export const SENDERS: readonly Sender[] = ['rfc', 'exo'];

/**
 * deliver: mail goes out now. delayed: some MX is unusable but another takes the mail, or a
 * retry will. blocked: queued until fixed. unknown: DNS and policy leave MX hosts to use, but
 * none of them was probed over SMTP (`--no-smtp`, or the on-demand address policy refused
 * every address), so whether they take the mail was not observed.
 */
export type SenderVerdict = 'deliver' | 'delayed' | 'blocked' | 'unknown';

export type MtaStsMode = 'enforce' | 'testing' | 'none';

/** Severity of a domain reason; `info` never changes the status. */
export type DomainSeverity = 'info' | 'warning' | 'critical' | 'unknown';

export interface DomainReason {
  code: DomainReasonCode;
  severity: DomainSeverity;
  message: string;
  /** The MX host it concerns; absent for domain-wide reasons. */
  mx?: string;
  address?: string;
}

export interface DomainTarget {
  /** A-label, lowercase, no trailing dot. */
  domain: string;
  senders: Sender[];
  /** Probe the MX hosts over SMTP (false: DNS and policy only, `--no-smtp`). */
  smtp: boolean;
  /** What the administrator expects; a difference is a reason. */
  expect: {
    mtaSts?: MtaStsMode | 'absent';
    dane?: boolean;
    tlsRpt?: boolean;
  };
  /** Trust store (PEM) for the MX certificates; Node's roots when absent. */
  ca?: string;
  /** Trust store (PEM) for the MTA-STS policy host; Node's roots when absent. */
  policyCa?: string;
  /** Fields of every MX host's SMTP probe (EHLO name, warnDays, minimum TLS version, port). */
  probe: Pick<ProbeTarget, 'ehloName' | 'warnDays' | 'minTlsVersion' | 'port'>;
}

export interface MxAddress {
  address: string;
  /** DNSSEC state of the A/AAAA RRset it came from. */
  dnssec: DnsSecurity;
  /** The SMTP probe of this address (null with --no-smtp or when refused by the address policy). */
  probe: AddressResult | null;
  /** Set when the address policy (on-demand) refused to connect: the refused class. */
  refused?: string;
  /** The IANA special-purpose range it lies in (ipaddr.js range name: `loopback`, `private`...). */
  special?: string;
}

export interface MxHost {
  /** A-label, lowercase, no trailing dot. */
  host: string;
  preference: number;
  /** True for the implicit MX (the domain's own address records, RFC 5321 §5.1). */
  implicit: boolean;
  /** CNAMEs followed to reach the addresses (a warning when present). */
  cnames: string[];
  /** DNSSEC state of the host's address RRsets (worst of A and AAAA). */
  dnssec: DnsSecurity;
  /** Earliest RRSIG expiration of the address RRsets (DnsAnswer.signatureExpires); absent when unsigned. */
  signatureExpires?: string;
  addresses: MxAddress[];
  /** `_25._tcp.<host>` TLSA lookup; null when not looked up (address records not secure). */
  tlsa: {
    rcode: Rcode;
    dnssec: DnsSecurity;
    records: TlsaRecordFacts[];
    /** Earliest RRSIG expiration of the TLSA RRset; absent when unsigned. */
    signatureExpires?: string;
  } | null;
  /** Whether the MTA-STS policy's `mx:` patterns cover this host; null without a policy. */
  mtaStsMatch: boolean | null;
  /** The pattern that covered it. */
  mtaStsPattern?: string | null;
}

export interface MxFacts {
  /** explicit: MX records; implicit: none, the domain's addresses; null: `MX 0 .`; none: nothing to deliver to; error: lookup failed. */
  kind: 'explicit' | 'implicit' | 'null' | 'none' | 'error';
  rcode: Rcode;
  dnssec: DnsSecurity;
  signatureExpires?: string;
  hosts: MxHost[];
}

export interface TxtRecordFacts {
  /** absent: secure or insecure NXDOMAIN/NODATA (no record); error: lookup failed (never "absent"). */
  status: 'absent' | 'valid' | 'invalid' | 'multiple' | 'error';
  rcode: Rcode;
  dnssec: DnsSecurity;
  /** Earliest RRSIG expiration of the TXT RRset; absent when unsigned. */
  signatureExpires?: string;
  /** Every TXT record at the name, as published. */
  raw: string[];
  /** For people: what is wrong, naming the field. */
  problem?: string;
}

export interface MtaStsFacts {
  record: TxtRecordFacts & { id?: string };
  /** The HTTPS fetch of the policy; null when no valid record. */
  fetch: {
    url: string;
    address?: string;
    status?: number;
    contentType?: string;
    bytes?: number;
    /** Set when the fetch failed: for people. */
    error?: string;
    /** The policy host's certificate, judged as a browser would (WebPKI, name = mta-sts.<domain>). */
    certificate?: { subject: string; issuer: string; notAfter: string; dnsNames: string[]; authorizationError: string | null };
    durationMs: number;
  } | null;
  policy: {
    version: string;
    mode: MtaStsMode;
    maxAge: number;
    mx: string[];
  } | null;
  /** The mode senders apply: null when no policy applies (absent record, failed fetch without cache). */
  mode: MtaStsMode | null;
}

export interface TlsRptFacts extends TxtRecordFacts {
  rua: string[];
}

export interface SenderResult {
  sender: Sender;
  verdict: SenderVerdict;
  /** What decided it: 'dane', 'mta-sts', 'plain' (no policy: opportunistic TLS), 'null-mx', 'no-mx'. */
  route: 'dane' | 'mta-sts' | 'plain' | 'null-mx' | 'no-mx' | 'dns';
  /** Exchange Online's code on that route when not delivered (exo), e.g. `4.7.323 tlsa-invalid`. */
  code?: string;
  /** For people: one sentence. */
  message: string;
  /**
   * MX hosts this sender would use, in order: those whose probe it accepts, and with verdict
   * `unknown` those DNS and policy leave it that were not probed.
   */
  usableMx: string[];
}

export interface DomainResult {
  domain: string;
  status: Status;
  startedAt: string;
  durationMs: number;
  resolver: { server: string; validating: boolean | null };
  /** Domain-wide and per-MX reasons (with `mx` / `address` set). */
  reasons: DomainReason[];
  mx: MxFacts;
  mtaSts: MtaStsFacts;
  tlsRpt: TlsRptFacts;
  senders: SenderResult[];
}
