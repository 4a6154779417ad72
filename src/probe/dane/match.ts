/**
 * DANE for SMTP (RFC 7672, RFC 7671): do an MX host's TLSA records authenticate what one of
 * its addresses sent? Judged on the chain exactly as the server sent it, never on a local
 * trust store: a DANE sender trusts DNSSEC, not CAs. The verdicts follow OpenSSL's DANE code
 * (what Postfix and most DANE senders run), with its DANE-EE name checks off as Postfix has
 * them (RFC 7672 §3.1.1); the tests compare every case with `openssl s_client`.
 */
import type * as nodeCrypto from 'node:crypto';
import type { TlsaRecord } from '../dns/types.js';
import { canonicalIp, canonicalName, matchIdentity } from '../cert/identity.js';
import { issuedBy, parseCertificate, type ParsedCert } from '../cert/parse.js';
import { pathRuleReasons } from '../cert/path-rules.js';
import { windowsDn } from '../cert/windows-dn.js';
import { DANE_EE, DANE_TA, DIGEST_OF, MATCH_FULL, SELECTOR_CERT, tlsaFacts } from './tlsa.js';
import type { DaneAddressFacts, DaneFailure, TlsaMatch, TlsaRecordFacts } from './types.js';

// Node's own module object rather than an ESM import, whose namespace reads every export
// and so loads what a one-shot check never uses (README "Performance", `check`).
const { createHash, createPublicKey, X509Certificate } = process.getBuiltinModule('node:crypto');
type X509Certificate = nodeCrypto.X509Certificate;

const MAX_PATH = 10;

/** One DER element: where its header starts, where its content starts and ends. */
function tlv(d: Buffer, at: number): { at: number; start: number; end: number; tag: number } | null {
  if (at + 2 > d.length) return null;
  const tag = d[at]!;
  let len = d[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 4 || start + n > d.length) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + d[start + i]!;
    start += n;
  }
  return start + len <= d.length ? { at, start, end: start + len, tag } : null;
}

/**
 * The SubjectPublicKeyInfo exactly as encoded in the certificate: selector 1 hashes these
 * bytes, and re-encoding the key (KeyObject.export) could differ from what the CA wrote.
 */
export function spkiOf(der: Buffer): Buffer | null {
  const cert = tlv(der, 0);
  const tbs = cert && tlv(der, cert.start);
  if (!tbs) return null;
  let el = tlv(der, tbs.start);
  if (el?.tag === 0xa0) el = tlv(der, el.end); // explicit version
  // serialNumber, signature, issuer, validity, subject, then subjectPublicKeyInfo
  for (let i = 0; i < 5 && el; i++) el = tlv(der, el.end);
  return el && el.tag === 0x30 ? der.subarray(el.at, el.end) : null;
}

interface Sent {
  cert: X509Certificate;
  der: Buffer;
  spki: Buffer | null;
}

function association(s: Sent, r: TlsaRecordFacts): Buffer | null {
  const selected = r.selector === SELECTOR_CERT ? s.der : s.spki;
  if (!selected) return null;
  const hash = DIGEST_OF[r.matchingType];
  return hash ? createHash(hash).update(selected).digest() : selected;
}

function matchesCert(s: Sent, r: TlsaRecordFacts): boolean {
  const a = association(s, r);
  return a !== null && a.equals(Buffer.from(r.data, 'hex'));
}

const what = (r: TlsaRecordFacts) => (r.selector === SELECTOR_CERT ? 'certificate' : 'SPKI');

/** Indices into the sent chain of the path from the leaf upwards, each issued by the next. */
function pathOf(sent: readonly Sent[]): number[] {
  const path = [0];
  const unused = new Set(sent.keys());
  unused.delete(0);
  let cur = sent[0]!.cert;
  while (path.length < MAX_PATH && !(cur.subject === cur.issuer && issuedBy(cur, cur))) {
    const next = [...unused].find((i) => issuedBy(cur, sent[i]!.cert));
    if (next === undefined) break;
    unused.delete(next);
    path.push(next);
    cur = sent[next]!.cert;
  }
  return path;
}

