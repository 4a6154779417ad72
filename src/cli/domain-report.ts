/**
 * The human report of a domain check: a Nagios-style first line, the reasons, then the facts
 * in the order a sender meets them (MX, MTA-STS, DANE per MX, TLS-RPT) and one verdict line
 * per sender, with Exchange Online's code on its route.
 */
import { matchText } from '../probe/dane/match.js';
import type { AddressResult } from '../probe/types.js';
import type { DomainReason, DomainResult, MxHost } from '../probe/domain/types.js';
import { wrap } from './report.js';

const MARK: Record<string, string> = { critical: 'x', warning: '!', unknown: '?', info: 'i' };

function summary(r: DomainResult): string {
  const verdicts = r.senders.map((s) => `${s.sender} ${s.verdict}`).join(', ');
  const codes = [...new Set(r.reasons.filter((x) => x.severity !== 'info').map((x) => x.code))];
  return `${r.domain}: ${verdicts || 'no sender judged'}${codes.length ? `; ${codes.join(', ')}` : ''}`;
}

const pad = (text: string, width: number) => text.padEnd(width);

function reasonLines(reasons: readonly DomainReason[], columns: number | undefined): string[] {
  if (reasons.length === 0) return [];
  const width = Math.max(...reasons.map((x) => x.code.length));
  const out = ['Reasons'];
  for (const x of reasons) {
    const where = [x.mx, x.address].filter(Boolean).join(' ');
    out.push(...wrap(`  ${MARK[x.severity] ?? '-'} ${pad(x.code, width)}  ${where ? `[${where}] ` : ''}${x.message}`, columns, '      '));
  }
  return out;
}

function mxLines(r: DomainResult): string[] {
  const mx = r.mx;
  const head = `MX (${mx.kind}, ${mx.rcode}, DNSSEC ${mx.dnssec}${mx.signatureExpires ? `, signatures until ${mx.signatureExpires}` : ''})`;
  if (mx.hosts.length === 0) {
    const why: Record<string, string> = {
      null: 'null MX: the domain accepts no mail',
      // A failed lookup is not an absence: nobody knows which MX hosts there are.
      error: 'the MX lookup failed: which MX hosts the domain has is not known',
      none: mx.rcode === 'NXDOMAIN' ? 'the domain does not exist' : 'no MX host and no address',
    };
    return [head, `  ${why[mx.kind] ?? 'no MX host'}`];
  }
  const hw = Math.max(4, ...mx.hosts.map((h) => h.host.length));
  const out = [head, `  ${pad('pref', 5)} ${pad('host', hw)}  ${pad('DNSSEC', 13)} addresses`];
  for (const h of mx.hosts) {
    const addresses = h.addresses.map((a) => `${a.address}${a.special ? ` (${a.special})` : ''}${a.refused ? ` [refused: ${a.refused}]` : ''}`).join(', ') || '(none)';
    const notes = [h.implicit ? 'implicit MX' : '', h.cnames.length ? `CNAME → ${h.cnames.join(' → ')}` : ''].filter(Boolean).join('; ');
    out.push(`  ${pad(String(h.preference), 5)} ${pad(h.host, hw)}  ${pad(h.dnssec, 13)} ${addresses}${notes ? `  (${notes})` : ''}`);
  }
  return out;
}

function mtaStsLines(r: DomainResult): string[] {
  const s = r.mtaSts;
  const rec = s.record;
  const out = ['MTA-STS'];
  const raw = rec.raw.length ? rec.raw.map((x) => JSON.stringify(x)).join(', ') : '(none)';
  out.push(`  record   ${rec.status}${rec.problem ? ` (${rec.problem})` : ''}, DNSSEC ${rec.dnssec}: ${raw}`);
  const f = s.fetch;
  if (f) {
    // A certificate without a status: TLS came up, but the host did not prove its name, so nothing was asked.
    const got =
      f.status !== undefined
        ? `HTTP ${f.status}${f.contentType ? `, ${f.contentType}` : ''}${f.bytes !== undefined ? `, ${f.bytes} bytes` : ''}`
        : f.certificate
          ? 'no request sent'
          : 'no answer';
    out.push(`  fetch    ${f.url}${f.address ? ` via ${f.address}` : ''}: ${got}${f.error ? ` (${f.error})` : ''}, ${f.durationMs} ms`);
    if (f.certificate) {
      const c = f.certificate;
      out.push(`  cert     ${c.subject}, issuer ${c.issuer}, until ${c.notAfter.slice(0, 10)}, names ${c.dnsNames.join(';') || '(none)'}${c.authorizationError ? ` [${c.authorizationError}]` : ' [valid]'}`);
    }
  }
  if (s.policy) out.push(`  policy   mode ${s.policy.mode}, max_age ${s.policy.maxAge}, mx ${s.policy.mx.join(', ') || '(none)'}`);
  out.push(`  applies  ${s.mode ?? 'no policy'}`);
  for (const h of r.mx.hosts) {
    if (h.mtaStsMatch === null) continue;
    out.push(`  ${h.host}: ${h.mtaStsMatch ? `covered by ${h.mtaStsPattern ?? 'the policy'}` : 'NOT covered by any mx pattern'}`);
  }
  return out;
}

