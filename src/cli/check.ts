/**
 * `smtp-tls-probe check`: one probe, a report or the JSON result, a Nagios exit code.
 * Imports the probe engine only, so a one-shot check starts fast.
 */
import { probeTarget } from '../probe/probe-target.js';
import { CHECK_USAGE, parseCheckArgs, UsageError } from './check-args.js';
import { EXIT_CODES, humanReport } from './report.js';

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Columns of the terminal stdout writes to; undefined when it is piped or redirected. */
  columns?: number | undefined;
}

export async function runCheck(argv: string[], io: Io, resolver?: Parameters<typeof probeTarget>[1]['resolver']): Promise<number> {
  let options;
  try {
    options = parseCheckArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      io.stderr(`smtp-tls-probe check: ${e.message}\n`);
      return EXIT_CODES.unknown;
    }
    throw e;
  }
  if (!options) {
    io.stdout(CHECK_USAGE);
    return EXIT_CODES.ok;
  }
  const result = await probeTarget(options.target, { timeoutMs: options.timeoutMs, ...(resolver ? { resolver } : {}) });
  io.stdout(options.json ? `${JSON.stringify(result, null, 2)}\n` : humanReport(result, io.columns));
  return EXIT_CODES[result.status];
}