/**
 * RFC 7671 §9 (digest algorithm agility): for each usage and selector, a sender uses only the
 * strongest digest present; Full(0) records always count. OpenSSL does the same, so a stale
 * SHA-256 record beside a SHA-512 one never authenticates.
 */
function weakerDigests(facts: readonly TlsaRecordFacts[]): Set<number> {
  const best = new Map<string, number>();
  const key = (f: TlsaRecordFacts) => `${f.usage}/${f.selector}`;
  for (const f of facts) {
    if (f.usability !== 'usable' || f.matchingType === MATCH_FULL) continue;
    best.set(key(f), Math.max(best.get(key(f)) ?? 0, f.matchingType));
  }
  const out = new Set<number>();
  facts.forEach((f, i) => {
    if (f.usability === 'usable' && f.matchingType !== MATCH_FULL && f.matchingType < best.get(key(f))!) out.add(i);
  });
  return out;
}

/** The issuer of `top` given in full by a 2 0 0 / 2 1 0 record, or null (RFC 7671 §5.2.2). */
function fullAnchor(r: TlsaRecordFacts, top: X509Certificate): { cert: X509Certificate | null } | null {
  if (r.matchingType !== MATCH_FULL) return null;
  const der = Buffer.from(r.data, 'hex');
  try {
    if (r.selector === SELECTOR_CERT) {
      const cert = new X509Certificate(der);
      return issuedBy(top, cert) ? { cert } : null;
    }
    return top.verify(createPublicKey({ key: der, format: 'der', type: 'spki' })) ? { cert: null } : null;
  } catch {
    return null;
  }
}

interface Anchor {
  /** Position in the path; path.length for an anchor the record carries in full. */
  pos: number;
  /** The anchor's certificate when not sent but given by a 2 0 0 record. */
  given: X509Certificate | null;
}

export interface DaneOptions {
  /**
   * More reference identifiers besides the TLSA base domain (RFC 7672 §3.2.3): the MX host
   * name when a CNAME made the base domain differ. IP literals are ignored.
   */
  names?: readonly string[];
}

/**
 * `sentChain`: leaf first, as the server sent it. `sni`: the TLSA base domain (also the
 * first reference identifier). Pure given the clock.
 */
