import t from 'tap';
import { tlsCertificateName, windowsDn, windowsValue, type Rdn } from '../../../src/probe/cert/windows-dn.js';

const a = (oid: string, value: string) => ({ oid, value });
const CN = '2.5.4.3', O = '2.5.4.10', OU = '2.5.4.11', L = '2.5.4.7', ST = '2.5.4.8', C = '2.5.4.6';
const E = '1.2.840.113549.1.9.1', DC = '0.9.2342.19200300.100.1.25';

t.test('Windows DN rendering table', async (t) => {
  const cases: Array<[string, Rdn[], string]> = [
    ['seed self-signed', [[a(CN, 'SERVER1')]], 'CN=SERVER1'],
    [
      'reverse DER order, S= for state',
      [[a(C, 'US')], [a(ST, 'WA')], [a(L, 'Seattle')], [a(O, 'Contoso')], [a(CN, 'mail.contoso.com')]],
      'CN=mail.contoso.com, O=Contoso, L=Seattle, S=WA, C=US',
    ],
    ['E= for email', [[a(E, 'admin@contoso.com')], [a(CN, 'x')]], 'CN=x, E=admin@contoso.com'],
    ['multi-valued RDN', [[a(C, 'US')], [a(O, 'Contoso'), a(OU, 'IT')]], 'O=Contoso + OU=IT, C=US'],
    ['unknown attribute as OID', [[a('1.3.6.1.4.1.311.60.2.1.3', 'US')], [a(CN, 'x')]], 'CN=x, OID.1.3.6.1.4.1.311.60.2.1.3=US'],
    ['DC components', [[a(DC, 'com')], [a(DC, 'contoso')], [a(CN, 'Contoso-CA')]], 'CN=Contoso-CA, DC=contoso, DC=com'],
    ['comma quoted', [[a(O, 'Contoso, Ltd.')], [a(CN, 'x')]], 'CN=x, O="Contoso, Ltd."'],
    ['inner quotes doubled', [[a(O, 'The "Best" Co')]], 'O="The ""Best"" Co"'],
  ];
  for (const [name, rdns, want] of cases) t.equal(windowsDn(rdns), want, name);
});

t.test('value quoting', async (t) => {
  for (const v of ['a,b', 'a+b', 'a=b', 'a"b', 'a<b', 'a>b', '#a', 'a;b', 'a\nb', ' lead', 'trail ']) {
    t.ok(windowsValue(v).startsWith('"') && windowsValue(v).endsWith('"'), `quotes ${JSON.stringify(v)}`);
  }
  for (const v of ['plain', 'mail.contoso.com', 'a b', 'a/b', 'a-b_c']) t.equal(windowsValue(v), v, `leaves ${v}`);
});

t.test('tlsCertificateName', async (t) => {
  t.equal(tlsCertificateName([[a(CN, 'SERVER1')]], [[a(CN, 'SERVER1')]]), '<I>CN=SERVER1<S>CN=SERVER1');
  t.equal(
    tlsCertificateName([[a(C, 'US')], [a(O, 'DigiCert Inc')], [a(CN, 'DigiCert CA')]], [[a(CN, 'hybrid.domain.com')]]),
    '<I>CN=DigiCert CA, O=DigiCert Inc, C=US<S>CN=hybrid.domain.com',
  );
});
