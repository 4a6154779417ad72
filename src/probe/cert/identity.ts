/**
 * Service identity per RFC 9525: only DNS-ID subjectAltNames identify a host (IP-IDs for IP
 * literals). The subject CN is consulted only to explain a failure, or as a lenient fallback
 * when the certificate carries no DNS, SRV or URI identifier at all. Node's
 * checkServerIdentity accepts partial wildcards (f*.example.com), which RFC 9525 forbids, so
 * we do not rely on it. Only the name the user typed is converted to an A-label: a presented
 * name is compared as the certificate has it, because a validator does not trim or IDNA-map
 * it either (a SAN "hybrid.domain.com " or one with a soft hyphen is not hybrid.domain.com).
 */
import { domainToASCII } from 'node:url';
import { ipVersion } from '../ip.js';

export interface IdentityInput {
  dnsNames: readonly string[];
  ipAddresses: readonly string[];
  commonNames: readonly string[];
  /** URI and SRV identifiers: when present, the CN is not consulted. */
  otherIds?: readonly string[];
}

export type IdentityOutcome =
  /** A SAN covers the name. */
  | { kind: 'match'; via: string }
  /** The certificate has no DNS, SRV or URI identifier and a CN covers the name: lenient receivers accept it. */
  | { kind: 'cn_only'; via: string }
  /** Nothing covers the name; `cnWouldMatch` tells whether the CN would have (worth saying). */
  | { kind: 'mismatch'; cnWouldMatch: string | null };

/** The user's name in lower-case A-label form without trailing dot; null if it is not a valid DNS name. */
export function canonicalName(name: string): string | null {
  const trimmed = name.trim().replace(/\.$/, '');
  if (!trimmed || trimmed.includes('..')) return null;
  const ascii = domainToASCII(trimmed);
  if (!ascii) return null;
  return ascii.toLowerCase();
}

/** Canonical textual form of an IP address (IPv6 compressed, lower-case), or null. */
export function canonicalIp(text: string): string | null {
  const bare = text.replace(/^\[|\]$/g, '');
  const family = ipVersion(bare);
  if (family === 4) return bare;
  if (family === 6) return new URL(`http://[${bare}]/`).hostname.slice(1, -1);
  return null;
}

/** Letters, digits and hyphens; `*` only as the whole left-most label; one trailing dot. */
const PRESENTED = /^(?:\*|[A-Za-z0-9-]+)(?:\.[A-Za-z0-9-]+)*\.?$/;

/**
 * A name from a certificate in comparable form (lower case, no trailing dot), or null if it
 * is not plain LDH ASCII: such a name identifies nothing.
 */
export function presentedName(pattern: string): string | null {
  return PRESENTED.test(pattern) ? pattern.replace(/\.$/, '').toLowerCase() : null;
}

/**
 * Does a DNS-ID pattern from a certificate cover the reference name (already canonical)?
 * The wildcard is allowed only as the entire left-most label, stands for exactly one label,
 * and must leave at least two labels to its right (no `*.com`).
 */
export function dnsIdMatches(pattern: string, reference: string): boolean {
  const p = presentedName(pattern);
  if (!p || !reference) return false;
  if (!p.startsWith('*')) return p === reference;
  const labels = p.split('.');
  if (labels.length < 3) return false;
  const refLabels = reference.split('.');
  if (refLabels.length !== labels.length) return false;
  return refLabels.slice(1).join('.') === labels.slice(1).join('.') && (refLabels[0] ?? '') !== '';
}

/** Judge one expected name (host name or IP literal) against a certificate's identifiers. */
export function matchIdentity(expected: string, cert: IdentityInput): IdentityOutcome {
  const ip = canonicalIp(expected);
  if (ip) {
    const hit = cert.ipAddresses.find((a) => canonicalIp(a) === ip);
    if (hit) return { kind: 'match', via: `IP:${hit}` };
    // RFC 9525 §6.2: an IP reference matches only an iPAddress SAN, never a DNS-ID or CN.
    return { kind: 'mismatch', cnWouldMatch: cert.commonNames.find((cn) => cn === ip) ?? null };
  }
  const reference = canonicalName(expected);
  if (!reference) return { kind: 'mismatch', cnWouldMatch: null };
  const san = cert.dnsNames.find((d) => dnsIdMatches(d, reference));
  if (san) return { kind: 'match', via: `DNS:${san}` };
  const cn = cert.commonNames.find((c) => dnsIdMatches(c, reference)) ?? null;
  if (cn && cert.dnsNames.length === 0 && !cert.otherIds?.length) return { kind: 'cn_only', via: `CN=${cn}` };
  return { kind: 'mismatch', cnWouldMatch: cn };
}
