/**
 * MX host patterns of an MTA-STS policy (RFC 8461 §4.1). Matching is on whole labels, anchored
 * at both ends: a substring or suffix test lets `mail.example.com` cover
 * `mail.example.com.evil.net`, and a wildcard must stand for exactly one left-most label.
 */
import { parseDnsName, parseIpLiteral } from '../host.js';

export type MxPattern = { wildcard: boolean; /** Lower-case A-labels, no trailing dot; the part after `*.` for a wildcard. */ name: string };

/**
 * A policy's `mx:` value as a pattern, or the problem with it. U-labels become A-labels,
 * case and a trailing dot do not matter; an IP address never names an MX host.
 */
export function parseMxPattern(text: string): { ok: true; value: MxPattern } | { ok: false; problem: string } {
  const bare = text.replace(/^\[|\]$/g, '');
  if (parseIpLiteral(bare) || /^[\d.]+$/.test(bare)) return { ok: false, problem: `"${text}" is an IP address; mx patterns name hosts` };
  const wildcard = text.startsWith('*.');
  const name = parseDnsName(wildcard ? text.slice(2) : text);
  if (!name.ok) return { ok: false, problem: `"${text}" ${name.problem}` };
  return { ok: true, value: { wildcard, name: name.value } };
}

/** Whether `pattern` covers the MX host `host` (as published in DNS, any case, with or without trailing dot). */
export function mxPatternMatches(pattern: string, host: string): boolean {
  const p = parseMxPattern(pattern);
  const h = parseDnsName(host);
  if (!p.ok || !h.ok) return false;
  if (!p.value.wildcard) return h.value === p.value.name;
  const dot = h.value.indexOf('.');
  return dot > 0 && h.value.slice(dot + 1) === p.value.name;
}

/** The first pattern that covers `host`, as written in the policy; null when none does. */
export function coveringPattern(patterns: readonly string[], host: string): string | null {
  return patterns.find((p) => mxPatternMatches(p, host)) ?? null;
}
