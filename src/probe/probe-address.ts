/**
 * One address of a target, end to end: connect, greeting, EHLO, STARTTLS, TLS handshake,
 * certificate verdict, EHLO over TLS, QUIT. Returns a result for anything the peer does; never throws.
 */
import type { X509Certificate } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { TLSSocket } from 'node:tls';
import { judgeCertificate } from './cert/judge.js';
import { daneFacts, daneWithoutTls } from './dane/match.js';
import type { OpenSslVerdict } from './cert/openssl-verdict.js';
import { parseCertificate, type ParsedCert } from './cert/parse.js';
import { trustStore } from './cert/trust-store.js';
import { exchangeOnlineHint, reason, statusOf } from './reasons.js';
import { remediation } from './remediation.js';
import { ProbeFailure, SmtpConnection, type Phase } from './smtp/connection.js';
import { readEhlo, type EhloFacts } from './smtp/ehlo.js';
import { describeReply, type Reply } from './smtp/reply-parser.js';
import type { AddressResult, ProbeTarget, Reason, SmtpFacts, Timings, TlsFacts } from './types.js';

const TLS_ORDER = ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'];
const MAX_CHAIN = 10;
const MAX_TEXT = 512;

/**
 * Certificates as the server sent them, leaf first (Node's walk does not add local roots).
 * Read as X509Certificate: our TLS sockets answer getPeerCertificate() with an empty object
 * (see SmtpConnection.startTls).
 */
function servedChain(socket: TLSSocket): X509Certificate[] {
  const chain: X509Certificate[] = [];
  let cert: X509Certificate | undefined = socket.getPeerX509Certificate();
  const seen = new Set<string>();
  while (cert && chain.length < MAX_CHAIN && !seen.has(cert.fingerprint256)) {
    seen.add(cert.fingerprint256);
    chain.push(cert);
    cert = cert.issuerCertificate;
  }
  return chain;
}

function tlsFacts(socket: TLSSocket, servername: string | null): TlsFacts {
  const cipher = socket.getCipher();
  return {
    protocol: socket.getProtocol(),
    cipher: cipher ? (cipher.standardName ?? cipher.name) : null,
    servername,
    authorizationError: socket.authorizationError ? String(socket.authorizationError) : null,
  };
}

/**
 * OpenSSL's verdict on the path. Node names only some X.509 errors (others are UNSPECIFIED);
 * its handle still has OpenSSL's text for them, which we read where it is available.
 */
function opensslVerdict(socket: TLSSocket): OpenSslVerdict | null {
  const code = socket.authorizationError;
  if (!code) return null;
  let text: string | undefined;
  try {
    const handle = (socket as unknown as { _handle?: { verifyError?: () => Error | null } })._handle;
    text = handle?.verifyError?.()?.message;
  } catch {
    text = undefined;
  }
  return { code: String(code), ...(text ? { text } : {}) };
}

