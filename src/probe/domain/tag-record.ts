/**
 * The TXT record grammar MTA-STS (RFC 8461 §3.1) and TLS-RPT (RFC 8460 §3) share: a version
 * tag, then `;`-separated `name=value` fields, an optional final `;`. Parsed exactly, since a
 * sender that parses strictly discards a record a lenient checker would have passed; the
 * problem names the field so that people see why.
 */
import type { DnsAnswer } from '../dns/types.js';
import type { TxtRecordFacts } from './types.js';

export type TagFields = { ok: true; fields: Array<[name: string, value: string]> } | { ok: false; problem: string };

const EXT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
/** Visible ASCII except `=` and `;` (both grammars' ext-value). */
const EXT_VALUE = /^[\x21-\x3a\x3c\x3e-\x7e]+$/;

/** Whether a record is one of `version`'s: the exact tag, then a delimiter or the end (RFC 8461 erratum 6285). */
export function hasVersion(text: string, version: string): boolean {
  return text.startsWith(version) && /^(?:$|[ \t;])/.test(text.slice(version.length));
}

/**
 * Split a record already known to start with `version` into its fields. Values are checked
 * against the extension grammar; the caller checks the fields it knows more strictly. Fields
 * named in `free` have a grammar of their own (TLS-RPT's `rua=` URIs may hold `=` and white
 * space around commas): only a non-empty value is required, the caller checks the rest.
 */
export function parseTagRecord(text: string, version: string, free: readonly string[] = []): TagFields {
  const parts = text.slice(version.length).split(';');
  if (!/^[ \t]*$/.test(parts[0]!)) return { ok: false, problem: `has ${JSON.stringify(parts[0])} after ${version} where ';' must follow` };
  const rest = parts.slice(1);
  // A final delimiter (`;` and white space) leaves one blank part.
  const closed = rest.length > 1 && /^[ \t]*$/.test(rest[rest.length - 1]!);
  if (closed) rest.pop();
  if (rest.length === 0 || (rest.length === 1 && /^[ \t]*$/.test(rest[0]!))) return { ok: false, problem: `has no field after ${version}` };
  const fields: Array<[string, string]> = [];
  for (const [i, raw] of rest.entries()) {
    const last = i === rest.length - 1 && !closed;
    const field = raw.replace(/^[ \t]+/, '').replace(last ? /$/ : /[ \t]+$/, '');
    if (field === '') return { ok: false, problem: "has an empty field between two ';'" };
    if (last && /[ \t]$/.test(field)) return { ok: false, problem: "ends with white space without a ';' after it" };
    const eq = field.indexOf('=');
    const name = eq < 0 ? field : field.slice(0, eq);
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (eq < 0 || !EXT_NAME.test(name)) return { ok: false, problem: `has ${JSON.stringify(field.slice(0, 80))}, which is not a name=value field` };
    if (free.includes(name) ? value === '' : !EXT_VALUE.test(value)) return { ok: false, problem: `has field ${name} with a value that is empty or holds a space, '=' or a control character` };
    fields.push([name, value]);
  }
  return { ok: true, fields };
}

/** The same field twice is ambiguous: senders may read either, so neither is trusted. */
export function duplicateField(fields: Array<[string, string]>, names: readonly string[]): string | null {
  for (const name of names) if (fields.filter(([n]) => n === name).length > 1) return name;
  return null;
}

/** What a TXT lookup says before any record is read: the record facts common to both records. */
export interface TxtLookup {
  facts: TxtRecordFacts;
  /** The records of this version, when the lookup answered. */
  kept: string[];
}

/**
 * Classify a TXT answer: a lookup that did not answer (SERVFAIL, timeout, bogus) is `error`,
 * never `absent`; NXDOMAIN or NODATA, or no record of the version, is `absent`; more than
 * one record of the version is `multiple` (RFC 8461 §3.1, RFC 8460 §3: no policy then).
 */
export function classifyTxt(answer: DnsAnswer<'TXT'>, version: string): TxtLookup {
  const raw = answer.records.map((r) => r.text);
  const base = { rcode: answer.rcode, dnssec: answer.security, raw, ...(answer.signatureExpires ? { signatureExpires: answer.signatureExpires } : {}) };
  if (answer.rcode !== 'NOERROR' && answer.rcode !== 'NXDOMAIN') {
    const why = answer.error ? `: ${answer.error}` : '';
    // The Extended DNS Error tells a DNSSEC failure (bogus, expired signatures) from an outage.
    const ede = answer.ede.map((e) => `, EDE ${e.code}${e.text ? ` ${e.text}` : ''}`).join('');
    const bogus = answer.security === 'bogus' ? ', DNSSEC validation failed' : '';
    return { facts: { ...base, status: 'error', problem: `the lookup of ${answer.name} TXT failed (${answer.rcode}${ede}${bogus}${why})` }, kept: [] };
  }
  const kept = raw.filter((text) => hasVersion(text, version));
  if (kept.length > 1) {
    return { facts: { ...base, status: 'multiple', problem: `${kept.length} records start with ${version}; exactly one is allowed, so senders use none` }, kept };
  }
  if (kept.length === 0) {
    // Not a record of the version for a sender, but worth saying to whoever published it.
    const near = raw.find((text) => hasVersion(text.trim().toLowerCase().replace(/\s*=\s*/, '='), version.toLowerCase()));
    if (near !== undefined) {
      return { facts: { ...base, status: 'invalid', problem: `${JSON.stringify(near.slice(0, 40))} does not start with exactly "${version}" (case and spaces matter), so senders ignore it` }, kept };
    }
    return { facts: { ...base, status: 'absent' }, kept };
  }
  return { facts: { ...base, status: 'valid' }, kept };
}
