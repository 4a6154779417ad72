/**
 * One HTTPS GET of an MTA-STS policy from one vetted address (RFC 8461 §3.3). TLS is ours so
 * that the certificate is judged before a byte of the request is sent: a host that cannot
 * prove it is `mta-sts.<domain>` gets nothing. Node's HTTP client then speaks over that
 * socket, with bounded headers; the body is counted as it arrives.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import tls from 'node:tls';
import { onAbort } from '../abort.js';
import { dnsIdMatches } from '../cert/identity.js';
import { parseCertificate } from '../cert/parse.js';
import { windowsDn } from '../cert/windows-dn.js';
import { Lru } from '../lru.js';
import type { MtaStsFacts } from './types.js';

/** RFC 8461 §3.3: senders may refuse a policy larger than 64 KiB. */
export const POLICY_MAX_BYTES = 64 * 1024;
/** Headers of a plain policy response fit many times in this; a server sending more is not one. */
export const POLICY_MAX_HEADER_BYTES = 16 * 1024;
export const POLICY_PATH = '/.well-known/mta-sts.txt';

export type PolicyCertificate = NonNullable<NonNullable<MtaStsFacts['fetch']>['certificate']>;

export type Attempt =
  /** No TLS session: the next address may do better. */
  | { kind: 'network'; message: string }
  | { kind: 'timeout'; message: string }
  | { kind: 'certificate'; message: string; certificate?: PolicyCertificate }
  | { kind: 'http'; message: string; certificate: PolicyCertificate; status?: number; contentType?: string; bytes?: number }
  | { kind: 'ok'; certificate: PolicyCertificate; status: 200; contentType?: string; body: Buffer };

export interface AttemptOptions {
  address: string;
  port: number;
  /** `mta-sts.<domain>`: SNI, Host header and the name the certificate must carry. */
  host: string;
  ca?: string;
  now: () => Date;
}

/** Building a context parses every CA certificate: one per CA text, WebPKI's TLS 1.2 floor. */
const contexts = new Lru<string, tls.SecureContext>(8);

function contextFor(ca?: string): tls.SecureContext {
  const key = ca === undefined ? '' : createHash('sha256').update(ca).digest('base64');
  return contexts.getOrSet(key, () => tls.createSecureContext({ ...(ca ? { ca } : {}), minVersion: 'TLSv1.2' }));
}

/** The served certificate as a browser judges it for `host`: chain, name (DNS SANs only), dates. */
export function judgePolicyCertificate(socket: tls.TLSSocket, host: string, now: Date): { certificate?: PolicyCertificate; problem: string | null } {
  const peer = socket.getPeerCertificate();
  if (!peer?.raw) return { problem: `${host} sent no certificate` };
  const c = parseCertificate(peer.raw);
  const authorizationError = socket.authorizationError ? String(socket.authorizationError) : null;
  const notAfter = new Date(c.node.validTo);
  const notBefore = new Date(c.node.validFrom);
  const certificate = { subject: windowsDn(c.subjectRdns), issuer: windowsDn(c.issuerRdns), notAfter: notAfter.toISOString(), dnsNames: c.dnsNames, authorizationError };
  // Node's check also reads the CN and partial wildcards; browsers want a DNS SAN that covers the name.
  const nameOk = tls.checkServerIdentity(host, peer) === undefined && c.dnsNames.some((n) => dnsIdMatches(n, host));
  // A shared certificate may carry hundreds of names: enough of them to see whose it is.
  const shown = c.dnsNames.slice(0, 5).join(', ');
  const names = c.dnsNames.length === 0 ? 'no DNS name' : c.dnsNames.length > 5 ? `${shown} and ${c.dnsNames.length - 5} more names` : shown;
  let problem: string | null = null;
  // Node reports a name mismatch here too once the chain verified (we pass servername).
  const chainError = authorizationError === 'ERR_TLS_CERT_ALTNAME_INVALID' ? null : authorizationError;
  if (chainError) problem = `the certificate of ${host} is not trusted (${chainError}), issuer ${certificate.issuer}`;
  else if (!nameOk) problem = `the certificate of ${host} is for ${names}, not ${host}`;
  else if (now > notAfter) problem = `the certificate of ${host} expired on ${certificate.notAfter}`;
  else if (now < notBefore) problem = `the certificate of ${host} is valid only from ${notBefore.toISOString()}`;
  return { certificate, problem };
}

const show = (v: string) => JSON.stringify(v.length > 200 ? `${v.slice(0, 200)}…` : v);

