/**
 * The request as the log shows it. Clients put credentials in query strings whatever the
 * documentation says (`?token=`, `?access_token=`, `?password=`), and logs travel further
 * than the service: their values are replaced before the URL is written.
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';

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

/** For Fastify's disableRequestLogging: the requests logQuietRoutes logs instead. */
export function isQuietRequest(request: { method?: string; url?: string }): boolean {
  return (request.method === 'GET' || request.method === 'HEAD') && QUIET_PATHS.has((request.url ?? '').split('?')[0]!);
}

/**
 * Fastify's two request lines for the quiet routes, at debug while they succeed; a failure
 * (4xx, 5xx) is completed at info, as every other request is.
 */
export function logQuietRoutes(app: FastifyInstance): void {
  app.addHook('onRequest', async (request) => {
    if (isQuietRequest(request)) request.log.debug({ req: request }, 'incoming request');
  });
  app.addHook('onResponse', async (request, reply) => {
    if (!isQuietRequest(request)) return;
    const entry = { res: reply, responseTime: reply.elapsedTime };
    if (reply.statusCode < 400) reply.log.debug(entry, 'request completed');
    else reply.log.info(entry, 'request completed');
  });
}
