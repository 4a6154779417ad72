/**
 * GET /probe: probe a host now and answer its JSON result. The caller decides where this
 * service connects: every parameter is parsed strictly once (400 naming it), then the port
 * and host allowlist apply, and the host can reach the probe only as a CheckedTarget, made
 * by the policy from the resolved and classified addresses (on-demand.ts).
 */
import { performance } from 'node:perf_hooks';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { OnDemandPolicy } from '../../config/load.js';
import { BUILTIN_MODULES, moduleSettings, type ProbeModule } from '../../config/modules.js';
import { hostText, makeTarget, parseExpectName, parseHostPort, parseServerName, type Resolver, type TargetResult } from '../../probe/index.js';
import { SCRAPE_TIMEOUT_HEADER, scrapeDeadlineMs, secondsToMs } from '../deadline.js';
import { ApiError } from '../errors.js';
import { checkTarget, hostAllowed, OnDemandSlots, type OnDemandProbe } from '../on-demand.js';
import type { OnDemandDrain } from '../shutdown.js';
import { admit, badParameter, FormatParam, inSlot, onDemandGet, refuseHead } from './on-demand-request.js';

export const ProbeQuery = Type.Object(
  {
    host: Type.Optional(Type.String({ minLength: 1, maxLength: 260, description: 'host name or IP address to probe; host:port is accepted' })),
    target: Type.Optional(Type.String({ minLength: 1, maxLength: 260, description: 'alias of host (blackbox_exporter style)' })),
    port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, description: 'TCP port (default 25)' })),
    expect: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 253 }), {
        maxItems: 20,
        description: 'name the certificate must cover; repeatable or comma-separated (default: host)',
      }),
    ),
    sni: Type.Optional(Type.String({ minLength: 1, maxLength: 254, description: 'TLS server name, a DNS name (default: host)' })),
    implicitTls: Type.Optional(Type.Boolean({ description: 'TLS from the first byte (default: true for port 465)' })),
    timeout: Type.Optional(
      Type.Number({
        exclusiveMinimum: 0,
        maximum: 600,
        description: "deadline in seconds (default: Prometheus' scrape timeout minus 0.5 s when scraped, else defaults.timeout)",
      }),
    ),
    module: Type.Optional(
      Type.String({
        maxLength: 100,
        description:
          'probe module (modules: in the config; built in: smtp_starttls, smtps, submission): its settings apply where no parameter sets them',
      }),
    ),
    format: FormatParam,
  },
  { additionalProperties: false },
);
type ProbeQuery = Static<typeof ProbeQuery>;

export interface ProbeMetricsView {
  contentType: string;
  /** One probe as Prometheus text; dnsSeconds: how long resolving the host took. */
  renderProbe(result: TargetResult, context?: { dnsSeconds?: number }): Promise<string>;
  /** Count an on-demand request by outcome (the status, or the refusal code). */
  countOnDemand(outcome: string): void;
}

export interface ProbeRouteDeps {
  policy: () => OnDemandPolicy;
  metrics: ProbeMetricsView;
  /** Takes only a target checked by the policy (on-demand.ts probeChecked). */
  probe: OnDemandProbe;
  resolver: Resolver;
  drain: OnDemandDrain;
  /** http.allowedHosts: Host header names answered without a token. */
  allowedHosts: () => readonly string[];
  /** Shared with /probe/domain (default: this route's own). */
  slots?: OnDemandSlots;
}

/**
 * The deadline in whole milliseconds: the timeout parameter; else the module's timeout and the
 * scrape header, the shorter of the two (as blackbox_exporter does); else the default.
 */
function deadlineOf(request: FastifyRequest, q: ProbeQuery, policy: OnDemandPolicy, module: ProbeModule): number {
  let ms = module.timeoutMs ?? policy.defaultTimeoutMs;
  const header = request.headers[SCRAPE_TIMEOUT_HEADER];
  if (q.timeout !== undefined) {
    const given = secondsToMs(q.timeout, 600);
    if (!given.ok) throw badParameter('timeout', given.problem);
    ms = given.ms;
  } else if (header !== undefined) {
    const given = scrapeDeadlineMs(Array.isArray(header) ? header.join(',') : header);
    if (!given.ok) throw badParameter(SCRAPE_TIMEOUT_HEADER, `${given.problem} (got ${JSON.stringify(String(header).slice(0, 40))})`);
    ms = module.timeoutMs !== undefined ? Math.min(module.timeoutMs, given.ms) : given.ms;
  }
  return Math.min(ms, policy.maxTimeoutMs);
}

