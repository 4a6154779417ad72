/**
 * The request as the log shows it. Clients put credentials in query strings whatever the
 * documentation says (`?token=`, `?access_token=`, `?password=`), and logs travel further
 * than the service: their values are replaced before the URL is written.
 */
import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

const SECRET_PARAMETERS = new Set(['token', 'access_token', 'password']);
export const REDACTED = '[redacted]';

function decodedName(raw: string): string {
  try {
    return decodeURIComponent(raw.replace(/\+/g, ' ')).toLowerCase();
  } catch {
    return raw.toLowerCase();
  }
}

/**
 * The URL with the values of secret parameters replaced. The rest is kept byte for byte (it
 * is what the client sent); names are compared decoded, so `%74oken=` is caught too.
 */
export function redactUrl(url: string): string {
  const q = url.indexOf('?');
  if (q === -1) return url;
  const query = url
    .slice(q + 1)
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const name = eq === -1 ? pair : pair.slice(0, eq);
      return SECRET_PARAMETERS.has(decodedName(name)) ? `${name}=${REDACTED}` : pair;
    })
    .join('&');
  return `${url.slice(0, q)}?${query}`;
}

/** Fastify's request serializer with the URL redacted. */
export function serializeRequest(request: FastifyRequest): Record<string, unknown> {
  return {
    method: request.method,
    url: redactUrl(request.url),
    host: request.host,
    remoteAddress: request.ip,
    remotePort: request.socket?.remotePort,
  };
}

/** Scraped every few seconds: their successful requests are logged at debug, not info. */
const QUIET_PATHS = new Set(['/metrics', '/healthz']);

function isQuiet(request: FastifyRequest): boolean {
  return (request.method === 'GET' || request.method === 'HEAD') && QUIET_PATHS.has(request.url.split('?')[0]!);
}

/**
 * Fastify's request lines, with those of a successful /metrics or /healthz request at debug: a
 * 15 s scrape would otherwise write two info lines each time. A failure is logged as before.
 */
export class QuietScrapeLogs extends LogController {
  override incomingRequest(request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (isQuiet(request)) request.log.debug({ req: request }, 'incoming request');
    else super.incomingRequest(request, reply, metadata);
  }

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply, metadata?: Record<string, unknown>): void {
    if (!error && reply.statusCode < 400 && isQuiet(request)) reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
    else super.requestCompleted(error, request, reply, metadata);
  }
}
