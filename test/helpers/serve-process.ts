/**
 * `smtp-tls-probe serve` as a real process (from dist/), its JSON log lines collected as they
 * come, for the tests that need signals, exit codes and restarts.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export const CLI = new URL('../../dist/cli/main.js', import.meta.url).pathname;

/**
 * @param cwd the working directory: the default storage.path (data/...) is relative to it.
 */
export function serveProcess(args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }) {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], {
    cwd: options.cwd,
    env: { ...process.env, ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += String(d)));
  const lines: Array<Record<string, unknown>> = [];
  createInterface({ input: child.stdout }).on('line', (l) => {
    try {
      lines.push(JSON.parse(l));
    } catch {
      /* not JSON */
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, lines, exited, stderr: () => stderr };
}
