/** Wall time of a one-shot `check` (process start to exit) against a loopback server. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fmt, median, serverProcess, servedCert } from './servers.js';

const run = (args: string[]) => promisify(execFile)(process.execPath, args).catch(() => undefined);

export async function cliBench(runs: number): Promise<string[]> {
  const served = await servedCert('rsa');
  const server = await serverProcess(served);
  const bin = new URL('../dist/cli/main.js', import.meta.url).pathname;
  const times: Record<string, number[]> = { node: [], version: [], check: [] };
  // The first run fills Node's compile cache; it is not counted.
  await run([bin, 'check', 'mail.example.com', '--address', '127.0.0.1', '--port', String(server.ports[0]), '--timeout', '5']);
  for (let i = 0; i < runs; i++) {
    for (const [key, args] of [
      ['node', ['-e', '0']],
      ['version', [bin, '--version']],
      // Exit 2 (the bench CA is not trusted by default): the timing is what counts.
      ['check', [bin, 'check', 'mail.example.com', '--address', '127.0.0.1', '--port', String(server.ports[0]), '--timeout', '5']],
    ] as const) {
      const t0 = performance.now();
      await run([...args]);
      times[key]!.push(performance.now() - t0);
    }
  }
  await server.close();
  const out = [
    `check wall time median ${fmt(median(times.check!), 0)} ms (min ${fmt(Math.min(...times.check!), 0)}); ` +
      `--version ${fmt(median(times.version!), 0)} ms; bare 'node -e 0' ${fmt(median(times.node!), 0)} ms (${runs} runs)`,
  ];
  console.log(out[0]);
  return out;
}
