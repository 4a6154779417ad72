/**
 * A target: resolve every address behind the name (or take the pinned ones), probe each
 * separately and concurrently under one deadline, and combine. The status is the worst of
 * the addresses: one misconfigured server behind a load balancer makes the target critical.
 */
import { lookup } from 'node:dns/promises';
import { ipVersion } from './ip.js';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { onAbort } from './abort.js';
import { parseHost, parseServerName } from './host.js';
import { localShortage, reason, statusOf, worst } from './reasons.js';
import { MAX_SAMPLES, probeSamples } from './samples.js';
import type { ProbeTarget, Reason, TargetResult } from './types.js';

/** Every address of a name. Injected in tests; never touches the network there. */
export type Resolver = (host: string, signal: AbortSignal) => Promise<string[]>;

export const systemResolver: Resolver = async (host) => {
  const found = await lookup(host, { all: true, verbatim: true });
  return found.map((a) => a.address);
};

export const MAX_ADDRESSES = 32;

export interface ProbeOptions {
  /** The one deadline of the whole probe, DNS included. */
  timeoutMs: number;
  /** Cancels the probe early (service shutdown); the deadline still applies. */
  signal?: AbortSignal;
  resolver?: Resolver;
  now?: () => Date;
}

export const TARGET_DEFAULTS = {
  port: 25,
  warnDays: 30,
  minTlsVersion: 'TLSv1.2',
  timeoutMs: 30_000,
} as const;

/**
 * The server name as it goes into the ClientHello: A-label, no trailing dot, whether it was
 * given or taken from the host. A text that is not a DNS name is kept as given; the probe
 * then refuses it (inputProblem) rather than write it on the wire.
 */
function serverName(name: string): string {
  const parsed = parseServerName(name.trim());
  return parsed.ok ? parsed.value : name;
}

/** A full target from the few fields a user gives; expected names and SNI default to the host. */
export function makeTarget(t: Partial<ProbeTarget> & { host: string }): ProbeTarget {
  const given = t.host.trim().replace(/^\[(.*)\]$/, '$1');
  // DNS and SNI take the A-label form of an internationalised name. A text that is neither an
  // address nor a name stays as it is (and fails to resolve): a lenient URL-host parse would
  // turn `127.0.0.10#` or `2130706442` into an address nobody checked.
  const parsed = parseHost(given);
  const host = !parsed.ok ? given : parsed.value.kind === 'ip' ? parsed.value.address : parsed.value.name + (given.endsWith('.') ? '.' : '');
  const port = t.port ?? TARGET_DEFAULTS.port;
  return {
    host,
    port,
    expect: t.expect?.length ? t.expect : [given],
    sni: t.sni === null ? null : t.sni !== undefined ? serverName(t.sni) : ipVersion(host) ? null : host.replace(/\.$/, ''),
    ...(t.addresses?.length ? { addresses: t.addresses } : {}),
    ...(t.family ? { family: t.family } : {}),
    ...(t.source ? { source: t.source } : {}),
    implicitTls: t.implicitTls ?? port === 465,
    ...(t.ca ? { ca: t.ca } : {}),
    ehloName: t.ehloName ?? hostname(),
    warnDays: t.warnDays ?? TARGET_DEFAULTS.warnDays,
    ...(t.thumbprint ? { thumbprint: t.thumbprint } : {}),
    minTlsVersion: t.minTlsVersion ?? TARGET_DEFAULTS.minTlsVersion,
    ...(t.samples && t.samples > 1 ? { samples: Math.min(t.samples, MAX_SAMPLES) } : {}),
    ...(t.tlsa ? { tlsa: t.tlsa } : {}),
  };
}

function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('deadline reached'));
  return new Promise<T>((resolve, reject) => {
    const stop = onAbort(signal, () => reject(new Error('deadline reached')));
    work.then(resolve, reject).finally(stop);
  });
}

/**
 * Where a probe connects, decided before the first connection: the addresses, or why there
 * are none (a DNS failure becomes the result's reason).
 */
export type Resolution = { addresses: readonly string[] } | { failure: Reason };

/** Every address of a name (deduplicated, filtered by family, at most MAX_ADDRESSES). */
export async function resolveName(name: string, family: 4 | 6 | undefined, resolver: Resolver, signal: AbortSignal): Promise<Resolution> {
  try {
    const all = [...new Set(await abortable(resolver(name, signal), signal))];
    const found = family ? all.filter((a) => ipVersion(a) === family) : all;
    if (found.length === 0) {
      const kind = family === 4 ? 'A' : family === 6 ? 'AAAA' : 'A or AAAA';
      return { failure: reason('dns_error', `${name} has no ${kind} record${all.length ? ` (only ${all.join(', ')})` : ''}`) };
    }
    return { addresses: found.slice(0, MAX_ADDRESSES) };
  } catch (e) {
    const code = (e as { code?: string }).code;
    const shortage = localShortage(code);
    if (shortage) {
      return { failure: reason('probe_error', `cannot resolve ${name}: ${shortage} (${code}), a problem of this machine, not of the name`, code) };
    }
    return { failure: reason('dns_error', `cannot resolve ${name}: ${code ?? (e as Error).message}`) };
  }
}

