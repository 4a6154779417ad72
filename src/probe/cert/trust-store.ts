/**
 * Trust anchors: Node's bundled roots plus NODE_EXTRA_CA_CERTS by default (what node:tls
 * trusts), or the certificates of a CA file (which replaces them, as it does for node:tls).
 * Parsed once per distinct source.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { rootCertificates } from 'node:tls';

export interface TrustStore {
  /** Every certificate of the source, by SHA-256 fingerprint. */
  has(cert: X509Certificate): boolean;
  /** Certificates whose subject is this issuer name. */
  bySubject(subject: string): readonly X509Certificate[];
}

const PEM_CERT = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

export function splitPem(text: string): string[] {
  return text.match(PEM_CERT) ?? [];
}

/**
 * The PEM blocks without repeats (the same base64, however wrapped): NODE_EXTRA_CA_CERTS often
 * names the system's bundle, which holds most of Node's own roots again (96 of 144 on Debian),
 * and parsing each root is most of a one-shot check's judging time. A repeat adds nothing:
 * the same certificate is already in the store, and found first.
 */
function unique(pems: readonly string[]): string[] {
  const seen = new Set<string>();
  return pems.filter((pem) => {
    const body = pem.replace(/\s+/g, '');
    if (seen.has(body)) return false;
    seen.add(body);
    return true;
  });
}

function build(pems: readonly string[]): TrustStore {
  const fingerprints = new Set<string>();
  const subjects = new Map<string, X509Certificate[]>();
  for (const pem of unique(pems)) {
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(pem);
    } catch {
      continue;
    }
    fingerprints.add(cert.fingerprint256);
    const list = subjects.get(cert.subject) ?? [];
    list.push(cert);
    subjects.set(cert.subject, list);
  }
  return {
    has: (c) => fingerprints.has(c.fingerprint256),
    bySubject: (s) => subjects.get(s) ?? [],
  };
}

/** Node adds NODE_EXTRA_CA_CERTS to its default roots at start; so do we. */
function extraCaCerts(file = process.env.NODE_EXTRA_CA_CERTS): string[] {
  if (!file) return [];
  try {
    return splitPem(readFileSync(file, 'utf8'));
  } catch {
    return []; // Node warns about an unreadable file itself
  }
}

let bundled: TrustStore | undefined;
const custom = new Map<string, TrustStore>();

/** The store for a CA file's PEM text, or Node's bundled roots when none is given. */
export function trustStore(caPem?: string): TrustStore {
  if (caPem === undefined) return (bundled ??= build([...rootCertificates, ...extraCaCerts()]));
  let store = custom.get(caPem);
  if (!store) {
    // A long-running service sees few distinct CA files; keep the cache from growing anyway.
    if (custom.size >= 32) custom.clear();
    store = build(splitPem(caPem));
    custom.set(caPem, store);
  }
  return store;
}
