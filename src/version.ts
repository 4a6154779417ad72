/** The package version, read once from package.json (one level above src/ and dist/). */
import { readFileSync } from 'node:fs';

let cached: string | undefined;

export function version(): string {
  if (cached === undefined) {
    try {
      cached = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
    } catch {
      cached = '0.0.0';
    }
  }
  return cached;
}
