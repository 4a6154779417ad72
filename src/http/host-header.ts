/**
 * DNS rebinding: a web page whose name an attacker points at 127.0.0.1 (or at this service)
 * makes the visitor's browser call /probe as if it were the page's own origin, and read the
 * answer. The browser still sends the attacker's name in Host, so without a token /probe
 * answers only for names that cannot be rebound: IP literals, localhost, and the names the
 * operator lists in http.allowedHosts (a reverse proxy's or a Prometheus target's name).
 */
import { isIP } from 'node:net';
import { ApiError } from './errors.js';

/** The host of a Host header (`name[:port]`, `[v6][:port]`), lowercased, without a final dot; null if malformed. */
export function hostOfHeader(header: string | undefined): string | null {
  if (!header) return null;
  const v6 = /^\[([0-9A-Fa-f:.]+)\](?::\d{1,5})?$/.exec(header);
  if (v6) return isIP(v6[1]!) === 6 ? v6[1]!.toLowerCase() : null;
  const m = /^([^:[\]\s]+?)\.?(?::\d{1,5})?$/.exec(header);
  return m ? m[1]!.toLowerCase() : null;
}

/** How many Host headers a request carried (Node's `headers.host` shows only the first). */
export function hostHeaderCount(rawHeaders: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === 'host') n++;
  return n;
}

/** allowedHosts: lowercased, without a final dot (as the config loader gives them). */
export function hostHeaderAllowed(header: string | undefined, allowedHosts: readonly string[]): boolean {
  const host = hostOfHeader(header);
  if (host === null) return false;
  return isIP(host) !== 0 || host === 'localhost' || allowedHosts.includes(host);
}

/** With a token the caller is known and the Host header does not matter. */
export function checkHostHeader(header: string | undefined, token: string | null, allowedHosts: readonly string[]): void {
  if (token || hostHeaderAllowed(header, allowedHosts)) return;
  const shown = header === undefined ? 'none' : JSON.stringify(header.slice(0, 100));
  throw new ApiError(
    403,
    'host_header_not_allowed',
    `Host header ${shown} is not allowed without a token: call the service by IP address or localhost, list the name in http.allowedHosts, or set a token`,
  );
}

/**
 * Cross-site requests: a page on any site can make its visitor's browser send a simple GET to
 * /probe (an image, a no-cors fetch). It cannot read the answer, but the probe still connects
 * where the page says, from the visitor's network. Browsers say where a request comes from in
 * Sec-Fetch-Site; programs (Prometheus, curl) send none. Without a token, only requests from
 * this service's own pages (`same-origin`) or typed by the user (`none`) are served.
 */
export function checkFetchSite(header: string | string[] | undefined, token: string | null): void {
  if (token || header === undefined || header === 'same-origin' || header === 'none') return;
  throw new ApiError(
    403,
    'cross_site_request',
    `a request from another site (Sec-Fetch-Site ${JSON.stringify(String(header).slice(0, 40))}) cannot start a probe without a token`,
  );
}
