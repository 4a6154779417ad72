/** `smtp-tls-probe serve`: placeholder until the service lands (issue 3). */
import type { Io } from './check.js';

export async function runServe(_argv: string[], io: Io): Promise<number> {
  io.stderr('smtp-tls-probe serve: the service is not built yet\n');
  return 3;
}
