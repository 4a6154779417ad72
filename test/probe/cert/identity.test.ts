import t from 'tap';
import { canonicalIp, canonicalName, dnsIdMatches, matchIdentity } from '../../../src/probe/cert/identity.js';

t.test('RFC 9525 DNS-ID matching table', async (t) => {
  const cases: Array<[pattern: string, name: string, match: boolean, why: string]> = [
    ['hybrid.domain.com', 'hybrid.domain.com', true, 'exact'],
    ['HYBRID.Domain.COM', 'hybrid.domain.com', true, 'case-insensitive'],
    ['hybrid.domain.com.', 'hybrid.domain.com', true, 'trailing dot in pattern'],
    ['hybrid.domain.com', 'hybrid.domain.com.', true, 'trailing dot in name'],
    ['*.domain.com', 'hybrid.domain.com', true, 'wildcard covers one label'],
    ['*.domain.com', 'domain.com', false, 'wildcard does not cover the apex'],
    ['*.domain.com', 'a.hybrid.domain.com', false, 'wildcard does not cover deeper labels'],
    ['f*.domain.com', 'foo.domain.com', false, 'partial wildcard is invalid'],
    ['*o.domain.com', 'foo.domain.com', false, 'partial wildcard suffix is invalid'],
    ['a.*.domain.com', 'a.b.domain.com', false, 'wildcard only in the left-most label'],
    ['*.com', 'domain.com', false, 'wildcard over a single label is refused'],
    ['*', 'localhost', false, 'bare wildcard'],
    ['**.domain.com', 'a.domain.com', false, 'double star'],
    ['SERVER1', 'hybrid.domain.com', false, 'the seed: short name'],
    ['SERVER1.domain.com', 'hybrid.domain.com', false, 'the seed: server FQDN'],
    ['xn--bcher-kva.example', 'bücher.example', true, 'IDNA: U-label reference against A-label SAN'],
    ['*.xn--bcher-kva.example', 'mail.bücher.example', true, 'IDNA under a wildcard'],
    // Presented names are compared as the certificate has them: only LDH ASCII counts, no
    // trimming or IDNA mapping (issue 9; this case matched before).
    ['bücher.example', 'bücher.example', false, 'a U-label in a SAN is not a DNS-ID (no IDNA mapping of presented names)'],
    ['hybrid.domain.com ', 'hybrid.domain.com', false, 'trailing space is not trimmed'],
    [' hybrid.domain.com', 'hybrid.domain.com', false, 'leading space is not trimmed'],
    ['hy\u00adbrid.domain.com', 'hybrid.domain.com', false, 'soft hyphen (0xAD) is not mapped away'],
    ['hybrid.dom\u00aain.com', 'hybrid.domain.com', false, 'feminine ordinal (0xAA) is not mapped to a'],
    ['HYBRİD.domain.com', 'hybrid.domain.com', false, 'dotted capital I is not case-folded'],
    ['hybrid_x.domain.com', 'hybrid_x.domain.com', false, 'underscore is not LDH'],
    ['*.domain.com ', 'hybrid.domain.com', false, 'wildcard with trailing space'],
    ['hybrid.domain.com..', 'hybrid.domain.com', false, 'two trailing dots'],
    ['mail.example.com', 'mail.example.co', false, 'suffix'],
    ['ail.example.com', 'mail.example.com', false, 'prefix'],
  ];
  for (const [pattern, name, match, why] of cases) {
    t.equal(dnsIdMatches(pattern, canonicalName(name) ?? ''), match, `${why}: ${pattern} vs ${name}`);
  }
});

t.test('canonical forms', async (t) => {
  t.equal(canonicalName('Mail.Example.COM.'), 'mail.example.com');
  t.equal(canonicalName('bücher.example'), 'xn--bcher-kva.example');
  t.equal(canonicalName('a..b'), null);
  t.equal(canonicalName(''), null);
  t.equal(canonicalIp('::0001'), '::1');
  t.equal(canonicalIp('[2001:DB8::1]'), '2001:db8::1');
  t.equal(canonicalIp('127.0.0.2'), '127.0.0.2');
  t.equal(canonicalIp('mail.example.com'), null);
});

t.test('matchIdentity: SANs, CN fallback and IP references', async (t) => {
  const seed = { dnsNames: ['SERVER1', 'SERVER1.domain.com'], ipAddresses: [], commonNames: ['SERVER1'] };
  t.same(matchIdentity('hybrid.domain.com', seed), { kind: 'mismatch', cnWouldMatch: null });
  t.same(matchIdentity('server1.domain.com', seed), { kind: 'match', via: 'DNS:SERVER1.domain.com' });

  const cnAndSans = { dnsNames: ['other.example.com'], ipAddresses: [], commonNames: ['mail.example.com'] };
  t.same(
    matchIdentity('mail.example.com', cnAndSans),
    { kind: 'mismatch', cnWouldMatch: 'mail.example.com' },
    'CN is ignored when DNS SANs exist, but noted',
  );
  const cnOnly = { dnsNames: [], ipAddresses: [], commonNames: ['mail.example.com'] };
  t.same(matchIdentity('MAIL.example.com', cnOnly), { kind: 'cn_only', via: 'CN=mail.example.com' });
  t.same(matchIdentity('other.example.com', cnOnly), { kind: 'mismatch', cnWouldMatch: null });

  const withIp = { dnsNames: ['127.0.0.2'], ipAddresses: ['127.0.0.3', '::1'], commonNames: ['127.0.0.2'] };
  t.same(matchIdentity('127.0.0.3', withIp), { kind: 'match', via: 'IP:127.0.0.3' });
  t.same(matchIdentity('0:0:0:0:0:0:0:1', withIp), { kind: 'match', via: 'IP:::1' });
  t.equal(matchIdentity('127.0.0.2', withIp).kind, 'mismatch', 'an IP reference never matches a DNS-ID or CN');
  t.equal(matchIdentity('not a name', cnOnly).kind, 'mismatch');

  // RFC 9525 §6.3: the CN is a fallback only when there is no DNS, SRV or URI identifier.
  const uriAndCn = { dnsNames: [], ipAddresses: [], commonNames: ['mail.example.com'], otherIds: ['URI:https://mail.example.com/'] };
  t.same(matchIdentity('mail.example.com', uriAndCn), { kind: 'mismatch', cnWouldMatch: 'mail.example.com' }, 'a URI SAN rules the CN out');
  const srvAndCn = { ...uriAndCn, otherIds: ['SRV:_smtp.mail.example.com'] };
  t.equal(matchIdentity('mail.example.com', srvAndCn).kind, 'mismatch', 'an SRV SAN rules the CN out');
  t.same(matchIdentity('mail.example.com', { ...cnOnly, commonNames: ['mail.example.com '] }), { kind: 'mismatch', cnWouldMatch: null }, 'nor is a CN trimmed');
  t.same(matchIdentity(' Bücher.Example. ', { dnsNames: ['xn--bcher-kva.example'], ipAddresses: [], commonNames: [] }), { kind: 'match', via: 'DNS:xn--bcher-kva.example' }, 'the typed name is converted to an A-label');
});
