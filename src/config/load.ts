/**
 * Configuration: YAML text → validated, defaulted Config. Every problem is collected and
 * reported with its path (`targets[2].port: must be <= 65535`); nothing half-valid is used.
 */
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import cron from 'node-cron';
import { normalizeThumbprint } from '../probe/cert/judge.js';
import { splitPem } from '../probe/cert/trust-store.js';
import { parseServerName } from '../probe/host.js';
import { makeTarget, TARGET_DEFAULTS } from '../probe/probe-target.js';
import type { ProbeTarget } from '../probe/types.js';
import { buildDomains, parseResolver, type ConfiguredDomain, type ResolverAddress } from './domains.js';
import { buildModules, TLS_VERSIONS, type ProbeModule } from './modules.js';
import { type AddressClass, type RawConfig, type RawTarget } from './schema.js';
import { readCaFile } from './read-file.js';
import { schemaProblems } from './schema-errors.js';
import { parseYaml, readConfigText } from './yaml-text.js';

export interface ConfiguredTarget {
  /** Unique; the key of results and metrics. */
  name: string;
  schedule: string;
  timeoutMs: number;
  labels: Record<string, string>;
  /** The module named by the target, passed on by GET /sd. */
  module?: string;
  probe: ProbeTarget;
}

export interface OnDemandPolicy {
  enabled: boolean;
  ports: number[];
  allowHosts: string[];
  refuseAddresses: AddressClass[];
  token: string | null;
  rateLimit: { max: number; windowSeconds: number };
  maxConcurrent: number;
  maxTimeoutMs: number;
  /** The `defaults` section as it applies to on-demand probes (trust store, EHLO name, ...). */
  probeDefaults: Partial<ProbeTarget>;
  /** Deadline when the caller gives none: defaults.timeout. */
  defaultTimeoutMs: number;
  /** Probe modules by name (module=): the built-in ones and the configured ones (absent: the built-in ones). */
  modules?: ReadonlyMap<string, ProbeModule>;
}

export interface Config {
  /** Where it came from (a path, or a label for text). */
  source: string;
  listen: { host: string; port: number };
  logLevel: string;
  concurrency: number;
  /** Window scheduled runs are spread over; null: the interval, at most a minute. */
  jitterMs: number | null;
  historySize: number;
  targets: ConfiguredTarget[];
  /** Mail domains checked on schedule (domain mode). */
  domains: ConfiguredDomain[];
  /** The validating resolver of domain checks; null: the first nameserver of /etc/resolv.conf, read when used. */
  dns: { resolver: ResolverAddress | null };
  onDemand: OnDemandPolicy;
  http: {
    /** Lowercased, without a final dot. */
    allowedHosts: string[];
  };
  storage: StorageSettings;
}

export interface StorageSettings {
  /** Absolute path of the SQLite file, or ':memory:'. */
  path: string;
  retentionDays: number;
}

export const DEFAULTS = {
  listen: '127.0.0.1:9925',
  logLevel: 'info',
  concurrency: 64,
  history: 50,
  schedule: '*/5 * * * *',
  /** Relative to the working directory; the Docker image sets SMTP_TLS_PROBE_STORAGE instead. */
  storagePath: 'data/smtp-tls-probe.db',
  retentionDays: 90,
  timeoutSeconds: 30,
  onDemand: {
    enabled: true,
    ports: [25, 465, 587, 2525],
    refuseAddresses: ['loopback', 'link-local', 'unspecified', 'multicast', 'broadcast', 'reserved'] as AddressClass[],
    // A Prometheus scraping 200 targets every 15 s from one address stays under it.
    rateLimit: { max: 1200, windowSeconds: 60 },
    maxConcurrent: 16,
    maxTimeoutSeconds: 60,
  },
} as const;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid configuration ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (all interfaces); null if malformed. */
export function parseListen(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text.trim());
  if (!m) return null;
  const port = Number(m[3]);
  const host = m[1] ?? (m[2] || '0.0.0.0');
  if (port > 65535) return null;
  return { host, port };
}

export interface ParseOptions {
  /** Where relative caFile paths are taken from. */
  baseDir: string;
  env?: NodeJS.ProcessEnv;
  /** Where a relative storage.path is taken from (default: the working directory). */
  cwd?: string;
  readFile?: (path: string) => string;
}

