/**
 * An in-memory DnsClient answering canned DnsAnswers: unit tests of what is built on DNS
 * facts never touch a resolver. Names are matched lower-case without trailing dot; anything
 * not listed is NXDOMAIN. `hang` answers nothing until the caller's signal aborts.
 */
import type { DnsAnswer, DnsClient, RecordOf, RRType } from '../../src/probe/dns/types.js';

export type Canned =
  | { records: string[] | RecordOf[RRType][]; security?: DnsAnswer['security'] }
  | { rcode: DnsAnswer['rcode']; security?: DnsAnswer['security']; error?: string }
  | 'hang';

export interface CannedDns extends DnsClient {
  /** Every query asked, as `name TYPE`. */
  readonly asked: string[];
}

/** A record given as text: A/AAAA an address, TXT its text. */
function record(type: RRType, value: string | RecordOf[RRType]): RecordOf[RRType] {
  if (typeof value !== 'string') return value;
  if (type === 'A' || type === 'AAAA') return { address: value };
  if (type === 'TXT') return { text: value };
  throw new Error(`canned ${type} records must be given as objects`);
}

export function cannedDns(zone: Record<string, Partial<Record<RRType, Canned>>>): CannedDns {
  const asked: string[] = [];
  const server = '127.0.0.1:53';
  return {
    server,
    asked,
    async query<T extends RRType>(name: string, type: T, signal: AbortSignal): Promise<DnsAnswer<T>> {
      const key = name.toLowerCase().replace(/\.$/, '');
      asked.push(`${key} ${type}`);
      const base = { name: key, type, ad: false, ede: [], cnames: [], server };
      const exists = Object.keys(zone).some((n) => n === key || n.endsWith(`.${key}`));
      const canned = zone[key]?.[type];
      if (canned === 'hang') {
        await new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
        return { ...base, rcode: 'TIMEOUT', security: 'indeterminate', records: [], error: 'no reply before the deadline' };
      }
      if (!canned) return { ...base, rcode: exists ? 'NOERROR' : 'NXDOMAIN', security: 'insecure', records: [] };
      if ('rcode' in canned) {
        return { ...base, rcode: canned.rcode, security: canned.security ?? 'indeterminate', records: [], ...(canned.error ? { error: canned.error } : {}) };
      }
      const security = canned.security ?? 'insecure';
      return { ...base, rcode: 'NOERROR', ad: security === 'secure', security, records: canned.records.map((r) => record(type, r)) as RecordOf[T][] };
    },
  };
}
