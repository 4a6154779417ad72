/**
 * API errors: a stable `code` for programs, a message for people, whatever produced the error:
 * a route, Fastify (unknown route, body, URL), or Node's HTTP parser before Fastify sees the
 * request (headers too large). Below 500 the message goes to the client, above it a generic
 * text (the full error is in the log).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { SECURITY_HEADERS } from './security-headers.js';

export class ApiError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface ErrorBody {
  code: string;
  message: string;
  [key: string]: unknown;
}

/** Fastify's own error codes, as the stable codes of this API. */
const FASTIFY_CODES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'body_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_JSON_BODY: 'malformed_body',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'malformed_body',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'bad_request',
  FST_ERR_BAD_URL: 'bad_url',
  FST_ERR_MAX_PARAM_LENGTH: 'uri_too_long',
};

/** 413 → `payload_too_large`: for a client error without a code of ours. */
function codeOfStatus(status: number): string {
  return (STATUS_CODES[status] ?? 'error').toLowerCase().replace(/[^a-z]+/g, '_');
}

function clientCode(error: FastifyError, status: number): string {
  if (error.code && FASTIFY_CODES[error.code]) return FASTIFY_CODES[error.code]!;
  // Codes already in our style (the rate limiter's `rate_limited`) pass as they are.
  if (error.code && /^[a-z][a-z0-9_]*$/.test(error.code)) return error.code;
  return codeOfStatus(status);
}

/** `/port` + `must be <= 65535` → parameter `port`. */
function validationBody(error: FastifyError): ErrorBody {
  const first = error.validation?.[0];
  const params = (first?.params ?? {}) as { additionalProperty?: string; missingProperty?: string; allowedValues?: unknown[] };
  const parameter =
    params.additionalProperty ?? params.missingProperty ?? first?.instancePath.replace(/^\//, '').split('/')[0] ?? '';
  let message = first?.message ?? error.message;
  if (params.additionalProperty) message = 'unknown parameter';
  if (params.missingProperty) message = 'is required';
  if (params.allowedValues) message = `must be one of ${params.allowedValues.join(', ')}`;
  return { code: 'bad_parameter', parameter, message: parameter ? `${parameter}: ${message}` : message };
}

/** Errors Fastify meets while routing (a URL it cannot decode, a path parameter too long): same shape as the rest. */
export function frameworkErrors(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const status = error.statusCode ?? 400;
  void reply
    .headers(SECURITY_HEADERS)
    .code(status)
    .send({ code: clientCode(error, status), message: error.message });
}

/**
 * Node's parser refuses a request before Fastify has one (headers past maxHeaderSize, a
 * request that is not HTTP, a timeout): the answer is written on the socket itself. The
 * error is logged by its code only: it carries the raw bytes, query string included.
 */
export function clientErrorHandler(this: FastifyInstance, error: Error & { code?: string }, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'headers_too_large', 'the request headers are too large']
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'request_timeout', 'the request did not arrive in time']
        : [400, 'bad_request', 'malformed HTTP request'];
  this.log.debug({ code: error.code, status }, 'client error');
  const body = JSON.stringify({ code, message });
  const headers = Object.entries({
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(Buffer.byteLength(body)),
    connection: 'close',
  }).map(([name, value]) => `${name}: ${value}\r\n`);
  if (socket.writable) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\n${headers.join('')}\r\n${body}`);
  socket.destroy();
}

/** `/results/:name` → a matcher of the paths it serves. */
function pathMatcher(url: string): RegExp {
  const source = url
    .split('/')
    .map((part) => (part.startsWith(':') ? '[^/]+' : part === '*' ? '.*' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${source}$`);
}

export function registerErrorHandling(app: FastifyInstance): void {
  // The methods each path answers, for 405 and its Allow header.
  const routes: Array<{ path: RegExp; methods: string[] }> = [];
  app.addHook('onRoute', (route: RouteOptions) => {
    // A route that exists only to answer 405 (HEAD /probe) is not a method the path allows.
    if ((route.config as { refusesMethod?: boolean } | undefined)?.refusesMethod) return;
    const methods = [route.method].flat();
    const known = routes.find((r) => r.path.source === pathMatcher(route.url).source);
    if (known) known.methods.push(...methods);
    else routes.push({ path: pathMatcher(route.url), methods: [...methods] });
  });

  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      return reply.code(error.statusCode).send({ code: error.code, message: error.message, ...error.extra });
    }
    if (error.validation) return reply.code(400).send(validationBody(error));
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode <= 599 ? error.statusCode : 500;
    if (status < 500) {
      return reply.code(status).send({ code: clientCode(error, status), message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ code: 'internal_error', message: 'internal error; see the service log' });
  });

  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]!;
    const allowed = routes.find((r) => r.path.test(path))?.methods;
    if (allowed) {
      return reply
        .code(405)
        .header('allow', [...new Set(allowed)].join(', '))
        .send({ code: 'method_not_allowed', message: `${request.method} ${path}: allowed ${[...new Set(allowed)].join(', ')}` });
    }
    return reply.code(404).send({ code: 'not_found', message: `no route ${request.method} ${path}` });
  });
}
