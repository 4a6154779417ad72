/**
 * One SMTP connection under one deadline: TCP, then optionally TLS on the same socket.
 * Every wait (connect, reply, handshake) ends in a reply or a ProbeFailure whose code says
 * what went wrong in which phase; an expired deadline becomes the timeout of the current
 * phase. Nothing here throws past the probe, and close() leaves no socket behind.
 */
import net from 'node:net';
import tls from 'node:tls';
import { onAbort } from '../abort.js';
import { Lru } from '../lru.js';
import { localShortage, type ReasonCode } from '../reasons.js';
import { ReplyParser, type Reply } from './reply-parser.js';

// Node's own module object rather than an ESM import, whose namespace reads every export
// and so loads what a one-shot check never uses (README "Performance", `check`).
const { createHash } = process.getBuiltinModule('node:crypto');

export type Phase = 'connect' | 'greeting' | 'ehlo' | 'starttls' | 'tls' | 'secure' | 'tlsEhlo' | 'quit';

/**
 * What went wrong, as a verdict: the code and message say it all, so no stack is captured
 * (capturing one was 2 % of a busy service's CPU), except for probe_error, which may be ours.
 */
export class ProbeFailure extends Error {
  constructor(
    readonly code: ReasonCode,
    message: string,
    /** The error code when the cause is on this machine (see Reason.local). */
    readonly local?: string,
  ) {
    const limit = Error.stackTraceLimit;
    if (code !== 'probe_error') Error.stackTraceLimit = 0;
    try {
      super(message);
    } finally {
      Error.stackTraceLimit = limit;
    }
    this.name = 'ProbeFailure';
  }
}

/** Marks a connection closed by us once the verdict is made (one for all: no stack to keep). */
const CLOSED = new ProbeFailure('probe_error', 'closed');

/** Where the dialogue was, as the end of a sentence ("the server closed the connection …"). */
const PHASE_TEXT: Record<Phase, string> = {
  connect: 'while connecting',
  greeting: 'while waiting for the 220 greeting',
  ehlo: 'while waiting for the reply to EHLO',
  starttls: 'while waiting for the reply to STARTTLS',
  tls: 'during the TLS handshake',
  secure: 'right after the TLS handshake',
  tlsEhlo: 'while waiting for the reply to EHLO after the TLS handshake',
  quit: 'during QUIT',
};

const TIMEOUT_CODE: Record<Phase, ReasonCode> = {
  connect: 'connect_timeout',
  greeting: 'greeting_timeout',
  ehlo: 'smtp_timeout',
  starttls: 'smtp_timeout',
  tls: 'tls_handshake_timeout',
  secure: 'smtp_timeout',
  tlsEhlo: 'smtp_timeout',
  quit: 'smtp_timeout',
};

export interface TlsOptions {
  servername: string | null;
  ca?: string;
}

/**
 * One client context per distinct CA text (or Node's roots when none is given): building one
 * parses every CA certificate, which costs more than the handshake itself when done per
 * connection. A context holds the trust store OpenSSL verifies against, so the verdict
 * (authorizationError) is the one a fresh context with the same CA text gives; Node's client
 * contexts keep no session cache of their own, so nothing is resumed across probes.
 */
const contexts = new Lru<string, tls.SecureContext>(32);

export function secureContext(ca?: string): tls.SecureContext {
  const key = ca === undefined ? '' : createHash('sha256').update(ca).digest('base64');
  return contexts.getOrSet(key, () =>
    // OpenSSL 3.x (Node 24 ships 3.5) refuses TLS 1.0/1.1 and the SHA-1 handshake signatures
    // they need unless the security level is 0: without these two a legacy server would be a
    // bare tls_handshake_failed instead of tls_version_too_low (plus cert_weak_key/_signature).
    // Seeing it is not accepting it: the verdict judges the version and the certificate.
    tls.createSecureContext({ ...(ca ? { ca } : {}), minVersion: 'TLSv1', ciphers: 'DEFAULT:@SECLEVEL=0' }),
  );
}

/** What checkServerIdentity is handed (and ignores) on our sockets: see startTls. */
const unusedPeerCertificate = (): tls.PeerCertificate => ({}) as tls.PeerCertificate;

