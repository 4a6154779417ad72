/**
 * Builds the Fastify app from its dependencies. It never listens and never schedules:
 * the service (or a test, through inject) does that.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { OnDemandPolicy } from '../config/load.js';
import type { Resolver } from '../probe/index.js';
import type { OnDemandProbe } from './on-demand.js';
import type { ResultsStore } from '../store/results-store.js';
import { rateLimitKey } from './auth.js';
import { clientErrorHandler, frameworkErrors, registerErrorHandling } from './errors.js';
import { serializeRequest } from './request-log.js';
import { healthRoutes, type HealthReport } from './routes/health.js';
import { pageRoutes } from './routes/page.js';
import { probeRoute, type ProbeMetricsView } from './routes/probe.js';
import { resultsRoutes, type TargetsView } from './routes/results.js';
import { SECURITY_HEADERS } from './security-headers.js';
import { OnDemandDrain } from './shutdown.js';

export interface AppDeps {
  logger: FastifyBaseLogger;
  store: ResultsStore;
  scheduler: TargetsView;
  /** The on-demand probe: takes only a target checked by the policy. */
  probe: OnDemandProbe;
  resolver: Resolver;
  policy: () => OnDemandPolicy;
  health: () => HealthReport;
  notReady: () => string | null;
  version: string;
  /** Spans shown with /results/NAME. */
  historySize?: number;
  metrics: ProbeMetricsView & {
    /** The scheduled results and service metrics, for GET /metrics. */
    render(): Promise<string>;
  };
  /** Stops /probe with the service (default: one of its own, never drained). */
  drain?: OnDemandDrain;
  /** http.allowedHosts (default none). */
  allowedHosts?: () => readonly string[];
}

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
  });
  registerErrorHandling(app);
  app.addHook('onRequest', async (_request, reply) => {
    void reply.headers(SECURITY_HEADERS);
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
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      code: 'rate_limited',
      message: `too many on-demand probes from this client: ${context.max} per ${context.after}`,
    }),
  });
  probeRoute(app, { ...deps, drain: deps.drain ?? new OnDemandDrain(), allowedHosts: deps.allowedHosts ?? (() => []) });
  resultsRoutes(app, deps);
  healthRoutes(app, deps);
  pageRoutes(app);
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics of the scheduled results, the service and the process' } },
    async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.render()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
