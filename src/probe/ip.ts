/**
 * node:net's isIP without its cost on host names: its IPv6 expression, run on a name that is
 * not an address, takes milliseconds per call until V8 has optimised it (5 to 45 ms for the
 * first call of a one-shot check on the development machine, issue 12). Only digits and dots
 * make an IPv4 address and every IPv6 address has a colon, so anything else is answered here
 * with the 0 isIP would give.
 */
import { isIP } from 'node:net';

export function ipVersion(text: string): 0 | 4 | 6 {
  if (!text.includes(':') && !/^[0-9.]+$/.test(text)) return 0;
  return isIP(text) as 0 | 4 | 6;
}
