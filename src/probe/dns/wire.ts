/**
 * DNS messages as bytes: the query we send and what we accept back. Everything here is pure;
 * the transports (./transport.ts) only move bytes. A reply is checked before anyone reads it:
 * a header that announces more records than we are willing to decode, a different id, or a
 * different question make it a reply to something else, which the transports ignore.
 */
import packet from 'dns-packet';
import { randomInt } from 'node:crypto';
import type { DnsAnswer, DnsSecurity, ExtendedError, RecordOf, RRType } from './types.js';

/** RFC 9715 / DNS flag day 2020: a UDP payload size that avoids IP fragmentation. */
export const UDP_PAYLOAD = 1232;
/** More records than any answer domain mode reads could hold; a reply past it is refused. */
export const MAX_RECORDS = 512;
/** CNAME hops followed inside one answer (resolvers stop far earlier). */
const MAX_CHAIN = 16;
/** EDE EXTRA-TEXT kept, in characters: for people, so short. */
const MAX_EDE_TEXT = 200;

export interface Query {
  id: number;
  name: string;
  type: RRType;
  bytes: Buffer;
}

/** A name as we ask and report it: lowercase, no trailing dot, `.` for the root. */
export function normalizeName(name: string): string {
  const n = name.toLowerCase().replace(/\.$/, '');
  return n === '' ? '.' : n;
}

/** Why a name cannot be put on the wire, or null. */
export function nameProblem(name: string): string | null {
  if (name === '.') return null;
  if (name.length > 253) return 'is longer than 253 characters';
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(name)) return 'has characters outside printable ASCII (use A-labels)';
  if (name.split('.').some((l) => l.length === 0 || l.length > 63)) return 'has an empty label or one longer than 63 characters';
  return null;
}

/** A recursive query with EDNS0 (DO set, so RRSIGs come back) and a random id. */
export function buildQuery(name: string, type: RRType): Query {
  const id = randomInt(0, 0x10000);
  const bytes = packet.encode({
    type: 'query',
    id,
    flags: packet.RECURSION_DESIRED,
    questions: [{ type, name, class: 'IN' }],
    additionals: [{ type: 'OPT', name: '.', udpPayloadSize: UDP_PAYLOAD, extendedRcode: 0, ednsVersion: 0, flags: packet.DNSSEC_OK, flag_do: true, options: [] }],
  });
  return { id, name, type, bytes };
}

/** A decoded reply; dns-packet decodes the RCODE by name but its types omit it. */
export type Reply = packet.DecodedPacket & { rcode?: string };

export type Checked = { ok: true; reply: Reply } | { ok: false; problem: string };

/** Decodes `bytes` if it is the reply to `query`; otherwise says why it is not. */
export function checkReply(query: Query, bytes: Buffer): Checked {
  if (bytes.length < 12) return { ok: false, problem: 'a reply shorter than a DNS header' };
  if (bytes.readUInt16BE(0) !== query.id) return { ok: false, problem: 'a reply with another id' };
  if ((bytes[2]! & 0x80) === 0) return { ok: false, problem: 'a query instead of a reply' };
  let count = 0;
  for (let i = 4; i < 12; i += 2) count += bytes.readUInt16BE(i);
  if (count > MAX_RECORDS) return { ok: false, problem: `a reply announcing ${count} records (at most ${MAX_RECORDS} read)` };
  let reply: Reply;
  try {
    reply = packet.decode(bytes) as Reply;
  } catch (e) {
    return { ok: false, problem: `a malformed reply (${(e as Error).message})` };
  }
  const q = reply.questions?.[0];
  if (reply.questions?.length !== 1 || !q || normalizeName(q.name) !== query.name || q.type !== query.type || (q.class ?? 'IN') !== 'IN') {
    return { ok: false, problem: 'a reply to another question' };
  }
  return { ok: true, reply };
}

/** Whether the server cut the reply short (TC): the full one comes over TCP. */
export const truncated = (reply: Reply): boolean => ((reply.flags ?? 0) & packet.TRUNCATED_RESPONSE) !== 0;

function extendedErrors(reply: Reply): ExtendedError[] {
  const out: ExtendedError[] = [];
  for (const rr of reply.additionals ?? []) {
    if (rr.type !== 'OPT') continue;
    for (const opt of ((rr as packet.OptAnswer).options ?? []) as Array<{ code: number; data?: Buffer }>) {
      // RFC 8914: INFO-CODE (16 bits), then optional UTF-8 EXTRA-TEXT.
      if (opt.code !== 15 || !opt.data || opt.data.length < 2) continue;
      // eslint-disable-next-line no-control-regex
      const text = opt.data.subarray(2).toString('utf8').replace(/[\x00-\x1f\x7f]/g, ' ').slice(0, MAX_EDE_TEXT).trim();
      out.push({ code: opt.data.readUInt16BE(0), ...(text ? { text } : {}) });
    }
  }
  return out;
}