export async function probeAddress(
  target: ProbeTarget,
  address: string,
  signal: AbortSignal,
  now: () => Date = () => new Date(),
): Promise<AddressResult> {
  const start = performance.now();
  const timings: Timings = { totalMs: 0 };
  let mark = start;
  const lap = (key: Exclude<keyof Timings, 'totalMs'>) => {
    const t = performance.now();
    timings[key] = Math.round((t - mark) * 10) / 10;
    mark = t;
  };
  const smtp: SmtpFacts = { extensions: [] };
  const result: AddressResult = {
    address,
    status: 'ok',
    reasons: [],
    timings,
    smtp,
    tls: null,
    certificate: null,
    chain: [],
    names: [],
    exchangeOnline: null,
    remediation: [],
  };
  const conn = new SmtpConnection(signal);
  /** How many reasons the dialogue up to the certificate verdict gave (-1: never got there). */
  let judged = -1;
  const expectReply = async (phase: Phase, ok: number, failCode: Reason['code'], what: string): Promise<Reply> => {
    const reply = await conn.read(phase);
    if (reply.code !== ok) throw new ProbeFailure(failCode, `${what} answered ${describeReply(reply)}`);
    return reply;
  };
  const ehlo = async (phase: 'ehlo' | 'tlsEhlo', what: string): Promise<EhloFacts> => {
    conn.send(`EHLO ${target.ehloName}`);
    return readEhlo(await expectReply(phase, 250, 'ehlo_rejected', what));
  };
  const dialogue = async (): Promise<EhloFacts> => {
    const greeting = await expectReply('greeting', 220, 'greeting_rejected', 'the greeting');
    smtp.greeting = describeReply(greeting, MAX_TEXT);
    lap('greetingMs');
    const facts = await ehlo('ehlo', 'EHLO');
    smtp.ehloHost = facts.host;
    smtp.extensions = facts.extensions;
    lap('ehloMs');
    return facts;
  };
  try {
    await conn.connect(address, target.port, target.source);
    lap('connectMs');
    if (!target.implicitTls) {
      if (!(await dialogue()).starttls) {
        throw new ProbeFailure('starttls_not_offered', `the EHLO reply of ${smtp.ehloHost || address} does not offer STARTTLS`);
      }
      conn.send('STARTTLS');
      await expectReply('starttls', 220, 'starttls_rejected', 'STARTTLS');
      lap('starttlsMs');
    }
    const discarded = await conn.startTls({ servername: target.sni, ...(target.ca ? { ca: target.ca } : {}) });
    if (discarded > 0) smtp.discardedBytes = discarded;
    lap('tlsMs');
    const socket = conn.tlsSocket!;
    result.tls = tlsFacts(socket, target.sni);
    // Read once: Node hands out the peer's chain only on the first call.
    const sent = servedChain(socket);
    judgeTls(result, socket, sent, target, now());
    if (target.tlsa) result.dane = daneFacts(target.tlsa, sent, tlsaBase(target), now(), { names: [target.host] });
    judged = result.reasons.length;
    // What follows the handshake is judged alongside the certificate verdict, already made.
    // Over implicit TLS the greeting and EHLO come now; after STARTTLS the session starts
    // over (RFC 3207 §4.2) and a sender must EHLO again before it can send: a server that
    // fails here takes no mail, whatever its certificate.
    if (target.implicitTls) await dialogue();
    else {
      mark = performance.now();
      const again = await ehlo('tlsEhlo', 'EHLO after the TLS handshake');
      smtp.tlsEhloHost = again.host;
      smtp.tlsExtensions = again.extensions;
      lap('tlsEhloMs');
    }
  } catch (e) {
    result.reasons.push(
      e instanceof ProbeFailure ? reason(e.code, e.message, e.local) : reason('probe_error', `internal error: ${String(e)}`),
    );
  } finally {
    conn.close();
  }
  if (target.tlsa && !result.dane) {
    result.dane = daneWithoutTls(target.tlsa, tlsaBase(target), result.reasons.at(-1)?.message ?? 'no TLS session');
  }
  timings.totalMs = Math.round((performance.now() - start) * 10) / 10;
  result.status = statusOf(result.reasons);
  // A sender checks the certificate right after the handshake and stops there if it fails:
  // what goes wrong after it is what Exchange Online reports only when the certificate passed.
  const beforeAfterTls = judged >= 0 ? exchangeOnlineHint(result.reasons.slice(0, judged)) : null;
  result.exchangeOnline = beforeAfterTls ?? exchangeOnlineHint(result.reasons);
  result.remediation = remediation(result.reasons, result.certificate, result.names);
  return result;
}

/** The TLSA base domain: the caller sends it as SNI (RFC 7672 §3.2.2); the host when no SNI is set. */
function tlsaBase(target: ProbeTarget): string {
  return target.sni ?? target.host.replace(/\.$/, '');
}

function judgeTls(result: AddressResult, socket: TLSSocket, sent: readonly X509Certificate[], target: ProbeTarget, now: Date): void {
  const protocol = result.tls?.protocol ?? '';
  if (TLS_ORDER.indexOf(protocol) < TLS_ORDER.indexOf(target.minTlsVersion)) {
    result.reasons.push(reason('tls_version_too_low', `negotiated ${protocol}, below the minimum ${target.minTlsVersion}`));
  }
  let served: ParsedCert[];
  try {
    served = sent.map((c) => parseCertificate(c.raw));
  } catch (e) {
    result.reasons.push(reason('probe_error', `cannot decode the served certificate: ${(e as Error).message}`));
    return;
  }
  if (served.length === 0) {
    result.reasons.push(reason('tls_handshake_failed', 'the server sent no certificate'));
    return;
  }
  // The same trust store the handshake was given (target.ca, or Node's roots), so that our
  // analysis and OpenSSL's verdict judge the path against the same anchors.
  const verdict = judgeCertificate(served, trustStore(target.ca), target, now, opensslVerdict(socket));
  result.reasons.push(...verdict.reasons);
  result.certificate = verdict.certificate;
  result.chain = verdict.chain;
  result.names = verdict.names;
}
