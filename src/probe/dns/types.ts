/**
 * The DNS facts domain mode judges: what a validating resolver answered, with the AD bit,
 * the RCODE and Extended DNS Errors (RFC 8914). Node's `dns` module exposes none of these,
 * so queries are our own (dns-packet over UDP, TCP on truncation).
 */

export type RRType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'TLSA' | 'CNAME' | 'SOA' | 'DS' | 'DNSKEY';

/**
 * secure: the resolver set AD. insecure: a valid answer without AD (unsigned or under an
 * insecure delegation). bogus: validation failed (SERVFAIL with an EDE of the DNSSEC range,
 * 1 to 12). indeterminate: no answer we can judge (timeout, SERVFAIL without EDE, network).
 */
export type DnsSecurity = 'secure' | 'insecure' | 'bogus' | 'indeterminate';

/** Real RCODEs by name, plus TIMEOUT and ERROR when no reply came at all. */
export type Rcode = 'NOERROR' | 'NXDOMAIN' | 'SERVFAIL' | 'REFUSED' | 'FORMERR' | 'NOTIMP' | 'TIMEOUT' | 'ERROR' | (string & {});

export interface MxRecord { preference: number; exchange: string }
export interface AddressRecord { address: string }
/** One TXT record: its character-strings joined without separator (RFC 7489 §3.2, RFC 8461 §3.1). */
export interface TxtRecord { text: string }
export interface TlsaRecord {
  usage: number;
  selector: number;
  matchingType: number;
  /** Certificate association data, lowercase hex. */
  data: string;
}
export interface CnameRecord { target: string }

export interface RecordOf {
  A: AddressRecord;
  AAAA: AddressRecord;
  MX: MxRecord;
  TXT: TxtRecord;
  TLSA: TlsaRecord;
  CNAME: CnameRecord;
  SOA: { mname: string };
  DS: { keyTag: number };
  DNSKEY: { flags: number };
}

export interface ExtendedError { code: number; text?: string }

export interface DnsAnswer<T extends RRType = RRType> {
  /** The name asked, lowercase A-labels, no trailing dot. */
  name: string;
  type: T;
  rcode: Rcode;
  /** The AD bit of the reply. */
  ad: boolean;
  security: DnsSecurity;
  ede: ExtendedError[];
  /** Records of the asked type at the end of the CNAME chain (owner names not kept). */
  records: RecordOf[T][];
  /** CNAME targets followed by the resolver, in order (empty when none). */
  cnames: string[];
  /** Earliest RRSIG expiration over the answer section, ISO 8601; absent when unsigned. */
  signatureExpires?: string;
  /** Why no reply came (TIMEOUT, ERROR) or what made it unusable; for people. */
  error?: string;
  /** Where the answer came from, `IP:port`. */
  server: string;
}

/** A validating resolver we talk to directly. Injected: tests use their own unbound. */
export interface DnsClient {
  /** Never throws for what the resolver or network does: failures are answers with rcode TIMEOUT/ERROR. */
  query<T extends RRType>(name: string, type: T, signal: AbortSignal): Promise<DnsAnswer<T>>;
  readonly server: string;
}
