/**
 * The safety rules of the on-demand probe (a caller makes this service open connections):
 * which hosts, and which address classes are refused after resolution. The policy is not a
 * filter in front of the probe but the only way to it: `checkTarget` resolves the parsed host
 * and classifies every address, and only its result, a CheckedTarget, can be probed.
 */
import ipaddr from 'ipaddr.js';
import {
  hostText,
  parseIpLiteral,
  probeResolved,
  resolveName,
  type ParsedHost,
  type ProbeOptions,
  type ProbeTarget,
  type Resolution,
  type Resolver,
  type TargetResult,
} from '../probe/index.js';
import { canonicalName } from '../probe/cert/identity.js';
import type { AddressClass } from '../config/schema.js';
import type { OnDemandPolicy } from '../config/load.js';

type Ip = ipaddr.IPv4 | ipaddr.IPv6;

/** ipaddr.js range names → our refusal classes; a name not listed here is ordinary unicast. */
const V4_CLASSES: Record<string, AddressClass> = {
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  private: 'private',
  // RFC 6598 shared address space: inside a provider's network, like RFC 1918 space.
  carrierGradeNat: 'private',
  // Documentation, benchmarking, IETF protocol assignments, 240/4, the 6to4 relay anycast.
  reserved: 'reserved',
  as112: 'reserved',
  amt: 'reserved',
};

const V6_CLASSES: Record<string, AddressClass> = {
  unspecified: 'unspecified',
  loopback: 'loopback',
  linkLocal: 'link-local',
  multicast: 'multicast',
  uniqueLocal: 'private',
  deprecatedSiteLocal: 'private',
  // Teredo's client address is obfuscated: the tunnel endpoint cannot be judged, so refuse it.
  teredo: 'reserved',
  reserved: 'reserved',
  discard: 'reserved',
  benchmarking: 'reserved',
  amt: 'reserved',
  as112v6: 'reserved',
  deprecatedOrchid: 'reserved',
  orchid2: 'reserved',
  droneRemoteIdProtocolEntityTags: 'reserved',
  segmentRouting: 'reserved',
};

/** The IPv4 address in the low 32 bits (mapped, translated, compatible, NAT64 /96). */
const low32 = (ip: ipaddr.IPv6) => ipaddr.fromByteArray(ip.toByteArray().slice(12));
const GLOBAL_UNICAST = ipaddr.parseCIDR('2000::/3');
const NAT64_LOCAL = ipaddr.parseCIDR('64:ff9b:1::/48');
const COMPATIBLE = ipaddr.parseCIDR('::/96');

function classOf(ip: Ip): AddressClass | null {
  if (ip.kind() === 'ipv4') return V4_CLASSES[ip.range()] ?? null;
  const v6 = ip as ipaddr.IPv6;
  const range = v6.range() as string;
  // Addresses that carry an IPv4 address reach it (directly, or through a translator or
  // relay): judge the IPv4 address they carry.
  switch (range) {
    case 'ipv4Mapped':
      return classOf(v6.toIPv4Address());
    case 'rfc6145': // ::ffff:0:a.b.c.d
      return classOf(low32(v6)) ?? 'reserved';
    case 'rfc6052': // NAT64: 64:ff9b::/96 is global; 64:ff9b:1::/48 is for local use
      return classOf(low32(v6)) ?? (v6.match(NAT64_LOCAL) ? 'private' : null);
    case '6to4': // 2002:AABB:CCDD::/48 carries AA.BB.CC.DD
      return classOf(ipaddr.fromByteArray(v6.toByteArray().slice(2, 6)));
  }
  const mapped = V6_CLASSES[range];
  if (mapped) return mapped;
  // IPv4-compatible (::a.b.c.d, deprecated) and the rest of ::/8 and of the space outside
  // 2000::/3: reserved by the IETF, never a mail server.
  if (v6.match(COMPATIBLE)) return classOf(low32(v6)) ?? 'reserved';
  return v6.match(GLOBAL_UNICAST) ? null : 'reserved';
}

