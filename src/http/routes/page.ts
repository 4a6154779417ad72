/**
 * GET / and its assets (a stylesheet, three script modules): the status page. Static files from the package's page/ folder
 * (beside dist/ and src/, so the same relative path works from both), read once when the app
 * is built. The page renders from the JSON API with relative URLs, so it works behind a
 * reverse proxy under a path prefix.
 */
import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

/** No inline script or style and nothing from another origin: remote text can never become code. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; " +
  "base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const PAGE_DIR = new URL('../../../page/', import.meta.url);

const ASSETS = [
  { url: '/', file: 'index.html', type: 'text/html; charset=utf-8' },
  { url: '/page.css', file: 'page.css', type: 'text/css; charset=utf-8' },
  { url: '/page.js', file: 'page.js', type: 'text/javascript; charset=utf-8' },
  { url: '/dom.js', file: 'dom.js', type: 'text/javascript; charset=utf-8' },
  { url: '/render.js', file: 'render.js', type: 'text/javascript; charset=utf-8' },
] as const;

export function pageRoutes(app: FastifyInstance, dir: URL = PAGE_DIR): void {
  for (const asset of ASSETS) {
    const body = readFileSync(new URL(asset.file, dir));
    app.get(asset.url, { schema: { hide: true } }, async (_request, reply) =>
      reply
        .type(asset.type)
        .header('content-security-policy', PAGE_CSP)
        // Revalidate rather than never store: the files change only with a new version.
        .header('cache-control', 'no-cache')
        .send(body),
    );
  }
}
