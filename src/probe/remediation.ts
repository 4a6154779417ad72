/**
 * What an Exchange admin does about each problem: short, concrete steps with the PowerShell
 * they type. Pure: derived from the reasons and the served certificate; the same texts back
 * the README's troubleshooting section.
 */
import type { ReasonCode } from './reasons.js';
import type { CertificateFacts, NameMatch, Reason } from './types.js';

type Hint = (names: string, cert: CertificateFacts | null) => string;

const BIND =
  "bind the certificate that covers it to the receive connector: Set-ReceiveConnector 'SERVER\\Default Frontend SERVER' " +
  "-TlsCertificateName '<I>issuer<S>subject' (its tlsCertificateName as this probe reports it when a server serves it), " +
  'then Restart-Service MSExchangeTransport';

const HINTS: Partial<Record<ReasonCode, Hint>> = {
  cert_name_mismatch: (names, cert) =>
    `${cert?.selfSigned ? `The server serves the self-signed "${cert.subject}": Exchange falls back to its own certificate when the receive connector's TlsCertificateName is empty or names a certificate it cannot use. ` : ''}` +
    `Find the certificate for ${names} (Get-ExchangeCertificate | Where-Object { $_.CertificateDomains -match '${names.split(', ')[0] ?? ''}' } | Format-List Thumbprint,Subject,Issuer,Services,NotAfter), ` +
    `enable it for SMTP (Enable-ExchangeCertificate -Thumbprint THUMBPRINT -Services SMTP) and ${BIND}. ` +
    'Behind SNAT or a load balancer, check every server and every receive connector that can answer.',
  cert_self_signed: () =>
    'No sender trusts a self-signed certificate: serve one from a public CA (Exchange Online requires it for hybrid mail flow).',
  cert_untrusted: () =>
    'The chain does not lead to a trusted root: use a certificate from a public CA, or (for internal senders only) distribute the private root to them.',
  cert_chain_incomplete: () =>
    "Install the intermediate CA certificate(s) on the server (certlm.msc, 'Intermediate Certification Authorities'), then Restart-Service MSExchangeTransport so that the chain is sent.",
  cert_chain_invalid: () =>
    'The certificate or its chain breaks a rule every validator enforces (see the message): ask the CA for a certificate made for TLS servers (extended key usage serverAuth, issued by a proper CA), then enable it for SMTP and bind it to the receive connector.',
  cert_expired: () =>
    "Renew the certificate, enable the new one for SMTP (Enable-ExchangeCertificate -Services SMTP) and update the receive connector's TlsCertificateName: a renewal can change the issuer.",
  cert_expiring_soon: () =>
    "Renew before it expires; after a renewal enable the new certificate for SMTP and update the receive connector's TlsCertificateName (the issuer may change).",
  cert_not_yet_valid: () => 'The certificate is not valid yet: check the server clock and the certificate notBefore.',
  cert_weak_signature: () => 'Replace the certificate (or intermediate) signed with SHA-1/MD5 by one signed with SHA-256 or better.',
  cert_weak_key: () => 'Replace the certificate with one with an RSA key of at least 2048 bits (or EC P-256).',
  cert_thumbprint_mismatch: () =>
    'The server serves another certificate than the pinned one: after a planned renewal update the pin, otherwise check which certificate the receive connector uses.',
  starttls_not_offered: () =>
    'Exchange stops offering STARTTLS when it has no usable certificate for the connector (often after a renewal): check the receive connector (Get-ReceiveConnector | Format-List Name,TlsCertificateName,AuthMechanism,Fqdn) and the Application log for MSExchangeTransport TLS events.',
  cert_inconsistent: () =>
    'Several servers answer at this address with different certificates (a load balancer, SNAT or round robin): check every backend server and every receive connector that can answer, and bind the same correct certificate on all of them.',
  tls_version_too_low: () => 'Enable TLS 1.2 on the server (SCHANNEL protocol keys, and SchUseStrongCrypto for .NET) and restart it.',
};

/** One hint per reason that has one, in the order of the reasons. */
export function remediation(reasons: readonly Reason[], certificate: CertificateFacts | null, names: readonly NameMatch[]): string[] {
  const missing = names
    .filter((n) => !n.matched)
    .map((n) => n.name)
    .join(', ');
  const seen = new Set<ReasonCode>();
  const out: string[] = [];
  for (const r of reasons) {
    const hint = HINTS[r.code];
    if (!hint || seen.has(r.code)) continue;
    seen.add(r.code);
    out.push(hint(missing, certificate));
  }
  return out;
}
