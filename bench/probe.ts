/**
 * Figures, not tests: how fast a one-shot `check` starts and finishes, and how many probes
 * a second the engine completes against loopback servers. Run: npm run bench
 * Loopback only; bounded in count and time.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { performance } from 'node:perf_hooks';
import { makeTarget, probeTarget } from '../src/probe/index.js';
import { pki } from '../src/demo/pki.js';
import { fakeSmtp } from '../src/demo/smtp-endpoint.js';

// Async: the fake server lives in this process and must keep answering while check runs.
const run = (args: string[]) => promisify(execFile)(process.execPath, args).catch(() => undefined);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main() {
  const ca = await pki('Bench', { type: 'rsa' });
  const leaf = await ca.leaf({ subject: 'CN=mail.example.com', dns: ['mail.example.com'], key: { type: 'rsa' } });
  const server = await fakeSmtp({ tls: { key: leaf.keyPem, cert: leaf.certPem + ca.intermediate.certPem } });
  const bin = new URL('../dist/cli/main.js', import.meta.url).pathname;

  const runs = 10;
  const version: number[] = [];
  const check: number[] = [];
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now();
    await run([bin, '--version']);
    version.push(performance.now() - t0);
    t0 = performance.now();
    // Exit 2 (the bench CA is not trusted by default): the timing is what counts.
    await run([bin, 'check', 'mail.example.com', '--address', '127.0.0.1', '--port', String(server.port), '--timeout', '5']);
    check.push(performance.now() - t0);
  }
  console.log(`node dist/cli/main.js --version : median ${median(version).toFixed(0)} ms over ${runs} runs`);
  console.log(`check (start, probe, report)    : median ${median(check).toFixed(0)} ms over ${runs} runs`);

  for (const concurrency of [1, 8, 32]) {
    const total = 200;
    const target = makeTarget({ host: 'mail.example.com', addresses: ['127.0.0.1'], port: server.port, ca: ca.root.certPem, ehloName: 'bench' });
    const t0 = performance.now();
    let next = 0;
    const latencies: number[] = [];
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next++ < total) {
          const r = await probeTarget(target, { timeoutMs: 10_000 });
          if (r.status !== 'ok') throw new Error(`unexpected ${r.status}`);
          latencies.push(r.durationMs);
        }
      }),
    );
    const seconds = (performance.now() - t0) / 1000;
    console.log(
      `engine, ${String(concurrency).padStart(2)} at once            : ${(total / seconds).toFixed(0)} probes/s, median ${median(latencies)} ms per probe (${total} probes, RSA 2048, TLS 1.3)`,
    );
  }
  await server.close();
}

await main();
