/**
 * A DNSSEC lab for tests: zones under `test.` signed at run time (./dns-zones.ts) and served
 * by one Debian `unbound` on a loopback port, validating with the zones' own trust anchor.
 *
 *   const lab = await startDnsLab({
 *     zones: [
 *       { origin: 'example.test', records: ['@ MX 10 mx1', 'mx1 A 127.0.0.2', '_25._tcp.mx1 TLSA 3 1 1 <hex>'] },
 *       { origin: 'plain.test', records: ['mx A 127.0.0.3'], dnssec: 'unsigned' },
 *       { origin: 'bogus.test', records: ['mx A 127.0.0.4'], tamper: (z) => z.replace('127.0.0.4', '127.0.0.5') },
 *       // inside example.test: delegated from it, insecurely (secure A, insecure TLSA)
 *       { origin: '_tcp.mx2.example.test', records: ['_25 TLSA 3 1 1 <hex>'], dnssec: 'unsigned' },
 *     ],
 *     teardown: t.teardown.bind(t),   // optional: close when the test ends
 *   });
 *   lab.server   // { address: '127.0.0.1', port }
 *   lab.client   // a DnsClient (src/probe/dns/client.ts) that asks this unbound
 *   await lab.close();
 *
 * Options: `zones` (see LabZone: origin, records, dnssec 'signed' | 'unsigned' | 'expired' |
 * 'future', validity, tamper); `validating` (default true; false runs unbound without its
 * validator, a resolver that never sets AD: `resolver_not_validating`); `teardown` (a
 * registration function such as tap's `t.teardown`).
 *
 * What the resolver answers (unbound 1.17, `ede: yes`): names in signed zones are secure (AD);
 * names in unsigned zones insecure (no AD, NOERROR), also under a signed zone; a record changed after signing is SERVFAIL
 * with EDE 6 (DNSSEC Bogus); expired signatures SERVFAIL with EDE 7 (Signature Expired);
 * future ones SERVFAIL with EDE 8 (Signature Not Yet Valid); a zone whose DNSKEY was removed
 * EDE 9 (DNSKEY Missing); a zone with every RRSIG removed EDE 10 (RRSIGs Missing); but one RRSIG
 * removed from a signed zone is SERVFAIL without any EDE (unbound takes it for a stripping
 * middlebox and gives up without naming a DNSSEC failure). Any name outside `test.` is
 * SERVFAIL: unbound may not send a single packet (do-not-query-address covers every address),
 * so the internet resolver of /etc/resolv.conf is never asked and no root hint is used.
 *
 * Where unbound or ldnsutils is missing, `dnsLabMissing()` says so: skip the test with that
 * note, or fail when CI=true (as test/probe/dns/lab.test.ts does; .ci/run installs both).
 *
 * Several labs may run at once (own temp dir, own port). unbound cannot listen on port 0: a
 * free port is picked (bind 0, read, close) and the start is retried if another process took it.
 * Closing kills unbound and removes the temp dir; a process exit does the same for any lab left,
 * and so does the watchdog unbound runs under when the test process dies by a signal.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createDnsClient } from '../../src/probe/dns/client.js';
import type { DnsClient } from '../../src/probe/dns/types.js';
import { buildZones, type BuiltZone, type LabZone } from './dns-zones.js';

export type { LabZone, ZoneDnssec } from './dns-zones.js';

export const UNBOUND = '/usr/sbin/unbound';
const HOST = '127.0.0.1';

/** Why the lab cannot run here (unbound or ldnsutils missing), or null when it can. */
export function dnsLabMissing(): string | null {
  if (!existsSync(UNBOUND)) return `${UNBOUND} is missing (Debian package unbound)`;
  const path = (process.env.PATH ?? '').split(':');
  for (const tool of ['ldns-keygen', 'ldns-signzone']) {
    if (!path.some((d) => d && existsSync(join(d, tool)))) return `${tool} is missing (Debian package ldnsutils)`;
  }
  return null;
}

export interface DnsLabOptions {
  zones: LabZone[];
  /** Default true. false: no validator module, so no AD ever. */
  validating?: boolean;
  /** Called with the lab's close function, e.g. `t.teardown.bind(t)`. */
  teardown?: (fn: () => Promise<void>) => void;
}

export interface DnsLab {
  server: { address: string; port: number };
  client: DnsClient;
  /** The temp dir: zones, unbound.conf, unbound.log. */
  dir: string;
  /** unbound's log so far (val-log-level 2: why an answer was bogus). */
  log(): Promise<string>;
  /** Kills unbound, removes the temp dir; idempotent. */
  close(): Promise<void>;
}

const live = new Map<ChildProcess, string>();
let exitHook = false;

/** Kills the watchdog's process group: the shell, unbound and the reader. */
function killGroup(child: ChildProcess): void {
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
}

