/**
 * The X.509 path rules a validator enforces besides trust and dates (RFC 5280 §6 as OpenSSL
 * and Windows apply it): issuers must be CAs, path length and name constraints hold, every
 * extended key usage on the path allows TLS server authentication, the leaf's key usage
 * allows the key exchange, and no certificate has a critical extension nobody understands.
 * OpenSSL's own verdict (openssl-verdict.ts) backs these up, but it reports one error
 * without saying which certificate: these checks name it, and find every violation.
 */
import { reason } from '../reasons.js';
import type { Reason } from '../types.js';
import type { ParsedCert } from './parse.js';
import { KeyUsageFlags } from './extensions.js';
import { windowsDn } from './windows-dn.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
/** Server Gated Crypto purposes, which OpenSSL still accepts on a CA in place of serverAuth. */
const SGC = new Set(['1.3.6.1.4.1.311.10.3.3', '2.16.840.1.113730.4.1']);
const EKU_NAMES: Record<string, string> = {
  [SERVER_AUTH]: 'serverAuth',
  '1.3.6.1.5.5.7.3.2': 'clientAuth',
  '1.3.6.1.5.5.7.3.3': 'codeSigning',
  '1.3.6.1.5.5.7.3.4': 'emailProtection',
  '1.3.6.1.5.5.7.3.8': 'timeStamping',
  '1.3.6.1.5.5.7.3.9': 'OCSPSigning',
  '2.5.29.37.0': 'anyExtendedKeyUsage',
};
/** OpenSSL accepts a TLS server key whose keyUsage has any of these (ku_reject with KU_TLS). */
const KU_TLS = KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment | KeyUsageFlags.keyAgreement;

function keyUsageNames(bits: number): string {
  const names = Object.entries(KeyUsageFlags)
    .filter(([, flag]) => (bits & flag) !== 0)
    .map(([name]) => name);
  return names.length ? names.join(', ') : 'none';
}

const selfIssued = (c: ParsedCert) => c.node.subject === c.node.issuer;

function label(chain: readonly ParsedCert[], i: number): string {
  const c = chain[i]!;
  if (i === 0) return 'the certificate';
  const dn = windowsDn(c.subjectRdns);
  return i === chain.length - 1 && c.selfSigned ? `the root "${dn}"` : `the intermediate "${dn}"`;
}

/** Does a dNSName constraint cover the name? "example.com" covers itself and its subdomains, ".example.com" only the latter. */
function inSubtree(name: string, base: string): boolean {
  const b = base.toLowerCase().replace(/\.$/, '');
  if (b === '') return true;
  if (b.startsWith('.')) return name.endsWith(b);
  return name === b || name.endsWith(`.${b}`);
}

/** DNS names a CA's name constraints apply to: the SANs, or the CN of a leaf that has none (as OpenSSL does). */
function constrainedNames(c: ParsedCert, isLeaf: boolean): string[] {
  const names = c.dnsNames.length || !isLeaf ? c.dnsNames : c.commonNames.filter((n) => /^[A-Za-z0-9.*-]+$/.test(n) && n.includes('.'));
  return names.map((n) => n.toLowerCase().replace(/\.$/, ''));
}

function nameConstraintReasons(chain: readonly ParsedCert[], i: number): Reason[] {
  const nc = chain[i]!.extensions.nameConstraints;
  if (!nc) return [];
  const out: Reason[] = [];
  const who = label(chain, i);
  for (let j = 0; j < i; j++) {
    if (j > 0 && selfIssued(chain[j]!)) continue; // RFC 5280 §6.1.3: self-issued CAs are exempt
    for (const name of constrainedNames(chain[j]!, j === 0)) {
      const excluded = nc.excluded.find((b) => inSubtree(name, b));
      if (excluded !== undefined) {
        out.push(reason('cert_chain_invalid', `name constraints violated: the name "${name}" of ${label(chain, j)} is in a subtree ${who} excludes ("${excluded}")`));
      } else if (nc.permitted.length && !nc.permitted.some((b) => inSubtree(name, b))) {
        out.push(
          reason('cert_chain_invalid', `name constraints violated: the name "${name}" of ${label(chain, j)} is outside the names ${who} may issue for (permitted: ${nc.permitted.join(', ')})`),
        );
      }
    }
  }
  return out;
}

function issuerReasons(chain: readonly ParsedCert[], i: number): Reason[] {
  const c = chain[i]!;
  const who = label(chain, i);
  const bc = c.extensions.basicConstraints;
  const isRoot = i === chain.length - 1 && c.selfSigned;
  const ku = c.extensions.keyUsage;
  if (!bc) {
    // OpenSSL and Windows let a trust anchor without basicConstraints act as a CA when it is a
    // v1 certificate or its keyUsage allows certificate signing; nothing else.
    const tolerated = isRoot && (c.version === 1 || (ku !== null && (ku & KeyUsageFlags.keyCertSign) !== 0));
    return tolerated ? [] : [reason('cert_chain_invalid', `the issuer is not a CA: ${who} has no basicConstraints extension, so it may not issue certificates`)];
  }
  if (!bc.ca) {
    return [reason('cert_chain_invalid', `the issuer is not a CA: ${who} has basicConstraints cA:FALSE, so it may not issue certificates`)];
  }
  if (ku !== null && (ku & KeyUsageFlags.keyCertSign) === 0) {
    return [reason('cert_chain_invalid', `${who} may not sign certificates: its key usage (${keyUsageNames(ku)}) lacks keyCertSign`)];
  }
  if (bc.pathLength !== null) {
    const below = chain.slice(1, i).filter((x) => !selfIssued(x)).length;
    if (below > bc.pathLength) {
      return [
        reason('cert_chain_invalid', `path length constraint exceeded: ${who} allows ${bc.pathLength} intermediate CA(s) below it (pathLenConstraint), the path has ${below}`),
      ];
    }
  }
  return [];
}

function ekuReason(chain: readonly ParsedCert[], i: number): Reason[] {
  const eku = chain[i]!.extensions.extKeyUsage;
  if (eku === null || eku.includes(SERVER_AUTH) || (i > 0 && eku.some((o) => SGC.has(o)))) return [];
  const names = eku.map((o) => EKU_NAMES[o] ?? o).join(', ');
  return [reason('cert_chain_invalid', `${label(chain, i)} is not valid for TLS servers: its extended key usage (${names}) does not include serverAuth`)];
}

/**
 * Every rule violation on the chain, leaf first; the last element may be the trust anchor.
 * Only what the server sent plus the anchor: a path that breaks off (untrusted, incomplete)
 * is judged as far as it goes, as OpenSSL does.
 */
export function pathRuleReasons(chain: readonly ParsedCert[]): Reason[] {
  const out: Reason[] = [];
  chain.forEach((c, i) => {
    for (const oid of c.extensions.unknownCritical) {
      out.push(reason('cert_chain_invalid', `${label(chain, i)} has an unknown critical extension (OID ${oid}), which validators must refuse`));
    }
    out.push(...ekuReason(chain, i));
    if (i === 0) {
      const ku = c.extensions.keyUsage;
      if (ku !== null && (ku & KU_TLS) === 0) {
        out.push(
          reason('cert_chain_invalid', `the certificate's key usage (${keyUsageNames(ku)}) forbids the TLS key exchange: it needs digitalSignature, keyEncipherment or keyAgreement`),
        );
      }
    } else {
      out.push(...issuerReasons(chain, i), ...nameConstraintReasons(chain, i));
    }
  });
  return out;
}
