/** The probe engine's public surface: no HTTP, scheduling, metrics or storage in here. */
export {
  probeTarget,
  probeResolved,
  resolveName,
  makeTarget,
  systemResolver,
  TARGET_DEFAULTS,
  type Resolver,
  type Resolution,
  type ProbeOptions,
} from './probe-target.js';
export { probeAddress } from './probe-address.js';
export { REASONS, REASON_CODES, worst, statusOf, type ReasonCode, type Severity } from './reasons.js';
export { normalizeThumbprint } from './cert/judge.js';
export { remediation } from './remediation.js';
export type * from './types.js';
export { parseHost, parseHostPort, parseDnsName, parseServerName, parseExpectName, parseIpLiteral, hostText, type ParsedHost, type Parsed } from './host.js';
export {
  createDnsClient,
  parseResolverAddress,
  resolverFromResolvConf,
  resolverText,
  checkValidating,
  type DnsClientOptions,
  type ResolverAddress,
} from './dns/client.js';
export type * from './dns/types.js';
