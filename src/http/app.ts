/**
 * Builds the Fastify app from its dependencies. It never listens and never schedules:
 * the service (or a test, through inject) does that.
 */
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { OnDemandPolicy } from '../config/load.js';
import type { Resolver } from '../probe/index.js';
import type { ProbeFn } from '../scheduler/scheduler.js';
import type { ResultsStore } from '../store/results-store.js';
import { registerErrorHandling } from './errors.js';
import { healthRoutes, type HealthReport } from './routes/health.js';
import { probeRoute, type ProbeMetricsView } from './routes/probe.js';
import { resultsRoutes, type TargetsView } from './routes/results.js';

export interface AppDeps {
  logger: FastifyBaseLogger;
  store: ResultsStore;
  scheduler: TargetsView;
  probe: ProbeFn;
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
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: deps.logger,
    // Unknown query parameters are errors, not silently dropped.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', allErrors: false } },
    return503OnClosing: true,
  });
  registerErrorHandling(app);
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
    errorResponseBuilder: (_request, context) => ({
      statusCode: 429,
      code: 'rate_limited',
      message: `too many on-demand probes from this client: ${context.max} per ${context.after}`,
    }),
  });
  probeRoute(app, deps);
  resultsRoutes(app, deps);
  healthRoutes(app, deps);
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics of the scheduled results, the service and the process' } },
    async (_request, reply) => reply.type(deps.metrics.contentType).send(await deps.metrics.render()),
  );
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  return app;
}
