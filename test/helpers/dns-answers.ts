/**
 * The one in-memory DnsClient of domain mode's unit tests (no sockets; the scripted DNS
 * server for client tests is ./fake-dns.ts, the real resolver ./dns-lab.ts): answers by
 * `name TYPE`, as a validating resolver would have set the DNSSEC state. Names are matched
 * lower-case without trailing dot.
 */
import type { DnsAnswer, DnsClient, DnsSecurity, RecordOf, RRType } from '../../src/probe/dns/types.js';

export interface Answer {
  /** NOERROR unless given. */
  rcode?: string;
  /** The options' default, or `indeterminate` for an RCODE other than NOERROR and NXDOMAIN. */
  security?: DnsSecurity;
  /** Records as objects; A/AAAA may be given as address text, TXT as its text. */
  records?: unknown[];
  cnames?: string[];
  ede?: Array<{ code: number; text?: string }>;
  signatureExpires?: string;
  error?: string;
  /** No reply until the caller's signal aborts, then TIMEOUT. */
  hang?: boolean;
}

export interface AnsweringOptions {
  /** The DNSSEC state of answers that do not give one (default secure). */
  security?: DnsSecurity;
  /** The answer for anything not listed (default NODATA). */
  missing?: Answer;
}

export interface AnsweringDns extends DnsClient {
  /** Every `name TYPE` asked, in order. */
  asked: string[];
}

function record(type: RRType, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (type === 'A' || type === 'AAAA') return { address: value };
  if (type === 'TXT') return { text: value };
  throw new Error(`${type} records must be given as objects`);
}

const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

export function answeringDns(zone: Record<string, Answer>, options: AnsweringOptions = {}): AnsweringDns {
  const asked: string[] = [];
  const server = '127.0.0.1:53';
  return {
    server,
    asked,
    async query<T extends RRType>(rawName: string, type: T, signal: AbortSignal): Promise<DnsAnswer<T>> {
      const name = rawName.toLowerCase().replace(/\.$/, '');
      const key = `${name} ${type}`;
      asked.push(key);
      const a = zone[key] ?? options.missing ?? {};
      if (a.hang) {
        await untilAborted(signal);
        return { name, type, rcode: 'TIMEOUT', ad: false, security: 'indeterminate', ede: [], records: [], cnames: [], error: 'no reply before the deadline', server };
      }
      const rcode = a.rcode ?? 'NOERROR';
      const security = a.security ?? (rcode === 'NOERROR' || rcode === 'NXDOMAIN' ? (options.security ?? 'secure') : 'indeterminate');
      return {
        name,
        type,
        rcode,
        ad: security === 'secure',
        security,
        ede: a.ede ?? [],
        records: (a.records ?? []).map((r) => record(type, r)) as RecordOf[T][],
        cnames: a.cnames ?? [],
        ...(a.signatureExpires ? { signatureExpires: a.signatureExpires } : {}),
        ...(a.error ? { error: a.error } : {}),
        server,
      };
    },
  };
}

export const mx = (preference: number, exchange: string) => ({ preference, exchange });
export const addr = (address: string) => ({ address });
