/**
 * MX lookup and classification (RFC 5321 §5.1, RFC 7505, RFC 2181 §10.3) against an in-memory
 * resolver: one row per rule of DOMAIN.md, asserting the kind, the hosts and the reason codes.
 */
import t, { type Test } from 'tap';
import { lookupMx, MAX_MX_HOSTS } from '../../../src/probe/domain/mx.js';
import { addr, answeringDns, mx, type Answer } from '../../helpers/dns-answers.js';

const D = 'example.test';
const host = (name: string, ...addresses: string[]): Record<string, Answer> => ({
  [`${name} A`]: { records: addresses.filter((a) => !a.includes(':')).map(addr) },
  [`${name} AAAA`]: { records: addresses.filter((a) => a.includes(':')).map(addr) },
});

interface Row {
  name: string;
  zone: Record<string, Answer>;
  kind: string;
  hosts: string[];
  codes: string[];
  check?: (t: Test, r: Awaited<ReturnType<typeof lookupMx>>) => void;
}

const rows: Row[] = [
  {
    name: 'explicit MX, sorted by preference then name',
    zone: {
      [`${D} MX`]: { records: [mx(20, 'mx2.example.test.'), mx(10, 'MX1.Example.Test.'), mx(10, 'mx0.example.test')] },
      'mx1.example.test A': { records: [addr('192.0.2.1')], signatureExpires: '2027-01-02T00:00:00.000Z' },
      'mx1.example.test AAAA': { records: [addr('2001:db8::1')], signatureExpires: '2027-01-01T00:00:00.000Z' },
      ...host('mx2.example.test', '192.0.2.2'),
      ...host('mx0.example.test', '192.0.2.3'),
    },
    kind: 'explicit',
    hosts: ['mx0.example.test', 'mx1.example.test', 'mx2.example.test'],
    codes: [],
    check: (t, r) => {
      t.same(r.facts.hosts[1]!.addresses.map((a) => a.address), ['192.0.2.1', '2001:db8::1']);
      t.equal(r.facts.hosts[1]!.signatureExpires, '2027-01-01T00:00:00.000Z', 'the earlier of A and AAAA');
      t.equal(r.facts.hosts[2]!.signatureExpires, undefined);
      t.equal(r.facts.hosts[1]!.dnssec, 'secure');
      t.equal(r.facts.dnssec, 'secure');
    },
  },
  { name: 'NXDOMAIN: the domain does not exist', zone: { [`${D} MX`]: { rcode: 'NXDOMAIN' } }, kind: 'none', hosts: [], codes: ['domain_not_found'] },
  { name: 'SERVFAIL: a failed lookup, never "no MX"', zone: { [`${D} MX`]: { rcode: 'SERVFAIL', security: 'indeterminate' } }, kind: 'error', hosts: [], codes: ['mx_lookup_failed'] },
  { name: 'timeout: a failed lookup', zone: { [`${D} MX`]: { rcode: 'TIMEOUT', security: 'indeterminate' } }, kind: 'error', hosts: [], codes: ['mx_lookup_failed'] },
  { name: 'bogus MX RRset', zone: { [`${D} MX`]: { rcode: 'SERVFAIL', security: 'bogus', ede: [{ code: 6, text: 'DNSSEC Bogus' }] } }, kind: 'error', hosts: [], codes: ['dnssec_bogus'] },
  { name: 'no MX: the implicit MX is the domain itself', zone: { [`${D} MX`]: {}, ...host(D, '192.0.2.9') }, kind: 'implicit', hosts: [D], codes: ['mx_implicit'], check: (t, r) => t.equal(r.facts.hosts[0]!.implicit, true) },
  { name: 'no MX and no address: mx_none', zone: { [`${D} MX`]: {} }, kind: 'none', hosts: [], codes: ['mx_none'] },
  { name: 'no MX and the address lookup fails: mx_lookup_failed', zone: { [`${D} MX`]: {}, [`${D} A`]: { rcode: 'SERVFAIL', security: 'indeterminate' }, [`${D} AAAA`]: { rcode: 'SERVFAIL', security: 'indeterminate' } }, kind: 'error', hosts: [], codes: ['mx_lookup_failed'] },
  { name: 'null MX alone', zone: { [`${D} MX`]: { records: [mx(0, '.')] } }, kind: 'null', hosts: [], codes: ['mx_null'], check: (t, r) => t.equal(r.reasons[0]!.severity, 'info') },
  { name: 'null MX as decoded without the dot', zone: { [`${D} MX`]: { records: [mx(0, '')] } }, kind: 'null', hosts: [], codes: ['mx_null'] },
  {
    name: 'null MX beside another MX',
    zone: { [`${D} MX`]: { records: [mx(0, '.'), mx(10, 'mx1.example.test')] }, ...host('mx1.example.test', '192.0.2.1') },
    kind: 'explicit',
    hosts: ['mx1.example.test'],
    codes: ['mx_null_conflict'],
  },
  {
    name: 'IP literal and non-LDH targets are invalid',
    zone: { [`${D} MX`]: { records: [mx(10, '192.0.2.7'), mx(20, 'mail_x.example.test'), mx(30, 'mx1.example.test')] }, ...host('mx1.example.test', '192.0.2.1') },
    kind: 'explicit',
    hosts: ['192.0.2.7', 'mail_x.example.test', 'mx1.example.test'],
    codes: ['mx_target_invalid', 'mx_target_invalid'],
    check: (t, r) => t.same(r.reasons.map((x) => x.mx), ['192.0.2.7', 'mail_x.example.test']),
  },
  {
    name: 'CNAME target: a warning, addresses still used',
    zone: { [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] }, [`mx1.example.test A`]: { records: [addr('192.0.2.1')], cnames: ['real.example.net'] } },
    kind: 'explicit',
    hosts: ['mx1.example.test'],
    codes: ['mx_target_cname'],
    check: (t, r) => {
      t.same(r.facts.hosts[0]!.cnames, ['real.example.net']);
      t.equal(r.reasons[0]!.severity, 'warning');
    },
  },
  { name: 'MX host without address', zone: { [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] } }, kind: 'explicit', hosts: ['mx1.example.test'], codes: ['mx_host_unresolvable'] },
  {
    name: 'MX host whose lookups fail',
    zone: { [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] }, 'mx1.example.test A': { rcode: 'SERVFAIL', security: 'indeterminate' }, 'mx1.example.test AAAA': { rcode: 'TIMEOUT', security: 'indeterminate' } },
    kind: 'explicit',
    hosts: ['mx1.example.test'],
    codes: ['mx_host_unresolvable'],
    check: (t, r) => t.match(r.reasons[0]!.message, /A lookup failed \(SERVFAIL\).*AAAA lookup failed \(TIMEOUT\)/),
  },
  {
    name: 'MX host with bogus A',
    zone: { [`${D} MX`]: { records: [mx(10, 'mx1.example.test')] }, 'mx1.example.test A': { rcode: 'SERVFAIL', security: 'bogus', ede: [{ code: 7, text: 'Signature Expired' }] } },
    kind: 'explicit',
    hosts: ['mx1.example.test'],
    codes: ['dnssec_bogus'],
    check: (t, r) => {
      t.equal(r.facts.hosts[0]!.dnssec, 'bogus');
      t.equal(r.reasons[0]!.mx, 'mx1.example.test');
      t.match(r.reasons[0]!.message, /EDE 7 Signature Expired/);
    },
  },
  {
    name: 'insecure AAAA beside secure A: the host is insecure; special-purpose addresses flagged',
    zone: { [`${D} MX`]: { records: [mx(10, 'mx1.example.test')], security: 'insecure' }, 'mx1.example.test A': { records: [addr('10.1.2.3'), addr('192.0.2.1')] }, 'mx1.example.test AAAA': { records: [addr('::ffff:127.0.0.1')], security: 'insecure' } },
    kind: 'explicit',
    hosts: ['mx1.example.test'],
    codes: [],
    check: (t, r) => {
      const h = r.facts.hosts[0]!;
      t.equal(h.dnssec, 'insecure');
      t.equal(r.facts.dnssec, 'insecure');
      t.same(h.addresses.map((a) => [a.address, a.dnssec, a.special]), [['10.1.2.3', 'secure', 'private'], ['192.0.2.1', 'secure', 'reserved'], ['::ffff:127.0.0.1', 'insecure', 'loopback']]);
    },
  },
  {
    name: 'bounded: at most MAX_MX_HOSTS hosts, duplicates once',
    zone: { [`${D} MX`]: { records: [mx(5, 'dup.example.test'), mx(6, 'dup.example.test.'), ...Array.from({ length: 20 }, (_, i) => mx(10 + i, `mx${i}.example.test`))] } },
    kind: 'explicit',
    hosts: ['dup.example.test', ...Array.from({ length: MAX_MX_HOSTS - 1 }, (_, i) => `mx${i}.example.test`)],
    codes: Array.from({ length: MAX_MX_HOSTS }, () => 'mx_host_unresolvable'),
  },
];

for (const row of rows) {
  t.test(row.name, async (t) => {
    const r = await lookupMx(D, answeringDns(row.zone), AbortSignal.timeout(5000));
    t.equal(r.facts.kind, row.kind, 'kind');
    t.same(r.facts.hosts.map((h) => h.host), row.hosts, 'hosts');
    t.same(r.reasons.map((x) => x.code), row.codes, 'reason codes');
    row.check?.(t, r);
  });
}

t.test('a failed MX lookup asks nothing more (no implicit MX from a SERVFAIL)', async (t) => {
  const dns = answeringDns({ [`${D} MX`]: { rcode: 'SERVFAIL', security: 'indeterminate' } });
  await lookupMx(D, dns, AbortSignal.timeout(5000));
  t.same(dns.asked, [`${D} MX`]);
});
