/**
 * An in-memory DnsClient for table-driven tests of domain mode: answers by `name TYPE`, NODATA
 * (secure) for anything not listed. The DNSSEC state is given per answer, as a validating
 * resolver would have set it.
 */
import type { DnsAnswer, DnsClient, DnsSecurity, RecordOf, RRType } from '../../src/probe/dns/types.js';

export interface FakeAnswer {
  rcode?: string;
  security?: DnsSecurity;
  records?: unknown[];
  cnames?: string[];
  ede?: Array<{ code: number; text?: string }>;
  signatureExpires?: string;
}

export interface FakeDns extends DnsClient {
  /** Every `name TYPE` asked, in order. */
  asked: string[];
}

export function fakeDns(zone: Record<string, FakeAnswer>, fallback: FakeAnswer = { security: 'secure' }): FakeDns {
  const asked: string[] = [];
  return {
    server: '127.0.0.1:53',
    asked,
    async query<T extends RRType>(name: string, type: T): Promise<DnsAnswer<T>> {
      const key = `${name} ${type}`;
      asked.push(key);
      const a = zone[key] ?? fallback;
      const security = a.security ?? 'secure';
      return {
        name,
        type,
        rcode: a.rcode ?? 'NOERROR',
        ad: security === 'secure',
        security,
        ede: a.ede ?? [],
        records: (a.records ?? []) as RecordOf[T][],
        cnames: a.cnames ?? [],
        ...(a.signatureExpires ? { signatureExpires: a.signatureExpires } : {}),
        server: '127.0.0.1:53',
      };
    },
  };
}

export const mx = (preference: number, exchange: string) => ({ preference, exchange });
export const addr = (address: string) => ({ address });

/**
 * A fake resolver from zone-file lines (`owner TYPE rdata`, absolute names, no TTL or class):
 * the same text the DNSSEC lab signs, so that a case reads the same in both. Every answer is
 * `security` (secure by default); names not listed are NODATA.
 */
export function zoneDns(text: string, security: DnsSecurity = 'secure'): FakeDns {
  const zone: Record<string, FakeAnswer> = {};
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith(';')) continue;
    const [owner, type, ...rest] = line.split(/\s+/) as [string, string, ...string[]];
    const data = line.slice(line.indexOf(type) + type.length).trim();
    const key = `${owner.toLowerCase().replace(/\.$/, '')} ${type}`;
    const entry = (zone[key] ??= { security, records: [] });
    const records = entry.records!;
    if (type === 'A' || type === 'AAAA') records.push({ address: rest[0] });
    else if (type === 'MX') records.push({ preference: Number(rest[0]), exchange: rest[1]!.replace(/\.$/, '') });
    else if (type === 'TXT') records.push({ text: [...data.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((m) => m[1]).join('') });
    else if (type === 'TLSA') records.push({ usage: Number(rest[0]), selector: Number(rest[1]), matchingType: Number(rest[2]), data: rest.slice(3).join('').toLowerCase() });
    else throw new Error(`zoneDns: type ${type} not supported`);
  }
  zone['test SOA'] = { security, records: [{ mname: 'ns.test' }] };
  return fakeDns(zone, { security });
}
