/**
 * An MTA-STS policy host: node:https on a loopback address and port 0, serving the minted
 * chain given, answering per Host header, counting connections and requests so that tests
 * can tell what a client did (and that it closed every socket).
 */
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Minted } from './certs.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

export interface PolicyServer {
  address: string;
  port: number;
  /** Requests seen, per Host header. */
  requests: Array<{ host: string; method: string; url: string; headers: IncomingHttpHeaders }>;
  /** TCP connections accepted so far. */
  connections: number;
  /** True once no connection is open; false when one is still open after a second. */
  settled(): Promise<boolean>;
}

export async function policyServer(t: { teardown(fn: () => unknown): void }, address: string, chain: Minted[], handlers: Record<string, Handler>): Promise<PolicyServer> {
  const open = new Set<Socket>();
  const server = https.createServer({ key: chain[0]!.keyPem, cert: chain.map((c) => c.certPem).join('') }, (req, res) => {
    const host = req.headers.host ?? '';
    state.requests.push({ host, method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    (handlers[host] ?? ((_q, r) => r.writeHead(500).end()))(req, res);
  });
  server.on('connection', (s: Socket) => {
    state.connections++;
    open.add(s);
    s.on('close', () => open.delete(s));
  });
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  t.teardown(() => {
    for (const s of open) s.destroy();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const state: PolicyServer = {
    address,
    port: (server.address() as { port: number }).port,
    requests: [],
    connections: 0,
    async settled() {
      for (let i = 0; i < 100 && open.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
      return open.size === 0;
    },
  };
  return state;
}
