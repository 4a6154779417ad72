/**
 * An in-memory DnsClient for table-driven tests of domain mode (no sockets; the scripted DNS
 * server for client tests is ./fake-dns.ts): answers by `name TYPE`, NODATA
 * (secure) for anything not listed. The DNSSEC state is given per answer, as a validating
 * resolver would have set it.
 */
import type { DnsAnswer, DnsClient, DnsSecurity, RecordOf, RRType } from '../../src/probe/dns/types.js';

export interface Answer {
  rcode?: string;
  security?: DnsSecurity;
  records?: unknown[];
  cnames?: string[];
  ede?: Array<{ code: number; text?: string }>;
  signatureExpires?: string;
}

export interface AnsweringDns extends DnsClient {
  /** Every `name TYPE` asked, in order. */
  asked: string[];
}

export function answeringDns(zone: Record<string, Answer>, fallback: Answer = { security: 'secure' }): AnsweringDns {
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

