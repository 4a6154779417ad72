/**
 * A loopback port whose accept queue is full, so a new connection's SYN is dropped and
 * connect() hangs: the only way to see a connect timeout without leaving loopback.
 * Node accepts every connection itself, so the listener is a tiny python3 process.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';

export interface Blackhole {
  host: string;
  port: number;
  close(): void;
}

export async function blackhole(): Promise<Blackhole> {
  const py = spawn(
    'python3',
    ['-c', "import socket,sys\ns=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(0)\nprint(s.getsockname()[1], flush=True)\nsys.stdin.read()"],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    py.once('error', reject);
    py.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  const fillers = Array.from({ length: 3 }, () => net.connect(port, '127.0.0.1').on('error', () => undefined));
  await new Promise((r) => setTimeout(r, 100));
  return {
    host: '127.0.0.1',
    port,
    close() {
      for (const f of fillers) f.destroy();
      py.stdin.end();
      py.kill();
    },
  };
}
