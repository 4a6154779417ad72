/** A round-robin TCP balancer on loopback: each connection goes to the next backend, as a VIP without persistence does. */
import net from 'node:net';

export interface Balancer {
  host: string;
  port: number;
  /** Connections accepted so far (set to 0 to restart the rotation). */
  connections: number;
  close(): Promise<void>;
}

export async function roundRobin(host: string, backends: ReadonlyArray<{ host: string; port: number }>): Promise<Balancer> {
  const sockets = new Set<net.Socket>();
  const lb: Balancer = {
    host,
    port: 0,
    connections: 0,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  const server = net.createServer((client) => {
    const b = backends[lb.connections++ % backends.length]!;
    const up = net.connect(b.port, b.host);
    sockets.add(client).add(up);
    client.pipe(up).pipe(client);
    const end = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  lb.port = (server.address() as net.AddressInfo).port;
  return lb;
}
