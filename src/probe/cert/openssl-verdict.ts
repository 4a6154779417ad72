/**
 * OpenSSL's verdict on the path, as the handshake computed it against the same trust store
 * (the target's CA file, or Node's roots): the backstop that keeps the probe from calling OK
 * a path OpenSSL refuses. Our own analysis tells apart what OpenSSL lumps together
 * (self-signed, incomplete, untrusted) and names the certificate; OpenSSL's error only adds
 * a reason when none of ours explains it.
 *
 * Node keeps verifying after an error and reports the last one it met, so one refusal can
 * hide another: the path rules (path-rules.ts) find those; this catches what they do not know.
 */
import { reason, type ReasonCode } from '../reasons.js';
import type { Reason } from '../types.js';

export interface OpenSslVerdict {
  /** Node's code for the X.509 error (UNSPECIFIED for those it has no name for). */
  code: string;
  /** OpenSSL's own text (X509_verify_cert_error_string), when Node hands it out. */
  text?: string;
}

const TRUST: ReasonCode[] = ['cert_self_signed', 'cert_untrusted', 'cert_chain_incomplete'];

/** Our reasons that account for each OpenSSL error (cert_chain_invalid accounts for every one). */
const EXPLAINED_BY: Record<string, ReasonCode[]> = {
  CERT_HAS_EXPIRED: ['cert_expired'],
  CERT_NOT_YET_VALID: ['cert_not_yet_valid'],
  DEPTH_ZERO_SELF_SIGNED_CERT: TRUST,
  SELF_SIGNED_CERT_IN_CHAIN: TRUST,
  UNABLE_TO_GET_ISSUER_CERT: TRUST,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: TRUST,
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: TRUST,
  CERT_UNTRUSTED: TRUST,
  // A signature that does not verify leaves the issuer unfound in our path building too.
  CERT_SIGNATURE_FAILURE: TRUST,
  UNABLE_TO_DECRYPT_CERT_SIGNATURE: TRUST,
};

/** By OpenSSL's text, for the errors Node reports as UNSPECIFIED. */
const EXPLAINED_BY_TEXT: Record<string, ReasonCode[]> = {
  'ca md too weak': ['cert_weak_signature'],
  'ca certificate key too weak': ['cert_weak_key'],
  'ee certificate key too weak': ['cert_weak_key'],
};

/** What each refusal means, in the words of the rule broken. */
const MEANING: Record<string, string> = {
  INVALID_CA: 'an issuer on the path is not a CA (basicConstraints)',
  PATH_LENGTH_EXCEEDED: 'the path is longer than a pathLenConstraint on it allows',
  INVALID_PURPOSE:
    'a certificate on the path is not valid for TLS server authentication (its extended key usage or key usage forbids it, or an issuer is not a CA)',
  CERT_CHAIN_TOO_LONG: 'the path is longer than the verification depth',
  CERT_REVOKED: 'a certificate on the path is revoked',
  CERT_REJECTED: 'the root is marked as rejected for this purpose',
  UNABLE_TO_GET_ISSUER_CERT: 'the path does not end at a self-signed root of the trust store',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the issuer of a certificate on the path is neither sent nor trusted',
  UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY: "an issuer's public key cannot be decoded",
  'unhandled critical extension': 'a certificate on the path has an unknown critical extension',
  'permitted subtree violation': "a name is outside a CA's permitted name constraints",
  'excluded subtree violation': "a name is inside a CA's excluded name constraints",
  'key usage does not include certificate signing': "an issuer's key usage does not allow certificate signing",
};

/** Name mismatches are not chain errors: names are judged by identity.ts against the expected names. */
const NOT_CHAIN = new Set(['HOSTNAME_MISMATCH', 'ERR_TLS_CERT_ALTNAME_INVALID']);

/** A cert_chain_invalid reason for a refusal none of `reasons` explains, or null. */
export function opensslReason(verdict: OpenSslVerdict | null, reasons: readonly Reason[]): Reason | null {
  if (!verdict || NOT_CHAIN.has(verdict.code)) return null;
  const text = verdict.text?.split(';')[0]?.trim().toLowerCase();
  const explainedBy = EXPLAINED_BY[verdict.code] ?? (text ? EXPLAINED_BY_TEXT[text] : undefined) ?? [];
  if (reasons.some((r) => r.code === 'cert_chain_invalid' || explainedBy.includes(r.code))) return null;
  const meaning = MEANING[verdict.code] ?? (text ? MEANING[text] : undefined);
  const detail = text && verdict.code === 'UNSPECIFIED' ? text : verdict.code;
  return reason('cert_chain_invalid', `OpenSSL refuses the path: ${meaning ?? 'it breaks an X.509 rule'} (${detail})`);
}
