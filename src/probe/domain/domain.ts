/**
 * A mail domain end to end: MX (with DNSSEC state), MTA-STS, TLS-RPT, DANE per MX, the SMTP
 * probe of every MX address, and one verdict per sender. One deadline for all of it.
 */
import { performance } from 'node:perf_hooks';
import { onAbort } from '../abort.js';
import { rolloverReasons } from '../dane/dane-reasons.js';
import { tlsaFacts } from '../dane/tlsa.js';
import { checkValidating } from '../dns/client.js';
import type { DnsClient } from '../dns/types.js';
import { probeAddress } from '../probe-address.js';
import { makeTarget } from '../probe-target.js';
import { addressReasons, expectationReasons, hostTlsaReasons, markUnverified, settleSeverities, statusOfReasons } from './judge.js';
import { checkMtaSts, mtaStsMxMatch } from './mta-sts.js';
import { lookupMx } from './mx.js';
import { domainReason } from './reasons.js';
import { senderVerdicts } from './senders.js';
import { checkTlsRpt } from './tls-rpt.js';
import type { DomainReason, DomainResult, DomainTarget, MxAddress, MxHost } from './types.js';

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
  /** Tests only: the MTA-STS policy host's port (senders always use 443). */
  policyPort?: number;
}

/** SMTP connections open at once for one domain. */
export const SMTP_CONCURRENCY = 8;

/** Run `work` over `items`, at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const runner = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, runner));
}

/** `_25._tcp.<host>` when the host's addresses are authentic (RFC 7672 §2.2); never from a resolver that does not validate. */
async function lookupTlsa(host: MxHost, dns: DnsClient, signal: AbortSignal): Promise<void> {
  if (host.dnssec !== 'secure' || host.addresses.length === 0) return;
  const answer = await dns.query(`_25._tcp.${host.host}`, 'TLSA', signal);
  host.tlsa = {
    rcode: answer.rcode,
    dnssec: answer.security,
    records: answer.records.map(tlsaFacts),
    ...(answer.signatureExpires ? { signatureExpires: answer.signatureExpires } : {}),
  };
}

/** DANE applies to the host (for the RFC sender at least): secure, non-empty TLSA. */
const daneApplies = (h: MxHost) => h.tlsa !== null && h.tlsa.dnssec === 'secure' && h.tlsa.records.length > 0;

async function probeMx(target: DomainTarget, hosts: MxHost[], options: DomainOptions, signal: AbortSignal, now: () => Date): Promise<void> {
  const work: Array<{ host: MxHost; address: MxAddress }> = [];
  for (const host of hosts) {
    for (const address of host.addresses) {
      const refused = options.refuse?.(address.address) ?? null;
      if (refused !== null) address.refused = refused;
      else work.push({ host, address });
    }
  }
  await pool(work, SMTP_CONCURRENCY, async ({ host, address }) => {
    const records = daneApplies(host) ? host.tlsa!.records.map(({ usage, selector, matchingType, data }) => ({ usage, selector, matchingType, data })) : undefined;
    const probeTarget = makeTarget({
      host: host.host,
      port: target.probe.port,
      expect: [host.host],
      // The TLSA base domain (RFC 7672 §3.2.2): the MX host name as published.
      sni: host.host,
      addresses: [address.address],
      implicitTls: false,
      ehloName: target.probe.ehloName,
      warnDays: target.probe.warnDays,
      minTlsVersion: target.probe.minTlsVersion,
      ...(target.ca ? { ca: target.ca } : {}),
      ...(records ? { tlsa: records } : {}),
    });
    address.probe = await probeAddress(probeTarget, address.address, signal, now);
  });
}