/** The special class of an address (IP literal text), or null for an ordinary routable one. */
export function addressClass(address: string): AddressClass | null {
  const literal = parseIpLiteral(address.replace(/^\[(.*)\]$/, '$1'));
  if (!literal) return null;
  return classOf(ipaddr.parse(literal.address));
}

/**
 * Is the host on the allowlist? Entries are exact names, or `*.domain` for any name below
 * domain (at any depth). An empty list allows every host.
 */
export function hostAllowed(host: string, allow: readonly string[]): boolean {
  if (allow.length === 0) return true;
  const name = canonicalName(host) ?? parseIpLiteral(host)?.address;
  if (!name) return false;
  return allow.some((entry) => {
    if (entry.startsWith('*.')) {
      const suffix = canonicalName(entry.slice(2));
      return suffix !== null && name.endsWith(`.${suffix}`);
    }
    return (canonicalName(entry) ?? parseIpLiteral(entry)?.address) === name;
  });
}

declare const CHECKED: unique symbol;

/**
 * A target whose every address passed the policy (or whose name did not resolve, which
 * connects nowhere). Only checkTarget makes one; probeChecked is the only way to probe it.
 */
export interface CheckedTarget {
  readonly target: ProbeTarget;
  readonly resolution: Resolution;
  readonly [CHECKED]: true;
}

export interface RefusedAddress {
  address: string;
  class: AddressClass;
}

export type PolicyOutcome = { ok: true; checked: CheckedTarget } | { ok: false; refused: RefusedAddress[] };

/**
 * Resolve the parsed host once (an IP literal is its own address) and classify every address;
 * one refused address refuses the whole request. The probe then connects to exactly these
 * addresses, so a second, different DNS answer cannot slip through.
 * @param target the probe settings; its host is reported and verified, never connected to.
 */
export async function checkTarget(
  host: ParsedHost,
  target: ProbeTarget,
  policy: Pick<OnDemandPolicy, 'refuseAddresses'>,
  resolver: Resolver,
  signal: AbortSignal,
): Promise<PolicyOutcome> {
  let resolution: Resolution =
    host.kind === 'ip' ? { addresses: [host.address] } : await resolveName(host.name, target.family, resolver, signal);
  if ('addresses' in resolution) {
    const canonical: string[] = [];
    const refused: RefusedAddress[] = [];
    for (const answer of resolution.addresses) {
      const literal = parseIpLiteral(answer);
      // A resolver answer that is not a plain address (a zone ID, garbage) is not connected to.
      if (!literal) return { ok: false, refused: [{ address: answer, class: 'reserved' }] };
      const cls = classOf(ipaddr.parse(literal.address));
      if (cls !== null && policy.refuseAddresses.includes(cls)) refused.push({ address: literal.address, class: cls });
      canonical.push(literal.address);
    }
    if (refused.length) return { ok: false, refused };
    resolution = { addresses: canonical };
  }
  return { ok: true, checked: { target: { ...target, host: hostText(host) }, resolution } as CheckedTarget };
}

/** Probe a checked target: only its checked addresses are connected to. */
export function probeChecked(checked: CheckedTarget, options: Omit<ProbeOptions, 'resolver'>): Promise<TargetResult> {
  const { addresses: _pinned, ...target } = checked.target;
  return probeResolved(target, checked.resolution, options);
}

export type OnDemandProbe = typeof probeChecked;

/**
 * The address policy as the domain check applies it to every MX address and to the MTA-STS
 * policy host, after its own resolution: the refused class of an address, or null to allow.
 * A text that is not a plain IP address (a zone ID, garbage) is never connected to.
 */
export function refuseFor(policy: Pick<OnDemandPolicy, 'refuseAddresses'>): (address: string) => string | null {
  return (address) => {
    const literal = parseIpLiteral(address.replace(/^\[(.*)\]$/, '$1'));
    if (!literal) return 'reserved';
    const cls = classOf(ipaddr.parse(literal.address));
    return cls !== null && policy.refuseAddresses.includes(cls) ? cls : null;
  };
}

/** On-demand checks running now, /probe and /probe/domain together (onDemand.maxConcurrent). */
export class OnDemandSlots {
  inFlight = 0;
}
