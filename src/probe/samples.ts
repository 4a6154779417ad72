/**
 * Several connections to one address in one run: behind a VIP, SNAT or round robin, each
 * connection may reach another server with another certificate, which Exchange Online sees
 * as intermittent 450 4.7.320. Every sample is judged; the address's verdict is the worst
 * sample's, plus cert_inconsistent when the samples got different certificates.
 */
import { probeAddress } from './probe-address.js';
import { reason, statusOf, worst } from './reasons.js';
import { remediation } from './remediation.js';
import type { AddressResult, CertificateFacts, ProbeTarget } from './types.js';

export const MAX_SAMPLES = 10;

export async function probeSamples(
  target: ProbeTarget,
  address: string,
  signal: AbortSignal,
  now?: () => Date,
): Promise<AddressResult> {
  const n = Math.min(target.samples ?? 1, MAX_SAMPLES);
  if (n <= 1) return probeAddress(target, address, signal, now);
  // One after the other: a balancer that alternates per connection shows each backend.
  const results: AddressResult[] = [];
  for (let i = 0; i < n; i++) {
    results.push(await probeAddress(target, address, signal, now));
    if (signal.aborted) break;
  }
  return combineSamples(results);
}

/** The worst sample as the address's result, with every sample's outcome and the consistency verdict. */
export function combineSamples(results: readonly AddressResult[]): AddressResult {
  const status = worst(results.map((r) => r.status));
  const base = results.find((r) => r.status === status) ?? results[0]!;
  const combined: AddressResult = {
    ...base,
    reasons: [...base.reasons],
    samples: results.map((r) => ({
      status: r.status,
      reasons: r.reasons.map((x) => x.code),
      certificate: r.certificate,
      ehloHost: r.smtp.ehloHost ?? null,
    })),
  };
  const distinct = distinctCertificates(results.map((r) => r.certificate));
  if (distinct.length > 1) {
    combined.reasons.push(
      reason(
        'cert_inconsistent',
        `${results.length} connections to ${base.address} got ${distinct.length} different certificates: ${describeDistinct(distinct)}`,
      ),
    );
    combined.status = worst([combined.status, statusOf(combined.reasons)]);
    combined.remediation = remediation(combined.reasons, combined.certificate, combined.names);
  }
  return combined;
}

export interface Distinct {
  thumbprint: string;
  subject: string;
  count: number;
}

function distinctCertificates(certs: ReadonlyArray<CertificateFacts | null>): Distinct[] {
  const by = new Map<string, Distinct>();
  for (const c of certs) {
    if (!c) continue;
    const d = by.get(c.thumbprint) ?? { thumbprint: c.thumbprint, subject: c.subject, count: 0 };
    d.count++;
    by.set(c.thumbprint, d);
  }
  return [...by.values()];
}

/** `THUMBPRINT ("subject") 2 times, ...` */
export function describeDistinct(list: readonly Distinct[]): string {
  return list.map((d) => `${d.thumbprint} ("${d.subject}") ${d.count} time${d.count === 1 ? '' : 's'}`).join(', ');
}
