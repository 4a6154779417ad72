/**
 * The probe's public types: what goes in (a target) and what comes out (a result).
 * The JSON result is part of the public contract (DESIGN.md, "Public contracts").
 */
import type { DaneAddressFacts } from './dane/types.js';
import type { TlsaRecord } from './dns/types.js';
import type { ReasonCode, Severity } from './reasons.js';

export type Status = 'ok' | 'warning' | 'critical' | 'unknown';

export interface ProbeTarget {
  /** DNS name or IP literal to connect to. */
  host: string;
  port: number;
  /** Names the certificate must cover; every one is checked. Defaults to [host]. */
  expect: string[];
  /** TLS SNI; null sends none. Defaults to host, none for IP literals. */
  sni: string | null;
  /** Pinned addresses: skip DNS and probe exactly these. */
  addresses?: string[];
  /** Probe only IPv4 or only IPv6 addresses of the name (e.g. from a host without IPv6). */
  family?: 4 | 6;
  /** Local address to connect from (SNAT / receive-connector selection). */
  source?: string;
  /** TLS from the first byte (port 465) instead of STARTTLS. */
  implicitTls: boolean;
  /** PEM text of the trust anchors; replaces Node's bundled roots. */
  ca?: string;
  /** Name sent with EHLO. */
  ehloName: string;
  /** Days before notAfter at which cert_expiring_soon starts. */
  warnDays: number;
  /** Pinned SHA-1 thumbprint (any case, separators allowed). */
  thumbprint?: string;
  /** Lowest acceptable TLS version. */
  minTlsVersion: 'TLSv1' | 'TLSv1.1' | 'TLSv1.2' | 'TLSv1.3';
  /** Connections per address per probe (1-10): servers behind one address may differ. */
  samples?: number;
  /**
   * DNSSEC-validated TLSA records of `_PORT._tcp.<sni>` (domain mode): every address's served
   * chain is matched against them and reported in AddressResult.dane.
   */
  tlsa?: TlsaRecord[];
}

export interface Reason {
  code: ReasonCode;
  severity: Severity;
  message: string;
  /**
   * Set when the cause is on this machine, not the server: the error code (EMFILE, ENFILE,
   * ENOBUFS, ENOMEM, EADDRNOTAVAIL; EINVAL or EADDRINUSE for a source address this machine
   * cannot use). Always with `probe_error`.
   */
  local?: string;
}

export interface Timings {
  connectMs?: number;
  greetingMs?: number;
  ehloMs?: number;
  starttlsMs?: number;
  tlsMs?: number;
  /** The EHLO sent again over TLS after STARTTLS (absent for implicit TLS). */
  tlsEhloMs?: number;
  totalMs: number;
}

export interface SmtpFacts {
  greeting?: string;
  /** First word of the EHLO reply: which backend server answered. */
  ehloHost?: string;
  /** EHLO extension lines (the first 100; STARTTLS is looked for in all of them). */
  extensions: string[];
  /** The EHLO reply over TLS after STARTTLS: the host and extensions a sender really uses. */
  tlsEhloHost?: string;
  tlsExtensions?: string[];
  /** Plaintext bytes received after the 220 to STARTTLS and thrown away (RFC 3207 §6). */
  discardedBytes?: number;
}

export interface TlsFacts {
  protocol: string | null;
  cipher: string | null;
  servername: string | null;
  /** What Node's own chain verification said, for reference. */
  authorizationError: string | null;
}

export interface CertificateFacts {
  subject: string;
  issuer: string;
  /** Subject as Go's pkix.Name.String() prints it (`CN=…,O=…`), as blackbox_exporter labels it. */
  subjectDn: string;
  /** Issuer in the same form. */
  issuerDn: string;
  serialNumber: string;
  /** SHA-1 of the DER, 40 uppercase hex, as Get-ExchangeCertificate shows it. */
  thumbprint: string;
  sha256: string;
  notBefore: string;
  notAfter: string;
  daysRemaining: number;
  dnsNames: string[];
  ipAddresses: string[];
  /** DNS names joined with ';' as in the SmtpReceive protocol log. */
  alternateNames: string;
  keyType: string;
  keyBits: number | null;
  signatureAlgorithm: string;
  selfSigned: boolean;
  /** `<I>issuer<S>subject`, Windows rendering, as Set-ReceiveConnector -TlsCertificateName takes it. */
  tlsCertificateName: string;
  /**
   * Earliest notAfter along the path from this certificate to a trust anchor of the store (the
   * anchor included); null when no such path was found (self-signed, untrusted, incomplete).
   */
  verifiedChainNotAfter: string | null;
}

export interface ChainEntry {
  subject: string;
  issuer: string;
  thumbprint: string;
  notAfter: string;
}

export interface NameMatch {
  name: string;
  matched: boolean;
  /** The SAN (or CN) that matched. */
  via: string | null;
}

export interface ExchangeOnlineHint {
  code: string;
  msg: string;
}

export interface AddressResult {
  address: string;
  status: Status;
  reasons: Reason[];
  timings: Timings;
  smtp: SmtpFacts;
  tls: TlsFacts | null;
  certificate: CertificateFacts | null;
  /** Certificates as the server sent them, leaf first. */
  chain: ChainEntry[];
  names: NameMatch[];
  exchangeOnline: ExchangeOnlineHint | null;
  /** What to do, for an Exchange admin: one hint per reason that has one. */
  remediation: string[];
  /** With samples > 1: every connection's outcome; the address's verdict is the worst one's. */
  samples?: SampleOutcome[];
  /** With target.tlsa: which TLSA record matched which certificate of the sent chain. */
  dane?: DaneAddressFacts;
}

export interface SampleOutcome {
  status: Status;
  reasons: ReasonCode[];
  certificate: CertificateFacts | null;
  /** First word of the EHLO reply: which backend answered. */
  ehloHost: string | null;
}

export interface TargetResult {
  target: {
    host: string;
    port: number;
    expect: string[];
    sni: string | null;
    implicitTls: boolean;
    source?: string;
    addresses?: string[];
    family?: 4 | 6;
  };
  status: Status;
  /** Problems of the target as a whole (DNS, bad input); per-address ones live in addresses[]. */
  reasons: Reason[];
  startedAt: string;
  durationMs: number;
  addresses: AddressResult[];
}
