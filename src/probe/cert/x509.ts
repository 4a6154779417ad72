/**
 * The one door to @peculiar/x509 and its ASN.1 schema: their decorators need reflect-metadata
 * loaded first, and x509 must use Node's WebCrypto. Import them from here only.
 */
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
export { AsnConvert } from '@peculiar/asn1-schema';
export { Certificate as AsnCertificate, type Name as AsnName } from '@peculiar/asn1-x509';