/** A configured target: its pinned addresses, its IP literal, or its name's addresses. */
async function addressesOf(target: ProbeTarget, resolver: Resolver, signal: AbortSignal): Promise<Resolution> {
  if (target.addresses?.length) return { addresses: target.addresses };
  if (ipVersion(target.host)) return { addresses: [target.host] };
  return resolveName(target.host, target.family, resolver, signal);
}

function inputProblem(target: ProbeTarget): Reason | null {
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    return reason('probe_error', `port must be an integer from 1 to 65535, not ${target.port}`);
  }
  if (!target.host) return reason('probe_error', 'host is empty');
  const bad = target.addresses?.find((a) => !ipVersion(a));
  if (bad !== undefined) return reason('probe_error', `pinned address "${bad}" is not an IP address`);
  if (target.source && !ipVersion(target.source)) return reason('probe_error', `source "${target.source}" is not an IP address`);
  // It goes on the wire after EHLO: no spaces or line breaks that could smuggle a command.
  if (!/^[A-Za-z0-9.:_\[\]-]{1,255}$/.test(target.ehloName)) {
    return reason('probe_error', `EHLO name ${JSON.stringify(target.ehloName)} is not a host name or address literal`);
  }
  // It goes into the ClientHello as given.
  if (target.sni !== null && parseServerName(target.sni).ok !== true) {
    return reason('probe_error', `SNI ${JSON.stringify(target.sni)} is not a DNS name`);
  }
  return null;
}

/** Probe a configured target: resolution (pinned, literal or DNS) is part of the probe. */
export function probeTarget(target: ProbeTarget, options: ProbeOptions): Promise<TargetResult> {
  return run(target, options, (signal) => addressesOf(target, options.resolver ?? systemResolver, signal));
}

/**
 * Probe exactly the addresses of a resolution made by the caller: nothing is resolved and no
 * address is derived from target.host, which is only the name to report and verify.
 */
export function probeResolved(target: ProbeTarget, resolution: Resolution, options: Omit<ProbeOptions, 'resolver'>): Promise<TargetResult> {
  return run(target, options, async () => resolution);
}

async function run(target: ProbeTarget, options: ProbeOptions, plan: (signal: AbortSignal) => Promise<Resolution>): Promise<TargetResult> {
  const started = new Date();
  const t0 = performance.now();
  // A ref'd timer (AbortSignal.timeout's is not): the deadline must fire even when nothing
  // else keeps the process alive, or a hung resolver would end it with no result.
  const deadline = new AbortController();
  const signal = deadline.signal;
  const timer = setTimeout(() => deadline.abort(new Error('deadline reached')), options.timeoutMs);
  // The caller's signal (the service's shutdown) is long-lived and shared by every probe: link
  // it by a wait removed when the probe ends, not by AbortSignal.any, which keeps every
  // probe's signal alive on it.
  const caller = options.signal;
  const unlink = caller ? onAbort(caller, () => deadline.abort(caller.reason)) : () => undefined;
  const result: TargetResult = {
    target: {
      host: target.host,
      port: target.port,
      expect: target.expect,
      sni: target.sni,
      implicitTls: target.implicitTls,
      ...(target.source ? { source: target.source } : {}),
      ...(target.addresses ? { addresses: target.addresses } : {}),
      ...(target.family ? { family: target.family } : {}),
    },
    status: 'ok',
    reasons: [],
    startedAt: started.toISOString(),
    durationMs: 0,
    addresses: [],
  };
  try {
    const problem = inputProblem(target);
    const resolution = problem ? { failure: problem } : await plan(signal);
    const bad = 'addresses' in resolution ? resolution.addresses.find((a) => !ipVersion(a)) : undefined;
    if ('failure' in resolution) {
      result.reasons.push(resolution.failure);
    } else if (bad !== undefined || resolution.addresses.length === 0) {
      result.reasons.push(reason('probe_error', bad !== undefined ? `"${bad}" is not an IP address` : 'no address to probe'));
    } else {
      result.addresses = await Promise.all(resolution.addresses.map((a) => probeSamples(target, a, signal, options.now)));
    }
  } finally {
    // Not cleared: a connection still closing after QUIT is destroyed when the deadline
    // comes, so a server that never closes cannot keep a socket. Unref'd, it holds nothing up.
    timer.unref();
    unlink();
  }
  result.status = worst([statusOf(result.reasons), ...result.addresses.map((a) => a.status)]);
  result.durationMs = Math.round(performance.now() - t0);
  return result;
}