function cleanAtExit(): void {
  if (exitHook) return;
  exitHook = true;
  process.on('exit', () => {
    for (const [child, dir] of live) {
      killGroup(child);
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/**
 * unbound runs under a small shell watchdog that holds our pipe on its stdin: when the test
 * process dies in any way (a tap timeout's signal included, where no exit hook runs), the pipe
 * closes, `read` returns and unbound is killed, so no resolver outlives its test. A normal
 * close ends the pipe the same way. The shell exits with unbound's status when unbound stops
 * by itself (a port taken, a zone it cannot load). After a stop through the pipe it also removes
 * the temp dir, which an exit by signal would leave behind.
 */
const WATCHDOG = [
  'exec 3<&0',
  '"$0" -d -c "$1" </dev/null &',
  'u=$!',
  '{ read _ <&3; kill $u 2>/dev/null; rm -rf "$2"; } &',
  'r=$!',
  'wait $u',
  'code=$?',
  // 0: stopped by the reader, let it finish removing the dir; else unbound failed on its own
  // and the lab may retry in the same dir.
  'if [ $code -eq 0 ]; then wait $r; else kill $r 2>/dev/null; fi',
  'exit $code',
].join('\n');

function config(dir: string, port: number, zones: BuiltZone[], anchor: string, validating: boolean): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    'server:',
    `  interface: ${HOST}`,
    `  port: ${port}`,
    '  do-ip6: no',
    '  username: ""',
    '  chroot: ""',
    `  directory: ${q(dir)}`,
    '  pidfile: ""',
    '  use-syslog: no',
    `  logfile: ${q(join(dir, 'unbound.log'))}`,
    '  verbosity: 1',
    '  val-log-level: 2',
    '  num-threads: 1',
    '  so-reuseport: no',
    // Small: a lab holds a few dozen records, and several labs may run at once.
    '  outgoing-range: 64',
    '  num-queries-per-thread: 64',
    '  msg-cache-size: 1m',
    '  rrset-cache-size: 1m',
    '  key-cache-size: 1m',
    '  neg-cache-size: 256k',
    '  ede: yes',
    '  trust-anchor-signaling: no',
    '  root-key-sentinel: no',
    // RFC 6761 makes `test.` a local zone that answers NXDOMAIN; the lab serves it.
    '  local-zone: "test." nodefault',
    // Never send a packet: every answer comes from the auth-zones below.
    '  do-not-query-address: 0.0.0.0/0',
    '  do-not-query-address: ::/0',
    ...(validating
      ? ['  module-config: "validator iterator"', `  trust-anchor-file: ${q(anchor)}`]
      : ['  module-config: "iterator"']),
    'remote-control:',
    '  control-enable: no',
    // for-upstream: the iterator reads these as if it had asked their servers, so the
    // validator checks them; for-downstream off, else unbound would answer them unvalidated.
    ...zones.flatMap((z) => ['auth-zone:', `  name: ${q(`${z.origin}.`)}`, `  zonefile: ${q(z.file)}`, '  for-upstream: yes', '  for-downstream: no']),
    '',
  ].join('\n');
}

/** A UDP port free right now on 127.0.0.1 (unbound takes the same number for TCP). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    s.once('error', reject);
    s.bind(0, HOST, () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Starts unbound; resolves once it answers, rejects if it exits first (port taken, bad config). */
async function launch(dir: string, conf: string, port: number): Promise<ChildProcess> {
  // detached: its own process group, so that killGroup reaches unbound too.
  const child = spawn('sh', ['-c', WATCHDOG, UNBOUND, conf, dir], { stdio: ['pipe', 'ignore', 'pipe'], detached: true });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => {
    if (stderr.length < 8192) stderr += String(d);
  });
  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) => {
      void readFile(join(dir, 'unbound.log'), 'utf8').catch(() => '').then((log) => {
        reject(new Error(`unbound exited (${code ?? sig}) before answering: ${stderr.trim()} ${log.trim()}`));
      });
    });
  });
  exited.catch(() => undefined);
  const client = createDnsClient({ address: HOST, port }, { tryTimeoutMs: 50, udpTries: 1 });
  const ready = (async () => {
    for (let i = 0; i < 200 && child.exitCode === null; i++) {
      const a = await client.query('test', 'SOA', AbortSignal.timeout(100));
      if (a.rcode !== 'TIMEOUT' && a.rcode !== 'ERROR') return;
      await new Promise((r) => setTimeout(r, 10));
    }
    const log = await readFile(join(dir, 'unbound.log'), 'utf8').catch(() => '');
    throw new Error(`unbound did not answer on ${HOST}:${port}: ${stderr.trim()} ${log.trim()}`);
  })();
  try {
    await Promise.race([ready, exited]);
  } catch (e) {
    killGroup(child);
    throw e;
  }
  return child;
}

export async function startDnsLab(options: DnsLabOptions): Promise<DnsLab> {
  cleanAtExit();
  const dir = await mkdtemp(join(tmpdir(), 'dns-lab-'));
  let child: ChildProcess | undefined;
  let port = 0;
  try {
    const { zones, anchor } = await buildZones(dir, options.zones);
    const conf = join(dir, 'unbound.conf');
    for (let attempt = 1; !child; attempt++) {
      port = await freePort();
      await writeFile(conf, config(dir, port, zones, anchor, options.validating ?? true));
      try {
        child = await launch(dir, conf, port);
      } catch (e) {
        // Another lab or test may have bound the port between our check and unbound's bind.
        if (attempt >= 5 || !/address already in use|can't bind|could not open ports/i.test((e as Error).message)) throw e;
      }
    }
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  const proc = child;
  live.set(proc, dir);
  // A test that forgets close() must still end: the exit hook kills what is left.
  proc.unref();
  for (const stream of [proc.stdin, proc.stderr]) (stream as unknown as { unref(): void }).unref();
  let closing: Promise<void> | undefined;
  const close = () => {
    closing ??= (async () => {
      live.delete(proc);
      if (proc.exitCode === null && proc.signalCode === null) {
        const gone = new Promise((r) => proc.once('exit', r));
        proc.stdin!.end();
        const timer = setTimeout(() => killGroup(proc), 2000);
        await gone;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    })();
    return closing;
  };
  options.teardown?.(close);
  const server = { address: HOST, port };
  return {
    server,
    client: createDnsClient(server, { tryTimeoutMs: 1000 }),
    dir,
    log: () => readFile(join(dir, 'unbound.log'), 'utf8').catch(() => ''),
    close,
  };
}
