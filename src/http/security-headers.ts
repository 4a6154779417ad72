/**
 * Headers on every answer. The API serves JSON and metrics text about live state: nothing may
 * be sniffed into HTML, framed, cached (a /probe answer is a verdict of one moment, and may
 * name internal hosts), or leak the URL in a Referer.
 */
export const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
} as const;
