/** Probe a fake server under a test's terms: pinned loopback address, no DNS, short deadline. */
import { makeTarget, probeTarget, type ProbeTarget, type TargetResult } from '../../src/probe/index.js';
import type { FakeSmtp } from './fake-smtp.js';

export function probeFake(
  server: Pick<FakeSmtp, 'host' | 'port'>,
  target: Partial<ProbeTarget> & { host?: string } = {},
  timeoutMs = 3000,
): Promise<TargetResult> {
  return probeTarget(
    makeTarget({ host: 'mail.example.com', addresses: [server.host], port: server.port, ehloName: 'probe.test', ...target }),
    { timeoutMs, resolver: async () => { throw new Error('tests never resolve names'); } },
  );
}

/** The reason codes of the first address (or of the target when it has none). */
export function codes(r: TargetResult): string[] {
  return (r.addresses[0]?.reasons ?? r.reasons).map((x) => x.code).sort();
}
