/**
 * probeDomain bound to the configured validating resolver (`dns.resolver`, else the first
 * nameserver of /etc/resolv.conf, read at each check so that a changed file is followed).
 */
import { systemResolverAddress, type ResolverAddress } from '../config/domains.js';
import { probeDomain } from '../probe/domain/domain.js';
import type { DnsClient } from '../probe/dns/types.js';
import type { DomainProbeFn } from '../scheduler/scheduler.js';

export type DnsClientFactory = (resolver: ResolverAddress) => DnsClient;

/** Until the DNS client lands (i14-dns), domain checks fail with this message in the log. */
const noClient: DnsClientFactory = () => {
  throw new Error('no DNS client is built into this version');
};

export function domainProbe(resolver: () => ResolverAddress | null, makeClient: DnsClientFactory = noClient): DomainProbeFn {
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
    return probeDomain(target, { dns, ...options });
  };
}
