/**
 * GET /probe: probe a host now and answer its JSON result. The caller decides where this
 * service connects, so the policy is applied before any connection: allowed ports, the host
 * allowlist, and refused address classes checked on every resolved address. The probe then
 * runs against exactly those addresses (pinned), so a second DNS answer cannot differ.
 */
import { isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OnDemandPolicy } from '../../config/load.js';
import { makeTarget, type Resolver, type TargetResult } from '../../probe/index.js';
import type { ProbeFn } from '../../scheduler/scheduler.js';
import { bearerMatches } from '../auth.js';
import { ApiError } from '../errors.js';
import { checkHostHeader } from '../host-header.js';
import { addressClass, hostAllowed } from '../on-demand.js';
import { ShuttingDown, type OnDemandDrain } from '../shutdown.js';

export const ProbeQuery = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 260, description: 'host name or IP address to probe; host:port is accepted' })),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 260, description: 'alias of host (blackbox_exporter style)' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port (default 25)' })),
    expect: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
        maxItems: 20,
        description: 'name the certificate must cover; repeatable (default: host)',
      }),
    ),
    sni: Type.Optional(Type.String({ minLength: 1, maxLength: 253, description: 'TLS server name (default: host)' })),
    implicitTls: Type.Optional(Type.Boolean({ description: 'TLS from the first byte (default: true for port 465)' })),
    timeout: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 600,
        description: "deadline in seconds (default: Prometheus' scrape timeout minus 0.5 s when scraped, else defaults.timeout)",
      }),
    ),
    module: Type.Optional(
      Type.String({ maxLength: 100, description: "accepted and ignored, so blackbox_exporter jobs (module=smtp_starttls) work unchanged" }),
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
type ProbeQuery = Static<typeof ProbeQuery>;

export interface ProbeMetricsView {
  contentType: string;
  /** One probe as Prometheus text. */
  renderProbe(result: TargetResult): Promise<string>;
  /** Count an on-demand request by outcome (the status, or the refusal code). */
  countOnDemand(outcome: string): void;
}

export interface ProbeRouteDeps {
  policy: () => OnDemandPolicy;
  metrics: ProbeMetricsView;
  probe: ProbeFn;
  resolver: Resolver;
  drain: OnDemandDrain;
  /** http.allowedHosts: Host header names answered without a token. */
  allowedHosts: () => readonly string[];
}

/**
 * `mail.example.com:25` or `[2001:db8::1]:25`, as blackbox_exporter targets are written;
 * a bare IPv6 address has no port.
 */
export function splitHostPort(text: string): { host: string; port?: number } {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text);
  if (bracketed) return { host: bracketed[1]!, ...(bracketed[2] ? { port: Number(bracketed[2]) } : {}) };
  const m = /^([^:]+):(\d{1,5})$/.exec(text);
  if (m && Number(m[2]) >= 1 && Number(m[2]) <= 65535) return { host: m[1]!, port: Number(m[2]) };
  return { host: text };
}

/**
 * Prometheus sends its scrape timeout; like blackbox_exporter, finish half a second before it
 * so that the scrape gets an answer rather than a timeout.
 */
function scrapeDeadline(request: FastifyRequest): number | undefined {
  const header = Number(request.headers['x-prometheus-scrape-timeout-seconds']);
  return Number.isFinite(header) && header > 0 ? Math.max(500, (header - 0.5) * 1000) : undefined;
}

/** Prometheus scrapes with an Accept header that prefers OpenMetrics or the 0.0.4 text format. */
export function wantsPrometheus(format: string | undefined, accept: string | undefined): boolean {
  if (format) return format === 'prometheus';
  return /application\/openmetrics-text|text\/plain;\s*version=0\.0\.4/i.test(accept ?? '');
}

function checkToken(request: FastifyRequest, token: string | null): void {
  if (token && !bearerMatches(request.headers.authorization, token)) {
    throw new ApiError(401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer TOKEN)');
  }
}

function shuttingDown(): ApiError {
  return new ApiError(503, 'shutting_down', 'the service is shutting down; retry against another instance or after the restart');
}

async function resolveChecked(host: string, policy: OnDemandPolicy, resolver: Resolver, signal: AbortSignal): Promise<string[] | Error> {
  let addresses: string[];
  if (isIP(host)) {
    addresses = [host];
  } else {
    try {
      addresses = [...new Set(await resolver(host, signal))];
    } catch (e) {
      return e as Error; // the probe reports it as dns_error
    }
  }
  const refused = addresses
    .map((address) => ({ address, class: addressClass(address) }))
    .filter((a) => a.class !== null && policy.refuseAddresses.includes(a.class));
  if (refused.length) {
    throw new ApiError(
      403,
      'address_not_allowed',
      `${host} resolves to ${refused.map((r) => `${r.address} (${r.class})`).join(', ')}, which this service does not probe on demand`,
      { refused },
    );
  }
  return addresses;
}

