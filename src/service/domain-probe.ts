/**
 * probeDomain bound to the configured validating resolver (`dns.resolver`, else the first
 * nameserver of /etc/resolv.conf, read at each check so that a changed file is followed).
 */
import { systemResolverAddress, type ResolverAddress } from '../config/domains.js';
import { createDnsClient } from '../probe/dns/client.js';
import { probeDomain } from '../probe/domain/domain.js';
import type { DnsClient } from '../probe/dns/types.js';
import type { DomainProbeFn } from '../scheduler/scheduler.js';

export type DnsClientFactory = (resolver: ResolverAddress) => DnsClient;

/** Tests only: the ports their SMTP servers and MTA-STS policy host listen on (senders use 25 and 443). */
export interface DomainTestPorts {
  smtp?: number;
  policy?: number;
}

export function domainProbe(
  resolver: () => ResolverAddress | null,
  makeClient: DnsClientFactory = createDnsClient,
  ports: DomainTestPorts = {},
): DomainProbeFn {
  const clients = new Map<string, DnsClient>();
  return (target, options) => {
    const at = resolver() ?? systemResolverAddress();
    if (!at) return Promise.reject(new Error('no resolver: set dns.resolver (the validating resolver), /etc/resolv.conf names none'));
    const key = `${at.address}#${at.port}`;
    let dns = clients.get(key);
    if (!dns) {
      // Few resolvers in a process's life (one per configuration), each client kept.
      dns = makeClient(at);
      clients.set(key, dns);
    }
    const t = ports.smtp ? { ...target, probe: { ...target.probe, port: ports.smtp } } : target;
    return probeDomain(t, { dns, ...options, ...(ports.policy ? { policyPort: ports.policy } : {}) });
  };
}
