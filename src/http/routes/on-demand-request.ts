/**
 * What every on-demand route (/probe, /probe/domain) does around its own parameters: the
 * switch, token, Host header and cross-site rules before anything is parsed; then the
 * concurrency cap (one count for both routes), the caller hanging up and the shutdown
 * cancelling the work, and a check cut short by the shutdown answered 503, never as a verdict.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema } from 'fastify';
import type { OnDemandPolicy } from '../../config/load.js';
import { bearerMatches } from '../auth.js';
import { ApiError } from '../errors.js';
import { checkFetchSite, checkHostHeader } from '../host-header.js';
import type { OnDemandSlots } from '../on-demand.js';
import { ShuttingDown, type OnDemandDrain } from '../shutdown.js';

export interface OnDemandGate {
  policy: () => OnDemandPolicy;
  drain: OnDemandDrain;
  /** http.allowedHosts: Host header names answered without a token. */
  allowedHosts: () => readonly string[];
}

/** A parameter that failed its grammar: 400 naming it. */
export function badParameter(parameter: string, message: string): ApiError {
  return new ApiError(400, 'bad_parameter', `${parameter}: ${message}`, { parameter });
}

export function shuttingDown(): ApiError {
  return new ApiError(503, 'shutting_down', 'the service is shutting down; retry against another instance or after the restart');
}

/** The checks made before a parameter is read; the policy in force for this request. */
export function admit(request: FastifyRequest, gate: OnDemandGate): OnDemandPolicy {
  if (gate.drain.stopping) throw shuttingDown();
  const policy = gate.policy();
  if (!policy.enabled) throw new ApiError(403, 'on_demand_disabled', 'the on-demand probe is disabled in the configuration');
  if (policy.token && !bearerMatches(request.headers.authorization, policy.token)) {
    throw new ApiError(401, 'unauthorized', 'a valid bearer token is required (Authorization: Bearer TOKEN)');
  }
  checkHostHeader(request.headers.host, policy.token, gate.allowedHosts());
  checkFetchSite(request.headers['sec-fetch-site'], policy.token);
  return policy;
}

/**
 * Run `work` in one of the on-demand slots (503 with Retry-After when all are taken). Its
 * signal aborts when the caller hangs up or the service shuts down.
 */
export async function inSlot<T>(
  reply: FastifyReply,
  slots: OnDemandSlots,
  policy: OnDemandPolicy,
  drain: OnDemandDrain,
  work: (cancel: AbortSignal) => Promise<T>,
): Promise<T> {
  if (slots.inFlight >= policy.maxConcurrent) {
    void reply.header('retry-after', '1');
    throw new ApiError(503, 'too_many_probes', `${slots.inFlight} on-demand probes are running (limit ${policy.maxConcurrent}); retry shortly`);
  }
  slots.inFlight++;
  const cancel = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) cancel.abort(new Error('client went away'));
  };
  reply.raw.once('close', onClose);
  const release = drain.hold(cancel);
  try {
    const result = await work(cancel.signal);
    // Cut short by the shutdown: not a verdict about the server.
    if (cancel.signal.reason instanceof ShuttingDown) throw shuttingDown();
    return result;
  } finally {
    release();
    slots.inFlight--;
    reply.raw.removeListener('close', onClose);
  }
}

/** HEAD would run the GET handler (Fastify adds it): a HEAD must not open connections. */
export function refuseHead(app: FastifyInstance, path: string, what: string): void {
  app.head(path, { schema: { hide: true }, config: { refusesMethod: true } }, async (_request, reply) =>
    reply.code(405).header('allow', 'GET').send({ code: 'method_not_allowed', message: `HEAD ${path} does not ${what}; use GET` }),
  );
}

/** The `format` query parameter of both routes. */
export const FormatParam = Type.Optional(
  Type.Unsafe<'json' | 'prometheus'>({
    type: 'string',
    enum: ['json', 'prometheus'],
    description: 'json (default), or prometheus for metrics (also chosen by an Accept header asking for Prometheus or OpenMetrics text)',
  }),
);

/** Prometheus scrapes with an Accept header that prefers OpenMetrics or the 0.0.4 text format. */
export function wantsPrometheus(format: string | undefined, accept: string | undefined): boolean {
  if (format) return format === 'prometheus';
  return /application\/openmetrics-text|text\/plain;\s*version=0\.0\.4/i.test(accept ?? '');
}

const counted = new WeakSet<FastifyRequest>();

/** Count an on-demand request's outcome once, whichever layer answered it. */
export function countOnce(request: FastifyRequest, outcome: string, metrics: { countOnDemand(outcome: string): void }): void {
  if (counted.has(request)) return;
  counted.add(request);
  metrics.countOnDemand(outcome);
}

export interface OnDemandRoute<R extends { status: string }> {
  schema: FastifySchema;
  /** Parse, check and run: the result, or an ApiError. */
  handle(request: FastifyRequest, reply: FastifyReply): Promise<R>;
  /** The fields of the one log line per answered request, and its message. */
  log(result: R): Record<string, unknown>;
  message: string;
  metrics: { contentType: string; countOnDemand(outcome: string): void };
  /** The result as Prometheus text (`format=prometheus` or a scraper's Accept header). */
  render(request: FastifyRequest, result: R): Promise<string>;
}

/**
 * GET `path` as an on-demand route: rate-limited, no HEAD (it would run the handler), every
 * outcome counted once, one log line per result, JSON or Prometheus text.
 */
export function onDemandGet<R extends { status: string }>(app: FastifyInstance, path: string, route: OnDemandRoute<R>): void {
  app.get(path, { schema: route.schema, config: { rateLimit: {} }, exposeHeadRoute: false }, async (request, reply) => {
    try {
      const result = await route.handle(request, reply);
      countOnce(request, result.status, route.metrics);
      request.log.info(route.log(result), route.message);
      if (!wantsPrometheus((request.query as { format?: string }).format, request.headers.accept)) return result;
      return reply.type(route.metrics.contentType).send(await route.render(request, result));
    } catch (e) {
      countOnce(request, e instanceof ApiError ? e.code : 'error', route.metrics);
      throw e;
    }
  });
}