interface Pending {
  resolve(): void;
  reject(e: ProbeFailure): void;
}

export class SmtpConnection {
  phase: Phase = 'connect';
  private plain: net.Socket | null = null;
  private secure: tls.TLSSocket | null = null;
  private parser = new ReplyParser();
  private pending: Pending | null = null;
  private failure: ProbeFailure | null = null;
  private stopWaiting: () => void = () => undefined;
  private localAddress: string | undefined;
  /** TLS from the first byte: a plaintext answer then means the port wants STARTTLS. */
  private implicitTls = false;
  private readonly onAbort = () =>
    this.fail(new ProbeFailure(TIMEOUT_CODE[this.phase], `deadline reached ${PHASE_TEXT[this.phase]}`));
  private readonly onData = (chunk: Buffer) => {
    this.parser.push(chunk);
    if (!this.parser.error) return this.settle();
    if (!this.failure) return this.fail(new ProbeFailure('smtp_protocol_error', this.parser.error.message));
    // Garbage after the verdict (while QUIT is on its way): stop reading at once.
    this.secure?.destroy();
    this.plain?.destroy();
  };

  constructor(private readonly signal: AbortSignal) {}

  get tlsSocket(): tls.TLSSocket | null {
    return this.secure;
  }

  async connect(host: string, port: number, localAddress?: string): Promise<void> {
    this.localAddress = localAddress;
    this.phase = 'connect';
    this.stopWaiting = onAbort(this.signal, this.onAbort);
    this.guard();
    let socket: net.Socket;
    try {
      socket = net.connect({ host, port, ...(localAddress ? { localAddress } : {}) });
    } catch (e) {
      const local = this.localFailure(e as Error & { code?: string });
      throw local ?? new ProbeFailure('probe_error', `cannot open a connection: ${(e as Error).message}`);
    }
    this.plain = socket;
    socket.on('error', (e) => this.failure ?? this.fail(this.classify(e)));
    socket.on('close', () => this.failure ?? this.fail(this.closed()));
    socket.on('data', this.onData);
    await this.wait((done) => socket.once('connect', done));
  }

  /** The next reply, in order; a framing error or close rejects. */
  async read(phase: Phase): Promise<Reply> {
    this.phase = phase;
    for (;;) {
      // A reply that arrived wins over what followed it (a 554 and the close right after).
      const reply = this.parser.shift();
      if (reply) return reply;
      this.guard();
      await this.wait(() => undefined);
    }
  }

  /** Send one command line; data the server sent unasked before it is a protocol error. */
  send(line: string): void {
    this.guard();
    if (this.parser.bufferedBytes > 0) {
      this.fail(new ProbeFailure('smtp_protocol_error', `the server sent data nobody asked for before ${line.split(' ')[0]}`));
      this.guard();
    }
    (this.secure ?? this.plain)?.write(`${line}\r\n`);
  }

  /**
   * TLS on the same socket. Returns how many plaintext bytes were buffered and thrown away:
   * nothing received before the handshake may be taken as part of the encrypted session.
   */
  async startTls(options: TlsOptions): Promise<number> {
    const socket = this.plain;
    this.guard();
    if (!socket) throw new ProbeFailure('probe_error', 'startTls before connect');
    // Straight after connect, without a dialogue first: implicit TLS (port 465 style).
    this.implicitTls = this.phase === 'connect';
    this.phase = 'tls';
    socket.removeListener('data', this.onData);
    socket.pause();
    const discarded = this.parser.discard();
    this.parser = new ReplyParser();
    const secure = tls.connect({
      socket,
      ...(options.servername ? { servername: options.servername } : {}),
      secureContext: secureContext(options.ca),
      // We must see and judge whatever is served, so nothing may abort the handshake:
      // verification is ours (cert/), per connection, never process-wide.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    this.secure = secure;
    // Node's client, after a handshake OpenSSL verified, builds the whole peer chain as plain
    // objects (getPeerCertificate(true)) only to hand it to checkServerIdentity, which we do
    // not use: the names are judged in cert/ from the DER. That object tree was 9 % of a busy
    // service's CPU. Nothing else reads it from this socket; the chain is read as X509Certificate.
    Object.defineProperty(secure, 'getPeerCertificate', { value: unusedPeerCertificate });
    secure.on('error', (e) => this.failure ?? this.fail(this.classify(e)));
    secure.on('close', () => this.failure ?? this.fail(this.closed()));
    await this.wait((done) => secure.once('secureConnect', done));
    this.phase = 'secure';
    secure.on('data', this.onData);
    return discarded;
  }

  /**
   * Politely QUIT if the dialogue is intact, then release everything. We do not wait for
   * the 221: the verdict is made. The socket closes when the server answers and closes, or
   * at the deadline at the latest. Idempotent.
   */
  close(): void {
    const top = this.secure ?? this.plain;
    let stopDestroy = (): void => undefined;
    const destroy = () => {
      this.secure?.destroy();
      this.plain?.destroy();
      this.stopWaiting();
      stopDestroy();
    };
    const intact = !this.failure && top && !top.destroyed && this.phase !== 'connect' && this.phase !== 'tls';
    this.failure ??= CLOSED;
    if (!intact || this.signal.aborted) return destroy();
    this.phase = 'quit';
    stopDestroy = onAbort(this.signal, destroy);
    top.once('close', destroy);
    top.end('QUIT\r\n');
  }

  private guard(): void {
    if (this.failure) throw this.failure;
  }

  private wait(arm: (done: () => void) => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.pending = { resolve, reject };
      arm(() => this.settle());
    });
  }

