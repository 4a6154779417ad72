/**
 * Distinguished names rendered the way Windows (and so Exchange) shows them, e.g. in
 * Get-ExchangeCertificate and in a receive connector's TlsCertificateName:
 * RDNs in reverse DER order (most specific first), joined by ", ", multi-valued RDNs by " + ",
 * Windows' short names (S= for stateOrProvince, E= for email), unknown types as OID.x.y.z.
 */

export interface Attribute {
  oid: string;
  value: string;
}
/** One RDN: usually one attribute, several for a multi-valued RDN. */
export type Rdn = readonly Attribute[];

const SHORT_NAMES: Record<string, string> = {
  '2.5.4.3': 'CN',
  '2.5.4.4': 'SN',
  '2.5.4.5': 'SERIALNUMBER',
  '2.5.4.6': 'C',
  '2.5.4.7': 'L',
  '2.5.4.8': 'S',
  '2.5.4.9': 'STREET',
  '2.5.4.10': 'O',
  '2.5.4.11': 'OU',
  '2.5.4.12': 'T',
  '2.5.4.17': 'PostalCode',
  '2.5.4.42': 'G',
  '2.5.4.43': 'I',
  '2.5.4.46': 'dnQualifier',
  '1.2.840.113549.1.9.1': 'E',
  '0.9.2342.19200300.100.1.25': 'DC',
  '0.9.2342.19200300.100.1.1': 'UID',
};

const NEEDS_QUOTES = /[,+="<>#;\n\r]|^\s|\s$/;

export function windowsValue(value: string): string {
  return NEEDS_QUOTES.test(value) || value === '' ? `"${value.replace(/"/g, '""')}"` : value;
}

export function windowsAttribute(a: Attribute): string {
  return `${SHORT_NAMES[a.oid] ?? `OID.${a.oid}`}=${windowsValue(a.value)}`;
}

/** Render a name given as RDNs in DER order. */
export function windowsDn(rdns: readonly Rdn[]): string {
  return [...rdns]
    .reverse()
    .map((rdn) => rdn.map(windowsAttribute).join(' + '))
    .join(', ');
}

/** `<I>issuer<S>subject`, what Set-ReceiveConnector -TlsCertificateName expects. */
export function tlsCertificateName(issuer: readonly Rdn[], subject: readonly Rdn[]): string {
  return `<I>${windowsDn(issuer)}<S>${windowsDn(subject)}`;
}
