/**
 * A real MTA for the tests: Debian's Postfix as a child process, with a configuration, queue
 * and log of its own in a temp dir. One master process runs several smtpd listeners on loopback
 * ports chosen at run time, each serving its own certificate chain (or no STARTTLS). Nothing is
 * looked up in DNS and nothing is delivered (every transport discards). Postfix needs root and
 * its `postfix` user, both there on the machines the tests run on.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

export const POSTFIX = '/usr/sbin/postfix';
const HOST = '127.0.0.1';

export interface Listener {
  /** Also the listener's syslog name in the log: `postfix/NAME/smtpd[pid]: ...`. */
  name: string;
  /** PEM: the private key, then the certificate and the chain to send. Absent: no STARTTLS. */
  chain?: string;
}

export interface Postfix {
  host: string;
  port(name: string): number;
  /** The log so far. */
  log(): Promise<string>;
  /** Resolves with the first log line matching re, or rejects after ms with the whole log. */
  waitForLog(re: RegExp, ms?: number): Promise<string>;
  /** Stops master and waits until every Postfix process has exited; idempotent. */
  stop(): Promise<void>;
}

/** Why Postfix cannot run here, or null when it can. */
export function postfixMissing(): string | null {
  return existsSync(POSTFIX) ? null : `${POSTFIX} is missing`;
}

function postconf(name: string): string {
  const r = spawnSync('postconf', ['-h', '-d', name], { encoding: 'utf8' });
  const value = r.stdout.trim();
  if (r.status !== 0 || !value) throw new Error(`postconf -d ${name} failed: ${r.stderr}`);
  return value;
}

/** Distinct free loopback ports (held together while chosen, so they differ). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: n }, () => new Promise<net.Server>((resolve, reject) => {
      const s = net.createServer().once('error', reject);
      s.listen(0, HOST, () => resolve(s));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

function mainCf(dir: string): string {
  return `${[
    'compatibility_level = 3.6',
    `queue_directory = ${dir}/queue`,
    `data_directory = ${dir}/data`,
    'mail_owner = postfix',
    'myhostname = mx.postfix.test',
    'mydomain = postfix.test',
    // Postfix checks this against the interface addresses: only 127.0.0.1 is one.
    `inet_interfaces = ${HOST}`,
    'inet_protocols = ipv4',
    'mydestination =',
    'relay_domains =',
    'alias_maps =',
    'alias_database =',
    'local_recipient_maps =',
    ...['default', 'local', 'relay', 'virtual'].map((t) => `${t}_transport = discard`),
    'smtp_dns_support_level = disabled',
    'smtpd_peername_lookup = no',
    `maillog_file = ${dir}/maillog`,
    `maillog_file_prefixes = ${dir}`,
    'smtpd_tls_security_level = may',
    'smtpd_tls_loglevel = 1',
    'max_idle = 5s',
  ].join('\n')}\n`;
}

function masterCf(dir: string, listeners: Listener[], ports: number[]): string {
  const smtpd = listeners.map((l, i) => {
    const tls = l.chain ? `-o smtpd_tls_chain_files=${dir}/${l.name}.pem` : '-o smtpd_tls_security_level=none';
    return `${HOST}:${ports[i]} inet n - n - - smtpd -o syslog_name=postfix/${l.name} ${tls}`;
  });
  return `${[
    ...smtpd,
    'anvil unix - - n - 1 anvil',
    'tlsmgr unix - - n 1000? 1 tlsmgr',
    'postlog unix-dgram n - n - 1 postlogd',
  ].join('\n')}\n`;
}

/** Pids of the live processes of a process group (zombies, dead but not yet reaped, left out). */
async function liveMembers(pgid: number): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '');
    // pid (comm) state ppid pgrp ...: comm may hold spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(pgrp) === pgid && state !== 'Z') pids.push(Number(entry));
  }
  return pids;
}