/** RFC 8914 §5.2: codes 1 to 12 say DNSSEC validation failed (or could not be done). */
const isDnssecEde = (e: ExtendedError): boolean => e.code >= 1 && e.code <= 12;

export function securityOf(rcode: string, ad: boolean, ede: ExtendedError[]): DnsSecurity {
  if (rcode === 'NOERROR' || rcode === 'NXDOMAIN') return ad ? 'secure' : 'insecure';
  if (rcode === 'SERVFAIL' && ede.some(isDnssecEde)) return 'bogus';
  return 'indeterminate';
}

function recordOf<T extends RRType>(type: T, data: unknown): RecordOf[T] | null {
  const d = data as Record<string, unknown>;
  switch (type) {
    case 'A':
    case 'AAAA':
      return typeof data === 'string' ? ({ address: data } as RecordOf[T]) : null;
    case 'MX':
      return { preference: d.preference as number, exchange: normalizeName(String(d.exchange)) } as RecordOf[T];
    case 'TXT': {
      // Joined as bytes, then decoded: a UTF-8 sequence may straddle two character-strings.
      const parts = (Array.isArray(data) ? data : [data]).map((p) => (Buffer.isBuffer(p) ? p : Buffer.from(String(p))));
      return { text: Buffer.concat(parts).toString('utf8') } as RecordOf[T];
    }
    case 'TLSA':
      return {
        usage: d.usage as number,
        selector: d.selector as number,
        matchingType: d.matchingType as number,
        data: Buffer.from(d.certificate as Buffer).toString('hex'),
      } as RecordOf[T];
    case 'CNAME':
      return { target: normalizeName(String(data)) } as RecordOf[T];
    case 'SOA':
      return { mname: normalizeName(String(d.mname)) } as RecordOf[T];
    case 'DS':
      return { keyTag: d.keyTag as number } as RecordOf[T];
    case 'DNSKEY':
      return { flags: d.flags as number } as RecordOf[T];
    default:
      return null;
  }
}

type Base = Pick<DnsAnswer, 'name' | 'type' | 'server'>;

/** The facts of a reply that answers `query`. */
export function answerOf<T extends RRType>(query: Query & { type: T }, reply: Reply, server: string): DnsAnswer<T> {
  const answers = (reply.answers ?? []) as Array<{ name: string; type: string; data?: unknown }>;
  const cnames: string[] = [];
  let owner = query.name;
  if (query.type !== 'CNAME') {
    for (let hop = 0; hop < MAX_CHAIN; hop++) {
      const c = answers.find((rr) => rr.type === 'CNAME' && normalizeName(rr.name) === owner);
      if (!c) break;
      owner = normalizeName(String(c.data));
      if (cnames.includes(owner)) break;
      cnames.push(owner);
    }
  }
  const records = answers
    .filter((rr) => rr.type === query.type && normalizeName(rr.name) === owner)
    .map((rr) => recordOf(query.type, rr.data))
    .filter((r): r is RecordOf[T] => r !== null);
  let earliest: number | undefined;
  for (const rr of answers) {
    if (rr.type !== 'RRSIG') continue;
    const exp = (rr.data as { expiration?: number }).expiration;
    if (typeof exp === 'number' && (earliest === undefined || exp < earliest)) earliest = exp;
  }
  const rcode = reply.rcode ?? 'ERROR';
  const ad = ((reply.flags ?? 0) & packet.AUTHENTIC_DATA) !== 0;
  const ede = extendedErrors(reply);
  return {
    name: query.name,
    type: query.type,
    rcode,
    ad,
    security: securityOf(rcode, ad, ede),
    ede,
    records,
    cnames,
    ...(earliest !== undefined ? { signatureExpires: new Date(earliest * 1000).toISOString() } : {}),
    server,
  };
}

/** The answer when no usable reply came. */
export function failedAnswer<T extends RRType>(base: Base & { type: T }, rcode: 'TIMEOUT' | 'ERROR', error: string): DnsAnswer<T> {
  return { ...base, rcode, ad: false, security: 'indeterminate', ede: [], records: [], cnames: [], error };
}
