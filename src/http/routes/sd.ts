/**
 * GET /sd: the configured targets as Prometheus http_sd_configs target groups, so that one
 * Prometheus (or several, sharded with hashmod) drives GET /probe for them. Each group carries
 * the /probe parameters that reproduce the target's settings as __param_* labels, and the
 * target's configured labels. Settings /probe does not take (pinned addresses, source address,
 * thumbprint) stay with the scheduled probe: such a target is probed by name from /probe.
 */
import { isIP } from 'node:net';
import type { FastifyInstance } from 'fastify';
import type { ConfiguredTarget } from '../../config/load.js';
import type { TargetsView } from './results.js';

export interface SdGroup {
  targets: string[];
  labels: Record<string, string>;
}

function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

export function sdGroup(t: ConfiguredTarget): SdGroup {
  const p = t.probe;
  const address = hostPort(p.host.replace(/\.$/, ''), p.port);
  const labels: Record<string, string> = { ...t.labels, __param_target: address };
  if (t.module !== undefined) labels.__param_module = t.module;
  // Only what differs from what /probe would take anyway: a job's own params stay in force.
  if (p.expect.join(',') !== p.host) labels.__param_expect = p.expect.join(',');
  if (p.sni !== null && p.sni !== p.host.replace(/\.$/, '')) labels.__param_sni = p.sni;
  if (p.implicitTls !== (p.port === 465)) labels.__param_implicitTls = String(p.implicitTls);
  return { targets: [address], labels };
}

export function sdRoute(app: FastifyInstance, deps: { scheduler: TargetsView }): void {
  app.get(
    '/sd',
    {
      schema: {
        summary: 'Prometheus HTTP service discovery of the configured targets, for a /probe job',
        response: { 200: { type: 'array', items: { type: 'object', additionalProperties: true } } },
      },
    },
    async () => deps.scheduler.targets().map((x) => sdGroup(x.target)),
  );
}
