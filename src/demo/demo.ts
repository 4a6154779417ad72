/**
 * The seed case, reproduced: two SMTP endpoints for hybrid.domain.com, one like the
 * misconfigured Exchange (self-signed CN=SERVER1, its greeting) and one serving a correct
 * certificate from a demo CA minted at start. With the service probing both, a newcomer sees
 * cert_name_mismatch and the fix in /results and /metrics within seconds.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { startService, type Service } from '../service/service.js';
import { exchangeSelfSigned, pki } from './pki.js';
import { fakeSmtp, type FakeSmtp } from './smtp-endpoint.js';

export const DEMO_HOST = 'hybrid.domain.com';

export interface DemoEndpoints {
  exchange: FakeSmtp;
  good: FakeSmtp;
  caPem: string;
  close(): Promise<void>;
}

export interface EndpointOptions {
  /** Address to listen on (127.0.0.1; 0.0.0.0 in a container). */
  bind?: string;
  exchangePort?: number;
  goodPort?: number;
}

const EXCHANGE_EHLO = '250-SERVER1.domain.com Hello [client]\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-DSN\r\n250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250-8BITMIME\r\n250 CHUNKING\r\n';

export async function startDemoEndpoints(o: EndpointOptions = {}): Promise<DemoEndpoints> {
  const ca = await pki('smtp-tls-probe demo', { type: 'rsa' });
  const good = await ca.leaf({ subject: `CN=${DEMO_HOST}`, dns: [DEMO_HOST, 'autodiscover.domain.com'], key: { type: 'rsa' }, notAfterDays: 365 });
  const self = await exchangeSelfSigned();
  const host = o.bind ?? '127.0.0.1';
  const exchange = await fakeSmtp({
    host,
    port: o.exchangePort ?? 0,
    greeting: '220 SERVER1.domain.com Microsoft ESMTP MAIL Service ready\r\n',
    ehlo: EXCHANGE_EHLO,
    tls: { key: self.keyPem, cert: self.certPem },
  });
  const correct = await fakeSmtp({
    host,
    port: o.goodPort ?? 0,
    greeting: '220 SERVER2.domain.com Microsoft ESMTP MAIL Service ready\r\n',
    ehlo: EXCHANGE_EHLO.replace(/SERVER1/g, 'SERVER2'),
    tls: { key: good.keyPem, cert: good.certPem + ca.intermediate.certPem },
  }).catch(async (e: unknown) => {
    await exchange.close();
    throw e;
  });
  return {
    exchange,
    good: correct,
    caPem: ca.root.certPem,
    close: async () => {
      await Promise.all([exchange.close(), correct.close()]);
    },
  };
}

/** The service's configuration for the demo: both endpoints every 30 s, the demo CA trusted. */
export function demoConfig(endpoints: { exchangePort: number; goodPort: number; host: string }, listen: string): string {
  return `# Written by smtp-tls-probe demo.
listen: "${listen}"
logLevel: warn
jitter: 0
defaults:
  caFile: ca.pem
  schedule: "*/30 * * * * *"
  timeout: 10
storage:
  path: ":memory:"      # the demo's endpoints and certificates last as long as the demo
onDemand:
  refuseAddresses: []   # the demo endpoints are on loopback
  ports: [25, 465, 587, 2525, ${endpoints.exchangePort}, ${endpoints.goodPort}]
targets:
  - name: hybrid-server1
    host: ${DEMO_HOST}
    addresses: [${endpoints.host}]
    port: ${endpoints.exchangePort}
    labels: { role: misconfigured }
  - name: hybrid-server2
    host: ${DEMO_HOST}
    addresses: [${endpoints.host}]
    port: ${endpoints.goodPort}
    labels: { role: correct }
`;
}

export interface Demo {
  endpoints: DemoEndpoints;
  service: Service;
  dir: string;
  caFile: string;
  close(): Promise<void>;
}

export async function startDemo(listen: { host: string; port: number }, logger?: Logger): Promise<Demo> {
  const endpoints = await startDemoEndpoints();
  const dir = await mkdtemp(join(tmpdir(), 'smtp-tls-probe-demo-'));
  try {
    const caFile = join(dir, 'ca.pem');
    await writeFile(caFile, endpoints.caPem);
    const file = join(dir, 'probe.yaml');
    const listenText = `${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${listen.port}`;
    await writeFile(file, demoConfig({ exchangePort: endpoints.exchange.port, goodPort: endpoints.good.port, host: endpoints.exchange.host }, listenText));
    const service = await startService({ configPath: file, listen, watch: false, ...(logger ? { logger } : {}) });
    return {
      endpoints,
      service,
      dir,
      caFile,
      close: async () => {
        await service.close(1000);
        await endpoints.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await endpoints.close();
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
}
