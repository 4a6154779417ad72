/**
 * Builds the Fastify app from its dependencies. It never listens and never schedules:
 * the service (or a test, through inject) does that.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { OnDemandPolicy } from '../config/load.js';
import type { Resolver } from '../probe/index.js';
import type { DomainProbeFn } from '../scheduler/scheduler.js';
import { OnDemandSlots, type OnDemandProbe } from './on-demand.js';
import type { ResultsStore } from '../store/results-store.js';
import { bearerMatches, rateLimitKey } from './auth.js';
import { ApiError, clientErrorHandler, frameworkErrors, registerErrorHandling } from './errors.js';
import { hostHeaderCount } from './host-header.js';
import { QuietScrapeLogs, serializeRequest } from './request-log.js';
import { healthRoutes, type HealthReport } from './routes/health.js';
import { pageRoutes } from './routes/page.js';
import { countOnce } from './routes/on-demand-request.js';
import { probeRoute, type ProbeMetricsView } from './routes/probe.js';
import { probeDomainRoute } from './routes/probe-domain.js';
import type { DomainResult } from '../probe/domain/types.js';
import { resultsRoutes, type TargetsView } from './routes/results.js';
import { metricsRoute, type MetricsView } from './routes/metrics.js';
import { sdRoute } from './routes/sd.js';
import { SECURITY_HEADERS } from './security-headers.js';
import { OnDemandDrain } from './shutdown.js';

export interface AppDeps {
  logger: FastifyBaseLogger;
  store: ResultsStore;
  scheduler: TargetsView;
  /** The on-demand probe: takes only a target checked by the policy. */
  probe: OnDemandProbe;
  resolver: Resolver;
  /** The domain check of GET /probe/domain (absent: the route answers 503). */
  probeDomain?: DomainProbeFn;
  policy: () => OnDemandPolicy;
  health: () => HealthReport;
  notReady: () => string | null;
  version: string;
  /** Spans shown with /results/NAME. */
  historySize?: number;
  metrics: ProbeMetricsView &
    MetricsView & {
    /** One on-demand domain check as metrics (default: renderDomainMetrics). */
    renderDomain?(result: DomainResult): Promise<string>;
  };
  /** Stops /probe with the service (default: one of its own, never drained). */
  drain?: OnDemandDrain;
  /** http.allowedHosts (default none). */
  allowedHosts?: () => readonly string[];
}

/** The routes whose requests smtp_tls_on_demand_requests_total counts. */
const ON_DEMAND_PATHS = new Set(['/probe', '/probe/domain']);

const UNHANDLED_OUTCOMES: Record<number, string> = { 400: 'bad_parameter', 405: 'method_not_allowed', 429: 'rate_limited', 503: 'shutting_down' };

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    // The request log must not carry secrets from query strings.
    loggerInstance: deps.logger.child({}, { serializers: { req: serializeRequest } }),
    // No route takes a body.
    bodyLimit: 16 * 1024,
    frameworkErrors,
    clientErrorHandler,
    // Unknown query parameters are errors, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    return503OnClosing: true,
    logController: new QuietScrapeLogs(),
  });
  registerErrorHandling(app);
  app.addHook('onRequest', async (request, reply) => {
    void reply.headers(SECURITY_HEADERS);
    // Node keeps the first of several Host headers; a proxy in front may have used another
    // one, and the Host rule of /probe would judge a name nobody checked (RFC 9112 §3.2: 400).
    if (hostHeaderCount(request.raw.rawHeaders) > 1) {
      throw new ApiError(400, 'bad_request', 'more than one Host header');
    }
  });
  await app.register(swagger, {
    openapi: {
      info: {
        title: 'smtp-tls-probe',
        version: deps.version,
        description: 'Probes SMTP endpoints over STARTTLS and judges the served certificate.',
      },
    },
  });
  await app.register(rateLimit, {
    global: false,
    max: () => deps.policy().rateLimit.max,
    timeWindow: () => deps.policy().rateLimit.windowSeconds * 1000,
    keyGenerator: (request) => rateLimitKey(request, deps.policy().token),
    // A caller with the token is who the token was given to (a Prometheus): not limited.
    allowList: (request) => {
      const token = deps.policy().token;
      return token !== null && bearerMatches(request.headers.authorization, token);
    },
    errorResponseBuilder: (request, context) => {
      countOnce(request, 'rate_limited', deps.metrics);
      return {
        statusCode: 429,
        code: 'rate_limited',
        message: `too many on-demand probes from this client: ${context.max} per ${context.after}`,
      };
    },
  });
  // What never reached the route's handler (a parameter refused by the schema, a 503 Fastify
  // answers itself while closing, HEAD) is counted here, by the code its status stands for.
  app.addHook('onResponse', async (request, reply) => {
    if (!ON_DEMAND_PATHS.has(request.url.split('?')[0]!)) return;
    countOnce(request, UNHANDLED_OUTCOMES[reply.statusCode] ?? `status_${reply.statusCode}`, deps.metrics);
  });
  const onDemand = { drain: deps.drain ?? new OnDemandDrain(), allowedHosts: deps.allowedHosts ?? (() => []), slots: new OnDemandSlots() };
  probeRoute(app, { ...deps, ...onDemand });
  probeDomainRoute(app, { ...deps, ...onDemand });
  resultsRoutes(app, deps);
  healthRoutes(app, deps);
  sdRoute(app, deps);
  pageRoutes(app);
  metricsRoute(app, deps.metrics);
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