export async function startPostfix(listeners: Listener[], startMs = 10_000): Promise<Postfix> {
  for (const l of listeners) if (!/^[a-z][a-z0-9-]*$/.test(l.name)) throw new Error(`listener name ${l.name}: letters, digits, -`);
  if (userInfo().uid !== 0) throw new Error('Postfix needs root to start its master process');
  const master = join(postconf('daemon_directory'), 'master');
  const dir = await mkdtemp(join(tmpdir(), 'stp-postfix-'));
  // The postfix user reaches the queue's sockets through this directory.
  await chmod(dir, 0o755);
  const id = (text: string | undefined) => (/^\d+$/.test(text ?? '') ? Number(text) : NaN);
  const pfUid = id(spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).stdout.trim());
  const postdrop = id(spawnSync('getent', ['group', 'postdrop'], { encoding: 'utf8' }).stdout.split(':')[2]);
  if (!Number.isInteger(pfUid) || !Number.isInteger(postdrop)) throw new Error('Postfix needs its postfix user and postdrop group');
  for (const sub of ['queue/pid', 'queue/public', 'queue/private', 'data']) await mkdir(join(dir, sub), { recursive: true });
  await chown(join(dir, 'queue/public'), pfUid, postdrop);
  await chmod(join(dir, 'queue/public'), 0o710);
  await chown(join(dir, 'queue/private'), pfUid, 0);
  await chmod(join(dir, 'queue/private'), 0o700);
  await chown(join(dir, 'data'), pfUid, 0);
  for (const l of listeners) if (l.chain) await writeFile(join(dir, `${l.name}.pem`), l.chain, { mode: 0o600 });
  const ports = await freePorts(listeners.length);
  await writeFile(join(dir, 'main.cf'), mainCf(dir));
  await writeFile(join(dir, 'master.cf'), masterCf(dir, listeners, ports));
  // Postfix waits until a freshly written main.cf is a couple of seconds old: make it so.
  const past = new Date(Date.now() - 60_000);
  for (const f of ['main.cf', 'master.cf']) await utimes(join(dir, f), past, past);

  // master stays in the foreground under a shell that ends with it, and that kills it when
  // the shell's stdin closes: also when this test process dies without a teardown.
  const child = spawn('sh', ['-c', 'exec 3<&0; "$0" -c "$1" -d 3<&- & m=$!; (read _ <&3; kill "$m") & wait "$m"', master, dir], {
    stdio: ['pipe', 'pipe', 'pipe'],
    // A process group of its own, which every Postfix daemon inherits: stop() waits for it to empty.
    detached: true,
  });
  let output = '';
  const collect = (d: Buffer) => {
    if (output.length < 16_384) output += d.toString('utf8');
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  let gone: string | null = null;
  const exited = new Promise<string>((resolve) => {
    child.once('exit', (code, signal) => resolve((gone = `exit ${code ?? signal}`)));
    child.once('error', (e) => resolve((gone = e.message)));
  });

  const log = () => readFile(join(dir, 'maillog'), 'utf8').catch(() => '');
  const waitForLog = async (re: RegExp, ms = 5000) => {
    const until = Date.now() + ms;
    for (;;) {
      const text = await log();
      const line = text.split('\n').find((l) => re.test(l));
      if (line) return line;
      if (gone) throw new Error(`Postfix master ended (${gone}); no log line matching ${re}; log:\n${text}${output}`);
      if (Date.now() > until) throw new Error(`no log line matching ${re} within ${ms} ms; log:\n${text}${output}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  };
  let stopped: Promise<void> | null = null;
  const stop = () =>
    (stopped ??= (async () => {
      // The whole group at once (shell, master, daemons): nothing in it needs a clean shutdown,
      // and master's own SIGTERM path lingers a second.
      const pgid = child.pid;
      try {
        if (pgid !== undefined) process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
      await exited;
      for (let i = 0; pgid !== undefined && (await liveMembers(pgid)).length > 0; i++) {
        if (i === 200) throw new Error(`Postfix processes of group ${pgid} still running: ${await liveMembers(pgid)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      await rm(dir, { recursive: true, force: true });
    })());
  try {
    // master logs this once every listener is bound.
    await waitForLog(/postfix\/master\[\d+\]: daemon started/, startMs);
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    host: HOST,
    port(name) {
      const i = listeners.findIndex((l) => l.name === name);
      if (i < 0) throw new Error(`no listener ${name}`);
      return ports[i]!;
    },
    log,
    waitForLog,
    stop,
  };
}
