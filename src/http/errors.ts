/**
 * API errors: a stable `code` for programs, a message for people. One handler turns every
 * error into that shape; below 500 the message goes to the client, above it a generic text
 * (the full error is in the log).
 */
import type { FastifyError, FastifyInstance } from 'fastify';

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

export function registerErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((error: FastifyError | ApiError, request, reply) => {
    if (error instanceof ApiError) {
      return reply.code(error.statusCode).send({ code: error.code, message: error.message, ...error.extra });
    }
    if (error.validation) return reply.code(400).send(validationBody(error));
    const status = error.statusCode ?? 500;
    if (status < 500) {
      return reply.code(status).send({ code: error.code?.toLowerCase() ?? 'bad_request', message: error.message });
    }
    request.log.error({ err: error }, 'request failed');
    return reply.code(500).send({ code: 'internal_error', message: 'internal error; see the service log' });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send({ code: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}` }),
  );
}