  private settle(): void {
    const p = this.pending;
    this.pending = null;
    p?.resolve();
  }

  private fail(f: ProbeFailure): void {
    if (this.failure) return;
    this.failure = f;
    this.secure?.destroy();
    this.plain?.destroy();
    this.stopWaiting();
    const p = this.pending;
    this.pending = null;
    p?.reject(f);
  }

  private closed(): ProbeFailure {
    if (this.phase === 'tls') {
      return new ProbeFailure('tls_handshake_failed', 'the server closed the connection during the TLS handshake');
    }
    return new ProbeFailure('connection_closed', `the server closed the connection ${PHASE_TEXT[this.phase]}`);
  }

  /** A shortage on this machine (descriptors, memory, local ports), in any phase. */
  private localFailure(e: Error & { code?: string }): ProbeFailure | null {
    const code = e.code ?? '';
    const shortage = localShortage(code);
    if (shortage) {
      return new ProbeFailure('probe_error', `${shortage} (${code}) while ${PHASE_TEXT[this.phase]}: a problem of this machine, not of the server`, code);
    }
    if (code === 'EADDRNOTAVAIL' && !this.localAddress) {
      return new ProbeFailure('probe_error', `no local port or address to connect from (${code}): a problem of this machine, not of the server`, code);
    }
    return null;
  }

  private classify(e: Error & { code?: string }): ProbeFailure {
    const code = e.code ?? '';
    const local = this.localFailure(e);
    if (local) return local;
    if (this.phase === 'connect') {
      if (code === 'ECONNREFUSED') return new ProbeFailure('connect_refused', `connection refused (${code})`);
      if (code === 'EADDRNOTAVAIL' || code === 'EINVAL' || code === 'EADDRINUSE') {
        return new ProbeFailure('probe_error', `cannot connect from the given source address ${this.localAddress}: ${e.message}`, code);
      }
      if (code === 'ECONNRESET') return new ProbeFailure('connection_closed', `connection reset (${code})`);
      return new ProbeFailure('connect_timeout', `no TCP connection: ${e.message}`);
    }
    if (this.phase === 'tls') {
      // OpenSSL's raw text for a record that is not TLS: what a plaintext SMTP reply looks like to it.
      if (/^ERR_SSL_(WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG)$/.test(code) || /wrong version number|packet length too long/.test(e.message)) {
        return new ProbeFailure(
          'tls_handshake_failed',
          this.implicitTls
            ? 'the server answered in plaintext: use STARTTLS (this port speaks SMTP before TLS; implicit TLS expects a TLS handshake from the first byte)'
            : 'the server answered the TLS handshake in plaintext, after agreeing to STARTTLS',
        );
      }
      return new ProbeFailure('tls_handshake_failed', `TLS handshake failed: ${e.message.trim()}`);
    }
    return new ProbeFailure('connection_closed', `connection error ${PHASE_TEXT[this.phase]}: ${e.message}`);
  }
}
