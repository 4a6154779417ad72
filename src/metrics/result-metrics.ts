/**
 * Probe results as Prometheus series, written into a registry made for one scrape (or one
 * on-demand probe). Built afresh each time from the results, so a removed target, address or
 * reason leaves no stale series, and a target's configured labels can be any names.
 * Label values are bounded: no timestamps or messages, long texts cut.
 */
import { Gauge, type Registry } from 'prom-client';
import { labelName } from './labels.js';
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
/** A reserved label name of ours clashing with a configured one gets a prefix. */
const customName = (k: string) => labelName(k, BASE);
const BASE = new Set(['target', 'host', 'port', 'address', 'reason', 'severity', 'expected', 'phase', 'thumbprint', 'sha256', 'subject', 'issuer', 'serial', 'sans', 'self_signed', 'tls_certificate_name', 'version', 'cipher', 'greeting_host', 'ehlo_host', 'status']);

/** Host the greeting names (`220 SERVER1.domain.com Microsoft ESMTP ...`). */
function greetingHost(a: AddressResult): string {
  return (a.smtp.greeting ?? '').replace(/^\d{3}[ -]?/, '').split(/\s+/)[0] ?? '';
}

/** One family of result series: its name, help, and the labels after the target's (or address's). */
interface Family {
  name: string;
  help: string;
  extra: string[];
  perAddress: boolean;
}

const family = (name: string, help: string, extra: string[] = [], perAddress = true): Family => ({ name, help, extra, perAddress });

/** The families, in the order a registry lists them. */
export const FAMILIES = {
  targetSuccess: family('smtp_tls_target_success', '1 if every address of the target is ok or warning, else 0 (includes DNS failures).', [], false),
  targetStatus: family('smtp_tls_target_status', 'Worst status of the target: 0 ok, 1 warning, 2 critical, 3 unknown.', [], false),
  targetAddresses: family('smtp_tls_target_addresses', 'Number of addresses probed for the target.', [], false),
  targetDuration: family('smtp_tls_probe_duration_seconds', 'Duration of the last probe of the target, DNS included.', [], false),
  lastProbe: family('smtp_tls_last_probe_timestamp_seconds', 'When the last probe of the target started.', [], false),
  interval: family('smtp_tls_schedule_interval_seconds', 'Seconds between the next two scheduled probes of the target.', [], false),
  success: family('smtp_tls_probe_success', '1 if the address is ok or warning, else 0.'),
  status: family('smtp_tls_probe_status', 'Status of the address: 0 ok, 1 warning, 2 critical, 3 unknown.'),
  reason: family('smtp_tls_reason', 'A reason present in the last result (1); address is empty for target-wide reasons such as dns_error.', ['reason', 'severity']),
  nameMatch: family('smtp_tls_name_match', '1 if the served certificate covers the expected name (RFC 9525), else 0.', ['expected']),
  notAfter: family('smtp_tls_cert_not_after_timestamp_seconds', 'notAfter of the served leaf certificate (exported even when verification failed).'),
  notBefore: family('smtp_tls_cert_not_before_timestamp_seconds', 'notBefore of the served leaf certificate.'),
  chainExpiry: family('smtp_tls_chain_earliest_not_after_timestamp_seconds', 'Earliest notAfter among the certificates the server sent.'),
  certInfo: family('smtp_tls_cert_info', 'The served leaf certificate (1): SHA-1 thumbprint as Exchange shows it, SHA-256, Windows-style subject and issuer, serial, SANs, and the TlsCertificateName that binds it to a receive connector.', ['thumbprint', 'sha256', 'subject', 'issuer', 'serial', 'sans', 'self_signed', 'tls_certificate_name']),
  certSince: family('smtp_tls_cert_changed_timestamp_seconds', 'When the certificate at this address last changed: a probe got a certificate different from the last one seen there (persisted; failed probes and restarts do not move it).'),
  certDistinct: family('smtp_tls_cert_distinct', 'Distinct certificates served at this address within the last 24 h (samples included): 1 normally, 2 for a day after a renewal, more when servers behind the address disagree (see cert_inconsistent).'),
  tlsInfo: family('smtp_tls_version_info', 'Negotiated TLS version and cipher (1).', ['version', 'cipher']),
  serverInfo: family('smtp_tls_server_info', 'Host names in the greeting and EHLO reply: which backend answered (1).', ['greeting_host', 'ehlo_host']),
  phase: family('smtp_tls_phase_duration_seconds', 'Duration of each phase of the last probe of the address.', ['phase']),
} satisfies Record<string, Family>;