export function parseConfig(text: string, source: string, options: ParseOptions): Config {
  const parsed = parseYaml(text);
  if ('problems' in parsed) throw new ConfigError(source, parsed.problems);
  const problems = schemaProblems(parsed.value);
  if (problems.length) throw new ConfigError(source, problems);
  return build(parsed.value as RawConfig, source, options);
}

/** The file's text, bounded in size; a ConfigError naming the file when it cannot be read. */
export function readConfig(path: string): { path: string; text: string } {
  const absolute = resolve(path);
  const read = readConfigText(absolute);
  if ('problem' in read) throw new ConfigError(absolute, [read.problem]);
  return { path: absolute, text: read.text };
}

/** Parse text read from `path` (relative caFile paths are taken from its directory). */
export function configFromText(path: string, text: string, env: NodeJS.ProcessEnv = process.env): Config {
  const absolute = resolve(path);
  return parseConfig(text, absolute, { baseDir: dirname(absolute), env });
}

export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): Config {
  return configFromText(path, readConfig(path).text, env);
}

function build(raw: RawConfig, source: string, options: ParseOptions): Config {
  const problems: string[] = [];
  const readFile = options.readFile ?? readCaFile;
  const caCache = new Map<string, string | null>();
  const readCa = (file: string, path: string): string | undefined => {
    const full = resolve(options.baseDir, file);
    if (!caCache.has(full)) {
      try {
        const text = readFile(full);
        caCache.set(full, splitPem(text).length ? text : null);
        if (!splitPem(text).length) problems.push(`${path}: ${full} holds no PEM certificate`);
      } catch (e) {
        caCache.set(full, null);
        problems.push(`${path}: cannot read ${full}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
      }
    }
    return caCache.get(full) ?? undefined;
  };

  const listen = parseListen(raw.listen ?? DEFAULTS.listen);
  if (!listen) problems.push(`listen: must be HOST:PORT, e.g. 127.0.0.1:9925 or [::]:9925 (got "${raw.listen}")`);

  const defaults = raw.defaults ?? {};
  if (defaults.schedule !== undefined && !cron.validate(defaults.schedule)) {
    problems.push(`defaults.schedule: "${defaults.schedule}" is not a valid cron expression`);
  }
  const defaultCa = defaults.caFile !== undefined ? readCa(defaults.caFile, 'defaults.caFile') : undefined;
  const modules = buildModules(raw.modules, readCa, problems);

  const names = new Map<string, string>();
  const targets: ConfiguredTarget[] = [];
  (raw.targets ?? []).forEach((t: RawTarget, i) => {
    const at = `targets[${i}]`;
    let m: ProbeModule = {};
    if (t.module !== undefined) {
      const found = modules.get(t.module);
      if (found) m = found;
      else problems.push(`${at}.module: unknown module "${t.module}"; known: ${[...modules.keys()].join(', ')}`);
    }
    const port = t.port ?? m.port ?? defaults.port ?? 25;
    const name = t.name ?? (port === 25 ? t.host : `${t.host}:${port}`);
    const first = names.get(name);
    if (first !== undefined) {
      problems.push(`${at}.name: "${name}" is already used by ${first}; give one of them a distinct name`);
    } else {
      names.set(name, at);
    }
    const schedule = t.schedule ?? defaults.schedule ?? DEFAULTS.schedule;
    if (t.schedule !== undefined && !cron.validate(t.schedule)) {
      problems.push(`${at}.schedule: "${t.schedule}" is not a valid cron expression`);
    }
    (t.addresses ?? []).forEach((a, j) => {
      if (!isIP(a)) problems.push(`${at}.addresses[${j}]: "${a}" is not an IP address`);
    });
    if (t.source !== undefined && !isIP(t.source)) problems.push(`${at}.source: "${t.source}" is not an IP address`);
    if (typeof t.sni === 'string') {
      const sni = parseServerName(t.sni);
      if (!sni.ok) problems.push(`${at}.sni: ${JSON.stringify(t.sni)} is not a server name: it ${sni.problem}`);
    }
    if (t.thumbprint !== undefined && normalizeThumbprint(t.thumbprint).length !== 40) {
      problems.push(`${at}.thumbprint: must be 40 hexadecimal characters (SHA-1)`);
    }
    const ca = t.caFile !== undefined ? readCa(t.caFile, `${at}.caFile`) : (m.ca ?? defaultCa);
    const minTls = t.minTls ?? defaults.minTls;
    const family = t.family ?? defaults.family;
    targets.push({
      name,
      schedule,
      timeoutMs: t.timeout !== undefined ? Math.round(t.timeout * 1000) : (m.timeoutMs ?? Math.round((defaults.timeout ?? DEFAULTS.timeoutSeconds) * 1000)),
      labels: t.labels ?? {},
      ...(t.module !== undefined ? { module: t.module } : {}),
      probe: makeTarget({
        host: t.host,
        port,
        expect: t.expect ?? m.expect,
        sni: t.sni === false ? null : (t.sni ?? m.sni),
        addresses: t.addresses,
        source: t.source,
        implicitTls: t.implicitTls ?? m.implicitTls,
        ca,
        ehloName: t.ehlo ?? m.ehloName ?? defaults.ehlo,
        warnDays: t.warnDays ?? m.warnDays ?? defaults.warnDays,
        thumbprint: t.thumbprint,
        minTlsVersion: t.minTls ? TLS_VERSIONS[t.minTls] : (m.minTlsVersion ?? (minTls ? TLS_VERSIONS[minTls] : undefined)),
        family,
        samples: t.samples ?? defaults.samples,
      }),
    });
  });

  const domains = buildDomains(
    raw.domains,
    { ...defaults, schedule: defaults.schedule ?? DEFAULTS.schedule },
    defaultCa,
    readCa,
    names,
    problems,
  );
  const resolver = raw.dns?.resolver === undefined ? null : parseResolver(raw.dns.resolver);
  if (raw.dns?.resolver !== undefined && !resolver) {
    problems.push(`dns.resolver: must be an IP address with an optional port: IP, IP:PORT or [IPv6]:PORT (got ${JSON.stringify(raw.dns.resolver)})`);
  }

  const od = raw.onDemand ?? {};
  const token = options.env?.SMTP_TLS_PROBE_TOKEN || od.token || null;
  if (options.env?.SMTP_TLS_PROBE_TOKEN && options.env.SMTP_TLS_PROBE_TOKEN.length < 16) {
    problems.push('SMTP_TLS_PROBE_TOKEN (environment): must be at least 16 characters');
  }
  if (problems.length) throw new ConfigError(source, problems);
  const storagePath = raw.storage?.path ?? (options.env?.SMTP_TLS_PROBE_STORAGE || DEFAULTS.storagePath);
  return {
    source,
    listen: listen!,
    logLevel: raw.logLevel ?? DEFAULTS.logLevel,
    concurrency: raw.concurrency ?? DEFAULTS.concurrency,
    jitterMs: raw.jitter === undefined ? null : Math.round(raw.jitter * 1000),
    historySize: raw.history ?? DEFAULTS.history,
    targets,
    domains,
    dns: { resolver },
    onDemand: {
      enabled: od.enabled ?? DEFAULTS.onDemand.enabled,
      ports: od.ports ?? [...DEFAULTS.onDemand.ports],
      allowHosts: od.allowHosts ?? [],
      refuseAddresses: od.refuseAddresses ?? [...DEFAULTS.onDemand.refuseAddresses],
      token,
      rateLimit: od.rateLimit ?? { ...DEFAULTS.onDemand.rateLimit },
      maxConcurrent: od.maxConcurrent ?? DEFAULTS.onDemand.maxConcurrent,
      maxTimeoutMs: Math.round((od.maxTimeout ?? DEFAULTS.onDemand.maxTimeoutSeconds) * 1000),
      probeDefaults: {
        ...(defaultCa ? { ca: defaultCa } : {}),
        ...(defaults.ehlo ? { ehloName: defaults.ehlo } : {}),
        warnDays: defaults.warnDays ?? TARGET_DEFAULTS.warnDays,
        minTlsVersion: TLS_VERSIONS[defaults.minTls ?? '1.2'],
        ...(defaults.family ? { family: defaults.family } : {}),
      },
      defaultTimeoutMs: Math.round((defaults.timeout ?? DEFAULTS.timeoutSeconds) * 1000),
      modules,
    },
    http: {
      allowedHosts: [...new Set((raw.http?.allowedHosts ?? []).map((h) => h.toLowerCase().replace(/\.$/, '')))],
    },
    storage: {
      path: storagePath === ':memory:' ? storagePath : resolve(options.cwd ?? process.cwd(), storagePath),
      retentionDays: raw.storage?.retentionDays ?? DEFAULTS.retentionDays,
    },
  };
}
