/**
 * Chain trust, decided from what the server actually sent and the trust store, so that a
 * self-signed leaf, an untrusted root and a missing intermediate are told apart (Node's
 * authorizationError reports only one of them, and not always the one that matters).
 */
import type { X509Certificate } from 'node:crypto';
import { issuedBy, type ParsedCert } from './parse.js';
import type { TrustStore } from './trust-store.js';
import { windowsDn } from './windows-dn.js';

export type TrustVerdict = (
  | { kind: 'trusted' }
  | { kind: 'self_signed' }
  /** The path ends at a root (sent, or the issuer of what was sent) that the store does not hold. */
  | { kind: 'untrusted'; message: string }
  /** An intermediate the server should send is missing. */
  | { kind: 'incomplete'; message: string }
) & {
  /**
   * The sent certificates on the path, leaf first. Dates, keys and signatures are judged on
   * these only: a sent certificate off the path (an old cross-sign, a stray) is ignored, as a
   * validating receiver ignores it.
   */
  path: ParsedCert[];
  /** The trust store's certificate the path ends at (may be the last of `path`), when trusted. */
  anchor: X509Certificate | null;
};

const MAX_DEPTH = 10;

export function judgeChain(served: readonly ParsedCert[], store: TrustStore): TrustVerdict {
  const leaf = served[0];
  if (!leaf) return { kind: 'untrusted', message: 'the server sent no certificate', path: [], anchor: null };
  const unused = served.slice(1);
  const path: ParsedCert[] = [leaf];
  let cur: ParsedCert = leaf;
  for (let depth = 0; depth < MAX_DEPTH; depth++) {
    if (store.has(cur.node)) return { kind: 'trusted', path, anchor: cur.node };
    if (cur.selfSigned) {
      if (cur === leaf) return { kind: 'self_signed', path, anchor: null };
      return {
        kind: 'untrusted',
        message: `the chain ends at the root "${windowsDn(cur.subjectRdns)}", which is not a trusted root`,
        path,
        anchor: null,
      };
    }
    // A trusted root that issued this one wins over whatever else was sent (trusted-first,
    // as OpenSSL and Windows do): an old cross-signed copy of the root sent along is ignored.
    const root = trustedRootOf(cur.node, store);
    if (root) return { kind: 'trusted', path, anchor: root };
    const next: ParsedCert | undefined = unused.find((c) => issuedBy(cur.node, c.node));
    if (next) {
      unused.splice(unused.indexOf(next), 1);
      path.push(next);
      cur = next;
      continue;
    }
    return { ...missingIssuer(cur, cur === leaf, store), path, anchor: null };
  }
  return { kind: 'untrusted', message: `no trusted root within ${MAX_DEPTH} certificates`, path, anchor: null };
}

function trustedRootOf(c: X509Certificate, store: TrustStore): X509Certificate | undefined {
  return store.issuersOf(c).find((r) => r.subject === r.issuer && issuedBy(c, r));
}

type Missing = { kind: 'untrusted' | 'incomplete'; message: string };

/** The issuer of `cur` was neither sent nor a trusted root. Who is it? */
function missingIssuer(cur: ParsedCert, isLeaf: boolean, store: TrustStore): Missing {
  const issuer = windowsDn(cur.issuerRdns);
  const known: X509Certificate | undefined = store.issuersOf(cur.node).find((c) => issuedBy(cur.node, c));
  if (known) {
    return {
      kind: 'incomplete',
      message: `the intermediate "${issuer}" was not sent by the server (it is in the trust store, but a sender like Exchange Online cannot rely on that)`,
    };
  }
  const where = cur.caIssuers.length ? ` (published at ${cur.caIssuers.join(', ')})` : '';
  if (isLeaf && cur.caIssuers.length) {
    return {
      kind: 'incomplete',
      message: `the server sent only its own certificate; its issuer "${issuer}"${where} is missing: install the intermediate certificate(s) on the server`,
    };
  }
  // Public CAs never issue server certificates straight from a root, so a lone leaf most
  // likely lacks its intermediate; the other possibility is a private CA, which no sender trusts.
  if (isLeaf) {
    return {
      kind: 'incomplete',
      message:
        `the server sent only its own certificate; its issuer "${issuer}" was not sent and is not a trusted root: ` +
        'install the intermediate certificate(s) on the server, or, if it comes from a private CA, the sender does not trust that CA',
    };
  }
  return {
    kind: 'untrusted',
    message: `the issuer "${issuer}"${where} was not sent and is not a trusted root`,
  };
}
