/**
 * The configuration file's schema (YAML, validated at load). Unknown keys are errors;
 * defaults live here and are documented in config/probe.yaml and the README.
 */
import { Type, type Static } from '@sinclair/typebox';
import { DnsSchema, DomainSchema, TARGET_NAME } from './domains.js';
import { MODULE_NAME, ModulesSchema } from './modules.js';

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Seconds = Type.Number({ exclusiveMinimum: 0, maximum: 600 });
const MinTls = Type.Union([Type.Literal('1.0'), Type.Literal('1.1'), Type.Literal('1.2'), Type.Literal('1.3')]);
const Family = Type.Union([Type.Literal(4), Type.Literal(6)]);
/** Prometheus label names; the labels go onto every series of the target. */
export const LABEL_NAME = '^[a-zA-Z_][a-zA-Z0-9_]*$';
const Name = Type.String({ minLength: 1, maxLength: 253, pattern: '^[^\\s/@]+$' });

/** Settings a target may take, and `defaults` may set for all targets. */
const TargetSettings = {
  port: Type.Optional(Port),
  schedule: Type.Optional(Type.String({ minLength: 1 })),
  timeout: Type.Optional(Seconds),
  warnDays: Type.Optional(Type.Integer({ minimum: 0, maximum: 3650 })),
  minTls: Type.Optional(MinTls),
  ehlo: Type.Optional(Name),
  family: Type.Optional(Family),
  caFile: Type.Optional(Type.String({ minLength: 1 })),
  /** Connections per address per run: servers behind one address (load balancer) may differ. */
  samples: Type.Optional(Type.Integer({ minimum: 1, maximum: 10 })),
};

export const DefaultsSchema = Type.Object(TargetSettings, { additionalProperties: false });

export const TargetSchema = Type.Object(
  {
    ...TargetSettings,
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 100, pattern: TARGET_NAME })),
    host: Name,
    expect: Type.Optional(Type.Array(Name, { minItems: 1, maxItems: 20 })),
    /** false: send no SNI. */
    sni: Type.Optional(Type.Union([Name, Type.Literal(false)])),
    addresses: Type.Optional(Type.Array(Type.String(), { minItems: 1, maxItems: 32 })),
    source: Type.Optional(Type.String()),
    implicitTls: Type.Optional(Type.Boolean()),
    /** A module (modules:) whose settings this target takes where it sets none of its own. */
    module: Type.Optional(Type.String({ pattern: MODULE_NAME })),
    thumbprint: Type.Optional(Type.String()),
    labels: Type.Optional(
      Type.Record(Type.String({ pattern: LABEL_NAME }), Type.String({ maxLength: 200 }), {
        maxProperties: 10,
        additionalProperties: false,
      }),
    ),
  },
  { additionalProperties: false },
);

/**
 * Refusal classes of the on-demand probe (src/http/on-demand.ts maps the IANA special-purpose
 * ranges onto them). `private`: RFC 1918, RFC 6598 shared 100.64/10, fc00::/7, fec0::/10.
 * `reserved`: documentation, benchmarking, 240/4, IETF protocol assignments, Teredo, ORCHID,
 * discard-only and IPv6 space outside 2000::/3.
 */
export const ADDRESS_CLASSES = ['loopback', 'link-local', 'unspecified', 'multicast', 'broadcast', 'private', 'reserved'] as const;
export type AddressClass = (typeof ADDRESS_CLASSES)[number];

export const OnDemandSchema = Type.Object(
  {
    enabled: Type.Optional(Type.Boolean()),
    ports: Type.Optional(Type.Array(Port, { minItems: 1, maxItems: 20 })),
    /** Empty or absent: any host. Entries are names or `*.domain` patterns. */
    allowHosts: Type.Optional(Type.Array(Name, { maxItems: 1000 })),
    refuseAddresses: Type.Optional(Type.Array(Type.Union(ADDRESS_CLASSES.map((c) => Type.Literal(c))))),
    /** Bearer token required on /probe; the environment variable SMTP_TLS_PROBE_TOKEN wins. */
    token: Type.Optional(Type.String({ minLength: 16 })),
    rateLimit: Type.Optional(
      Type.Object(
        {
          max: Type.Integer({ minimum: 1, maximum: 100000 }),
          windowSeconds: Type.Integer({ minimum: 1, maximum: 86400 }),
        },
        { additionalProperties: false },
      ),
    ),
    maxConcurrent: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    maxTimeout: Type.Optional(Seconds),
  },
  { additionalProperties: false },
);

/** A DNS name as a Host header carries it, without a port: letters, digits, hyphens, dots. */
const HostHeaderName = Type.String({
  minLength: 1,
  maxLength: 253,
  pattern: '^[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9_-]*[A-Za-z0-9])?)*\\.?$',
});

export const HttpSchema = Type.Object(
  {
    /** Names /probe answers to in the Host header when no token is set (DNS rebinding). */
    allowedHosts: Type.Optional(Type.Array(HostHeaderName, { maxItems: 100 })),
  },
  { additionalProperties: false },
);

/** Where results, history and certificate sightings are kept (SQLite). */
export const StorageSchema = Type.Object(
  {
    /** A file (relative paths from the working directory), or ':memory:' to keep nothing. */
    path: Type.Optional(Type.String({ minLength: 1, maxLength: 4096 })),
    retentionDays: Type.Optional(Type.Integer({ minimum: 1, maximum: 3650 })),
  },
  { additionalProperties: false },
);

export const ConfigSchema = Type.Object(
  {
    listen: Type.Optional(Type.String({ minLength: 1 })),
    logLevel: Type.Optional(
      Type.Union(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].map((l) => Type.Literal(l))),
    ),
    concurrency: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    /** Window (seconds) scheduled runs are spread over, each target at a stable offset in it. */
    jitter: Type.Optional(Type.Number({ minimum: 0, maximum: 3600 })),
    history: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    defaults: Type.Optional(DefaultsSchema),
    /** Probe profiles for `module=` on /probe and targets' `module:` (built-ins: modules.ts). */
    modules: Type.Optional(ModulesSchema),
    targets: Type.Optional(Type.Array(TargetSchema, { maxItems: 10000 })),
    /** Mail domains checked the way senders check them (MX, MTA-STS, DANE, TLS-RPT): domains.ts. */
    domains: Type.Optional(Type.Array(DomainSchema, { maxItems: 1000 })),
    dns: Type.Optional(DnsSchema),
    onDemand: Type.Optional(OnDemandSchema),
    http: Type.Optional(HttpSchema),
    storage: Type.Optional(StorageSchema),
  },
  { additionalProperties: false },
);

export type RawConfig = Static<typeof ConfigSchema>;
export type RawTarget = Static<typeof TargetSchema>;
