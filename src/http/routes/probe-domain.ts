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
import { bearerMatches } from '../auth.js';
import { SCRAPE_TIMEOUT_HEADER, scrapeDeadlineMs, secondsToMs } from '../deadline.js';
import { ApiError } from '../errors.js';
import { checkFetchSite, checkHostHeader } from '../host-header.js';
import { hostAllowed, refuseFor } from '../on-demand.js';
import { ShuttingDown, type OnDemandDrain } from '../shutdown.js';
import type { OnDemandSlots } from '../on-demand.js';
import { countOnce, wantsPrometheus } from './probe.js';

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
    format: Type.Optional(
      Type.Unsafe<'json' | 'prometheus'>({
        type: 'string',
        enum: ['json', 'prometheus'],
        description: 'json (default), or prometheus for metrics (also chosen by an Accept header asking for Prometheus or OpenMetrics text)',
      }),
    ),
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

function badParameter(parameter: string, message: string): ApiError {
  return new ApiError(400, 'bad_parameter', `${parameter}: ${message}`, { parameter });
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
  app.get(
    '/probe/domain',
    {
      schema: {
        summary: 'Check a mail domain now (MX, DNSSEC, MTA-STS, DANE, TLS-RPT; a verdict per sender)',
        description:
          'Judges the domain the way sending MTAs do, through the configured validating resolver, and answers the JSON DomainResult (README, "Domain mode"). The on-demand policy of /probe applies; refused address classes are never connected to, for every MX address and for the MTA-STS policy host.',
        querystring: DomainQuery,
        response: { 200: { type: 'object', additionalProperties: true, description: 'the domain result: domain, status, reasons, mx, mtaSts, tlsRpt, senders' } },
      },
      config: { rateLimit: {} },
      exposeHeadRoute: false,
    },
    async (request, reply) => {
      try {
        const result = await handle(request, reply);
        countOnce(request, result.status, deps.metrics);
        request.log.info(
          {
            domain: result.domain,
            status: result.status,
            reasons: result.reasons.map((r) => (r.mx ? `${r.code}@${r.mx}` : r.code)),
            senders: Object.fromEntries(result.senders.map((s) => [s.sender, s.verdict])),
            durationMs: result.durationMs,
          },
          'on-demand domain check',
        );
        if (!wantsPrometheus((request.query as DomainQuery).format, request.headers.accept)) return result;
        const render = deps.metrics.renderDomain?.bind(deps.metrics) ?? renderDomainMetrics;
        return reply.type(deps.metrics.contentType).send(await render(result));
      } catch (e) {
        countOnce(request, e instanceof ApiError ? e.code : 'error', deps.metrics);
        throw e;
      }
    },
  );

  app.head('/probe/domain', { schema: { hide: true }, config: { refusesMethod: true } }, async (_request, reply) =>
    reply.code(405).header('allow', 'GET').send({ code: 'method_not_allowed', message: 'HEAD /probe/domain does not check; use GET' }),
  );

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<DomainResult> {
    const shuttingDown = () => new ApiError(503, 'shutting_down', 'the service is shutting down; retry against another instance or after the restart');
    if (deps.drain.stopping) throw shuttingDown();
    const policy = deps.policy();
    if (!policy.enabled) throw new ApiError(403, 'on_demand_disabled', 'the on-demand probe is disabled in the configuration');
    if (policy.token && !bearerMatches(request.headers.authorization, policy.token)) {
      throw new ApiError(401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer TOKEN)');
    }
    checkHostHeader(request.headers.host, policy.token, deps.allowedHosts());
    checkFetchSite(request.headers['sec-fetch-site'], policy.token);
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
    if (deps.slots.inFlight >= policy.maxConcurrent) {
      void reply.header('retry-after', '1');
      throw new ApiError(503, 'too_many_probes', `${deps.slots.inFlight} on-demand probes are running (limit ${policy.maxConcurrent}); retry shortly`);
    }
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
    deps.slots.inFlight++;
    const cancel = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableEnded) cancel.abort(new Error('client went away'));
    };
    reply.raw.once('close', onClose);
    const release = deps.drain.hold(cancel);
    try {
      const started = performance.now();
      const signal = AbortSignal.any([cancel.signal, AbortSignal.timeout(timeoutMs)]);
      const result = await deps.probeDomain(target, { timeoutMs: Math.max(1, timeoutMs - Math.round(performance.now() - started)), signal, refuse: refuseFor(policy) });
      if (cancel.signal.reason instanceof ShuttingDown) throw shuttingDown();
      return result;
    } finally {
      release();
      deps.slots.inFlight--;
      reply.raw.removeListener('close', onClose);
    }
  }
}
