/**
 * blackbox_exporter's names for one probe, with the same meaning, so rules and dashboards
 * written for its smtp_starttls module keep working when pointed at GET /probe.
 * Unlike blackbox_exporter, certificate series are present even when verification failed.
 */
import { isIP } from 'node:net';
import { Gauge, type Registry } from 'prom-client';
import type { TargetResult } from '../probe/types.js';

/** `TLSv1.3` → `TLS 1.3`, as Go's tls.VersionName prints it. */
function goTlsVersion(protocol: string): string {
  return protocol.replace(/^TLSv1$/, 'TLS 1.0').replace(/^TLSv/, 'TLS ');
}

export function addBlackboxMetrics(registry: Registry, result: TargetResult): void {
  const gauge = (name: string, help: string, labelNames: string[] = []) => new Gauge({ name, help, labelNames, registers: [registry] });
  const success = gauge('probe_success', 'Displays whether or not the probe was a success');
  const duration = gauge('probe_duration_seconds', 'Returns how long the probe took to complete in seconds');
  const ipProtocol = gauge('probe_ip_protocol', 'Specifies whether probe ip protocol is IP4 or IP6');
  const earliest = gauge('probe_ssl_earliest_cert_expiry', 'Returns last SSL chain expiry in unixtime');
  const chainInfo = gauge('probe_ssl_last_chain_info', 'Contains SSL leaf certificate information', [
    'fingerprint_sha256',
    'subject',
    'issuer',
    'subjectalternative',
    'serialnumber',
  ]);
  const tlsVersion = gauge('probe_tls_version_info', 'Returns the TLS version used or NaN when unknown', ['version']);

  success.set(result.status === 'ok' || result.status === 'warning' ? 1 : 0);
  duration.set(result.durationMs / 1000);
  const first = result.addresses[0];
  if (first) ipProtocol.set(isIP(first.address) === 6 ? 6 : 4);
  const expiries = result.addresses.flatMap((a) => a.chain.map((c) => Date.parse(c.notAfter) / 1000));
  if (expiries.length) earliest.set(Math.min(...expiries));
  const seen = new Set<string>();
  for (const a of result.addresses) {
    const c = a.certificate;
    if (c && !seen.has(c.sha256)) {
      seen.add(c.sha256);
      chainInfo.set(
        {
          fingerprint_sha256: c.sha256.toLowerCase(),
          subject: c.subject,
          issuer: c.issuer,
          subjectalternative: c.dnsNames.join(','),
          serialnumber: c.serialNumber.toLowerCase(),
        },
        1,
      );
    }
  }
  const versions = new Set(result.addresses.map((a) => a.tls?.protocol).filter((p): p is string => !!p));
  for (const v of versions) tlsVersion.set({ version: goTlsVersion(v) }, 1);
}