export function daneFacts(
  records: readonly TlsaRecord[],
  sentChain: readonly X509Certificate[],
  sni: string,
  now: Date,
  options: DaneOptions = {},
): DaneAddressFacts {
  const facts = records.map(tlsaFacts);
  const usable = facts.filter((f) => f.usability === 'usable');
  const unmatched = (record: TlsaRecordFacts, note?: string): TlsaMatch => ({ record, matched: false, depth: null, against: null, ...(note ? { note } : {}) });
  const refs = referenceNames([sni, ...(options.names ?? [])]);
  const fail = (matches: TlsaMatch[], failure: DaneFailure, problem: string, extra: Partial<DaneAddressFacts> = {}): DaneAddressFacts => ({
    sni,
    matches,
    authenticated: false,
    problem,
    failure,
    ...extra,
  });

  if (sentChain.length === 0) {
    return fail(facts.map((f) => unmatched(f)), 'no-match', 'the server sent no certificate');
  }
  const sent: Sent[] = sentChain.map((cert) => ({ cert, der: cert.raw, spki: spkiOf(cert.raw) }));
  const path = pathOf(sent);
  const top = sent[path[path.length - 1]!]!.cert;
  const topSelfSigned = top.subject === top.issuer && issuedBy(top, top);
  const weaker = weakerDigests(facts);
  const anchors: Anchor[] = [];
  const offPath: string[] = [];

  const matches = facts.map((f, i): TlsaMatch => {
    if (f.usability !== 'usable') return unmatched(f);
    if (weaker.has(i)) {
      return unmatched(f, `not used: a stronger digest is published for usage ${f.usage} selector ${f.selector}, and senders use only the strongest (RFC 7671 §9)`);
    }
    if (f.usage === DANE_EE) {
      return matchesCert(sent[0]!, f) ? { record: f, matched: true, depth: 0, against: `leaf ${what(f)}` } : unmatched(f);
    }
    // DANE-TA: a certificate above the leaf on the path (senders never take the leaf as its own anchor).
    const pos = path.findIndex((idx, p) => p > 0 && matchesCert(sent[idx]!, f));
    if (pos > 0) {
      anchors.push({ pos, given: null });
      return { record: f, matched: true, depth: path[pos]!, against: `chain[${path[pos]}] ${what(f)}` };
    }
    const stray = sent.findIndex((s, idx) => idx > 0 && !path.includes(idx) && matchesCert(s, f));
    if (stray > 0) {
      offPath.push(`${f.text} matches chain[${stray}], which did not issue any certificate on the path from the leaf`);
      return { record: f, matched: true, depth: stray, against: `chain[${stray}] ${what(f)}`, note: 'not on the path from the leaf: the server sent it, but nothing it sent was issued by it' };
    }
    if (matchesCert(sent[0]!, f)) {
      return unmatched(f, 'matches the leaf itself, but a DANE-TA record names an issuer: senders do not use it on the leaf (publish 3 x x for the server\'s own certificate or key)');
    }
    const full = topSelfSigned ? null : fullAnchor(f, top);
    if (full) {
      anchors.push({ pos: path.length, given: full.cert });
      return {
        record: f,
        matched: true,
        depth: null,
        against: `issuer of chain[${path[path.length - 1]}] ${f.selector === SELECTOR_CERT ? 'certificate' : 'key'} (not sent: the record has it in full)`,
        note: 'the server does not send this trust anchor; senders accept a full 2 0 0 / 2 1 0 record in its place (RFC 7671 §5.2.2), though RFC 7672 §3.1.2 asks servers to send it',
      };
    }
    return unmatched(f);
  });

  const leaf = safeParse(sent[0]!.der);
  const leafFacts = leaf ? { leafNamesMatch: namesMatch(leaf, refs), leafInDate: inDate(sent[0]!.cert, now) } : {};
  if (matches.some((m) => m.matched && m.record.usage === DANE_EE)) {
    return { sni, matches, authenticated: true, ...leafFacts };
  }
  const anchor = anchors.sort((a, b) => a.pos - b.pos)[0];
  if (anchor) {
    const problems = anchorPathProblems(anchor, path.map((i) => sent[i]!), refs, now);
    if (!problems) return { sni, matches, authenticated: true, ...leafFacts };
    return fail(matches, problems.failure, problems.text, leafFacts);
  }
  if (usable.length === 0) {
    const whys = [...new Set(facts.map((f) => f.unusableWhy))].join(', ');
    return fail(matches, 'no-usable-records', `no usable TLSA record (${whys || 'none published'}): TLS is mandatory but the server cannot be authenticated`, leafFacts);
  }
  if (offPath.length) return fail(matches, 'chain-invalid', offPath.join('; '), leafFacts);
  const taRecords = usable.filter((f) => f.usage === DANE_TA);
  if (taRecords.length && !topSelfSigned) {
    const t = safeParse(sent[path[path.length - 1]!]!.der);
    const topName = t ? windowsDn(t.subjectRdns) : top.subject;
    const issuerName = t ? windowsDn(t.issuerRdns) : top.issuer;
    return fail(
      matches,
      'ta-not-sent',
      `no DANE-TA record matches a certificate the server sent; the top of the chain it sent, "${topName}", was issued by "${issuerName}", which it did not send: the trust anchor a DANE-TA record names must be in the chain the server sends (RFC 7672 §3.1.2)`,
      leafFacts,
    );
  }
  const kinds = [...new Set(usable.map((f) => (f.usage === DANE_EE ? 'the leaf' : 'the chain')))].join(' or ');
  return fail(matches, 'no-match', `no usable TLSA record matches ${kinds} the server sent`, leafFacts);
}

