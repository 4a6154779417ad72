/**
 * One query, one try, over UDP or TCP. A try ends at the first reply that answers our query,
 * at its own timeout, or when the probe's deadline aborts; its socket is closed on every path.
 * Anything that is not a reply to our query (another id or question, garbage, a frame cut
 * short) is ignored, not believed: on UDP anyone can send us a datagram, and one bad packet
 * must not end a query that a good reply could still finish.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { onAbort } from '../abort.js';
import { checkReply, type Query, type Reply } from './wire.js';

export interface ResolverAddress { address: string; port: number }

export type Outcome =
  | { kind: 'reply'; reply: Reply }
  | { kind: 'timeout'; aborted: boolean; ignored?: string }
  | { kind: 'error'; error: string; ignored?: string };

/** Bytes read from one TCP connection, over every frame: a few full-size messages. */
export const MAX_TCP_BYTES = 4 * 65537;

interface Try {
  finish(o: Outcome): void;
  ignore(problem: string): void;
  ignored(): string | undefined;
}

/** The bookkeeping every try shares: one timer, one abort hook, one resolve, then cleanup. */
function start(ms: number, signal: AbortSignal, cleanup: () => void, resolve: (o: Outcome) => void): Try {
  let done = false;
  let ignored: string | undefined;
  let stopAbort: () => void = () => undefined;
  const t: Try = {
    finish(o) {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stopAbort();
      cleanup();
      resolve(o);
    },
    ignore(problem) {
      ignored = problem;
    },
    ignored: () => ignored,
  };
  const timer = setTimeout(() => t.finish({ kind: 'timeout', aborted: false, ...withIgnored(ignored) }), ms);
  stopAbort = onAbort(signal, () => t.finish({ kind: 'timeout', aborted: true, ...withIgnored(ignored) }));
  return t;
}

const withIgnored = (ignored: string | undefined) => (ignored ? { ignored } : {});

export function udpTry(query: Query, server: ResolverAddress, ms: number, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket(net.isIPv6(server.address) ? 'udp6' : 'udp4');
    const t = start(ms, signal, () => {
      try {
        sock.close();
      } catch {
        // already closed by an error
      }
    }, resolve);
    sock.on('error', (e) => t.finish({ kind: 'error', error: e.message, ...withIgnored(t.ignored()) }));
    sock.on('message', (msg) => {
      const c = checkReply(query, msg);
      if (c.ok) t.finish({ kind: 'reply', reply: c.reply });
      else t.ignore(c.problem);
    });
    // Connected: the kernel drops datagrams from any other address, and a closed port comes
    // back as ECONNREFUSED at once instead of a timeout.
    sock.connect(server.port, server.address, () => sock.send(query.bytes));
  });
}

export function tcpTry(query: Query, server: ResolverAddress, ms: number, signal: AbortSignal): Promise<Outcome> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: server.address, port: server.port });
    const t = start(ms, signal, () => sock.destroy(), resolve);
    let pending = Buffer.alloc(0);
    let total = 0;
    sock.on('connect', () => {
      const prefix = Buffer.alloc(2);
      prefix.writeUInt16BE(query.bytes.length);
      sock.write(Buffer.concat([prefix, query.bytes]));
    });
    sock.on('data', (chunk: Buffer) => {
      total += chunk.length;
      if (total > MAX_TCP_BYTES) {
        t.finish({ kind: 'error', error: `more than ${MAX_TCP_BYTES} bytes over TCP without a reply to our query`, ...withIgnored(t.ignored()) });
        return;
      }
      pending = Buffer.concat([pending, chunk]);
      // RFC 7766 §8: each message is preceded by its length in two bytes.
      while (pending.length >= 2) {
        const len = pending.readUInt16BE(0);
        if (pending.length < 2 + len) return;
        const c = checkReply(query, pending.subarray(2, 2 + len));
        pending = pending.subarray(2 + len);
        if (c.ok) {
          t.finish({ kind: 'reply', reply: c.reply });
          return;
        }
        t.ignore(c.problem);
      }
    });
    sock.on('error', (e) => t.finish({ kind: 'error', error: e.message, ...withIgnored(t.ignored()) }));
    sock.on('close', () => {
      const cut = pending.length >= 2 ? `, ${pending.length - 2} of the ${pending.readUInt16BE(0)} bytes announced` : '';
      t.finish({ kind: 'error', error: `TCP connection closed before a reply to our query${cut}`, ...withIgnored(t.ignored()) });
    });
  });
}
