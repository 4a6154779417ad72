/**
 * Test zones under `test.`, signed at run time with ldns-keygen / ldns-signzone (Debian
 * ldnsutils): signatures expire, so a signed zone is never committed. Each zone is delegated
 * from its closest enclosing zone (the lab's `test.`, or another lab zone) with a DS there for
 * each signed one; the DS of `test.` is the trust anchor the lab's resolver validates against.
 * Used by ./dns-lab.ts.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * signed: valid signatures (inception an hour ago, expiry in 30 days). unsigned: no DNSSEC
 * (the parent has no DS, so the delegation is insecure). expired: signatures that ended two
 * days ago (beyond the validator's default clock skew of one day). future: signatures that start
 * in two days.
 */
export type ZoneDnssec = 'signed' | 'unsigned' | 'expired' | 'future';

export interface LabZone {
  /**
   * A name under `test`, e.g. `example.test` (no trailing dot). A zone inside another lab zone
   * (`_tcp.mx.example.test` beside `example.test`) is delegated from that one.
   */
  origin: string;
  /**
   * Zone-file lines relative to the origin (`@ MX 10 mx1`, `mx1 A 127.0.0.2`,
   * `_mta-sts TXT "v=STSv1; " "id=1"`). TTL 300 and class IN by default. SOA and NS are added.
   */
  records: string[];
  /** Default 'signed'. */
  dnssec?: ZoneDnssec;
  /** Signature validity, overriding what `dnssec` implies (for signatureExpires checks). */
  validity?: { inception: Date; expiration: Date };
  /**
   * Rewrites the zone text after signing (ldns-signzone output: one RR a line, absolute names,
   * e.g. `mx1.example.test.\t300\tIN\tA\t127.0.0.2`). Change a signed record to make it bogus.
   */
  tamper?: (signedZone: string) => string;
}

export interface BuiltZone {
  origin: string;
  file: string;
}

const DAY = 86_400_000;

function validityOf(zone: LabZone, now: number): { inception: Date; expiration: Date } {
  if (zone.validity) return zone.validity;
  switch (zone.dnssec ?? 'signed') {
    case 'expired':
      return { inception: new Date(now - 30 * DAY), expiration: new Date(now - 2 * DAY) };
    case 'future':
      return { inception: new Date(now + 2 * DAY), expiration: new Date(now + 30 * DAY) };
    default:
      return { inception: new Date(now - 3_600_000), expiration: new Date(now + 30 * DAY) };
  }
}

const seconds = (d: Date) => String(Math.floor(d.getTime() / 1000));

function zoneText(origin: string, records: string[]): string {
  return [
    `$ORIGIN ${origin}.`,
    '$TTL 300',
    '@ IN SOA ns.test. hostmaster.test. 1 3600 600 86400 300',
    '@ IN NS ns.test.',
    ...records,
    '',
  ].join('\n');
}

async function keygen(dir: string, origin: string): Promise<string> {
  // One key with the SEP flag signs everything (a combined signing key): fewer processes.
  const { stdout } = await run('ldns-keygen', ['-a', 'ECDSAP256SHA256', '-k', `${origin}.`], { cwd: dir });
  return join(dir, stdout.trim());
}

async function sign(dir: string, origin: string, key: string, text: string, validity: { inception: Date; expiration: Date }): Promise<string> {
  const unsigned = join(dir, `${origin}.zone`);
  const out = join(dir, `${origin}.signed`);
  await writeFile(unsigned, text);
  await run('ldns-signzone', ['-i', seconds(validity.inception), '-e', seconds(validity.expiration), '-f', out, '-o', `${origin}.`, unsigned, key], { cwd: dir });
  return readFile(out, 'utf8');
}

/** `example.test.\tIN\tDS\t...` as written by ldns-keygen, as a line of the parent zone. */
const dsLine = (ds: string) => ds.trim().split(/\s+/).filter((f) => f !== 'IN').join(' ').replace(/^(\S+) DS /, '$1 300 IN DS ');

/** Promise.all that waits for every job: a failed one must not leave others writing into a dir being removed. */
async function settled<T>(jobs: Array<Promise<T>>): Promise<T[]> {
  const results = await Promise.allSettled(jobs);
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

function checkOrigins(zones: LabZone[]): void {
  for (const z of zones) {
    if (!/^([a-z0-9_-]+\.)+test$/.test(z.origin)) throw new Error(`dns lab: origin ${JSON.stringify(z.origin)} must be a lowercase name under test (no trailing dot)`);
    if (zones.some((o) => o !== z && o.origin === z.origin)) throw new Error(`dns lab: zone ${z.origin} is given twice`);
  }
}

/** The closest enclosing zone of `origin` among `origins` (`test` when none). */
const parentOf = (origin: string, origins: string[]): string =>
  origins.filter((o) => origin.endsWith(`.${o}`)).sort((a, b) => b.length - a.length)[0] ?? 'test';

/**
 * Writes every zone and their parent `test.` into `dir`; returns the zone files and the
 * trust anchor file (the DS of `test.`). A zone is delegated from its closest enclosing zone:
 * `test`, or another lab zone (`_tcp.mx.example.test` under `example.test`), with a DS there
 * when it is signed, so an unsigned zone under a signed one is an insecure delegation.
 */
export async function buildZones(dir: string, zones: LabZone[]): Promise<{ zones: BuiltZone[]; anchor: string }> {
  checkOrigins(zones);
  const now = Date.now();
  const all: LabZone[] = [{ origin: 'test', records: ['ns IN A 127.0.0.1'] }, ...zones];
  const origins = all.map((z) => z.origin);
  // Keys first, all at once: a parent needs its children's DS, not their signatures, so every
  // zone is then signed in one parallel wave.
  const keys = await settled(all.map((z) => ((z.dnssec ?? 'signed') !== 'unsigned' ? keygen(dir, z.origin) : Promise.resolve(null))));
  const ds = await settled(keys.map((k) => (k ? readFile(`${k}.ds`, 'utf8') : Promise.resolve(null))));
  const delegations = new Map<string, string[]>(origins.map((o) => [o, []]));
  for (const [i, z] of zones.entries()) {
    const lines = delegations.get(parentOf(z.origin, origins.slice(1)))!;
    lines.push(`${z.origin}. IN NS ns.test.`);
    if (ds[i + 1]) lines.push(dsLine(ds[i + 1]!));
  }
  const built = all.map((z) => ({ origin: z.origin, file: join(dir, `${z.origin}.served`) }));
  await settled(all.map(async (z, i) => {
    const text = zoneText(z.origin, [...z.records, ...delegations.get(z.origin)!]);
    const served = keys[i] ? await sign(dir, z.origin, keys[i]!, text, validityOf(z, now)) : text;
    await writeFile(built[i]!.file, z.tamper ? z.tamper(served) : served);
  }));
  const anchor = join(dir, 'anchor.ds');
  await writeFile(anchor, ds[0]!);
  return { zones: built, anchor };
}
