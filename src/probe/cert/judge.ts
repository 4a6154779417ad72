/**
 * The certificate verdict: every problem of the served chain as its own reason, so one
 * result lists them all (name, trust, dates, key, signature, pin). Pure given a clock.
 */
import type { X509Certificate } from 'node:crypto';
import { reason } from '../reasons.js';
import type { CertificateFacts, ChainEntry, NameMatch, Reason } from '../types.js';
import { judgeChain } from './chain.js';
import { matchIdentity, presentedName } from './identity.js';
import { opensslReason, type OpenSslVerdict } from './openssl-verdict.js';
import { parseCertificate, type ParsedCert } from './parse.js';
import { pathRuleReasons } from './path-rules.js';
import type { TrustStore } from './trust-store.js';
import { goDn } from './go-dn.js';
import { tlsCertificateName, windowsDn } from './windows-dn.js';

export interface CertPolicy {
  expect: readonly string[];
  warnDays: number;
  thumbprint?: string;
}

export interface CertVerdict {
  reasons: Reason[];
  certificate: CertificateFacts;
  chain: ChainEntry[];
  names: NameMatch[];
}

const DAY = 86_400_000;
const day = (d: Date) => d.toISOString().slice(0, 10);

export function certificateFacts(c: ParsedCert, now: Date): CertificateFacts {
  const notAfter = new Date(c.node.validTo);
  return {
    subject: windowsDn(c.subjectRdns),
    issuer: windowsDn(c.issuerRdns),
    subjectDn: goDn(c.subjectRdns),
    issuerDn: goDn(c.issuerRdns),
    serialNumber: c.node.serialNumber.toUpperCase(),
    thumbprint: c.thumbprint,
    sha256: c.sha256,
    notBefore: new Date(c.node.validFrom).toISOString(),
    notAfter: notAfter.toISOString(),
    daysRemaining: Math.floor((notAfter.getTime() - now.getTime()) / DAY),
    dnsNames: c.dnsNames,
    ipAddresses: c.ipAddresses,
    alternateNames: c.dnsNames.join(';'),
    keyType: c.keyType,
    keyBits: c.keyBits,
    signatureAlgorithm: c.signature.name,
    selfSigned: c.selfSigned,
    tlsCertificateName: tlsCertificateName(c.issuerRdns, c.subjectRdns),
    verifiedChainNotAfter: null,
  };
}

function nameReasons(leaf: ParsedCert, expect: readonly string[]): { names: NameMatch[]; reasons: Reason[] } {
  const names: NameMatch[] = [];
  const reasons: Reason[] = [];
  const ids = [...leaf.dnsNames, ...leaf.otherIds];
  const sans = ids.length ? ids.join(';') : 'none';
  const unusable = leaf.dnsNames.filter((d) => presentedName(d) === null);
  const bad = unusable.length
    ? `; ${unusable.map((d) => JSON.stringify(d)).join(', ')} ${unusable.length > 1 ? 'are' : 'is'} not a plain ASCII host name, so validators match nothing against it (they do not trim or IDNA-map what a certificate says)`
    : '';
  for (const name of expect) {
    const outcome = matchIdentity(name, leaf);
    if (outcome.kind === 'match') {
      names.push({ name, matched: true, via: outcome.via });
    } else if (outcome.kind === 'cn_only') {
      names.push({ name, matched: true, via: outcome.via });
      reasons.push(
        reason('cert_name_cn_only', `"${name}" matches only the subject ${outcome.via}; the certificate has no DNS, SRV or URI subjectAltName, and strict receivers require a DNS one`),
      );
    } else {
      names.push({ name, matched: false, via: null });
      const cn = outcome.cnWouldMatch
        ? `; the subject CN matches, but the CN does not count when the certificate has DNS, SRV or URI subjectAltNames (RFC 9525)`
        : '';
      reasons.push(
        reason('cert_name_mismatch', `"${name}" is not covered by the certificate's names (alternate names: ${sans}; subject ${windowsDn(leaf.subjectRdns)})${cn}${bad}`),
      );
    }
  }
  return { names, reasons };
}

function which(c: ParsedCert, leaf: ParsedCert): string {
  if (c === leaf) return 'the certificate';
  return c.selfSigned ? `the root "${windowsDn(c.subjectRdns)}"` : `the intermediate "${windowsDn(c.subjectRdns)}"`;
}

/** The earliest notAfter along a path, as ISO text. */
function earliestNotAfter(path: readonly ParsedCert[]): string {
  return new Date(Math.min(...path.map((c) => Date.parse(c.node.validTo)))).toISOString();
}

