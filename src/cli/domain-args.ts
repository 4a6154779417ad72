/**
 * `smtp-tls-probe domain` arguments: parsed strictly, each problem one line naming the option.
 * Reading the CA files is the only I/O here; the resolver is resolved (resolv.conf) by the caller.
 */
import { hostname } from 'node:os';
import { parseDnsName, parseIpLiteral } from '../probe/host.js';
import { TARGET_DEFAULTS } from '../probe/probe-target.js';
import { SENDERS, type DomainTarget, type MtaStsMode, type Sender } from '../probe/domain/types.js';
import { onePositional, readCa, strictArgs, timeoutOption, UsageError } from './check-args.js';

export const DOMAIN_TIMEOUT_MS = 60_000;

export interface DomainCliOptions {
  target: DomainTarget;
  /** `IP` or `IP:PORT` / `[IPv6]:PORT` as given; absent: the first nameserver of /etc/resolv.conf. */
  resolver?: string;
  timeoutMs: number;
  json: boolean;
}

export const DOMAIN_USAGE = `Usage: smtp-tls-probe domain DOMAIN [options]

Judge mail delivery to DOMAIN the way senders do: its MX hosts (with DNSSEC), MTA-STS, DANE
(TLSA matched against what every MX address serves), TLS-RPT, and one verdict per sender
(rfc: RFC 7672/8461 sender such as Postfix; exo: Exchange Online). Exit code as Nagios
plugins: 0 ok, 1 warning, 2 critical, 3 unknown.

Options:
  --resolver IP[:PORT]  validating DNS resolver to ask (default: the first nameserver
                        of /etc/resolv.conf); it must set the AD bit for signed answers
  --ca FILE             PEM file of trusted CA certificates for the MX certificates
  --policy-ca FILE      PEM file of trusted CA certificates for the MTA-STS policy host
  --sender WHO          rfc, exo or all (default all)
  --expect-mta-sts MODE enforce, testing, none or absent: a difference is critical
  --expect-dane         every MX must have DANE (secure TLSA records)
  --expect-tls-rpt      a valid TLS-RPT record must be published
  --no-smtp             DNS and policy only: do not connect to the MX hosts
  --timeout SECONDS     deadline of the whole check: 0.001 to 600 (default ${DOMAIN_TIMEOUT_MS / 1000})
  --json                print the JSON result instead of the report
  -h, --help            show this help
`;

const MTA_STS_EXPECT = ['enforce', 'testing', 'none', 'absent'] as const;

/** Returns null when help was asked for. */
export function parseDomainArgs(argv: string[]): DomainCliOptions | null {
  const { values: v, positionals } = strictArgs(argv, {
    resolver: { type: 'string' },
    ca: { type: 'string' },
    'policy-ca': { type: 'string' },
    sender: { type: 'string' },
    'expect-mta-sts': { type: 'string' },
    'expect-dane': { type: 'boolean' },
    'expect-tls-rpt': { type: 'boolean' },
    'no-smtp': { type: 'boolean' },
    timeout: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return null;
  const given = onePositional(positionals, 'DOMAIN', 'domain');
  if (parseIpLiteral(given.replace(/^\[(.*)\]$/, '$1'))) throw new UsageError(`DOMAIN: "${given}" is an IP address, not a mail domain`);
  const name = parseDnsName(given);
  if (!name.ok) throw new UsageError(`DOMAIN: "${given}" is not a domain name: it ${name.problem}`);
  if (!name.value.includes('.')) throw new UsageError(`DOMAIN: "${given}" has a single label; give the mail domain (e.g. example.com)`);

  let senders: Sender[] = [...SENDERS];
  if (v.sender !== undefined) {
    const s = v.sender.trim().toLowerCase();
    if (s !== 'all' && !(SENDERS as readonly string[]).includes(s)) throw new UsageError(`--sender: must be rfc, exo or all (got "${v.sender}")`);
    if (s !== 'all') senders = [s as Sender];
  }
  let mtaSts: MtaStsMode | 'absent' | undefined;
  if (v['expect-mta-sts'] !== undefined) {
    const m = v['expect-mta-sts'].trim().toLowerCase();
    if (!(MTA_STS_EXPECT as readonly string[]).includes(m)) {
      throw new UsageError(`--expect-mta-sts: must be enforce, testing, none or absent (got "${v['expect-mta-sts']}")`);
    }
    mtaSts = m as MtaStsMode | 'absent';
  }
  const timeoutMs = timeoutOption(v.timeout, DOMAIN_TIMEOUT_MS);
  if (v.resolver !== undefined && !v.resolver.trim()) throw new UsageError('--resolver: must be IP or IP:PORT (got "")');
  const target: DomainTarget = {
    domain: name.value,
    senders,
    smtp: v['no-smtp'] !== true,
    expect: {
      ...(mtaSts ? { mtaSts } : {}),
      ...(v['expect-dane'] ? { dane: true } : {}),
      ...(v['expect-tls-rpt'] ? { tlsRpt: true } : {}),
    },
    ...(v.ca !== undefined ? { ca: readCa(v.ca) } : {}),
    ...(v['policy-ca'] !== undefined ? { policyCa: readCa(v['policy-ca'], 'policy-ca') } : {}),
    probe: { ehloName: hostname(), warnDays: TARGET_DEFAULTS.warnDays, minTlsVersion: TARGET_DEFAULTS.minTlsVersion, port: TARGET_DEFAULTS.port },
  };
  return { target, ...(v.resolver !== undefined ? { resolver: v.resolver.trim() } : {}), timeoutMs, json: v.json === true };
}
