/**
 * The MTA-STS policy body (RFC 8461 §3.2): `key: value` lines ended by LF or CRLF. Keys are
 * case-sensitive; unknown keys are ignored; `mx` repeats, the others appear once. Every
 * problem names the field and the line, since "policy invalid" alone helps nobody fix it.
 */
import { parseMxPattern } from './mx-pattern.js';
import type { MtaStsFacts, MtaStsMode } from './types.js';

export type MtaStsPolicy = NonNullable<MtaStsFacts['policy']>;
export type PolicyParse = { ok: true; policy: MtaStsPolicy } | { ok: false; problems: string[] };

/** RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year). */
export const MAX_AGE_LIMIT = 31_557_600;

const KEY = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$/;
const MODES: readonly MtaStsMode[] = ['enforce', 'testing', 'none'];
const SINGLE = ['version', 'mode', 'max_age'] as const;

const show = (value: string) => JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);

export function parseMtaStsPolicy(body: string): PolicyParse {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const single: Partial<Record<(typeof SINGLE)[number], string>> = {};
  const mx: string[] = [];
  let mxLines = 0;
  const lines = body.split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  for (const [i, line] of lines.entries()) {
    const at = `line ${i + 1}`;
    // Blank lines are outside the grammar but harmless to every parser we know of.
    if (/^[ \t]*$/.test(line)) continue;
    const colon = line.indexOf(':');
    const key = colon < 0 ? '' : line.slice(0, colon);
    if (!KEY.test(key)) {
      problems.push(`${at}: ${show(line)} is not a "key: value" line`);
      continue;
    }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (key === 'mx') {
      mxLines++;
      const pattern = parseMxPattern(value);
      if (pattern.ok) mx.push(value);
      else problems.push(`${at}: mx ${pattern.problem}`);
      continue;
    }
    if (!(SINGLE as readonly string[]).includes(key)) continue;
    const k = key as (typeof SINGLE)[number];
    const first = seen.get(k);
    if (first !== undefined) {
      problems.push(`${at}: ${k} appears again (first on line ${first}); senders may read either`);
      continue;
    }
    seen.set(k, i + 1);
    single[k] = value;
    if (k === 'version' && value !== 'STSv1') problems.push(`${at}: version ${show(value)} is not STSv1`);
    if (k === 'mode' && !(MODES as readonly string[]).includes(value)) problems.push(`${at}: mode ${show(value)} is not enforce, testing or none`);
    if (k === 'max_age' && (!/^\d{1,10}$/.test(value) || Number(value) > MAX_AGE_LIMIT)) {
      problems.push(`${at}: max_age ${show(value)} is not a whole number of seconds from 0 to ${MAX_AGE_LIMIT}`);
    }
  }
  for (const k of SINGLE) {
    if (single[k] !== undefined) continue;
    const cased = lines.findIndex((l) => l.toLowerCase().startsWith(`${k}:`));
    problems.push(`${k}: missing${cased >= 0 ? ` (keys are case-sensitive: line ${cased + 1} has ${show(lines[cased]!.split(':')[0]!)})` : ''}`);
  }
  if (mxLines === 0 && single.mode !== undefined && single.mode !== 'none') {
    problems.push(`mx: missing; mode ${single.mode} needs at least one mx line`);
  }
  if (problems.length > 0) return { ok: false, problems };
  return { ok: true, policy: { version: single.version!, mode: single.mode as MtaStsMode, maxAge: Number(single.max_age), mx } };
}
