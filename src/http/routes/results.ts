/** GET /targets, /results, /results/:name(/history) and /certificates: the scheduled side, read from the store. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ConfiguredDomain } from '../../config/domains.js';
import type { ConfiguredTarget } from '../../config/load.js';
import type { ResultsStore } from '../../store/results-store.js';
import { ApiError } from '../errors.js';

interface TargetView {
  target: ConfiguredTarget;
  nextRun: Date | null;
  intervalSeconds: number | null;
  running: boolean;
}

interface DomainView {
  domain: ConfiguredDomain;
  nextRun: Date | null;
  intervalSeconds: number | null;
  running: boolean;
}

export interface TargetsView {
  targets(): TargetView[];
  /** One target, without computing the others. */
  target(name: string): TargetView | undefined;
  /** Configured mail domains (absent: none). */
  domains?(): DomainView[];
  domain?(name: string): DomainView | undefined;
}

export interface ResultsRouteDeps {
  store: ResultsStore;
  scheduler: TargetsView;
  /** Spans shown with /results/NAME (the config's history). */
  historySize?: number;
}

const open = (description: string) => ({ type: 'object', additionalProperties: true, description });
const list = (description: string) => ({ type: 'array', items: { type: 'object', additionalProperties: true }, description });

export function resultsRoutes(app: FastifyInstance, deps: ResultsRouteDeps): void {
  app.get(
    '/targets',
    { schema: { summary: 'Configured targets with their schedule and next run', response: { 200: list('targets') } } },
    async () =>
      deps.scheduler.targets().map(({ target, nextRun, intervalSeconds, running }) => ({
        name: target.name,
        host: target.probe.host,
        port: target.probe.port,
        expect: target.probe.expect,
        sni: target.probe.sni,
        implicitTls: target.probe.implicitTls,
        ...(target.probe.addresses ? { addresses: target.probe.addresses } : {}),
        ...(target.probe.source ? { source: target.probe.source } : {}),
        schedule: target.schedule,
        timeoutSeconds: target.timeoutMs / 1000,
        intervalSeconds,
        labels: target.labels,
        nextRun: nextRun?.toISOString() ?? null,
        running,
        lastRun: deps.store.summary(target.name)?.startedAt ?? null,
      })),
  );

  app.get(
    '/results',
    { schema: { summary: 'Latest result of every scheduled target', response: { 200: list('JSON results with name, labels and statusSince') } } },
    async () => {
      const labels = new Map(deps.scheduler.targets().map(({ target }) => [target.name, target.labels]));
      return deps.store.all().map((r) => ({ name: r.name, labels: labels.get(r.name) ?? {}, statusSince: r.statusSince, ...r.latest }));
    },
  );

  domainRoutes(app, deps);

  const configuredTarget = (name: string) => {
    const configured = deps.scheduler.target(name);
    if (!configured) {
      throw new ApiError(404, 'unknown_target', `no configured target is named "${name}" (see GET /targets)`);
    }
    return configured.target;
  };
  const NameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 300 }) });

  app.get(
    '/results/:name',
    {
      schema: {
        summary: 'Latest result of one target, since when its status holds, its recent history and kept failures',
        params: NameParam,
        response: { 200: open('latest, statusSince, history, recentFailures, thumbprintSince, runs') },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const target = configuredTarget(name);
      const rec = deps.store.get(name);
      return {
        name,
        labels: target.labels,
        latest: rec?.latest ?? null,
        statusSince: rec?.statusSince ?? null,
        history: deps.store.history(name, { limit: deps.historySize ?? 50 }),
        recentFailures: deps.store.recentFailures(name),
        thumbprintSince: rec?.thumbprintSince ?? {},
        runs: rec?.runs ?? { total: 0, byStatus: { ok: 0, warning: 0, critical: 0, unknown: 0 } },
      };
    },
  );

  app.get(
    '/results/:name/history',
    {
      schema: {
        summary: 'History of one target as spans of identical outcomes, newest first; page with before=<lastSeen of the last span>',
        params: NameParam,
        querystring: Type.Object(
          {
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
            before: Type.Optional(Type.String({ minLength: 1, maxLength: 40 })),
          },
          { additionalProperties: false },
        ),
        response: { 200: open('spans, and next: the before value of the next page (null at the end)') },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const { limit = 100, before } = request.query as { limit?: number; before?: string };
      configuredTarget(name);
      const at = before === undefined ? undefined : new Date(before);
      if (at && Number.isNaN(at.getTime())) {
        throw new ApiError(400, 'bad_parameter', `before: "${before}" is not a date-time (e.g. 2026-05-01T12:00:00Z)`, { parameter: 'before' });
      }
      const spans = deps.store.history(name, { limit, ...(at ? { before: at } : {}) });
      return { name, spans, next: spans.length === limit ? spans[spans.length - 1]!.lastSeen : null };
    },
  );

  app.get(
    '/certificates',
    {
      schema: {
        summary: 'Every certificate seen within the retention window: where, first and last seen, notAfter, served now',
        querystring: Type.Object(
          { target: Type.Optional(Type.String({ minLength: 1, maxLength: 300 })) },
          { additionalProperties: false },
        ),
        response: { 200: list('certificate sightings by target and address') },
      },
    },
    async (request) => {
      const { target } = request.query as { target?: string };
      return deps.store.certificates(target);
    },
  );
}

const NO_RUNS = { total: 0, byStatus: { ok: 0, warning: 0, critical: 0, unknown: 0 } };

/**
 * GET /results/domains and /results/domains/:name: the scheduled mail domains (domain mode).
 * Static routes win over /results/:name, so "domains" is a reserved name in the configuration.
 */
function domainRoutes(app: FastifyInstance, deps: ResultsRouteDeps): void {
  app.get(
    '/results/domains',
    { schema: { summary: 'Latest result of every scheduled mail domain', response: { 200: list('domain results with name, labels and statusSince') } } },
    async () => {
      const labels = new Map((deps.scheduler.domains?.() ?? []).map(({ domain }) => [domain.name, domain.labels]));
      return deps.store.domains.all().map((r) => ({ name: r.name, labels: labels.get(r.name) ?? {}, statusSince: r.statusSince, ...r.latest }));
    },
  );

  app.get(
    '/results/domains/:name',
    {
      schema: {
        summary: 'Latest result of one scheduled mail domain, since when its status holds, its schedule',
        params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 300 }) }),
        response: { 200: open('name, domain, labels, schedule, nextRun, running, latest, statusSince, runs') },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const view = deps.scheduler.domain?.(name);
      if (!view) throw new ApiError(404, 'unknown_domain', `no configured domain is named "${name}" (see GET /results/domains)`);
      const rec = deps.store.domains.get(name);
      return {
        name,
        domain: view.domain.domain.domain,
        labels: view.domain.labels,
        schedule: view.domain.schedule,
        timeoutSeconds: view.domain.timeoutMs / 1000,
        intervalSeconds: view.intervalSeconds,
        nextRun: view.nextRun?.toISOString() ?? null,
        running: view.running,
        latest: rec?.latest ?? null,
        statusSince: rec?.statusSince ?? null,
        runs: rec?.runs ?? NO_RUNS,
      };
    },
  );
}