function daneAddress(a: AddressResult): string[] {
  const d = a.dane;
  if (!d) return [`    ${a.address}: no DANE facts (${a.reasons.map((x) => x.code).join(', ') || 'not matched'})`];
  const out = [`    ${a.address} (SNI ${d.sni}): ${d.authenticated ? 'authenticated' : `NOT authenticated${d.problem ? `: ${d.problem}` : ''}`}`];
  for (const m of d.matches) out.push(`      ${matchText(m)}`);
  return out;
}

function daneHost(h: MxHost, validating: boolean | null): string[] {
  const name = `_25._tcp.${h.host}`;
  if (!h.tlsa) {
    const why = validating !== true ? 'resolver does not validate' : `address records ${h.dnssec}`;
    return [`  ${h.host}: ${name} not looked up (${why})`];
  }
  const t = h.tlsa;
  const head = `  ${h.host}: ${name} ${t.rcode}, DNSSEC ${t.dnssec}`;
  // A failed lookup is never "no TLSA": DANE senders cannot use the host at all.
  if (t.dnssec === 'bogus' || (t.rcode !== 'NOERROR' && t.rcode !== 'NXDOMAIN')) return [`${head}: the lookup failed, so senders using DANE cannot use this MX`];
  if (t.records.length === 0) return [`${head}: no TLSA records${t.dnssec === 'secure' ? ' (no DANE)' : ''}`];
  const out = [`${head}, ${t.records.length} record${t.records.length === 1 ? '' : 's'}${t.dnssec === 'secure' ? '' : ': not DNSSEC-signed, so senders ignore them (no DANE)'}`];
  for (const rec of t.records) out.push(`      ${rec.text}${rec.usability === 'unusable' ? `  (unusable: ${rec.unusableWhy ?? '?'})` : ''}`);
  if (t.dnssec === 'secure') for (const a of h.addresses) if (a.probe) out.push(...daneAddress(a.probe));
  return out;
}

function smtpLines(r: DomainResult): string[] {
  const rows = r.mx.hosts.flatMap((h) => h.addresses.filter((a) => a.probe).map((a) => ({ h, a, p: a.probe! })));
  if (rows.length === 0) return [];
  const out = ['SMTP'];
  for (const { h, p } of rows) {
    const tls = p.tls ? `${p.tls.protocol ?? '?'}` : 'no TLS';
    const cert = p.certificate ? `, ${p.certificate.subject}, until ${p.certificate.notAfter.slice(0, 10)}` : '';
    const codes = p.reasons.map((x) => x.code).join(', ');
    out.push(`  ${h.host} ${p.address}: ${p.status.toUpperCase()}, ${tls}${cert}${codes ? ` [${codes}]` : ''}`);
  }
  return out;
}

function tlsRptLines(r: DomainResult): string[] {
  const t = r.tlsRpt;
  const raw = t.raw.length ? t.raw.map((x) => JSON.stringify(x)).join(', ') : '(none)';
  return ['TLS-RPT', `  record   ${t.status}${t.problem ? ` (${t.problem})` : ''}, DNSSEC ${t.dnssec}: ${raw}`, ...(t.rua.length ? [`  rua      ${t.rua.join(', ')}`] : [])];
}

function senderLines(r: DomainResult, columns: number | undefined): string[] {
  const out = ['Senders'];
  const names: Record<string, string> = { rfc: 'RFC 7672/8461 sender', exo: 'Exchange Online' };
  for (const s of r.senders) {
    const code = s.code ? `, ${s.code}` : '';
    out.push(...wrap(`  ${pad(names[s.sender] ?? s.sender, 21)} ${pad(s.verdict.toUpperCase(), 8)} (route ${s.route}${code}) ${s.message}`, columns, '      '));
  }
  return out;
}

export function domainReport(r: DomainResult, columns?: number): string {
  const resolver = `Resolver ${r.resolver.server}: ${r.resolver.validating === true ? 'validates DNSSEC' : r.resolver.validating === false ? 'does NOT validate DNSSEC' : 'validation unknown'}`;
  const sections = [
    [`SMTP DOMAIN ${r.status.toUpperCase()} - ${summary(r)} | time=${(r.durationMs / 1000).toFixed(3)}s;;;0`, resolver],
    reasonLines(r.reasons, columns),
    mxLines(r),
    mtaStsLines(r),
    r.mx.hosts.length ? ['DANE', ...r.mx.hosts.flatMap((h) => daneHost(h, r.resolver.validating))] : [],
    tlsRptLines(r),
    smtpLines(r),
    senderLines(r, columns),
  ].filter((s) => s.length > 0);
  return `${sections.map((s) => s.join('\n')).join('\n\n')}\n`;
}