/** Canonical DNS names, IP literals and bad names left out, each once. */
function referenceNames(names: readonly string[]): string[] {
  const out = names.filter((n) => canonicalIp(n) === null).map(canonicalName);
  return [...new Set(out.filter((n): n is string => n !== null))];
}

function safeParse(der: Buffer): ParsedCert | null {
  try {
    return parseCertificate(der);
  } catch {
    return null;
  }
}

function namesMatch(leaf: ParsedCert, refs: readonly string[]): boolean {
  // RFC 7672 §3.2.3: any reference identifier will do; the CN counts only when no DNS-ID is present.
  return refs.some((r) => {
    const o = matchIdentity(r, leaf);
    return o.kind === 'match' || o.kind === 'cn_only';
  });
}

function inDate(c: X509Certificate, now: Date): boolean {
  return new Date(c.validFrom).getTime() <= now.getTime() && now.getTime() <= new Date(c.validTo).getTime();
}

/**
 * With a DANE-TA anchor, the path from the leaf to it is validated as PKIX would, but with
 * that anchor (RFC 7671 §5.2.2): CA rules, the leaf's names, and the dates of every
 * certificate below the anchor. The anchor's own dates do not count: a trust anchor is not a
 * certificate of the path (RFC 5280 §6.1.1), and OpenSSL 3 accepts an expired one too.
 * Signatures were verified when the path was built.
 */
function anchorPathProblems(
  anchor: Anchor,
  path: readonly Sent[],
  refs: readonly string[],
  now: Date,
): { failure: DaneFailure; text: string } | null {
  const certs = path.slice(0, anchor.pos + 1).map((s) => s.cert);
  if (anchor.given) certs.push(anchor.given);
  const parsed = certs.map((c) => safeParse(c.raw));
  if (parsed.some((p) => p === null)) return { failure: 'chain-invalid', text: 'a certificate on the path cannot be decoded' };
  const chain = parsed as ParsedCert[];
  const rules = pathRuleReasons(chain);
  if (rules.length) return { failure: 'chain-invalid', text: rules.map((r) => r.message).join('; ') };
  const stale = certs
    .slice(0, anchor.pos)
    .map((c, i) => ({ c, i }))
    .filter(({ c }) => !inDate(c, now))
    .map(({ c, i }) => {
      const who = i === 0 ? 'the leaf' : `"${windowsDn(chain[i]!.subjectRdns)}"`;
      return new Date(c.validTo).getTime() < now.getTime()
        ? `${who} expired on ${new Date(c.validTo).toISOString().slice(0, 10)}`
        : `${who} is not valid before ${new Date(c.validFrom).toISOString().slice(0, 10)}`;
    });
  if (stale.length) return { failure: 'expired', text: `the DANE-TA path is out of date: ${stale.join('; ')}` };
  if (!namesMatch(chain[0]!, refs)) {
    const has = chain[0]!.dnsNames.length ? `its DNS names are ${chain[0]!.dnsNames.join(', ')}` : `it has no DNS name (CN ${chain[0]!.commonNames.join(', ') || 'none'})`;
    return { failure: 'name-mismatch', text: `the leaf is not for ${refs.join(' or ')}: ${has} (with DANE-TA the names are checked, RFC 7672 §3.2.3)` };
  }
  return null;
}

/** The facts when no TLS session came up: nothing was matched, and DANE made TLS mandatory. */
export function daneWithoutTls(records: readonly TlsaRecord[], sni: string, why: string): DaneAddressFacts {
  return {
    sni,
    matches: records.map((r) => ({ record: tlsaFacts(r), matched: false, depth: null, against: null })),
    authenticated: false,
    problem: why,
    failure: 'no-tls',
  };
}

/** One line of the human report: `3 1 1 9f86d081884c… ← leaf SPKI [match]`. */
export function matchText(m: TlsaMatch): string {
  const note = m.note ? ` (${m.note})` : '';
  if (m.record.usability !== 'usable') return `${m.record.text} [unusable: ${m.record.unusableWhy}]`;
  if (m.matched) return `${m.record.text} ← ${m.against} [match]${note}`;
  return `${m.record.text} [no match]${note}`;
}
