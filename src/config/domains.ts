/**
 * Domain targets (`domains:`) and the validating resolver they are judged through (`dns:`).
 * A domain target is scheduled like a host target and checked the way senders check a mail
 * domain (src/probe/domain). Its values go through the same parsers as the /probe/domain
 * parameters they stand for.
 */
import { readFileSync } from 'node:fs';
import { Type, type Static } from '@sinclair/typebox';
import cron from 'node-cron';
import { parseResolverAddress, resolverFromResolvConf, type ResolverAddress } from '../probe/dns/client.js';
import { parseServerName } from '../probe/host.js';
import { makeTarget } from '../probe/probe-target.js';
import type { ProbeTarget } from '../probe/types.js';
import { SENDERS, type DomainTarget, type Sender } from '../probe/domain/types.js';
import { TLS_VERSIONS } from './modules.js';

const Seconds = Type.Number({ exclusiveMinimum: 0, maximum: 600 });
const LABEL_NAME = '^[a-zA-Z_][a-zA-Z0-9_]*$';
/** As a host target's name: the key of results and metrics, unique across hosts and domains. */
export const TARGET_NAME = '^[A-Za-z0-9._:-]+$';

export const DnsSchema = Type.Object(
  {
    /** The validating resolver, `IP`, `IP:PORT` or `[IPv6]:PORT`; default: /etc/resolv.conf's first nameserver. */
    resolver: Type.Optional(Type.String({ minLength: 1, maxLength: 60 })),
  },
  { additionalProperties: false },
);

export const MtaStsExpect = Type.Union(['enforce', 'testing', 'none', 'absent'].map((m) => Type.Literal(m)));

export const DomainSchema = Type.Object(
  {
    domain: Type.String({ minLength: 1, maxLength: 254 }),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: TARGET_NAME })),
    schedule: Type.Optional(Type.String({ minLength: 1 })),
    timeout: Type.Optional(Seconds),
    senders: Type.Optional(Type.Array(Type.Union(SENDERS.map((s) => Type.Literal(s))), { minItems: 1, maxItems: 2, uniqueItems: true })),
    expect: Type.Optional(
      Type.Object(
        {
          mtaSts: Type.Optional(MtaStsExpect),
          dane: Type.Optional(Type.Boolean()),
          tlsRpt: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    /** false: DNS and the MTA-STS policy only, no SMTP connection to the MX hosts. */
    smtp: Type.Optional(Type.Boolean()),
    /** Trusted CAs for the MX certificates (default: defaults.caFile, else Node's roots). */
    caFile: Type.Optional(Type.String({ minLength: 1 })),
    /** Trusted CAs for the MTA-STS policy host (default: Node's roots, as senders have). */
    policyCaFile: Type.Optional(Type.String({ minLength: 1 })),
    warnDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 3650 })),
    minTls: Type.Optional(Type.Union([Type.Literal('1.0'), Type.Literal('1.1'), Type.Literal('1.2'), Type.Literal('1.3')])),
    ehlo: Type.Optional(Type.String({ minLength: 1, maxLength: 253, pattern: '^[^\\s/@]+$' })),
    labels: Type.Optional(
      Type.Record(Type.String({ pattern: LABEL_NAME }), Type.String({ maxLength: 200 }), {
        maxProperties: 10,
        additionalProperties: false,
      }),
    ),
  },
  { additionalProperties: false },
);

type RawDomain = Static<typeof DomainSchema>;

/** A domain target as the scheduler runs it. */
export interface ConfiguredDomain {
  /** Unique across host targets and domains; the key of results and metrics. */
  name: string;
  schedule: string;
  timeoutMs: number;
  labels: Record<string, string>;
  domain: DomainTarget;
}

/** A domain check covers every MX host and an HTTPS fetch of the policy (RFC 8461 allows it a minute). */
export const DOMAIN_TIMEOUT_SECONDS = 60;

/** `IP`, `IP:PORT` or `[IPv6]:PORT` (port 53 by default), as --resolver takes it; null when it is none of these. */
export function parseResolver(text: string): ResolverAddress | null {
  try {
    return parseResolverAddress(text);
  } catch {
    return null;
  }
}

/**
 * The first usable `nameserver` of resolv.conf (the default resolver of domain checks), or
 * null when the file cannot be read or names none.
 */
export function systemResolverAddress(read: () => string = () => readFileSync('/etc/resolv.conf', 'utf8')): ResolverAddress | null {
  try {
    return resolverFromResolvConf(read());
  } catch {
    return null;
  }
}

export interface DomainDefaults {
  schedule: string;
  caFile?: string;
  warnDays?: number;
  minTls?: keyof typeof TLS_VERSIONS;
  ehlo?: string;
}

/**
 * The `domains:` list, checked and defaulted; every problem pushed with its path.
 * @param names names already taken by host targets (name → its path), extended here.
 */
export function buildDomains(
  raw: readonly RawDomain[] | undefined,
  defaults: DomainDefaults,
  defaultCa: string | undefined,
  readCa: (file: string, path: string) => string | undefined,
  names: Map<string, string>,
  problems: string[],
): ConfiguredDomain[] {
  const out: ConfiguredDomain[] = [];
  (raw ?? []).forEach((d, i) => {
    const at = `domains[${i}]`;
    const parsed = parseServerName(d.domain);
    if (!parsed.ok) problems.push(`${at}.domain: ${JSON.stringify(d.domain)} is not a mail domain: it ${parsed.problem}`);
    const domain = parsed.ok ? parsed.value : d.domain;
    const name = d.name ?? domain;
    const first = names.get(name);
    if (first !== undefined) problems.push(`${at}.name: "${name}" is already used by ${first}; give one of them a distinct name`);
    else names.set(name, at);
    if (d.schedule !== undefined && !cron.validate(d.schedule)) problems.push(`${at}.schedule: "${d.schedule}" is not a valid cron expression`);
    const ca = d.caFile !== undefined ? readCa(d.caFile, `${at}.caFile`) : defaultCa;
    const policyCa = d.policyCaFile !== undefined ? readCa(d.policyCaFile, `${at}.policyCaFile`) : undefined;
    const minTls = d.minTls ?? defaults.minTls;
    const ehlo = d.ehlo ?? defaults.ehlo;
    out.push({
      name,
      schedule: d.schedule ?? defaults.schedule,
      timeoutMs: Math.round((d.timeout ?? DOMAIN_TIMEOUT_SECONDS) * 1000),
      labels: d.labels ?? {},
      domain: {
        domain,
        senders: d.senders ? SENDERS.filter((s) => d.senders!.includes(s)) : [...SENDERS],
        smtp: d.smtp ?? true,
        expect: { ...d.expect } as DomainTarget['expect'],
        ...(ca ? { ca } : {}),
        ...(policyCa ? { policyCa } : {}),
        probe: probeSettings(
          makeTarget({
            host: domain,
            warnDays: d.warnDays ?? defaults.warnDays,
            minTlsVersion: minTls ? TLS_VERSIONS[minTls] : undefined,
            ehloName: ehlo,
          }),
        ),
      },
    });
  });
  // GET /results/domains would hide a target or domain of that name behind /results/NAME.
  const reserved = names.get('domains');
  if (reserved) problems.push(`${reserved}.name: "domains" is reserved (GET /results/domains); give it another name`);
  return out;
}

/** What every MX host's SMTP probe takes from the configuration (same defaults as a host target). */
function probeSettings(t: ProbeTarget): DomainTarget['probe'] {
  return { port: t.port, warnDays: t.warnDays, minTlsVersion: t.minTlsVersion, ehloName: t.ehloName };
}

export type { ResolverAddress, Sender };
