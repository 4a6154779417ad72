/**
 * `smtp-tls-probe check` arguments: parsed strictly, every value validated, each problem
 * reported as one line naming the option. Reading the CA file is the only I/O here.
 */
import { readCaFile } from '../config/read-file.js';
import { ipVersion } from '../probe/ip.js';
import type { ParseArgsConfig } from 'node:util';
import { splitPem } from '../probe/cert/trust-store.js';
import { normalizeThumbprint } from '../probe/cert/judge.js';
import { parseServerName } from '../probe/host.js';
import { makeTarget, TARGET_DEFAULTS } from '../probe/probe-target.js';
import type { ProbeTarget } from '../probe/types.js';

// Node's own module object rather than an ESM import, whose namespace reads every export
// and so loads what a one-shot check never uses (README "Performance", `check`).
const { parseArgs } = process.getBuiltinModule('node:util');

export class UsageError extends Error {
  override name = 'UsageError';
}

export interface CheckOptions {
  target: ProbeTarget;
  timeoutMs: number;
  json: boolean;
}

export const CHECK_USAGE = `Usage: smtp-tls-probe check HOST [options]

Probe HOST over SMTP with STARTTLS (or implicit TLS) on every address and judge the
certificate it serves. Exit code as Nagios plugins: 0 ok, 1 warning, 2 critical, 3 unknown.

Options:
  --port N            TCP port (default 25; 465 implies --implicit-tls)
  --expect NAME       name the certificate must cover; repeatable (default: HOST)
  --sni NAME          TLS server name to send (default: HOST; none for an IP)
  --no-sni            send no server name
  --ca FILE           PEM file of trusted CA certificates (replaces the bundled roots)
  --address IP        probe this address instead of resolving HOST; repeatable
  --family 4|6        probe only the IPv4 or only the IPv6 addresses of HOST
  --source IP         connect from this local address (receive connector / SNAT tests)
  --implicit-tls      TLS from the first byte instead of STARTTLS
  --starttls          STARTTLS even on port 465
  --ehlo NAME         name to send with EHLO (default: this machine's host name)
  --timeout SECONDS   deadline of the whole probe, DNS included: 0.001 to 600 (default ${TARGET_DEFAULTS.timeoutMs / 1000})
  --warn-days N       warn when the certificate expires within N days (default ${TARGET_DEFAULTS.warnDays})
  --min-tls VERSION   lowest acceptable TLS version: 1.0, 1.1, 1.2, 1.3 (default 1.2)
  --thumbprint SHA1   pinned SHA-1 thumbprint of the certificate (as Get-ExchangeCertificate shows it)
  --json              print the JSON result instead of the report
  -h, --help          show this help
`;

const TLS_VERSIONS: Record<string, ProbeTarget['minTlsVersion']> = {
  '1.0': 'TLSv1',
  '1.1': 'TLSv1.1',
  '1.2': 'TLSv1.2',
  '1.3': 'TLSv1.3',
};

function integer(name: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min || n > max) {
    throw new UsageError(`--${name}: must be an integer from ${min} to ${max} (got "${text}")`);
  }
  return n;
}

function ip(name: string, text: string): string {
  const bare = text.replace(/^\[(.*)\]$/, '$1');
  if (!ipVersion(bare)) throw new UsageError(`--${name}: "${text}" is not an IP address`);
  return bare;
}

function ipFamily(text: string): 4 | 6 {
  if (text.trim() === '4' || text.trim() === '6') return Number(text) as 4 | 6;
  throw new UsageError(`--family: must be 4 or 6 (got "${text}")`);
}

