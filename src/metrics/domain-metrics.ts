/**
 * Domain results (domain mode) as Prometheus series, per scheduled domain or for one
 * /probe/domain request. Labels: `target` (the configured name; the domain on demand),
 * `domain`, the domain's configured labels, and per series the MX host, address, DNS name
 * and RRset, sender, reason. No messages, codes of Exchange Online or timestamps as labels.
 *
 * Encodings (README, "Metrics"): status 0 ok, 1 warning, 2 critical, 3 unknown; verdict
 * 0 deliver, 1 delayed, 2 blocked, 3 unknown (not probed); DNSSEC 0 secure, 1 insecure, 2 bogus, 3 indeterminate;
 * MTA-STS mode 0 none or no policy, 1 testing, 2 enforce.
 */
import type { Registry } from 'prom-client';
import type { DnsSecurity } from '../probe/dns/types.js';
import type { DomainResult, MtaStsMode, SenderVerdict } from '../probe/domain/types.js';
import { configuredLabels, gaugeMaker } from './labels.js';
import { STATUS_VALUE } from './result-metrics.js';

export interface DomainEntry {
  /** The configured name (the domain for an on-demand check). */
  name: string;
  labels: Record<string, string>;
  result: DomainResult;
}

export const VERDICT_VALUE: Record<SenderVerdict, number> = { deliver: 0, delayed: 1, blocked: 2, unknown: 3 };
export const DNSSEC_VALUE: Record<DnsSecurity, number> = { secure: 0, insecure: 1, bogus: 2, indeterminate: 3 };
export const MTA_STS_MODE_VALUE: Record<MtaStsMode, number> = { none: 0, testing: 1, enforce: 2 };

const BASE = new Set(['target', 'domain', 'sender', 'reason', 'severity', 'mx', 'address', 'name', 'rrset']);
const seconds = (iso: string) => Date.parse(iso) / 1000;

export function addDomainMetrics(registry: Registry, entries: readonly DomainEntry[]): void {
  const custom = configuredLabels(entries, BASE);
  const gauge = gaugeMaker(registry, ['target', 'domain', ...custom.names]);
  const g = {
    status: gauge('smtp_tls_domain_status', 'Status of the mail domain: 0 ok, 1 warning, 2 critical, 3 unknown.'),
    verdict: gauge('smtp_tls_domain_sender_verdict', "What the sender does with mail to the domain now: 0 deliver, 1 delayed (another MX or a retry takes it), 2 blocked (queued until fixed), 3 unknown (no MX that DNS and policy allow was probed). sender: rfc (RFC 7672/8461, Postfix) or exo (Exchange Online).", ['sender']),
    reason: gauge('smtp_tls_domain_reason', 'A domain-mode reason present in the last check (1); mx is empty for domain-wide reasons.', ['reason', 'severity', 'mx']),
    dnssec: gauge('smtp_tls_dnssec_status', 'DNSSEC state of an RRset the check relied on: 0 secure, 1 insecure, 2 bogus, 3 indeterminate (no answer to judge).', ['name', 'rrset']),
    sigExpiry: gauge('smtp_tls_dnssec_signature_expiry_timestamp_seconds', 'Earliest RRSIG expiration of the RRset.', ['name', 'rrset']),
    mode: gauge('smtp_tls_mta_sts_mode', 'MTA-STS mode senders apply: 0 none or no policy (absent, or not fetched), 1 testing, 2 enforce. Absent when the TXT lookup failed.'),
    mxMatch: gauge('smtp_tls_mta_sts_mx_match', "1 if the MTA-STS policy's mx patterns cover the MX host, else 0 (only with a policy).", ['mx']),
    policyCert: gauge('smtp_tls_mta_sts_policy_cert_not_after_timestamp_seconds', 'notAfter of the certificate the MTA-STS policy host served.'),
    daneMatch: gauge('smtp_tls_dane_match', '1 if a usable TLSA record authenticated what the address served (DANE-EE, or DANE-TA with the anchor sent), else 0.', ['mx', 'address']),
    rollover: gauge('smtp_tls_dane_rollover', '1 if the MX host publishes TLSA records for a certificate change (current and next), 0 if a renewal would break DANE; only where DANE applies.', ['mx']),
    tlsRpt: gauge('smtp_tls_tls_rpt_present', '1 if a valid TLS-RPT record (v=TLSRPTv1 with rua) is published, else 0; absent when the lookup failed.'),
    lastCheck: gauge('smtp_tls_domain_last_check_timestamp_seconds', 'When the last check of the domain started.'),
    duration: gauge('smtp_tls_domain_check_duration_seconds', 'Duration of the last check of the domain, DNS, policy fetch and SMTP probes included.'),
  };

  for (const e of entries) {
    const r = e.result;
    const l: Record<string, string> = { target: e.name, domain: r.domain, ...custom.values(e.labels) };
    g.status.set(l, STATUS_VALUE[r.status]);
    g.lastCheck.set(l, seconds(r.startedAt));
    g.duration.set(l, r.durationMs / 1000);
    for (const s of r.senders) g.verdict.set({ ...l, sender: s.sender }, VERDICT_VALUE[s.verdict]);
    for (const x of r.reasons) g.reason.set({ ...l, reason: x.code, severity: x.severity, mx: x.mx ?? '' }, 1);

    const rrset = (name: string, type: string, security: DnsSecurity, expires?: string) => {
      g.dnssec.set({ ...l, name, rrset: type }, DNSSEC_VALUE[security]);
      if (expires) g.sigExpiry.set({ ...l, name, rrset: type }, seconds(expires));
    };
    rrset(r.domain, 'MX', r.mx.dnssec, r.mx.signatureExpires);
    rrset(`_mta-sts.${r.domain}`, 'TXT', r.mtaSts.record.dnssec, r.mtaSts.record.signatureExpires);
    rrset(`_smtp._tls.${r.domain}`, 'TXT', r.tlsRpt.dnssec, r.tlsRpt.signatureExpires);
    const noRollover = new Set(r.reasons.filter((x) => x.code === 'dane_no_rollover').map((x) => x.mx));
    for (const h of r.mx.hosts) {
      // The implicit MX is the domain's own address records.
      rrset(h.host, 'A/AAAA', h.dnssec, h.signatureExpires);
      if (h.tlsa) {
        rrset(`_25._tcp.${h.host}`, 'TLSA', h.tlsa.dnssec, h.tlsa.signatureExpires);
        if (h.tlsa.dnssec === 'secure' && h.tlsa.records.length > 0) g.rollover.set({ ...l, mx: h.host }, noRollover.has(h.host) ? 0 : 1);
      }
      if (h.mtaStsMatch !== null) g.mxMatch.set({ ...l, mx: h.host }, h.mtaStsMatch ? 1 : 0);
      for (const a of h.addresses) {
        if (a.probe?.dane) g.daneMatch.set({ ...l, mx: h.host, address: a.address }, a.probe.dane.authenticated ? 1 : 0);
      }
    }
    // A failed lookup is unknown, never "absent": no series then.
    if (r.mtaSts.record.status !== 'error') g.mode.set(l, r.mtaSts.mode ? MTA_STS_MODE_VALUE[r.mtaSts.mode] : 0);
    const cert = r.mtaSts.fetch?.certificate;
    if (cert) g.policyCert.set(l, seconds(cert.notAfter));
    if (r.tlsRpt.status !== 'error') g.tlsRpt.set(l, r.tlsRpt.status === 'valid' ? 1 : 0);
  }
}