/** Every certificate of the path, the trust anchor included: validators refuse an expired root too. */
function dateReasons(chain: readonly ParsedCert[], now: Date, warnDays: number): Reason[] {
  const reasons: Reason[] = [];
  const leaf = chain[0]!;
  for (const c of chain) {
    const from = new Date(c.node.validFrom);
    const to = new Date(c.node.validTo);
    const days = Math.floor((to.getTime() - now.getTime()) / DAY);
    if (to < now) {
      const ago = Math.floor((now.getTime() - to.getTime()) / DAY);
      reasons.push(reason('cert_expired', `${which(c, leaf)} expired on ${day(to)} (${ago} days ago)`));
    } else if (from > now) {
      reasons.push(reason('cert_not_yet_valid', `${which(c, leaf)} is not valid before ${from.toISOString()}`));
    } else if (days < warnDays) {
      reasons.push(reason('cert_expiring_soon', `${which(c, leaf)} expires on ${day(to)}, in ${days} days (warning at ${warnDays})`));
    }
  }
  return reasons;
}

function strengthReasons(served: readonly ParsedCert[]): Reason[] {
  const reasons: Reason[] = [];
  const leaf = served[0]!;
  for (const c of served) {
    if (c !== leaf && c.selfSigned) continue; // a root's self-signature is not checked by anyone
    if (c.signature.weak) {
      reasons.push(reason('cert_weak_signature', `${which(c, leaf)} is signed with ${c.signature.name}`));
    }
    const min = c.keyType === 'RSA' || c.keyType === 'DSA' ? 2048 : c.keyType === 'EC' ? 256 : 0;
    if (c.keyBits !== null && c.keyBits < min) {
      reasons.push(reason('cert_weak_key', `${which(c, leaf)} has a ${c.keyBits}-bit ${c.keyType} key (minimum ${min})`));
    }
  }
  return reasons;
}

export function normalizeThumbprint(text: string): string {
  return text.replace(/[^0-9a-fA-F]/g, '').toUpperCase();
}

/** The path with the trust anchor it ends at, when that is not already its last certificate. */
function withAnchor(path: ParsedCert[], anchor: X509Certificate | null): ParsedCert[] {
  const last = path[path.length - 1];
  if (!anchor || !last || anchor.fingerprint256 === last.node.fingerprint256) return path;
  try {
    return [...path, parseCertificate(anchor.raw)];
  } catch {
    return path; // a store certificate our decoder cannot read: OpenSSL's verdict still covers it
  }
}

/**
 * `openssl` is the handshake's own verdict on the path, computed against the same trust store
 * (`store` must be the one the connection was given): whatever it refuses is never OK.
 */
export function judgeCertificate(
  served: readonly ParsedCert[],
  store: TrustStore,
  policy: CertPolicy,
  now: Date,
  openssl: OpenSslVerdict | null = null,
): CertVerdict {
  const leaf = served[0]!;
  const { names, reasons } = nameReasons(leaf, policy.expect);
  const trust = judgeChain(served, store);
  const full = withAnchor(trust.path, trust.anchor);
  if (trust.kind === 'self_signed') {
    reasons.push(reason('cert_self_signed', `the certificate "${windowsDn(leaf.subjectRdns)}" is self-signed, so no sender can trust it`));
  } else if (trust.kind === 'untrusted') {
    reasons.push(reason('cert_untrusted', trust.message));
  } else if (trust.kind === 'incomplete') {
    reasons.push(reason('cert_chain_incomplete', trust.message));
  }
  reasons.push(...pathRuleReasons(full), ...dateReasons(full, now, policy.warnDays), ...strengthReasons(trust.path));
  const refused = opensslReason(openssl, reasons);
  if (refused) reasons.push(refused);
  if (policy.thumbprint !== undefined && normalizeThumbprint(policy.thumbprint) !== leaf.thumbprint) {
    reasons.push(
      reason('cert_thumbprint_mismatch', `served thumbprint ${leaf.thumbprint} is not the pinned ${normalizeThumbprint(policy.thumbprint)}`),
    );
  }
  return {
    reasons,
    names,
    certificate: {
      ...certificateFacts(leaf, now),
      verifiedChainNotAfter: trust.kind === 'trusted' ? earliestNotAfter(full) : null,
    },
    chain: served.map((c) => ({
      subject: windowsDn(c.subjectRdns),
      issuer: windowsDn(c.issuerRdns),
      thumbprint: c.thumbprint,
      notAfter: new Date(c.node.validTo).toISOString(),
    })),
  };
}
