/** Probe a fake server under a test's terms: pinned loopback address, no DNS, short deadline. */
import { makeTarget, probeTarget, type ProbeTarget, type TargetResult } from '../../src/probe/index.js';
import { pki, type Minted, type Pki } from './certs.js';
import { fakeSmtp, type FakeSmtp, type FakeSmtpOptions } from './fake-smtp.js';

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

/** The chain most dialogue tests serve: a Contoso root and intermediate, a leaf for mail.example.com. */
export interface ContosoLab {
  readonly ca: Pki;
  readonly leaf: Minted;
  served(): { key: string; cert: string };
}

/** Mints the Contoso chain once, before the tests of a file. */
export function contosoLab(t: { before(fn: () => Promise<void>): void }): ContosoLab {
  let ca: Pki | undefined;
  let leaf: Minted | undefined;
  t.before(async () => {
    ca = await pki('Contoso');
    leaf = await ca.leaf({ subject: 'CN=mail.example.com', dns: ['mail.example.com'] });
  });
  return {
    get ca() {
      return ca!;
    },
    get leaf() {
      return leaf!;
    },
    served: () => ({ key: leaf!.keyPem, cert: leaf!.certPem + ca!.intermediate.certPem }),
  };
}

/**
 * Probe a fresh fake server that serves the lab's chain (trusting its root), then wait until
 * the server saw every connection closed, and close it.
 */
export async function probeLab(lab: ContosoLab, opts: FakeSmtpOptions, target: Partial<ProbeTarget> = {}, timeoutMs = 800) {
  const srv = await fakeSmtp({ tls: lab.served(), ...opts });
  try {
    const r = await probeFake(srv, { ca: lab.ca.root.certPem, ...target }, timeoutMs);
    await srv.drained(timeoutMs + 1000);
    return { r, a: r.addresses[0]!, received: srv.received };
  } finally {
    await srv.close();
  }
}
