/**
 * A scripted DNS server on loopback for client tests: UDP and TCP on the same port (port 0
 * for UDP, then TCP on that number), each datagram or TCP connection handed to the test's
 * script, which answers however it likes: right, wrong, garbage or not at all.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import packet from 'dns-packet';

export type Decoded = packet.DecodedPacket;

export interface FakeDns {
  address: string;
  port: number;
  /** Queries received, in order, with the transport they came on. */
  seen: Array<{ transport: 'udp' | 'tcp'; query: Decoded }>;
  close(): Promise<void>;
}

export interface Scripts {
  /** Return the datagrams to send back (none: stay silent). */
  udp?: (query: Decoded) => Buffer[];
  /** Write to the socket as you like; the server destroys it on close(). */
  tcp?: (query: Decoded, socket: net.Socket) => void;
}

/** The reply a correct server would send; `over` changes any part of it. */
export function reply(query: Decoded, over: Partial<packet.Packet> & { rcode?: string } = {}): Buffer {
  const { rcode, ...rest } = over;
  const rcodeBits = rcode ? ({ NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, REFUSED: 5 } as Record<string, number>)[rcode]! : 0;
  return packet.encode({
    type: 'response',
    id: query.id,
    questions: query.questions,
    answers: [],
    ...rest,
    flags: (rest.flags ?? packet.RECURSION_DESIRED | packet.RECURSION_AVAILABLE) | rcodeBits,
  });
}

/** Length-prefixed, as on TCP. */
export const framed = (msg: Buffer, length = msg.length): Buffer => {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(length);
  return Buffer.concat([p, msg]);
};

async function bindPair(host: string): Promise<{ udp: dgram.Socket; tcp: net.Server }> {
  for (let attempt = 0; ; attempt++) {
    const udp = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    await new Promise<void>((resolve, reject) => udp.once('error', reject).bind(0, host, () => resolve()));
    const tcp = net.createServer();
    try {
      await new Promise<void>((resolve, reject) => tcp.once('error', reject).listen(udp.address().port, host, () => resolve()));
      return { udp, tcp };
    } catch (e) {
      udp.close();
      if (attempt > 5) throw e;
    }
  }
}

export async function fakeDns(scripts: Scripts, host = '127.0.0.1'): Promise<FakeDns> {
  const { udp, tcp } = await bindPair(host);
  const seen: FakeDns['seen'] = [];
  const sockets = new Set<net.Socket>();
  udp.on('message', (msg, rinfo) => {
    const query = packet.decode(msg);
    seen.push({ transport: 'udp', query });
    for (const out of scripts.udp?.(query) ?? []) udp.send(out, rinfo.port, rinfo.address);
  });
  tcp.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buf = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
      const query = packet.decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
      buf = Buffer.alloc(0);
      seen.push({ transport: 'tcp', query });
      if (scripts.tcp) scripts.tcp(query, socket);
      else socket.destroy();
    });
  });
  return {
    address: host,
    port: udp.address().port,
    seen,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all([new Promise((r) => udp.close(() => r(undefined))), new Promise((r) => tcp.close(() => r(undefined)))]);
    },
  };
}

/** UDP sockets or TCP connections this process holds open right now. */
export function openSockets(kind: 'udp' | 'tcp'): number {
  const names = kind === 'udp' ? ['UDPWrap'] : ['TCPSocketWrap', 'TCPWrap'];
  return process.getActiveResourcesInfo().filter((r) => names.includes(r)).length;
}