export async function probeDomain(target: DomainTarget, options: DomainOptions): Promise<DomainResult> {
  const started = new Date();
  const t0 = performance.now();
  const now = options.now ?? (() => new Date());
  const deadline = new AbortController();
  const signal = deadline.signal;
  const timer = setTimeout(() => deadline.abort(new Error('deadline reached')), options.timeoutMs);
  const caller = options.signal;
  const unlink = caller ? onAbort(caller, () => deadline.abort(caller.reason)) : () => undefined;
  const { dns } = options;
  const domain = target.domain;
  const reasons: DomainReason[] = [];
  try {
    const validating = await checkValidating(dns, domain, signal);
    if (validating !== true) {
      reasons.push(
        domainReason(
          'resolver_not_validating',
          validating === false
            ? `the resolver ${dns.server} does not validate DNSSEC (a signed name came back without AD): DNSSEC and DANE cannot be judged`
            : `whether the resolver ${dns.server} validates DNSSEC could not be told (no answer): DNSSEC and DANE cannot be judged`,
        ),
      );
    }
    const [mx, sts, rpt] = await Promise.all([
      lookupMx(domain, dns, signal),
      checkMtaSts(
        domain,
        {
          dns,
          ...(options.refuse ? { refuse: options.refuse } : {}),
          ...(target.policyCa ? { policyCa: target.policyCa } : {}),
          ...(options.policyPort ? { policyPort: options.policyPort } : {}),
          now,
        },
        signal,
      ),
      checkTlsRpt(domain, dns, signal),
    ]);
    // A domain that does not exist wants no TLS reports: saying so would only bury domain_not_found.
    const gone = mx.facts.kind === 'none' && mx.facts.rcode === 'NXDOMAIN';
    reasons.push(...mx.reasons, ...sts.reasons, ...rpt.reasons.filter((r) => !(gone && r.code === 'tls_rpt_missing')));
    const hosts = mx.facts.hosts;
    // A resolver that does not validate says nothing about DNSSEC: no state is reported as
    // insecure, and no TLSA is looked up.
    if (validating !== true) markUnverified(mx.facts, sts.facts, rpt.facts);
    else await Promise.all(hosts.map((h) => lookupTlsa(h, dns, signal)));
    for (const h of hosts) {
      const match = mtaStsMxMatch(sts.facts, h.host);
      h.mtaStsMatch = match.mtaStsMatch;
      if (match.mtaStsPattern !== null) h.mtaStsPattern = match.mtaStsPattern;
      if (match.reason) reasons.push(match.reason);
      reasons.push(...hostTlsaReasons(h, mx.facts.dnssec));
      if (daneApplies(h)) reasons.push(...rolloverReasons(h.host, h.tlsa!.records));
    }
    if (target.smtp) await probeMx(target, hosts, options, signal, now);
    for (const h of hosts) reasons.push(...addressReasons(h, sts.facts));
    reasons.push(...expectationReasons(target.expect, { mx: mx.facts, mtaSts: sts.facts, tlsRpt: rpt.facts, validating: validating === true }));
    let senders = senderVerdicts({ domain, mx: mx.facts, mtaSts: sts.facts, validating }, target.senders);
    let settled = settleSeverities(reasons, senders);
    // Our own resolver gave no reply at all (the validation check and the MX lookup both
    // failed without an answer): a local outage, which says nothing about the domain. No
    // verdict or severity may blame the domain for it, or a monitoring check pages "mail
    // blocked" when only the resolver next to it is down.
    if (validating === null && (mx.facts.rcode === 'TIMEOUT' || mx.facts.rcode === 'ERROR')) {
      const message = `the resolver ${dns.server} did not answer: whether mail to ${domain} is delivered is unknown`;
      senders = senders.map(({ sender }) => ({ sender, verdict: 'unknown', route: 'dns', message, usableMx: [] }));
      settled = settled.map((r) => (r.severity === 'info' ? r : { ...r, severity: 'unknown' }));
    }
    return {
      domain,
      status: statusOfReasons(settled),
      startedAt: started.toISOString(),
      durationMs: Math.round(performance.now() - t0),
      resolver: { server: dns.server, validating },
      reasons: settled,
      mx: mx.facts,
      mtaSts: sts.facts,
      tlsRpt: rpt.facts,
      senders,
    };
  } finally {
    // Not cleared: a connection still closing after QUIT is destroyed when the deadline comes.
    timer.unref();
    unlink();
  }
}