export type FamilyKey = keyof typeof FAMILIES;

/** A series: its family, its labels (in the order they are written) and its value. */
export type SeriesSink = (family: FamilyKey, labels: Record<string, string>, value: number) => void;

/** The label names of the entries' configured labels, sorted, as every series carries them. */
export function customLabelNames(entries: readonly ResultEntry[]): string[] {
  return [...new Set(entries.flatMap((e) => Object.keys(e.labels)))].sort();
}

export function addResultMetrics(registry: Registry, entries: readonly ResultEntry[]): void {
  const custom = customLabelNames(entries);
  const targetLabels = ['target', 'host', 'port', ...custom.map(customName)];
  const addressLabels = [...targetLabels, 'address'];
  const gauges = Object.fromEntries(
    Object.entries(FAMILIES).map(([key, f]) => [
      key,
      new Gauge({ name: f.name, help: f.help, labelNames: [...(f.perAddress ? addressLabels : targetLabels), ...f.extra], registers: [registry] }),
    ]),
  ) as Record<FamilyKey, Gauge>;
  walkSeries(entries, custom, (f, labels, value) => gauges[f].set(labels, value));
}

/**
 * Every series of the entries, in the order a registry lists them within a family, given
 * to `sink`: addResultMetrics writes them into gauges, the per-target cache formats them
 * directly (result-cache.ts). `custom`: the configured label names every series carries.
 */
export function walkSeries(entries: readonly ResultEntry[], custom: readonly string[], sink: SeriesSink): void {
  for (const e of entries) {
    const r = e.result;
    const t: Record<string, string> = { target: e.name, host: r.target.host, port: String(r.target.port) };
    for (const k of custom) t[customName(k)] = e.labels[k] ?? '';
    const ok = (s: Status) => (s === 'ok' || s === 'warning' ? 1 : 0);
    sink('targetSuccess', t, ok(r.status));
    sink('targetStatus', t, STATUS_VALUE[r.status]);
    sink('targetAddresses', t, r.addresses.length);
    sink('targetDuration', t, r.durationMs / 1000);
    sink('lastProbe', t, seconds(r.startedAt));
    if (e.intervalSeconds) sink('interval', t, e.intervalSeconds);
    for (const x of r.reasons) sink('reason', { ...t, address: '', reason: x.code, severity: x.severity }, 1);
    for (const a of r.addresses) {
      const l = { ...t, address: a.address };
      sink('success', l, ok(a.status));
      sink('status', l, STATUS_VALUE[a.status]);
      for (const x of a.reasons) sink('reason', { ...l, reason: x.code, severity: x.severity }, 1);
      for (const n of a.names) sink('nameMatch', { ...l, expected: n.name }, n.matched ? 1 : 0);
      const c = a.certificate;
      if (c) {
        sink('notAfter', l, seconds(c.notAfter));
        sink('notBefore', l, seconds(c.notBefore));
        sink(
          'certInfo',
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
      if (since) sink('certSince', l, seconds(since));
      const distinct = e.distinctCertificates?.[a.address];
      if (distinct) sink('certDistinct', l, distinct);
      if (a.chain.length) sink('chainExpiry', l, Math.min(...a.chain.map((x) => seconds(x.notAfter))));
      if (a.tls) sink('tlsInfo', { ...l, version: a.tls.protocol ?? '', cipher: a.tls.cipher ?? '' }, 1);
      if (a.smtp.greeting || a.smtp.ehloHost) {
        sink('serverInfo', { ...l, greeting_host: cut(greetingHost(a)), ehlo_host: cut(a.smtp.ehloHost) }, 1);
      }
      for (const p of PHASES) {
        const ms = a.timings[`${p}Ms` as keyof typeof a.timings];
        if (ms !== undefined) sink('phase', { ...l, phase: p }, ms / 1000);
      }
    }
  }
}
