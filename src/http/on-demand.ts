/**
 * The safety rules of the on-demand probe (a caller makes this service open connections):
 * which ports, which hosts, and which address classes are refused after resolution.
 * Pure functions; the route applies them.
 */
import { isIP } from 'node:net';
import { canonicalIp, canonicalName } from '../probe/cert/identity.js';
import type { AddressClass } from '../config/schema.js';

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function inV4(ip: string, base: string, bits: number): boolean {
  const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
  return ((v4ToInt(ip) & mask) >>> 0) === ((v4ToInt(base) & mask) >>> 0);
}

/** The 8 groups of an IPv6 address as numbers. */
function v6Groups(ip: string): number[] {
  const [head = '', tail] = ip.split('::');
  const parse = (s: string) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  const t = tail === undefined ? [] : parse(tail);
  return [...h, ...Array(8 - h.length - t.length).fill(0), ...t];
}

/** The special class an address belongs to, or null for an ordinary (routable) one. */
export function addressClass(address: string): AddressClass | null {
  const ip = canonicalIp(address);
  if (!ip) return null;
  if (isIP(ip) === 4) {
    if (inV4(ip, '127.0.0.0', 8)) return 'loopback';
    if (inV4(ip, '169.254.0.0', 16)) return 'link-local';
    if (inV4(ip, '0.0.0.0', 8)) return 'unspecified';
    if (inV4(ip, '224.0.0.0', 4)) return 'multicast';
    if (ip === '255.255.255.255') return 'broadcast';
    if (inV4(ip, '10.0.0.0', 8) || inV4(ip, '172.16.0.0', 12) || inV4(ip, '192.168.0.0', 16) || inV4(ip, '100.64.0.0', 10)) {
      return 'private';
    }
    return null;
  }
  const g = v6Groups(ip);
  // IPv4-mapped (::ffff:a.b.c.d, canonically ::ffff:XXXX:XXXX): judge the IPv4 address.
  if (g.slice(0, 5).every((x) => x === 0) && g[5] === 0xffff) {
    return addressClass([g[6]! >> 8, g[6]! & 255, g[7]! >> 8, g[7]! & 255].join('.'));
  }
  if (g.every((x) => x === 0)) return 'unspecified';
  if (g.slice(0, 7).every((x) => x === 0) && g[7] === 1) return 'loopback';
  if ((g[0]! & 0xffc0) === 0xfe80) return 'link-local';
  if ((g[0]! & 0xff00) === 0xff00) return 'multicast';
  if ((g[0]! & 0xfe00) === 0xfc00) return 'private';
  return null;
}

/**
 * Is the host on the allowlist? Entries are exact names, or `*.domain` for any name below
 * domain (at any depth). An empty list allows every host.
 */
export function hostAllowed(host: string, allow: readonly string[]): boolean {
  if (allow.length === 0) return true;
  const name = canonicalName(host) ?? canonicalIp(host);
  if (!name) return false;
  return allow.some((entry) => {
    if (entry.startsWith('*.')) {
      const suffix = canonicalName(entry.slice(2));
      return suffix !== null && name.endsWith(`.${suffix}`);
    }
    return (canonicalName(entry) ?? canonicalIp(entry)) === name;
  });
}
