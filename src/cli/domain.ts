/**
 * `smtp-tls-probe domain`: one domain check, a report or the JSON result, a Nagios exit code.
 * Loaded only by this command, so `check` never pays for the DNS and policy code.
 */
import { readFileSync } from 'node:fs';
import { createDnsClient, parseResolverAddress, resolverFromResolvConf, type ResolverAddress } from '../probe/dns/client.js';
import type { DnsClient } from '../probe/dns/types.js';
import { probeDomain } from '../probe/domain/domain.js';
import type { Io } from './check.js';
import { UsageError } from './check-args.js';
import { DOMAIN_USAGE, parseDomainArgs } from './domain-args.js';
import { domainReport } from './domain-report.js';
import { EXIT_CODES } from './report.js';

/** Tests only: the resolver, SMTP port and policy port of the lab instead of the real ones. */
export interface DomainInject {
  dns?: DnsClient;
  smtpPort?: number;
  policyPort?: number;
}

const RESOLV_CONF = '/etc/resolv.conf';

/** The resolver given, or the first nameserver of /etc/resolv.conf. */
function resolverOf(given: string | undefined): ResolverAddress {
  if (given !== undefined) {
    try {
      return parseResolverAddress(given);
    } catch (e) {
      throw new UsageError(`--resolver: ${(e as Error).message}`);
    }
  }
  let text: string;
  try {
    text = readFileSync(RESOLV_CONF, 'utf8');
  } catch (e) {
    throw new UsageError(`no --resolver given and ${RESOLV_CONF} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const found = resolverFromResolvConf(text);
  if (!found) throw new UsageError(`no --resolver given and ${RESOLV_CONF} names no nameserver by IP address`);
  return found;
}

export async function runDomain(argv: string[], io: Io, inject: DomainInject = {}): Promise<number> {
  let options;
  let dns: DnsClient;
  try {
    options = parseDomainArgs(argv);
    if (!options) {
      io.stdout(DOMAIN_USAGE);
      return EXIT_CODES.ok;
    }
    dns = inject.dns ?? createDnsClient(resolverOf(options.resolver));
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`smtp-tls-probe domain: ${(e as Error).message}\n`);
      return EXIT_CODES.unknown;
    }
    throw e;
  }
  const target = inject.smtpPort ? { ...options.target, probe: { ...options.target.probe, port: inject.smtpPort } } : options.target;
  const result = await probeDomain(target, { dns, timeoutMs: options.timeoutMs, ...(inject.policyPort ? { policyPort: inject.policyPort } : {}) });
  io.stdout(options.json ? `${JSON.stringify(result, null, 2)}\n` : domainReport(result, io.columns));
  return EXIT_CODES[result.status];
}
