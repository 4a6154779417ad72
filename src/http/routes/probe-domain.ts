/**
 * GET /probe/domain: check a mail domain now (domain mode) under the policy of /probe: the
 * same switch, token, Host header rule, rate limit, concurrency cap and shutdown; every
 * parameter parsed strictly once (400 naming it); the host allowlist applied to the domain;
 * and the refused address classes applied by the check itself to every MX address and to the
 * MTA-STS policy host (`refuse`), after its own resolution, so nothing unchecked is connected to.
 */
import { performance } from 'node:perf_hooks';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DOMAIN_TIMEOUT_SECONDS } from '../../config/domains.js';
import { renderDomainMetrics } from '../../metrics/service-metrics.js';
import type { OnDemandPolicy } from '../../config/load.js';
import { makeTarget, parseServerName } from '../../probe/index.js';
import { SENDERS, type DomainResult, type DomainTarget } from '../../probe/domain/types.js';
import type { DomainProbeFn } from '../../scheduler/scheduler.js';
import { SCRAPE_TIMEOUT_HEADER, scrapeDeadlineMs, secondsToMs } from '../deadline.js';
import { ApiError } from '../errors.js';
import { hostAllowed, refuseFor } from '../on-demand.js';
import type { OnDemandDrain } from '../shutdown.js';
import type { OnDemandSlots } from '../on-demand.js';
import { admit, badParameter, FormatParam, inSlot, onDemandGet, refuseHead } from './on-demand-request.js';

const Flag = (description: string) =>
  Type.Optional(Type.Unsafe<'1' | '0' | 'true' | 'false'>({ type: 'string', enum: ['1', '0', 'true', 'false'], description }));

export const DomainQuery = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 260, description: 'the mail domain (a DNS name; an IDN is taken to its A-label)' }),
    sender: Type.Optional(
      Type.Unsafe<'rfc' | 'exo' | 'all'>({
        type: 'string',
        enum: ['rfc', 'exo', 'all'],
        description: 'whose verdict: rfc (RFC 7672/8461, Postfix), exo (Exchange Online) or all (default)',
      }),
    ),
    expect_mta_sts: Type.Optional(
      Type.Unsafe<'enforce' | 'testing' | 'none' | 'absent'>({
        type: 'string',
        enum: ['enforce', 'testing', 'none', 'absent'],
        description: 'the MTA-STS mode expected; a difference is a reason',
      }),
    ),
    expect_dane: Flag('1: DANE (secure TLSA records) is expected on every MX'),
    expect_tls_rpt: Flag('1: a TLS-RPT record is expected'),
    no_smtp: Flag('1: DNS and the MTA-STS policy only, no SMTP connection to the MX hosts'),
    timeout: Type.Optional(
      Type.String({
        maxLength: 20,
        description: `deadline in seconds (default: ${DOMAIN_TIMEOUT_SECONDS}, or Prometheus' scrape timeout minus 0.5 s; capped by onDemand.maxTimeout)`,
      }),
    ),
    format: FormatParam,
  },
  { additionalProperties: false },
);
type DomainQuery = Static<typeof DomainQuery>;

export interface DomainRouteDeps {
  policy: () => OnDemandPolicy;
  metrics: {
    contentType: string;
    renderDomain?(result: DomainResult): Promise<string>;
    countOnDemand(outcome: string): void;
  };
  probeDomain?: DomainProbeFn;
  drain: OnDemandDrain;
  /** Shared with /probe: onDemand.maxConcurrent bounds both together. */
  slots: OnDemandSlots;
  allowedHosts: () => readonly string[];
}

const flag = (v: string | undefined) => v === '1' || v === 'true';

/** The deadline in whole milliseconds: the parameter, else the scrape header, else the default; capped. */
function deadlineOf(request: FastifyRequest, q: DomainQuery, policy: OnDemandPolicy): number {
  let ms = DOMAIN_TIMEOUT_SECONDS * 1000;
  const header = request.headers[SCRAPE_TIMEOUT_HEADER];
  if (q.timeout !== undefined) {
    // Only a plain decimal: Number() would read '0x10', '1e1' and '' too.
    const given = /^(?:\d+(?:\.\d*)?|\.\d+)$/.test(q.timeout) ? secondsToMs(Number(q.timeout), 600) : { ok: false as const, problem: 'must be a number of seconds in decimal' };
    if (!given.ok) throw badParameter('timeout', given.problem);
    ms = given.ms;
  } else if (header !== undefined) {
    const given = scrapeDeadlineMs(Array.isArray(header) ? header.join(',') : header);
    if (!given.ok) throw badParameter(SCRAPE_TIMEOUT_HEADER, given.problem);
    ms = given.ms;
  }
  return Math.min(ms, policy.maxTimeoutMs);
}

