/** The service's logger: pino, JSON lines on stdout, secrets redacted. */
import pino, { type Logger } from 'pino';

export function createLogger(level: string, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      redact: {
        paths: ['req.headers.authorization', 'headers.authorization', '*.token', 'token', 'onDemand.token'],
        censor: '[redacted]',
      },
    },
    destination ?? stdout(),
  );
}

/**
 * Standard output, written without blocking: pino's default writes synchronously and, when
 * the reader of a pipe falls behind (a log shipper, a container runtime), sleeps 100 ms per
 * retry on the event loop, which stalls every request and probe. Buffered instead, up to a
 * bound past which lines are dropped rather than memory grown; flushed at exit.
 */
function stdout(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, maxLength: 16 * 1024 * 1024 });
}
