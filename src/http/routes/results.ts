/** GET /targets, /results and /results/:name: the scheduled side, read from the store. */
import { Type } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { ConfiguredTarget } from '../../config/load.js';
import type { ResultsStore } from '../../store/results-store.js';
import { ApiError } from '../errors.js';

interface TargetView {
  target: ConfiguredTarget;
  nextRun: Date | null;
  intervalSeconds: number | null;
  running: boolean;
}

export interface TargetsView {
  targets(): TargetView[];
  /** One target, without computing the others. */
  target(name: string): TargetView | undefined;
}

export interface ResultsRouteDeps {
  store: ResultsStore;
  scheduler: TargetsView;
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
        lastRun: deps.store.get(target.name)?.latest.startedAt ?? null,
      })),
  );

  app.get(
    '/results',
    { schema: { summary: 'Latest result of every scheduled target', response: { 200: list('JSON results with name and labels') } } },
    async () => {
      const labels = new Map(deps.scheduler.targets().map(({ target }) => [target.name, target.labels]));
      return deps.store.all().map((r) => ({ name: r.name, labels: labels.get(r.name) ?? {}, ...r.latest }));
    },
  );

  app.get(
    '/results/:name',
    {
      schema: {
        summary: 'Latest result of one target, with its recent history and kept failures',
        params: Type.Object({ name: Type.String({ minLength: 1, maxLength: 300 }) }),
        response: { 200: open('latest, history, recentFailures, thumbprintSince, runs') },
      },
    },
    async (request) => {
      const { name } = request.params as { name: string };
      const configured = deps.scheduler.target(name);
      if (!configured) {
        throw new ApiError(404, 'unknown_target', `no configured target is named "${name}" (see GET /targets)`);
      }
      const rec = deps.store.get(name);
      return {
        name,
        labels: configured.target.labels,
        latest: rec?.latest ?? null,
        history: rec?.history ?? [],
        recentFailures: rec?.recentFailures ?? [],
        thumbprintSince: rec?.thumbprintSince ?? {},
        runs: rec?.runs ?? { total: 0, byStatus: { ok: 0, warning: 0, critical: 0, unknown: 0 } },
      };
    },
  );
}
