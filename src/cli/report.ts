/**
 * The human report of one probe: a Nagios-style first line (status, summary, perfdata),
 * then per address the reasons first and the certificate facts an Exchange admin needs.
 */
import type { AddressResult, Status, TargetResult } from '../probe/types.js';

export const EXIT_CODES: Record<Status, number> = { ok: 0, warning: 1, critical: 2, unknown: 3 };

const MARK: Record<string, string> = { critical: 'x', warning: '!', unknown: '?' };

function summary(r: TargetResult): string {
  const where = `${r.target.host}:${r.target.port}`;
  if (r.reasons.length) return `${where}: ${r.reasons.map((x) => x.message).join('; ')}`;
  const bad = r.addresses.filter((a) => a.status !== 'ok');
  if (bad.length === 0) {
    const days = Math.min(...r.addresses.map((a) => a.certificate?.daysRemaining ?? Infinity));
    const left = Number.isFinite(days) ? `, certificate valid for ${days} more days` : '';
    return `${where}: ${r.addresses.length} address${r.addresses.length === 1 ? '' : 'es'} ok${left}`;
  }
  const parts = bad.map((a) => `${a.address} ${[...new Set(a.reasons.map((x) => x.code))].join(', ')}`);
  return `${where}: ${parts.join('; ')}`;
}

function perfdata(r: TargetResult): string {
  const items = [`time=${(r.durationMs / 1000).toFixed(3)}s;;;0`];
  const days = r.addresses.map((a) => a.certificate?.daysRemaining).filter((d): d is number => d !== undefined);
  if (days.length) items.push(`days_left=${Math.min(...days)};;;`);
  return items.join(' ');
}

const ms = (n: number | undefined) => (n === undefined ? '-' : `${Math.round(n)}`);

/**
 * Long lines broken at spaces to the terminal's width, continued with an indent; a word
 * longer than the width stays whole. No width (output piped): one line, for grep and scripts.
 */
export function wrap(line: string, width: number | undefined, indent = '    '): string[] {
  if (!width || line.length <= width) return [line];
  const lead = /^\s*/.exec(line)![0];
  const out: string[] = [];
  let current = lead;
  for (const word of line.slice(lead.length).split(' ')) {
    if (current.trim() && current.length + 1 + word.length > width) {
      out.push(current);
      current = indent + word;
    } else {
      current = current.trim() ? `${current} ${word}` : current + word;
    }
  }
  out.push(current);
  return out;
}

function addressBlock(a: AddressResult, columns: number | undefined): string[] {
  const out = [`${a.address}  ${a.status.toUpperCase()}`];
  const width = Math.max(0, ...a.reasons.map((x) => x.code.length));
  for (const x of a.reasons) out.push(`  ${MARK[x.severity] ?? '-'} ${x.code.padEnd(width)}  ${x.message}`);
  if (a.exchangeOnline) out.push(`  Exchange Online would report: ${a.exchangeOnline.code} ${a.exchangeOnline.msg}`);
  for (const hint of a.remediation) out.push(...wrap(`  what to do: ${hint}`, columns));
  const row = (label: string, value: string | undefined) => {
    if (value) out.push(`  ${label.padEnd(19)}${value}`);
  };
  row('greeting', a.smtp.greeting);
  row('EHLO host', a.smtp.ehloHost);
  if (a.smtp.tlsEhloHost !== undefined && a.smtp.tlsEhloHost !== a.smtp.ehloHost) row('EHLO host (TLS)', a.smtp.tlsEhloHost);
  if (a.smtp.discardedBytes) row('discarded', `${a.smtp.discardedBytes} plaintext bytes sent after the STARTTLS 220`);
  if (a.tls) row('TLS', `${a.tls.protocol ?? '?'} ${a.tls.cipher ?? ''}, SNI ${a.tls.servername ?? '(none)'}`);
  const c = a.certificate;
  if (c) {
    row('subject', c.subject);
    row('issuer', c.selfSigned ? `${c.issuer} (self-signed)` : c.issuer);
    row('alternate names', c.alternateNames || '(none)');
    if (c.ipAddresses.length) row('IP names', c.ipAddresses.join(';'));
    row('thumbprint', c.thumbprint);
    row('serial', c.serialNumber);
    row('valid', `${c.notBefore.slice(0, 10)} to ${c.notAfter.slice(0, 10)} (${c.daysRemaining} days left)`);
    row('key', `${c.keyType} ${c.keyBits ?? '?'} bits, ${c.signatureAlgorithm}`);
    row('TlsCertificateName', c.tlsCertificateName);
    for (const n of a.names) row(`name ${n.matched ? 'ok' : 'MISSING'}`, n.matched ? `${n.name} (${n.via})` : n.name);
    if (a.chain.length > 1) {
      row('chain sent', a.chain.slice(1).map((e) => e.subject).join(' <- '));
    } else {
      row('chain sent', 'the certificate only');
    }
  }
  const t = a.timings;
  out.push(
    `  ${'timings (ms)'.padEnd(19)}connect ${ms(t.connectMs)}, greeting ${ms(t.greetingMs)}, EHLO ${ms(t.ehloMs)}, STARTTLS ${ms(t.starttlsMs)}, TLS ${ms(t.tlsMs)}, ` +
      `${t.tlsEhloMs === undefined ? '' : `EHLO over TLS ${ms(t.tlsEhloMs)}, `}total ${ms(t.totalMs)}`,
  );
  return out;
}

/** `columns`: the terminal's width, to wrap the "what to do" lines; none when piped. */
export function humanReport(r: TargetResult, columns?: number): string {
  const lines = [`SMTP TLS ${r.status.toUpperCase()} - ${summary(r)} | ${perfdata(r)}`];
  for (const a of r.addresses) lines.push('', ...addressBlock(a, columns));
  return `${lines.join('\n')}\n`;
}
