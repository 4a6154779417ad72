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
    destination,
  );
}
