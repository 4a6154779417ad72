/**
 * The probe's door to the ASN.1 schema of X.509 (@peculiar/asn1-x509): one decode of the
 * certificate, and of the extensions the verdict reads. Not @peculiar/x509, whose import
 * alone (with its dependency injection and reflect-metadata) costs about 150 ms of a
 * one-shot check, and which decodes each extension again to look one up.
 */
export { AsnConvert } from '@peculiar/asn1-schema';
export {
  AuthorityInfoAccessSyntax,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate as AsnCertificate,
  CertificatePolicies,
  CRLDistributionPoints,
  ExtendedKeyUsage,
  GeneralName,
  IssueAlternativeName,
  KeyUsage,
  KeyUsageFlags,
  NameConstraints,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  type Extension as AsnExtension,
  type Name as AsnName,
} from '@peculiar/asn1-x509';