/** A PEM trust store named by an option (`ca`, `policy-ca`). */
export function readCa(file: string, option = 'ca'): string {
  let text: string;
  try {
    text = readCaFile(file);
  } catch (e) {
    throw new UsageError(`--${option}: cannot read ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  if (splitPem(text).length === 0) throw new UsageError(`--${option}: ${file} holds no PEM certificate`);
  return text;
}

/** node:util parseArgs' error, said as one line naming the option. */
export function argsError(e: unknown): UsageError {
  const message = (e as Error).message;
  const unknown = /Unknown option '([^']+)'/.exec(message);
  const ambiguous = /Option '(--[\w-]+)' argument is ambiguous/.exec(message);
  return new UsageError(
    unknown
      ? `unknown option ${unknown[1]} (see --help)`
      : ambiguous
        ? `${ambiguous[1]}: the value looks like an option; write ${ambiguous[1]}=VALUE`
        : message.split('\n')[0]!,
  );
}

/** argv parsed strictly (unknown options refused) with positionals, errors as one UsageError line. */
export function strictArgs<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O) {
  try {
    return parseArgs({ args: argv, allowPositionals: true, strict: true, options });
  } catch (e) {
    throw argsError(e);
  }
}

/** The one positional argument (`what`: HOST, DOMAIN), trimmed. */
export function onePositional(positionals: readonly string[], what: string, command: string): string {
  if (positionals.length === 0) throw new UsageError(`missing ${what} (smtp-tls-probe ${command} ${what})`);
  if (positionals.length > 1) throw new UsageError(`one ${what} only (got ${positionals.map((p) => `"${p}"`).join(', ')})`);
  return positionals[0]!.trim();
}

/** `--timeout SECONDS` in whole milliseconds, or `defaultMs` when not given. */
export function timeoutOption(text: string | undefined, defaultMs: number): number {
  if (text === undefined) return defaultMs;
  const s = Number(text);
  // Below a millisecond the deadline rounds to nothing: say the range that really works.
  if (text.trim() === '' || !Number.isFinite(s) || s < 0.001 || s > 600) {
    throw new UsageError(`--timeout: must be seconds from 0.001 to 600 (got "${text}")`);
  }
  return Math.round(s * 1000);
}

/** Returns null when help was asked for. */
export function parseCheckArgs(argv: string[]): CheckOptions | null {
  const { values: v, positionals } = strictArgs(argv, {
    port: { type: 'string' },
    expect: { type: 'string', multiple: true },
    sni: { type: 'string' },
    'no-sni': { type: 'boolean' },
    ca: { type: 'string' },
    address: { type: 'string', multiple: true },
    family: { type: 'string' },
    source: { type: 'string' },
    'implicit-tls': { type: 'boolean' },
    starttls: { type: 'boolean' },
    ehlo: { type: 'string' },
    timeout: { type: 'string' },
    'warn-days': { type: 'string' },
    'min-tls': { type: 'string' },
    thumbprint: { type: 'string' },
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (v.help) return null;
  const host = onePositional(positionals, 'HOST', 'check');
  if (!host || /[\s/@]/.test(host)) throw new UsageError(`HOST: "${host}" is not a host name or IP address`);
  if (v.sni !== undefined && v['no-sni']) throw new UsageError('--sni and --no-sni exclude each other');
  if (v.sni !== undefined) {
    const sni = parseServerName(v.sni);
    if (!sni.ok) throw new UsageError(`--sni: "${v.sni}" is not a server name: it ${sni.problem}`);
  }
  if (v['implicit-tls'] && v.starttls) throw new UsageError('--implicit-tls and --starttls exclude each other');
  const timeoutMs = timeoutOption(v.timeout, TARGET_DEFAULTS.timeoutMs);
  let minTlsVersion: ProbeTarget['minTlsVersion'] | undefined;
  if (v['min-tls'] !== undefined) {
    minTlsVersion = TLS_VERSIONS[v['min-tls'].replace(/^TLSv?/i, '')];
    if (!minTlsVersion) throw new UsageError(`--min-tls: must be 1.0, 1.1, 1.2 or 1.3 (got "${v['min-tls']}")`);
  }
  if (v.thumbprint !== undefined && normalizeThumbprint(v.thumbprint).length !== 40) {
    throw new UsageError(`--thumbprint: must be 40 hexadecimal characters (SHA-1) (got "${v.thumbprint}")`);
  }
  if (v.ehlo !== undefined && !/^[A-Za-z0-9.:_[\]-]{1,255}$/.test(v.ehlo)) {
    throw new UsageError(`--ehlo: "${v.ehlo}" is not a host name or address literal`);
  }
  for (const name of v.expect ?? []) {
    if (!name.trim() || /\s/.test(name.trim())) throw new UsageError(`--expect: "${name}" is not a host name`);
  }
  const target = makeTarget({
    host,
    port: integer('port', v.port, 1, 65535),
    expect: v.expect?.map((e) => e.trim()),
    sni: v['no-sni'] ? null : v.sni,
    addresses: v.address?.map((a) => ip('address', a)),
    family: v.family === undefined ? undefined : ipFamily(v.family),
    source: v.source === undefined ? undefined : ip('source', v.source),
    implicitTls: v['implicit-tls'] ? true : v.starttls ? false : undefined,
    ca: v.ca === undefined ? undefined : readCa(v.ca),
    ehloName: v.ehlo,
    warnDays: integer('warn-days', v['warn-days'], 0, 3650),
    thumbprint: v.thumbprint,
    minTlsVersion,
  });
  return { target, timeoutMs, json: v.json === true };
}
