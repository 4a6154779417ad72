/**
 * Probe results as Prometheus series, written into a registry made for one scrape (or one
 * on-demand probe). Built afresh each time from the results, so a removed target, address or
 * reason leaves no stale series, and a target's configured labels can be any names.
 * Label values are bounded: no timestamps or messages, long texts cut.
 */
import type { Registry } from 'prom-client';
import { configuredLabels, gaugeMaker } from './labels.js';
import type { AddressResult, Status, TargetResult } from '../probe/types.js';

export interface ResultEntry {
  /** The target's name (host for an on-demand probe). */
  name: string;
  /** Configured extra labels. */
  labels: Record<string, string>;
  result: TargetResult;
  /** When the served thumbprint of each address was first seen (scheduled results only). */
  thumbprintSince?: Record<string, string>;
  /** Distinct certificates per address within the last 24 h (scheduled results only). */
  distinctCertificates?: Record<string, number>;
  /** Seconds between scheduled runs (scheduled results only). */
  intervalSeconds?: number | null;
}

export const STATUS_VALUE: Record<Status, number> = { ok: 0, warning: 1, critical: 2, unknown: 3 };
const PHASES = ['connect', 'greeting', 'ehlo', 'starttls', 'tls', 'total'] as const;
const MAX_LABEL = 500;

const cut = (s: string | null | undefined) => {
  const v = s ?? '';
  return v.length > MAX_LABEL ? `${v.slice(0, MAX_LABEL - 1)}…` : v;
};
const seconds = (iso: string) => Date.parse(iso) / 1000;
const BASE = new Set(['target', 'host', 'port', 'address', 'reason', 'severity', 'expected', 'phase', 'thumbprint', 'sha256', 'subject', 'issuer', 'serial', 'sans', 'self_signed', 'tls_certificate_name', 'version', 'cipher', 'greeting_host', 'ehlo_host', 'status']);

/** Host the greeting names (`220 SERVER1.domain.com Microsoft ESMTP ...`). */
function greetingHost(a: AddressResult): string {
  return (a.smtp.greeting ?? '').replace(/^\d{3}[ -]?/, '').split(/\s+/)[0] ?? '';
}

