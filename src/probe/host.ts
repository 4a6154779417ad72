/**
 * The grammar of a host as a caller may give it: an IP literal, or a DNS name. Parsed once,
 * strictly, into a value that can only hold a valid host; every later step works on that
 * value and never re-reads the caller's text. Lenient parsers (WHATWG URL, inet_aton) read
 * `127.0.0.10#`, `2130706442` or `0177.0.0.10` as an address: that is exactly what must not
 * happen to a text that was checked as a name.
 */
import { ipVersion } from './ip.js';
import { domainToASCII, domainToUnicode } from 'node:url';
import { canonicalIp, canonicalName } from './cert/identity.js';

declare const PARSED: unique symbol;

/** A host that passed parseHost; only parseHost makes one. */
export type ParsedHost = (
  | { readonly kind: 'ip'; readonly family: 4 | 6; /** RFC 5952 / dotted-decimal form. */ readonly address: string }
  | { readonly kind: 'name'; /** Lower-case A-labels, no trailing dot. */ readonly name: string }
) & { readonly [PARSED]: true };

/** The text of a parsed host: the address or the name. */
export function hostText(host: ParsedHost): string {
  return host.kind === 'ip' ? host.address : host.name;
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

const fail = (problem: string): { ok: false; problem: string } => ({ ok: false, problem });

/** RFC 5952 form of an IPv6 literal (lower case, longest zero run compressed). */
function canonicalV6(text: string): string {
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/**
 * An IP literal as written by people: dotted decimal (no leading zeros, four parts) or any
 * RFC 4291 IPv6 spelling without a zone ID; null for anything else.
 */
export function parseIpLiteral(text: string): { family: 4 | 6; address: string } | null {
  // Node's isIP accepts zone IDs (fe80::1%eth0): a zone names a local interface, never a server.
  if (text.includes('%')) return null;
  const family = ipVersion(text);
  if (family === 4) return { family, address: text };
  if (family === 6) return { family, address: canonicalV6(text) };
  return null;
}

const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** What the WHATWG URL parser would read as an IPv4 number: decimal, 0x-hex, or octal-looking digits. */
const NUMERIC_LABEL = /^(?:\d+|0x[0-9a-f]*)$/;

/**
 * A DNS host name: letters, digits and hyphens in labels of 1..63 octets, 253 octets in all,
 * after IDNA (a U-label is taken to its A-label). A trailing dot is allowed and dropped. A name
 * whose last label is a number is refused: resolvers and URL parsers read it as an IPv4 address.
 */
export function parseDnsName(text: string): Parsed<string> {
  if (text.length === 0) return fail('is empty');
  if (text.length > 254) return fail('is longer than 253 characters');
  // Only letters, digits, '-' and '.' in ASCII; other ASCII (`#?\%/@:_`, spaces, controls)
  // would be percent-decoded, cut or remapped by the IDNA step, so it never reaches it.
  const bad = [...text].find((c) => c.charCodeAt(0) < 0x80 && !/[A-Za-z0-9.-]/.test(c));
  if (bad !== undefined) return fail(`contains ${JSON.stringify(bad)}, which is not allowed in a host name`);
  if (/[\p{Cc}\p{Cf}\p{Z}]/u.test(text)) return fail('contains a control, format or space character');
  const ascii = /^[\x00-\x7f]*$/.test(text) ? text.toLowerCase() : domainToASCII(text);
  if (!ascii || !/^[\x00-\x7f]*$/.test(ascii)) return fail('is not a valid internationalised domain name');
  const name = ascii.endsWith('.') ? ascii.slice(0, -1) : ascii;
  if (name.length === 0) return fail('is not a host name');
  if (name.length > 253) return fail('is longer than 253 octets (in its A-label form)');
  const labels = name.split('.');
  for (const label of labels) {
    if (label.length === 0) return fail('has an empty label');
    if (label.length > 63) return fail(`has a label longer than 63 octets: "${label.slice(0, 20)}..."`);
    if (!LDH_LABEL.test(label)) return fail(`has a label that is not letters, digits and inner hyphens: "${label}"`);
    // An A-label must decode to a U-label that encodes back to it.
    if (label.startsWith('xn--')) {
      const unicode = domainToUnicode(label);
      if (unicode === label || domainToASCII(unicode) !== label) return fail(`has an A-label that is not valid Punycode: "${label}"`);
    }
  }
  if (NUMERIC_LABEL.test(labels[labels.length - 1]!)) {
    return fail('ends in a number: write an IP address in dotted-decimal form (e.g. 192.0.2.1)');
  }
  return { ok: true, value: name };
}

/** An IP literal (canonical form) or a DNS name; brackets around IPv6 are the caller's to strip. */
export function parseHost(text: string): Parsed<ParsedHost> {
  const ip = parseIpLiteral(text);
  if (ip) return { ok: true, value: { kind: 'ip', ...ip } as ParsedHost };
  if (/^[\d.]+$/.test(text)) {
    return fail('is not an IP address in canonical form (four decimal parts, no leading zeros, no trailing dot)');
  }
  if (text.includes(':')) return fail('is not a valid IPv6 address (zone IDs such as %eth0 are not accepted)');
  const name = parseDnsName(text);
  return name.ok ? { ok: true, value: { kind: 'name', name: name.value } as ParsedHost } : name;
}

/**
 * `host`, `host:port`, `v6-address`, `[v6-address]` or `[v6-address]:port`, as
 * blackbox_exporter targets are written. The port is decimal 1..65535 without leading zeros.
 */
export function parseHostPort(text: string): Parsed<{ host: ParsedHost; port?: number }> {
  let hostPart = text;
  let portPart: string | undefined;
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  if (bracketed) {
    hostPart = bracketed[1]!;
    portPart = bracketed[2];
    if (parseIpLiteral(hostPart)?.family !== 6) return fail('has brackets around something that is not an IPv6 address');
  } else if (text.split(':').length === 2) {
    [hostPart, portPart] = text.split(':') as [string, string];
  }
  let port: number | undefined;
  if (portPart !== undefined) {
    if (!/^[1-9]\d{0,4}$/.test(portPart) || Number(portPart) > 65535) {
      return fail(`has a port "${portPart}" that is not a number from 1 to 65535`);
    }
    port = Number(portPart);
  }
  const host = parseHost(hostPart);
  if (!host.ok) return host;
  return { ok: true, value: { host: host.value, ...(port !== undefined ? { port } : {}) } };
}

/**
 * The TLS server name (SNI, RFC 6066): a DNS name in A-label form without trailing dot; an IP
 * address is not allowed there.
 */
export function parseServerName(text: string): Parsed<string> {
  if (parseIpLiteral(text)) return fail('is an IP address; SNI carries only DNS names (RFC 6066)');
  return parseDnsName(text);
}

/**
 * A name the certificate must cover (`expect`): echoed in results and logs, so anything that
 * could name a certificate, never controls, spaces or format characters.
 */
export function parseExpectName(text: string): Parsed<string> {
  if (/[\p{Cc}\p{Cf}\p{Z}\s]/u.test(text)) return fail('contains a control, format or space character');
  if ((canonicalName(text) ?? canonicalIp(text)) === null) return fail('is neither');
  return { ok: true, value: text };
}
