/**
 * GET /metrics: the scrape written as the buffers it is (30 MB at 10,000 targets, mostly the
 * kept per-family buffers), all at once: Node hands them to the kernel in one writev as the
 * client reads, with no copy and no turn of a busy event loop per piece (a Readable piped to
 * the response waits for a 'drain' per chunk; one joined buffer cost a 30 MB copy per scrape).
 * The buffers stay held, never written over, until the response is done or the client gone.
 */
import type { FastifyInstance } from 'fastify';
import type { Scrape } from '../../metrics/result-cache.js';

export interface MetricsView {
  contentType: string;
  /** The scheduled results and service metrics: UTF-8 text in parts, release() once sent. */
  scrape(): Promise<Scrape>;
}

/** A client that stops reading holds its scrape's buffers: it is cut off after this long. */
export const SCRAPE_SEND_TIMEOUT_MS = 60_000;

export function metricsRoute(app: FastifyInstance, metrics: MetricsView): void {
  app.get(
    '/metrics',
    { schema: { summary: 'Prometheus metrics of the scheduled results, the service and the process' } },
    async (request, reply) => {
      const scrape = await metrics.scrape();
      const res = reply.raw;
      const socket = request.raw.socket as (typeof request.raw.socket & { destroyed?: boolean }) | undefined;
      reply.hijack();
      // Gone while the scrape was made: nothing to send, nothing to hold.
      if (res.destroyed || socket?.destroyed === true) {
        scrape.release();
        res.destroy();
        return;
      }
      // The response's 'close', or the connection's for a response still queued behind another
      // on a keep-alive connection (it never gets one of its own when the client goes first).
      const done = () => {
        scrape.release();
        socket?.removeListener('close', done);
      };
      res.once('close', done);
      socket?.once('close', done);
      res.setTimeout(SCRAPE_SEND_TIMEOUT_MS, () => res.destroy());
      // What the hooks set (the security headers): Fastify's own sending is skipped.
      const headers: Record<string, string | number | string[]> = {};
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) headers[name] = value;
      res.writeHead(200, { ...headers, 'content-type': metrics.contentType, 'content-length': scrape.length });
      res.cork();
      for (const part of scrape.parts) res.write(part);
      res.uncork();
      res.end();
    },
  );
}
