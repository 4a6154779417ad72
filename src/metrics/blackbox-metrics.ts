/**
 * blackbox_exporter's series for one probe, as its tcp prober with a STARTTLS module emits them:
 * same names, types, label names and value formats, so rules and dashboards written for its
 * smtp_starttls module keep working when pointed at GET /probe. test/metrics/blackbox-parity.test.ts
 * runs blackbox_exporter against the same servers and compares.
 *
 * Where we differ on purpose (README, "Prometheus"): the certificate series stay when a
 * certificate was served but failed verification (blackbox_exporter drops them with the failed
 * handshake), none is emitted when no certificate was seen at all, and probe_ssl_last_chain_info
 * carries the serialnumber label of blackbox_exporter 0.26 and later.
 */
import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';
import { Gauge, type Registry } from 'prom-client';
import type { ReasonCode } from '../probe/reasons.js';
import type { AddressResult, TargetResult } from '../probe/types.js';

export interface BlackboxContext {
  /** Seconds the name resolution took (0 for an IP literal). */
  dnsSeconds?: number;
}

/**
 * Where blackbox_exporter's query_response steps (expect `^220`, EHLO, expect STARTTLS, STARTTLS,
 * expect `^220`) would find no matching line: it sets probe_failed_due_to_regex then.
 */
const REGEX_FAILURES: ReadonlySet<ReasonCode> = new Set<ReasonCode>([
  'greeting_rejected',
  'ehlo_rejected',
  'starttls_not_offered',
  'starttls_rejected',
  'smtp_protocol_error',
]);

/** `TLSv1.3` → `TLS 1.3`, as blackbox_exporter names the versions. */
function goTlsVersion(protocol: string): string {
  const v = /^TLSv(1(?:\.[123])?)$/.exec(protocol)?.[1];
  return v ? `TLS ${v.includes('.') ? v : '1.0'}` : 'unknown';
}

/** FNV-1a (32 bits) of the address bytes: 4 for IPv4, 16 for IPv6, like Go's ipHash. */
export function ipAddrHash(address: string): number {
  const ip = ipaddr.parse(address);
  // Go hashes an IPv4-mapped IPv6 address as its 4 IPv4 bytes.
  const bytes = ip.kind() === 'ipv6' && (ip as ipaddr.IPv6).isIPv4MappedAddress() ? (ip as ipaddr.IPv6).toIPv4Address().toByteArray() : ip.toByteArray();
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

/** The address blackbox_exporter would have probed: the first one. */
function firstAddress(result: TargetResult): AddressResult | undefined {
  return result.addresses[0];
}

const seconds = (iso: string) => Math.floor(Date.parse(iso) / 1000);

export function addBlackboxMetrics(registry: Registry, result: TargetResult, context: BlackboxContext = {}): void {
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });
  const success = gauge('probe_success', 'Displays whether or not the probe was a success');
  const duration = gauge('probe_duration_seconds', 'Returns how long the probe took to complete in seconds');
  const dns = gauge('probe_dns_lookup_time_seconds', 'Returns the time taken for probe dns lookup in seconds');
  const ipProtocol = gauge('probe_ip_protocol', 'Specifies whether probe ip protocol is IP4 or IP6');
  const ipHash = gauge('probe_ip_addr_hash', "Specifies the hash of IP address. It's useful to detect if the IP address changes.");
  const regex = gauge('probe_failed_due_to_regex', 'Indicates if probe failed due to regex');

  success.set(result.status === 'ok' || result.status === 'warning' ? 1 : 0);
  duration.set(result.durationMs / 1000);
  dns.set(context.dnsSeconds ?? 0);
  // A name that did not resolve: blackbox_exporter leaves both at 0.
  const first = firstAddress(result);
  ipProtocol.set(first ? (isIP(first.address) === 6 ? 6 : 4) : 0);
  ipHash.set(first ? ipAddrHash(first.address) : 0);
  regex.set(result.addresses.some((a) => a.reasons.some((r) => REGEX_FAILURES.has(r.code))) ? 1 : 0);

  // The TLS series only when a certificate was seen, as blackbox_exporter registers them only
  // after a handshake: a 0 there would read as "expired in 1970" to every expiry alert.
  const withCert = result.addresses.filter((a) => a.certificate);
  if (!withCert.length) return;
  const earliest = gauge('probe_ssl_earliest_cert_expiry', 'Returns last SSL chain expiry in unixtime');
  const tlsVersion = gauge('probe_tls_version_info', 'Returns the TLS version used or NaN when unknown', ['version']);
  const chainInfo = gauge('probe_ssl_last_chain_info', 'Contains SSL leaf certificate information', [
    'fingerprint_sha256',
    'subject',
    'issuer',
    'subjectalternative',
    'serialnumber',
  ]);
  // The served certificates, the leaf's included: the earliest of all addresses.
  earliest.set(Math.min(...withCert.flatMap((a) => a.chain.map((c) => seconds(c.notAfter)))));
  const verified = withCert.map((a) => a.certificate!.verifiedChainNotAfter).filter((v): v is string => v !== null);
  if (verified.length) {
    gauge('probe_ssl_last_chain_expiry_timestamp_seconds', 'Returns last SSL chain expiry in timestamp').set(
      Math.min(...verified.map(seconds)),
    );
  }
  for (const a of withCert) {
    const c = a.certificate!;
    chainInfo.set(
      {
        fingerprint_sha256: c.sha256.toLowerCase(),
        subject: c.subjectDn,
        issuer: c.issuerDn,
        subjectalternative: c.dnsNames.join(','),
        // Go prints the serial's bytes: no sign octet, even length.
        serialnumber: c.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, ''),
      },
      1,
    );
    if (a.tls?.protocol) tlsVersion.set({ version: goTlsVersion(a.tls.protocol) }, 1);
  }
}
