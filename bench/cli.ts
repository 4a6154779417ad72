/**
 * Wall time of a one-shot `check` (process start to exit) against a loopback server, in runs
 * alternating with a bare `node -e 0` (and, with BENCH_CLI_COMPARE=path/to/other/main.js, with
 * another build's check, e.g. the code before a change), so that both see the same load.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fmt, median, serverProcess, servedCert } from './servers.js';

const run = (args: string[]) => promisify(execFile)(process.execPath, args).catch(() => undefined);

export async function cliBench(runs: number): Promise<string[]> {
  const served = await servedCert('rsa');
  const server = await serverProcess(served);
  const bin = new URL('../dist/cli/main.js', import.meta.url).pathname;
  const times: Record<string, number[]> = { node: [], version: [], check: [], compare: [] };
  const check = (main: string) => [main, 'check', 'mail.example.com', '--address', '127.0.0.1', '--port', String(server.ports[0]), '--timeout', '5'];
  const other = process.env.BENCH_CLI_COMPARE;
  // The first run fills Node's compile cache; it is not counted.
  await run(check(bin));
  if (other) await run(check(other));
  for (let i = 0; i < runs; i++) {
    for (const [key, args] of [
      ['node', ['-e', '0']],
      ['version', [bin, '--version']],
      // Exit 2 (the bench CA is not trusted by default): the timing is what counts.
      ['check', check(bin)],
      ...(other ? [['compare', check(other)] as const] : []),
    ] as const) {
      const t0 = performance.now();
      await run([...args]);
      times[key]!.push(performance.now() - t0);
    }
  }
  await server.close();
  const extra = process.env.NODE_EXTRA_CA_CERTS ? `; NODE_EXTRA_CA_CERTS=${process.env.NODE_EXTRA_CA_CERTS}` : '';
  const out = [
    `check wall time median ${fmt(median(times.check!), 0)} ms (min ${fmt(Math.min(...times.check!), 0)}); ` +
      (other ? `${other}: median ${fmt(median(times.compare!), 0)} ms (min ${fmt(Math.min(...times.compare!), 0)}); ` : '') +
      `--version ${fmt(median(times.version!), 0)} ms; bare 'node -e 0' ${fmt(median(times.node!), 0)} ms (${runs} runs${extra})`,
  ];
  console.log(out[0]);
  return out;
}