export function fetchFromAddress(o: AttemptOptions, signal: AbortSignal): Promise<Attempt> {
  return new Promise<Attempt>((resolve) => {
    let done = false;
    let socket: tls.TLSSocket | null = null;
    let stopWaiting: () => void = () => undefined;
    const finish = (a: Attempt) => {
      if (done) return;
      done = true;
      stopWaiting();
      socket?.destroy();
      resolve(a);
    };
    stopWaiting = onAbort(signal, () => finish({ kind: 'timeout', message: `the deadline was reached fetching https://${o.host}${POLICY_PATH} from ${o.address}` }));
    if (done) return;
    let certificate: PolicyCertificate | undefined;
    socket = tls.connect({ host: o.address, port: o.port, servername: o.host, secureContext: contextFor(o.ca), rejectUnauthorized: false, ALPNProtocols: ['http/1.1'] });
    // Once TLS is up, the HTTP client reports socket errors on the request.
    socket.on('error', (e: Error) => {
      if (!certificate) finish({ kind: 'network', message: `${o.address}: no TLS session: ${e.message}` });
    });
    socket.on('close', () => {
      if (!certificate) finish({ kind: 'network', message: `${o.address}: the connection closed before the TLS handshake completed` });
    });
    socket.once('secureConnect', () => {
      let judged: ReturnType<typeof judgePolicyCertificate>;
      try {
        judged = judgePolicyCertificate(socket!, o.host, o.now());
      } catch (e) {
        // OpenSSL took it, our decoder did not: the remote side must not crash the process.
        return finish({ kind: 'certificate', message: `the certificate of ${o.host} could not be decoded: ${(e as Error).message}` });
      }
      if (judged.problem || !judged.certificate) return finish({ kind: 'certificate', message: judged.problem ?? 'no certificate', certificate: judged.certificate });
      certificate = judged.certificate;
      request(socket!, o, certificate, finish);
    });
  });
}

function request(socket: tls.TLSSocket, o: AttemptOptions, certificate: PolicyCertificate, finish: (a: Attempt) => void): void {
  const fail = (message: string, extra: { status?: number; contentType?: string; bytes?: number } = {}) =>
    finish({ kind: 'http', message, certificate, ...extra });
  // No conditional or cache headers: RFC 8461 §3.3 forbids HTTP caching of the policy.
  const req = http.request({
    createConnection: () => socket,
    method: 'GET',
    path: POLICY_PATH,
    headers: { Host: o.host, 'User-Agent': 'smtp-tls-probe', Accept: 'text/plain', Connection: 'close' },
    maxHeaderSize: POLICY_MAX_HEADER_BYTES,
  });
  req.on('error', (e: Error & { code?: string }) => {
    const why = e.code === 'HPE_HEADER_OVERFLOW' ? `response headers larger than ${POLICY_MAX_HEADER_BYTES} bytes` : e.message;
    fail(`${o.address}: ${why}`);
  });
  req.on('response', (res) => {
    const status = res.statusCode ?? 0;
    const contentType = typeof res.headers['content-type'] === 'string' ? res.headers['content-type'] : undefined;
    const meta = { status, ...(contentType !== undefined ? { contentType } : {}) };
    res.on('error', () => undefined);
    if (status >= 300 && status < 400) {
      const location = res.headers.location;
      return fail(`answered ${status} redirecting to ${location ? show(location) : '(no Location)'}; senders never follow a redirect for a policy`, meta);
    }
    if (status !== 200) return fail(`answered HTTP ${status} ${show(res.statusMessage ?? '')}; only 200 delivers a policy`, meta);
    const declared = Number(res.headers['content-length']);
    if (declared > POLICY_MAX_BYTES) return fail(`declares a body of ${declared} bytes; a policy is at most ${POLICY_MAX_BYTES}`, { ...meta, bytes: declared });
    const chunks: Buffer[] = [];
    let bytes = 0;
    res.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > POLICY_MAX_BYTES) return fail(`sent more than ${POLICY_MAX_BYTES} bytes of body; a policy is at most that`, { ...meta, bytes });
      chunks.push(chunk);
    });
    res.on('end', () => {
      if (!res.complete) return;
      finish({ kind: 'ok', certificate, status: 200, ...(contentType !== undefined ? { contentType } : {}), body: Buffer.concat(chunks) });
    });
    res.on('close', () => {
      if (!res.complete) fail(`${o.address}: the connection closed during the body (${bytes} bytes)`, { ...meta, bytes });
    });
  });
  req.end();
}
