/**
 * SMTP TLS Reporting (RFC 8460 §3): one `v=TLSRPTv1` TXT record at `_smtp._tls.<domain>` with
 * `rua=` naming where senders send their daily reports, as `mailto:` or `https:` URIs.
 */
import type { DnsClient } from '../dns/types.js';
import { parseDnsName } from '../host.js';
import { domainReason } from './reasons.js';
import { classifyTxt, duplicateField, parseTagRecord } from './tag-record.js';
import type { DomainReason, TlsRptFacts } from './types.js';

export const TLSRPT_VERSION = 'v=TLSRPTv1';

/** One rua URI: null when senders can use it, else why not. */
export function ruaProblem(uri: string): string | null {
  if (/[\x00-\x20\x7f]/.test(uri)) return `${JSON.stringify(uri.slice(0, 80))} holds white space or a control character`;
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(uri)?.[1]?.toLowerCase();
  if (scheme === 'mailto') {
    const address = uri.slice('mailto:'.length);
    const at = address.lastIndexOf('@');
    const domain = at > 0 ? parseDnsName(address.slice(at + 1)) : null;
    if (!domain?.ok || /[\s<>"?]/.test(address.slice(0, at))) return `${JSON.stringify(uri)} is not mailto: followed by one address`;
    return null;
  }
  if (scheme === 'https') {
    let url: URL | null = null;
    try {
      url = new URL(uri);
    } catch {
      url = null;
    }
    if (!url || !url.hostname || !uri.toLowerCase().startsWith('https://')) return `${JSON.stringify(uri)} is not a valid https: URL`;
    return null;
  }
  return `${JSON.stringify(uri.slice(0, 80))} is neither a mailto: nor an https: URI`;
}

/** The rua URIs of one `v=TLSRPTv1` record, or what is wrong with it. */
export function parseTlsRptRecord(text: string): { ok: true; rua: string[] } | { ok: false; problem: string } {
  const parsed = parseTagRecord(text, TLSRPT_VERSION, ['rua']);
  if (!parsed.ok) return parsed;
  const twice = duplicateField(parsed.fields, ['rua', 'v']);
  if (twice) return { ok: false, problem: `has the field ${twice} twice` };
  const value = parsed.fields.find(([name]) => name === 'rua')?.[1];
  if (value === undefined) return { ok: false, problem: 'has no rua field (required)' };
  const rua = value.split(',').map((u) => u.trim());
  if (rua.some((u) => u === '')) return { ok: false, problem: `has rua=${JSON.stringify(value.slice(0, 80))} with an empty URI` };
  const bad = rua.map(ruaProblem).filter((p): p is string => p !== null);
  if (bad.length > 0) return { ok: false, problem: `has rua ${bad.join('; ')}` };
  return { ok: true, rua };
}

export async function checkTlsRpt(domain: string, dns: DnsClient, signal: AbortSignal): Promise<{ facts: TlsRptFacts; reasons: DomainReason[] }> {
  const name = `_smtp._tls.${domain}`;
  const { facts, kept } = classifyTxt(await dns.query(name, 'TXT', signal), TLSRPT_VERSION);
  switch (facts.status) {
    case 'absent':
      return { facts: { ...facts, rua: [] }, reasons: [domainReason('tls_rpt_missing', `${name} has no v=TLSRPTv1 record: senders send no TLS reports`)] };
    case 'error':
      return { facts: { ...facts, rua: [] }, reasons: [domainReason('tls_rpt_invalid', `${facts.problem}; whether TLS reports are wanted is unknown`, { severity: 'unknown' })] };
    case 'invalid':
    case 'multiple':
      return { facts: { ...facts, rua: [] }, reasons: [domainReason('tls_rpt_invalid', `${name}: ${facts.problem}; senders send no TLS reports`)] };
    case 'valid':
      break;
  }
  const parsed = parseTlsRptRecord(kept[0]!);
  if (!parsed.ok) {
    return { facts: { ...facts, status: 'invalid', problem: `the record ${parsed.problem}`, rua: [] }, reasons: [domainReason('tls_rpt_invalid', `${name}: the record ${parsed.problem}; senders send no TLS reports`)] };
  }
  return { facts: { ...facts, rua: parsed.rua }, reasons: [] };
}
