/**
 * A mail domain end to end: MX (with DNSSEC state), MTA-STS, TLS-RPT, DANE per MX, the SMTP
 * probe of every MX address, and one verdict per sender. One deadline for all of it.
 */
import type { DnsClient } from '../dns/types.js';
import type { DomainResult, DomainTarget } from './types.js';

export interface DomainOptions {
  dns: DnsClient;
  /** The one deadline of the whole domain check. */
  timeoutMs: number;
  /** Cancels early (shutdown); the deadline still applies. */
  signal?: AbortSignal;
  /**
   * The address policy of on-demand checks: the refused class for an address (`loopback`,
   * `private`...) or null to allow. Applied to every MX address and to the policy host.
   */
  refuse?: (address: string) => string | null;
  now?: () => Date;
}

export async function probeDomain(target: DomainTarget, options: DomainOptions): Promise<DomainResult> {
  void target;
  void options;
  throw new Error('not implemented yet');
}
