/**
 * The seed case as a running service, for tests that need live /metrics: a correct server
 * (hybrid, 127.0.0.2) and the misconfigured Exchange one (seed, 127.0.0.3, self-signed
 * CN=SERVER1), scheduled by a service with a config file in a temp directory.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/log.js';
import { startService, type Service } from '../../src/service/service.js';
import { exchangeSelfSigned, pki, type Minted, type Pki } from './certs.js';
import { fakeSmtp, type FakeSmtp } from './fake-smtp.js';

export interface Stack extends SeedServers {
  file: string;
  /** The config text with the two targets, plus extra lines. */
  configText(extra?: string[]): string;
  service: Service;
  close(): Promise<void>;
}

export interface SeedServers {
  ca: Pki;
  good: Minted;
  server1: Minted;
  /** 127.0.0.2: the right certificate for hybrid.domain.com, with its intermediate. */
  goodSrv: FakeSmtp;
  /** 127.0.0.3: Exchange's self-signed CN=SERVER1, with an Exchange-like greeting. */
  badSrv: FakeSmtp;
  /** 127.0.0.4: accepts and never greets. */
  silentSrv: FakeSmtp;
  close(): Promise<void>;
}

/** The seed case's servers on loopback, and their certificates. */
export async function seedServers(): Promise<SeedServers> {
  const ca = await pki('Contoso');
  const good = await ca.leaf({ subject: 'CN=hybrid.domain.com', dns: ['hybrid.domain.com'] });
  const server1 = await exchangeSelfSigned();
  const goodSrv = await fakeSmtp({ host: '127.0.0.2', tls: { key: good.keyPem, cert: good.certPem + ca.intermediate.certPem } });
  const badSrv = await fakeSmtp({
    host: '127.0.0.3',
    greeting: '220 SERVER1.domain.com Microsoft ESMTP MAIL Service ready\r\n',
    tls: { key: server1.keyPem, cert: server1.certPem },
  });
  const silentSrv = await fakeSmtp({ host: '127.0.0.4', greeting: null });
  return {
    ca,
    good,
    server1,
    goodSrv,
    badSrv,
    silentSrv,
    close: async () => {
      await Promise.all([goodSrv.close(), badSrv.close(), silentSrv.close()]);
    },
  };
}

/**
 * The first lines of a test service's config: a loopback listener on a free port, no jitter,
 * nothing stored (the default storage.path would be data/ in the repo), the lab CA beside the
 * file, probes every 2 s, and on-demand probes allowed to these ports on loopback.
 */
export function configHeader(ports: number[]): string[] {
  return [
    'listen: 127.0.0.1:0',
    'jitter: 0',
    'storage: { path: ":memory:" }',
    'defaults: { caFile: ca.pem, timeout: 3, schedule: "*/2 * * * * *" }',
    `onDemand: { refuseAddresses: [], ports: [${ports.join(', ')}] }`,
  ];
}

export async function seedStack(): Promise<Stack> {
  const servers = await seedServers();
  const { ca, goodSrv, badSrv } = servers;
  const dir = await mkdtemp(join(tmpdir(), 'stp-stack-'));
  await writeFile(join(dir, 'ca.pem'), ca.root.certPem);
  const file = join(dir, 'probe.yaml');
  const configText = (extra: string[] = []) =>
    [
      ...configHeader([goodSrv.port, badSrv.port]),
      'targets:',
      `  - { name: hybrid, host: hybrid.domain.com, addresses: [127.0.0.2], port: ${goodSrv.port}, labels: { site: dc1, host: clash } }`,
      `  - { name: seed, host: hybrid.domain.com, addresses: [127.0.0.3], port: ${badSrv.port}, expect: [hybrid.domain.com, server1.domain.com] }`,
      ...extra,
    ].join('\n');
  await writeFile(file, configText());
  const service = await startService({
    configPath: file,
    logger: createLogger('silent'),
    watch: false,
    env: {},
    resolver: async (host) => {
      if (host === 'hybrid.domain.com') return ['127.0.0.2'];
      throw Object.assign(new Error('ENOTFOUND'), { code: 'ENOTFOUND' });
    },
  });
  await service.scheduler.ready();
  return {
    ...servers,
    file,
    configText,
    service,
    async close() {
      await service.close(0);
      await servers.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
