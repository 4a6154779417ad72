/**
 * Domain reasons from the facts once they are gathered: the TLSA state of each MX, what each
 * probed address means under DANE or MTA-STS, the administrator's expectations, and the
 * severities settled by what senders do (a failure another MX absorbs is a warning).
 */
import { daneReasons } from '../dane/dane-reasons.js';
import type { DnsSecurity } from '../dns/types.js';
import { worst } from '../reasons.js';
import type { Status } from '../types.js';
import { domainReason } from './reasons.js';
import { CONNECTION_CODES, NO_TLS_CODES, PKIX_CODES } from './senders.js';
import type { DomainReason, DomainTarget, MtaStsFacts, MxFacts, MxHost, SenderResult, TlsRptFacts, TxtRecordFacts } from './types.js';

const TEMPORARY_RCODES = new Set(['SERVFAIL', 'TIMEOUT', 'ERROR', 'REFUSED']);

/** What the TLSA lookup of one MX says, before any connection. */
export function hostTlsaReasons(h: MxHost, mxDnssec: DnsSecurity): DomainReason[] {
  const tlsa = h.tlsa;
  if (!tlsa) return [];
  const name = `_25._tcp.${h.host}`;
  const at = { mx: h.host };
  if (tlsa.dnssec === 'bogus' || TEMPORARY_RCODES.has(tlsa.rcode)) {
    const what = tlsa.dnssec === 'bogus' ? 'fails DNSSEC validation' : `failed (${tlsa.rcode})`;
    return [domainReason('dnssec_bogus', `the TLSA lookup of ${name} ${what} in a signed zone: senders using DANE treat ${h.host} as unusable, never as "no TLSA"`, at)];
  }
  if (tlsa.records.length === 0) return [];
  if (tlsa.dnssec !== 'secure') {
    return [domainReason('dane_tlsa_insecure', `${name} has TLSA records but they are not DNSSEC-signed (${tlsa.dnssec}): senders ignore them`, at)];
  }
  if (mxDnssec !== 'secure') {
    return [
      domainReason(
        'dane_mx_insecure',
        `${h.host} has secure TLSA records but the MX records are ${mxDnssec}: RFC 7672 senders may still use DANE for it, Exchange Online does not (it wants MX and A/AAAA authentic)`,
        at,
      ),
    ];
  }
  return [];
}

const daneApplies = (h: MxHost) => h.tlsa !== null && h.tlsa.dnssec === 'secure' && h.tlsa.records.length > 0;

/** What the SMTP probe of each address of one MX means for senders. */
export function addressReasons(h: MxHost, sts: MtaStsFacts): DomainReason[] {
  const out: DomainReason[] = [];
  const underSts = (sts.mode === 'enforce' || sts.mode === 'testing') && h.mtaStsMatch === true;
  for (const a of h.addresses) {
    const p = a.probe;
    if (a.refused) {
      out.push(
        domainReason('mx_not_probed', `${h.host} at ${a.address} was not probed: the address policy of on-demand checks refuses ${a.refused} addresses, so what it serves is unknown`, {
          mx: h.host,
          address: a.address,
        }),
      );
    }
    if (!p) continue;
    const at = { mx: h.host, address: a.address };
    const connect = p.reasons.find((r) => CONNECTION_CODES.has(r.code));
    if (connect) {
      out.push(domainReason('mx_unreachable', `${h.host} at ${a.address} takes no mail: ${connect.code}, ${connect.message}`, at));
      continue;
    }
    if (daneApplies(h) && p.dane) out.push(...daneReasons(h.host, a.address, p.dane));
    const pkix = p.reasons.find((r) => NO_TLS_CODES.has(r.code) || PKIX_CODES.has(r.code));
    if (underSts && pkix) {
      out.push(
        domainReason('mta_sts_cert_invalid', `${h.host} at ${a.address} fails the MTA-STS rules (${pkix.code}: ${pkix.message})${sts.mode === 'testing' ? '; testing mode: reported, delivered' : ''}`, {
          ...at,
          ...(sts.mode === 'testing' ? { severity: 'warning' as const } : {}),
        }),
      );
    }
  }
  return out;
}

interface Found {
  mx: MxFacts;
  mtaSts: MtaStsFacts;
  tlsRpt: TlsRptFacts;
  validating: boolean;
}

/** The `--expect-*` expectations against what was found: each difference is critical. */
export function expectationReasons(expect: DomainTarget['expect'], found: Found): DomainReason[] {
  const out: DomainReason[] = [];
  if (expect.mtaSts !== undefined) {
    const record = found.mtaSts.record.status;
    const got = record === 'absent' ? 'absent' : (found.mtaSts.mode ?? `no policy (record ${record}${found.mtaSts.fetch?.error ? ', fetch failed' : ''})`);
    if (got !== expect.mtaSts) out.push(domainReason('expect_mismatch', `MTA-STS: expected ${expect.mtaSts}, found ${got}`));
  }
  if (expect.dane) {
    const without = found.mx.hosts.filter((h) => !daneApplies(h)).map((h) => h.host);
    if (!found.validating) out.push(domainReason('expect_mismatch', 'DANE: expected on every MX, but the resolver does not validate', { severity: 'unknown' }));
    else if (found.mx.hosts.length === 0) out.push(domainReason('expect_mismatch', 'DANE: expected on every MX, but there is no MX host'));
    else if (without.length) out.push(domainReason('expect_mismatch', `DANE: expected on every MX, none (no secure TLSA records) on ${without.join(', ')}`));
  }
  if (expect.tlsRpt && found.tlsRpt.status !== 'valid') {
    out.push(domainReason('expect_mismatch', `TLS-RPT: expected a valid record, found ${found.tlsRpt.status}`));
  }
  return out;
}

/** Without a validating resolver no DNSSEC state is known: none is shown as secure or insecure. */
export function markUnverified(mx: MxFacts, sts: MtaStsFacts, rpt: TlsRptFacts): void {
  mx.dnssec = 'indeterminate';
  for (const h of mx.hosts) {
    h.dnssec = 'indeterminate';
    for (const a of h.addresses) a.dnssec = 'indeterminate';
  }
  const txt: TxtRecordFacts[] = [sts.record, rpt];
  for (const r of txt) r.dnssec = 'indeterminate';
}

/**
 * Per-MX failures are critical only when some sender finds no MX left (blocked): when every
 * sender still delivers through another MX, they delay mail and are warnings. An address the
 * address policy kept us from probing leaves the result unknown, unless every sender was seen
 * to deliver through another MX (then it is only said).
 */
export function settleSeverities(reasons: DomainReason[], senders: readonly SenderResult[]): DomainReason[] {
  const absorbed = senders.length > 0 && senders.every((s) => s.verdict === 'deliver' || s.verdict === 'delayed');
  const seen = new Set<string>();
  const out: DomainReason[] = [];
  for (const r of reasons) {
    const key = `${r.code} ${r.mx ?? ''} ${r.address ?? ''} ${r.message}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (absorbed && r.code === 'mx_not_probed') out.push({ ...r, severity: 'info' });
    else out.push(absorbed && r.mx && r.severity === 'critical' ? { ...r, severity: 'warning' } : r);
  }
  return out;
}

export function statusOfReasons(reasons: readonly DomainReason[]): Status {
  return worst(reasons.map((r) => (r.severity === 'info' ? 'ok' : r.severity)));
}