export function probeRoute(app: FastifyInstance, deps: ProbeRouteDeps): void {
  let inFlight = 0;
  app.get(
    '/probe',
    {
      schema: {
        summary: 'Probe a host now',
        description:
          'Connects like a sending MTA (EHLO, STARTTLS, TLS) to every address of the host and answers the JSON result. Refused with 4xx where the on-demand policy does not allow the port, host or address.',
        querystring: ProbeQuery,
        response: { 200: { type: 'object', additionalProperties: true, description: 'the probe result (see README, "JSON result")' } },
      },
      config: { rateLimit: {} },
    },
    async (request, reply) => {
      try {
        const result = await handle(request, reply);
        deps.metrics.countOnDemand(result.status);
        request.log.info(
          {
            host: result.target.host,
            port: result.target.port,
            status: result.status,
            reasons: [...result.reasons, ...result.addresses.flatMap((a) => a.reasons)].map((r) => r.code),
            addresses: result.addresses.map((a) => `${a.address}:${a.status}`),
            durationMs: result.durationMs,
          },
          'on-demand probe',
        );
        if (!wantsPrometheus((request.query as ProbeQuery).format, request.headers.accept)) return result;
        return reply.type(deps.metrics.contentType).send(await deps.metrics.renderProbe(result));
      } catch (e) {
        if (e instanceof ApiError) deps.metrics.countOnDemand(e.code);
        throw e;
      }
    },
  );

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<TargetResult> {
    if (deps.drain.stopping) throw shuttingDown();
    const policy = deps.policy();
    if (!policy.enabled) throw new ApiError(403, 'on_demand_disabled', 'the on-demand probe is disabled in the configuration');
    checkToken(request, policy.token);
    checkHostHeader(request.headers.host, policy.token, deps.allowedHosts());
    const q = request.query as ProbeQuery;
    if (q.host && q.target && q.host !== q.target) {
      throw new ApiError(400, 'bad_parameter', 'host: give host or target, not both', { parameter: 'host' });
    }
    const given = (q.host ?? q.target ?? '').trim();
    const parameter = q.host !== undefined ? 'host' : 'target';
    if (!given) throw new ApiError(400, 'bad_parameter', 'host: is required (or its alias target)', { parameter: 'host' });
    const { host, port: embedded } = splitHostPort(given);
    if (!host || /[\s/@]/.test(host) || (host.includes(':') && !isIP(host))) {
      throw new ApiError(400, 'bad_parameter', `${parameter}: "${given}" is not a host name or IP address`, { parameter });
    }
    if (embedded !== undefined && q.port !== undefined && embedded !== q.port) {
      throw new ApiError(400, 'bad_parameter', `port: ${q.port} contradicts the port in ${parameter} "${given}"`, { parameter: 'port' });
    }
    const port = q.port ?? embedded ?? 25;
    if (!policy.ports.includes(port)) {
      throw new ApiError(403, 'port_not_allowed', `port ${port} is not allowed; allowed: ${policy.ports.join(', ')}`, {
        allowed: policy.ports,
      });
    }
    if (!hostAllowed(host, policy.allowHosts)) {
      throw new ApiError(403, 'host_not_allowed', `${host} is not on the on-demand allowlist`);
    }
    const timeoutMs = Math.min(q.timeout !== undefined ? q.timeout * 1000 : scrapeDeadline(request) ?? policy.defaultTimeoutMs, policy.maxTimeoutMs);
    if (inFlight >= policy.maxConcurrent) {
      void reply.header('retry-after', '1');
      throw new ApiError(503, 'too_many_probes', `${inFlight} on-demand probes are running (limit ${policy.maxConcurrent}); retry shortly`);
    }
    inFlight++;
    // The caller hanging up cancels the probe.
    const cancel = new AbortController();
    const onClose = () => {
      if (!reply.raw.writableEnded) cancel.abort(new Error('client went away'));
    };
    reply.raw.once('close', onClose);
    const release = deps.drain.hold(cancel);
    try {
      const resolved = await resolveChecked(host, policy, deps.resolver, AbortSignal.any([cancel.signal, AbortSignal.timeout(timeoutMs)]));
      const target = makeTarget({
        ...policy.probeDefaults,
        host,
        port,
        expect: q.expect,
        sni: q.sni,
        implicitTls: q.implicitTls,
        ...(Array.isArray(resolved) ? { addresses: resolved } : {}),
      });
      const failingResolver: Resolver = async () => {
        throw resolved;
      };
      const result = await deps.probe(target, { timeoutMs, signal: cancel.signal, resolver: failingResolver });
      // Cut short by the shutdown: not a verdict about the server.
      if (cancel.signal.reason instanceof ShuttingDown) throw shuttingDown();
      // Pinned for safety, but the caller asked about a name: do not echo the pinning back.
      if (!isIP(host)) delete result.target.addresses;
      return result;
    } finally {
      release();
      inFlight--;
      reply.raw.removeListener('close', onClose);
    }
  }
}
