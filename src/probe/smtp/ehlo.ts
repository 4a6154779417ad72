/**
 * What an EHLO reply says: which server answered and what it offers. The offer is decided on
 * every line of the reply (itself bounded by the reply cap), while only a bounded number of
 * lines is kept in the result.
 */
import type { Reply } from './reply-parser.js';

export const MAX_EXTENSIONS = 100;
const MAX_EXTENSION_TEXT = 200;
const MAX_HOST = 255;

export interface EhloFacts {
  /** First word of the first line: the name the server gives itself. */
  host: string;
  /** The extension lines, at most MAX_EXTENSIONS, each cut to a readable length. */
  extensions: string[];
  starttls: boolean;
}

const keyword = (line: string) => (line.trim().split(/\s+/)[0] ?? '').toUpperCase();

export function readEhlo(reply: Reply): EhloFacts {
  const offered = reply.lines.slice(1);
  return {
    host: (reply.lines[0] ?? '').trim().split(/\s+/)[0]?.slice(0, MAX_HOST) ?? '',
    extensions: offered.slice(0, MAX_EXTENSIONS).map((l) => l.trim().slice(0, MAX_EXTENSION_TEXT)),
    starttls: offered.some((l) => keyword(l) === 'STARTTLS'),
  };
}
