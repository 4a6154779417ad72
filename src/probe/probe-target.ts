/**
 * A target: resolve every address behind the name (or take the pinned ones), probe each
 * separately and concurrently under one deadline, and combine. The status is the worst of
 * the addresses: one misconfigured server behind a load balancer makes the target critical.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import { MAX_SAMPLES, probeSamples } from './samples.js';
import { reason, statusOf, worst } from './reasons.js';
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

/** A full target from the few fields a user gives; expected names and SNI default to the host. */
export function makeTarget(t: Partial<ProbeTarget> & { host: string }): ProbeTarget {
  const given = t.host.trim().replace(/^\[(.*)\]$/, '$1');
  // DNS and SNI take the A-label form of an internationalised name.
  const host = isIP(given) ? given : domainToASCII(given) || given;
  const port = t.port ?? TARGET_DEFAULTS.port;
  return {
    host,
    port,
    expect: t.expect?.length ? t.expect : [given],
    sni: t.sni !== undefined ? t.sni : isIP(host) ? null : host.replace(/\.$/, ''),
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
  };
}

function abortable<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(new Error('deadline reached'));
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new Error('deadline reached'));
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

async function addressesOf(target: ProbeTarget, resolver: Resolver, signal: AbortSignal): Promise<string[] | Reason> {
  if (target.addresses?.length) return target.addresses;
  if (isIP(target.host)) return [target.host];
  try {
    const all = [...new Set(await abortable(resolver(target.host, signal), signal))];
    const found = target.family ? all.filter((a) => isIP(a) === target.family) : all;
    if (found.length === 0) {
      const kind = target.family === 4 ? 'A' : target.family === 6 ? 'AAAA' : 'A or AAAA';
      return reason('dns_error', `${target.host} has no ${kind} record${all.length ? ` (only ${all.join(', ')})` : ''}`);
    }
    return found.slice(0, MAX_ADDRESSES);
  } catch (e) {
    const code = (e as { code?: string }).code;
    return reason('dns_error', `cannot resolve ${target.host}: ${code ?? (e as Error).message}`);
  }
}

function inputProblem(target: ProbeTarget): Reason | null {
  if (!Number.isInteger(target.port) || target.port < 1 || target.port > 65535) {
    return reason('probe_error', `port must be an integer from 1 to 65535, not ${target.port}`);
  }
  if (!target.host) return reason('probe_error', 'host is empty');
  const bad = target.addresses?.find((a) => !isIP(a));
  if (bad !== undefined) return reason('probe_error', `pinned address "${bad}" is not an IP address`);
  if (target.source && !isIP(target.source)) return reason('probe_error', `source "${target.source}" is not an IP address`);
  // It goes on the wire after EHLO: no spaces or line breaks that could smuggle a command.
  if (!/^[A-Za-z0-9.:_\[\]-]{1,255}$/.test(target.ehloName)) {
    return reason('probe_error', `EHLO name ${JSON.stringify(target.ehloName)} is not a host name or address literal`);
  }
  return null;
}

export async function probeTarget(target: ProbeTarget, options: ProbeOptions): Promise<TargetResult> {
  const started = new Date();
  const t0 = performance.now();
  // A ref'd timer (AbortSignal.timeout's is not): the deadline must fire even when nothing
  // else keeps the process alive, or a hung resolver would end it with no result.
  const deadline = new AbortController();
  const signal = deadline.signal;
  const timer = setTimeout(() => deadline.abort(new Error('deadline reached')), options.timeoutMs);
  // The caller's signal (the service's shutdown) is long-lived: link it by a listener removed
  // when the probe ends, not by AbortSignal.any, which keeps every probe's signal alive on it.
  const cancel = () => deadline.abort(options.signal?.reason);
  if (options.signal?.aborted) cancel();
  options.signal?.addEventListener('abort', cancel, { once: true });
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
    const addresses = problem ?? (await addressesOf(target, options.resolver ?? systemResolver, signal));
    if (Array.isArray(addresses)) {
      result.addresses = await Promise.all(addresses.map((a) => probeSamples(target, a, signal, options.now)));
    } else {
      result.reasons.push(addresses);
    }
  } finally {
    // Not cleared: a connection still closing after QUIT is destroyed when the deadline
    // comes, so a server that never closes cannot keep a socket. Unref'd, it holds nothing up.
    timer.unref();
    options.signal?.removeEventListener('abort', cancel);
  }
  result.status = worst([statusOf(result.reasons), ...result.addresses.map((a) => a.status)]);
  result.durationMs = Math.round(performance.now() - t0);
  return result;
}
