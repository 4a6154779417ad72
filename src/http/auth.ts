/**
 * The bearer token of /probe, and the rate-limit key that depends on it: requests with a bad
 * or missing token count in a bucket of their own, so that someone guessing tokens (or a
 * misconfigured client) from the same address cannot lock a legitimate client out.
 */
import { timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';

export function bearerMatches(authorization: string | undefined, token: string): boolean {
  const given = /^Bearer\s+(.+)$/i.exec(authorization ?? '')?.[1]?.trim() ?? '';
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Per client address; with a token configured, authenticated and not are two buckets. */
export function rateLimitKey(request: FastifyRequest, token: string | null): string {
  if (!token) return request.ip;
  return `${request.ip} ${bearerMatches(request.headers.authorization, token) ? 'authenticated' : 'unauthenticated'}`;
}
