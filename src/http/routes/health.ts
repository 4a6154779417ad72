/**
 * GET /healthz (the process serves; details of the configuration and its last reload)
 * and GET /readyz (the first round of probes is done and the service is not stopping).
 */
import type { FastifyInstance } from 'fastify';

export interface HealthReport {
  config: {
    source: string;
    loadedAt: string;
    targets: number;
    /** Configured mail domains (domain mode). */
    domains?: number;
    lastReload: { at: string; ok: boolean; errors?: string[] } | null;
  };
}

export interface HealthRouteDeps {
  health: () => HealthReport;
  /** null when ready, else why not. */
  notReady: () => string | null;
}

export function healthRoutes(app: FastifyInstance, deps: HealthRouteDeps): void {
  const started = Date.now();
  app.get('/healthz', { schema: { summary: 'Liveness, with configuration and reload state' } }, async () => ({
    status: 'ok',
    uptimeSeconds: Math.round((Date.now() - started) / 1000),
    ...deps.health(),
  }));
  app.get('/readyz', { schema: { summary: 'Readiness: 503 until the first round of probes is done, and while stopping' } }, async (_request, reply) => {
    const why = deps.notReady();
    if (why) return reply.code(503).send({ ready: false, reason: why });
    return { ready: true };
  });
}