export function probeDomainRoute(app: FastifyInstance, deps: DomainRouteDeps): void {
  onDemandGet(app, '/probe/domain', {
    schema: {
      summary: 'Check a mail domain now (MX, DNSSEC, MTA-STS, DANE, TLS-RPT; a verdict per sender)',
      description:
        'Judges the domain the way sending MTAs do, through the configured validating resolver, and answers the JSON DomainResult (README, "Domain mode"). The on-demand policy of /probe applies; refused address classes are never connected to, for every MX address and for the MTA-STS policy host.',
      querystring: DomainQuery,
      response: { 200: { type: 'object', additionalProperties: true, description: 'the domain result: domain, status, reasons, mx, mtaSts, tlsRpt, senders' } },
    },
    handle,
    log: (result) => ({
      domain: result.domain,
      status: result.status,
      reasons: result.reasons.map((r) => (r.mx ? `${r.code}@${r.mx}` : r.code)),
      senders: Object.fromEntries(result.senders.map((s) => [s.sender, s.verdict])),
      durationMs: result.durationMs,
    }),
    message: 'on-demand domain check',
    metrics: deps.metrics,
    render: (_request, result) => (deps.metrics.renderDomain?.bind(deps.metrics) ?? renderDomainMetrics)(result),
  });

  refuseHead(app, '/probe/domain', 'check');

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<DomainResult> {
    const policy = admit(request, deps);
    const q = request.query as DomainQuery;
    // Parsed once, strictly; from here on only the parsed value is used. A domain is a name,
    // never an IP literal or a host:port.
    const parsed = parseServerName(q.domain);
    if (!parsed.ok) throw badParameter('domain', `${JSON.stringify(q.domain)} is not a mail domain: it ${parsed.problem}`);
    const domain = parsed.value;
    const timeoutMs = deadlineOf(request, q, policy);
    const smtp = !flag(q.no_smtp);
    if (smtp && !policy.ports.includes(25)) {
      throw new ApiError(403, 'port_not_allowed', `port 25 (SMTP to the MX hosts) is not allowed; allowed: ${policy.ports.join(', ')}; add no_smtp=1`, {
        allowed: policy.ports,
      });
    }
    if (!hostAllowed(domain, policy.allowHosts)) throw new ApiError(403, 'host_not_allowed', `${domain} is not on the on-demand allowlist`);
    if (!deps.probeDomain) throw new ApiError(503, 'domain_mode_unavailable', 'domain checks are not available in this service');
    const probe = makeTarget({ ...policy.probeDefaults, host: domain });
    const target: DomainTarget = {
      domain,
      senders: q.sender === undefined || q.sender === 'all' ? [...SENDERS] : [q.sender],
      smtp,
      expect: {
        ...(q.expect_mta_sts ? { mtaSts: q.expect_mta_sts } : {}),
        ...(q.expect_dane !== undefined ? { dane: flag(q.expect_dane) } : {}),
        ...(q.expect_tls_rpt !== undefined ? { tlsRpt: flag(q.expect_tls_rpt) } : {}),
      },
      ...(probe.ca ? { ca: probe.ca } : {}),
      probe: { port: 25, ehloName: probe.ehloName, warnDays: probe.warnDays, minTlsVersion: probe.minTlsVersion },
    };
    const probeDomain = deps.probeDomain;
    return inSlot(reply, deps.slots, policy, deps.drain, async (cancel) => {
      const started = performance.now();
      const signal = AbortSignal.any([cancel, AbortSignal.timeout(timeoutMs)]);
      return probeDomain(target, { timeoutMs: Math.max(1, timeoutMs - Math.round(performance.now() - started)), signal, refuse: refuseFor(policy) });
    });
  }
}