export function addResultMetrics(registry: Registry, entries: readonly ResultEntry[]): void {
  const custom = configuredLabels(entries, BASE);
  const targetLabels = ['target', 'host', 'port', ...custom.names];
  const perTarget = gaugeMaker(registry, targetLabels);
  const perAddress = gaugeMaker(registry, [...targetLabels, 'address']);
  const gauge = (name: string, help: string, extra: string[] = [], address = true) => (address ? perAddress : perTarget)(name, help, extra);

  const g = {
    targetSuccess: gauge('smtp_tls_target_success', '1 if every address of the target is ok or warning, else 0 (includes DNS failures).', [], false),
    targetStatus: gauge('smtp_tls_target_status', 'Worst status of the target: 0 ok, 1 warning, 2 critical, 3 unknown.', [], false),
    targetAddresses: gauge('smtp_tls_target_addresses', 'Number of addresses probed for the target.', [], false),
    targetDuration: gauge('smtp_tls_probe_duration_seconds', 'Duration of the last probe of the target, DNS included.', [], false),
    lastProbe: gauge('smtp_tls_last_probe_timestamp_seconds', 'When the last probe of the target started.', [], false),
    interval: gauge('smtp_tls_schedule_interval_seconds', 'Seconds between the next two scheduled probes of the target.', [], false),
    success: gauge('smtp_tls_probe_success', '1 if the address is ok or warning, else 0.'),
    status: gauge('smtp_tls_probe_status', 'Status of the address: 0 ok, 1 warning, 2 critical, 3 unknown.'),
    reason: gauge('smtp_tls_reason', 'A reason present in the last result (1); address is empty for target-wide reasons such as dns_error.', ['reason', 'severity']),
    nameMatch: gauge('smtp_tls_name_match', '1 if the served certificate covers the expected name (RFC 9525), else 0.', ['expected']),
    notAfter: gauge('smtp_tls_cert_not_after_timestamp_seconds', 'notAfter of the served leaf certificate (exported even when verification failed).'),
    notBefore: gauge('smtp_tls_cert_not_before_timestamp_seconds', 'notBefore of the served leaf certificate.'),
    chainExpiry: gauge('smtp_tls_chain_earliest_not_after_timestamp_seconds', 'Earliest notAfter among the certificates the server sent.'),
    certInfo: gauge('smtp_tls_cert_info', 'The served leaf certificate (1): SHA-1 thumbprint as Exchange shows it, SHA-256, Windows-style subject and issuer, serial, SANs, and the TlsCertificateName that binds it to a receive connector.', ['thumbprint', 'sha256', 'subject', 'issuer', 'serial', 'sans', 'self_signed', 'tls_certificate_name']),
    certSince: gauge('smtp_tls_cert_changed_timestamp_seconds', 'When the certificate at this address last changed: a probe got a certificate different from the last one seen there (persisted; failed probes and restarts do not move it).'),
    certDistinct: gauge('smtp_tls_cert_distinct', 'Distinct certificates served at this address within the last 24 h (samples included): 1 normally, 2 for a day after a renewal, more when servers behind the address disagree (see cert_inconsistent).'),
    tlsInfo: gauge('smtp_tls_version_info', 'Negotiated TLS version and cipher (1).', ['version', 'cipher']),
    serverInfo: gauge('smtp_tls_server_info', 'Host names in the greeting and EHLO reply: which backend answered (1).', ['greeting_host', 'ehlo_host']),
    phase: gauge('smtp_tls_phase_duration_seconds', 'Duration of each phase of the last probe of the address.', ['phase']),
  };

  for (const e of entries) {
    const r = e.result;
    const t: Record<string, string> = { target: e.name, host: r.target.host, port: String(r.target.port), ...custom.values(e.labels) };
    const ok = (s: Status) => (s === 'ok' || s === 'warning' ? 1 : 0);
    g.targetSuccess.set(t, ok(r.status));
    g.targetStatus.set(t, STATUS_VALUE[r.status]);
    g.targetAddresses.set(t, r.addresses.length);
    g.targetDuration.set(t, r.durationMs / 1000);
    g.lastProbe.set(t, seconds(r.startedAt));
    if (e.intervalSeconds) g.interval.set(t, e.intervalSeconds);
    for (const x of r.reasons) g.reason.set({ ...t, address: '', reason: x.code, severity: x.severity }, 1);
    for (const a of r.addresses) {
      const l = { ...t, address: a.address };
      g.success.set(l, ok(a.status));
      g.status.set(l, STATUS_VALUE[a.status]);
      for (const x of a.reasons) g.reason.set({ ...l, reason: x.code, severity: x.severity }, 1);
      for (const n of a.names) g.nameMatch.set({ ...l, expected: n.name }, n.matched ? 1 : 0);
      const c = a.certificate;
      if (c) {
        g.notAfter.set(l, seconds(c.notAfter));
        g.notBefore.set(l, seconds(c.notBefore));
        g.certInfo.set(
          {
            ...l,
            thumbprint: c.thumbprint,
            sha256: c.sha256,
            subject: cut(c.subject),
            issuer: cut(c.issuer),
            serial: c.serialNumber,
            sans: cut(c.dnsNames.concat(c.ipAddresses).join(',')),
            self_signed: String(c.selfSigned),
            tls_certificate_name: cut(c.tlsCertificateName),
          },
          1,
        );
      }
      // Also while a probe fails: a gap in the series is not a change, and a timeout between
      // two sightings of the same certificate must not look like one.
      const since = e.thumbprintSince?.[a.address];
      if (since) g.certSince.set(l, seconds(since));
      const distinct = e.distinctCertificates?.[a.address];
      if (distinct) g.certDistinct.set(l, distinct);
      if (a.chain.length) g.chainExpiry.set(l, Math.min(...a.chain.map((x) => seconds(x.notAfter))));
      if (a.tls) g.tlsInfo.set({ ...l, version: a.tls.protocol ?? '', cipher: a.tls.cipher ?? '' }, 1);
      if (a.smtp.greeting || a.smtp.ehloHost) {
        g.serverInfo.set({ ...l, greeting_host: cut(greetingHost(a)), ehlo_host: cut(a.smtp.ehloHost) }, 1);
      }
      for (const p of PHASES) {
        const ms = a.timings[`${p}Ms` as keyof typeof a.timings];
        if (ms !== undefined) g.phase.set({ ...l, phase: p }, ms / 1000);
      }
    }
  }
}
