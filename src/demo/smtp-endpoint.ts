/**
 * A small scriptable SMTP endpoint, for the demo and the tests. By default it behaves like a
 * well-mannered MTA (greeting, EHLO with STARTTLS, 220, TLS on the same socket, EHLO again
 * over TLS without STARTTLS, QUIT); every
 * step can be replaced by a string to send or by a whole script for hostile behaviour.
 * It serves whatever certificate it is given (weak ones included): never a real mail server.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface ServedCert {
  key: string;
  /** Leaf first, then whatever chain the server sends. */
  cert: string;
}

export interface FakeSmtpOptions {
  host?: string;
  /** Fixed port (to put several hosts on one port at different loopback addresses); 0 by default. */
  port?: number;
  /** Sent on connect; null sends nothing (a silent server). */
  greeting?: string | null;
  /** Reply to EHLO. */
  ehlo?: string;
  /** Reply to EHLO over TLS after STARTTLS; by default the EHLO reply without its STARTTLS line. */
  tlsEhlo?: string;
  /** Reply to STARTTLS; the upgrade follows only if it starts with 220. */
  starttls?: string;
  /** Bytes sent in the same write as the STARTTLS reply, before the handshake (injection). */
  afterStarttls?: string;
  /** Certificate to serve, or a function of the client's address (SNAT-like selection); null drops the connection. */
  tls?: ServedCert | ((clientAddress: string) => ServedCert | null);
  tlsOptions?: Partial<tls.TlsOptions>;
  /** Greet only after the TLS handshake (port 465 style). */
  implicitTls?: boolean;
  /** Replace the whole behaviour. */
  script?: (socket: net.Socket) => void;
  /** After the 220 to STARTTLS: take the plain socket instead of starting TLS on it. */
  instead?: (plain: net.Socket) => void;
  /** Once TLS is up: take the TLS socket instead of the usual EHLO/QUIT handling (after STARTTLS the client EHLOs again). */
  onSecure?: (secure: tls.TLSSocket) => void;
}

export interface FakeSmtp {
  host: string;
  port: number;
  /** Connections accepted so far. */
  accepted(): number;
  /** Connections not yet closed. */
  open(): number;
  /** SNI names the server saw, in order ('' for none). */
  sniSeen: string[];
  /** Lines the server received in plaintext and over TLS. */
  received: string[];
  /** Resolves when every connection is closed, or rejects after ms. */
  drained(ms?: number): Promise<void>;
  close(): Promise<void>;
}

export const EXCHANGE_GREETING =
  '220 SERVER1.domain.com Microsoft ESMTP MAIL Service ready at Fri, 14 Apr 2017 13:07:17 -0400\r\n';
export const DEFAULT_EHLO = '250-fake.test Hello\r\n250-SIZE 37748736\r\n250-PIPELINING\r\n250-STARTTLS\r\n250 8BITMIME\r\n';

/** An EHLO reply with the STARTTLS line taken out: what a server offers once TLS is up. */
export function withoutStarttls(reply: string): string {
  const kept = reply.split('\r\n').filter((l) => l !== '' && !/^\d{3}[ -]STARTTLS\s*$/i.test(l));
  return kept.map((l, i) => `${l.slice(0, 3)}${i === kept.length - 1 ? ' ' : '-'}${l.slice(4)}\r\n`).join('');
}

function lines(socket: net.Socket | tls.TLSSocket, onLine: (line: string) => void): void {
  let buf = '';
  socket.on('data', (chunk: Buffer) => {
    buf += chunk.toString('latin1');
    let i: number;
    while ((i = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, i).replace(/\r$/, '');
      buf = buf.slice(i + 1);
      onLine(line);
    }
  });
}

export async function fakeSmtp(o: FakeSmtpOptions = {}): Promise<FakeSmtp> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const sniSeen: string[] = [];
  const received: string[] = [];
  const served = (addr: string): ServedCert | null | undefined => (typeof o.tls === 'function' ? o.tls(addr) : o.tls);

  const upgrade = (socket: net.Socket, then: (t: tls.TLSSocket) => void) => {
    const cert = served(socket.remoteAddress ?? '');
    if (!cert) return socket.destroy();
    // A non-listening tls.Server takes the plain socket and runs the handshake on it.
    const wrapper = tls.createServer(
      {
        key: cert.key,
        cert: cert.cert,
        // Serve whatever a test mints, SHA-1 and 1024-bit keys included.
        ciphers: 'DEFAULT:@SECLEVEL=0',
        ...o.tlsOptions,
      },
      (t) => {
        sniSeen.push(t.servername || '');
        t.on('error', () => socket.destroy());
        then(t);
      },
    );
    wrapper.on('tlsClientError', () => socket.destroy());
    wrapper.emit('connection', socket);
  };

  const afterTls = (t: tls.TLSSocket, greet: boolean) => {
    if (o.onSecure) return o.onSecure(t);
    if (greet && o.greeting !== null) t.write(o.greeting ?? '220 fake.test ESMTP\r\n');
    lines(t, (line) => {
      received.push(line);
      const verb = line.split(' ')[0]?.toUpperCase();
      if (verb === 'EHLO') t.write(greet ? (o.ehlo ?? DEFAULT_EHLO) : (o.tlsEhlo ?? withoutStarttls(o.ehlo ?? DEFAULT_EHLO)));
      else if (verb === 'QUIT') t.end('221 bye\r\n');
      else t.write('500 unrecognised\r\n');
    });
  };

  const standard = (socket: net.Socket) => {
    if (o.implicitTls) return upgrade(socket, (t) => afterTls(t, true));
    if (o.greeting !== null) socket.write(o.greeting ?? '220 fake.test ESMTP\r\n');
    let upgraded = false;
    lines(socket, (line) => {
      if (upgraded) return;
      received.push(line);
      const verb = line.split(' ')[0]?.toUpperCase();
      if (verb === 'EHLO') socket.write(o.ehlo ?? DEFAULT_EHLO);
      else if (verb === 'STARTTLS') {
        const reply = o.starttls ?? '220 2.0.0 SMTP server ready\r\n';
        socket.write(reply + (o.afterStarttls ?? ''));
        if (reply.startsWith('220')) {
          upgraded = true;
          socket.removeAllListeners('data');
          if (o.instead) return o.instead(socket);
          socket.pause();
          // Not from inside the 'data' handler: net.Socket would still act on the handle.
          setImmediate(() => upgrade(socket, (t) => afterTls(t, false)));
        }
      } else if (verb === 'QUIT') socket.end('221 bye\r\n');
      else socket.write('500 unrecognised\r\n');
    });
  };

  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    (o.script ?? standard)(socket);
  });
  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, resolve);
  });
  const port = (server.address() as net.AddressInfo).port;

  return {
    host,
    port,
    accepted: () => accepted,
    open: () => sockets.size,
    sniSeen,
    received,
    async drained(ms = 2000) {
      const until = Date.now() + ms;
      while (sockets.size > 0) {
        if (Date.now() > until) throw new Error(`${sockets.size} connection(s) still open after ${ms} ms`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
