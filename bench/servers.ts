/**
 * Fake SMTP servers in a child process, so that the CPU the bench measures in this process
 * is the client's alone, and the server has the other core. Loopback only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { pki } from '../src/demo/pki.js';

export interface Served {
  key: string;
  cert: string;
  /** Trust anchor for the probe. */
  ca: string;
}

/** A CA-issued leaf for mail.example.com with the intermediate in the chain. */
export async function servedCert(type: 'rsa' | 'ec'): Promise<Served> {
  const ca = await pki(`Bench ${type}`, { type });
  const leaf = await ca.leaf({ subject: 'CN=mail.example.com', dns: ['mail.example.com'], key: { type } });
  return { key: leaf.keyPem, cert: leaf.certPem + ca.intermediate.certPem, ca: ca.root.certPem };
}

export interface ServerProcess {
  /** One port per host, in the order given. */
  ports: number[];
  child: ChildProcess;
  close(): Promise<void>;
}

const CHILD = `
import { fakeSmtp } from ${JSON.stringify(new URL('../dist/demo/smtp-endpoint.js', import.meta.url).href)};
const { hosts, key, cert } = JSON.parse(process.env.BENCH_SERVER);
const servers = await Promise.all(hosts.map((host) => fakeSmtp({ host, tls: { key, cert } })));
process.stdout.write(JSON.stringify(servers.map((s) => s.port)) + '\\n');
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

export async function serverProcess(served: Served, hosts: string[] = ['127.0.0.1']): Promise<ServerProcess> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
    env: { ...process.env, BENCH_SERVER: JSON.stringify({ hosts, key: served.key, cert: served.cert }) },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  const ports = JSON.parse(line.toString()) as number[];
  return {
    ports,
    child,
    close: async () => {
      child.stdin!.end();
      if (child.exitCode === null) await once(child, 'exit');
    },
  };
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
export const quantile = (xs: number[], q: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * q))]!;
export const fmt = (n: number, digits = 2) => n.toFixed(digits);