export function probeRoute(app: FastifyInstance, deps: ProbeRouteDeps): void {
  const slots = deps.slots ?? new OnDemandSlots();
  // How long the policy's resolution took, for probe_dns_lookup_time_seconds.
  const dnsSeconds = new WeakMap<FastifyRequest, number>();
  onDemandGet(app, '/probe', {
    schema: {
      summary: 'Probe a host now',
      description:
        'Connects like a sending MTA (EHLO, STARTTLS, TLS) to every address of the host and answers the JSON result. Refused with 4xx where the on-demand policy does not allow the port, host or address.',
      querystring: ProbeQuery,
      response: { 200: { type: 'object', additionalProperties: true, description: 'the probe result (see README, "JSON result")' } },
    },
    handle,
    log: (result) => ({
      host: result.target.host,
      port: result.target.port,
      status: result.status,
      reasons: [...result.reasons, ...result.addresses.flatMap((a) => a.reasons)].map((r) => r.code),
      addresses: result.addresses.map((a) => `${a.address}:${a.status}`),
      durationMs: result.durationMs,
    }),
    message: 'on-demand probe',
    metrics: deps.metrics,
    render: (request, result) => deps.metrics.renderProbe(result, { dnsSeconds: dnsSeconds.get(request) ?? 0 }),
  });

  refuseHead(app, '/probe', 'probe');

  async function handle(request: FastifyRequest, reply: FastifyReply): Promise<TargetResult> {
    const policy = admit(request, deps);
    const q = request.query as ProbeQuery;
    // The schema coerces `0x50`, `1e1`, `+25` and `025` to numbers: only the canonical
    // decimal spelling is accepted, as for a port written inside host/target.
    const portText = new URLSearchParams(request.url.slice(request.url.indexOf('?') + 1)).get('port');
    if (portText !== null && !/^[1-9][0-9]{0,4}$/.test(portText)) {
      throw badParameter('port', `${JSON.stringify(portText.slice(0, 20))} is not a port number in decimal (1 to 65535, no sign or leading zero)`);
    }
    const modules = policy.modules ?? new Map(Object.entries(BUILTIN_MODULES));
    const module = q.module !== undefined ? modules.get(q.module) : {};
    if (!module) {
      throw badParameter('module', `unknown module ${JSON.stringify(q.module)}; known: ${[...modules.keys()].join(', ')}`);
    }
    if (q.host !== undefined && q.target !== undefined && q.host !== q.target) {
      throw badParameter('host', 'give host or target, not both');
    }
    const given = q.host ?? q.target;
    const parameter = q.host !== undefined ? 'host' : 'target';
    if (given === undefined) throw badParameter('host', 'is required (or its alias target)');
    // Parsed once, strictly; from here on only the parsed value is used.
    const parsed = parseHostPort(given);
    if (!parsed.ok) throw badParameter(parameter, `${JSON.stringify(given)} is not a host name or IP address: it ${parsed.problem}`);
    const { host, port: embedded } = parsed.value;
    if (embedded !== undefined && q.port !== undefined && embedded !== q.port) {
      throw badParameter('port', `${q.port} contradicts the port in ${parameter} ${JSON.stringify(given)}`);
    }
    let sni: string | undefined;
    if (q.sni !== undefined) {
      const name = parseServerName(q.sni);
      if (!name.ok) throw badParameter('sni', `${JSON.stringify(q.sni)} is not a server name: it ${name.problem}`);
      sni = name.value;
    }
    // Repeated, or comma-separated as one Prometheus __param_expect label carries several.
    const expect = q.expect?.flatMap((e) => e.split(','));
    for (const name of expect ?? []) {
      if (!parseExpectName(name).ok) throw badParameter('expect', `${JSON.stringify(name)} is not a host name or IP address`);
    }
    if (expect && expect.length > 20) throw badParameter('expect', 'at most 20 names');
    const timeoutMs = deadlineOf(request, q, policy, module);
    // The module's port is a default like any other: the port policy below applies to it.
    const port = q.port ?? embedded ?? module.port ?? 25;
    if (!policy.ports.includes(port)) {
      throw new ApiError(403, 'port_not_allowed', `port ${port} is not allowed; allowed: ${policy.ports.join(', ')}`, {
        allowed: policy.ports,
      });
    }
    if (!hostAllowed(hostText(host), policy.allowHosts)) {
      throw new ApiError(403, 'host_not_allowed', `${hostText(host)} is not on the on-demand allowlist`);
    }
    return inSlot(reply, slots, policy, deps.drain, async (cancel) => {
      // One deadline for resolution and probe together.
      const started = performance.now();
      const settings = makeTarget({
        ...policy.probeDefaults,
        ...moduleSettings(module),
        host: hostText(host),
        port,
        expect: expect ?? module.expect,
        sni: sni ?? module.sni,
        implicitTls: q.implicitTls ?? module.implicitTls,
      });
      const outcome = await checkTarget(host, settings, policy, deps.resolver, AbortSignal.any([cancel, AbortSignal.timeout(timeoutMs)]));
      dnsSeconds.set(request, (performance.now() - started) / 1000);
      if (!outcome.ok) {
        const list = outcome.refused.map((r) => `${r.address} (${r.class})`).join(', ');
        throw new ApiError(403, 'address_not_allowed', `${hostText(host)} resolves to ${list}, which this service does not probe on demand`, {
          refused: outcome.refused,
        });
      }
      const left = Math.max(1, timeoutMs - Math.round(performance.now() - started));
      return deps.probe(outcome.checked, { timeoutMs: left, signal: cancel });
    });
  }
}
