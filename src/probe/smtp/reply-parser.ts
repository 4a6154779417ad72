/**
 * SMTP reply framing (RFC 5321 §4.2): bytes in, complete replies out.
 * Pure and bounded: a line may not exceed MAX_LINE bytes, a reply MAX_REPLY bytes.
 * Meaning (is this 250 what we wanted?) is decided by the dialogue, not here.
 */

export const MAX_LINE = 4096;
export const MAX_REPLY = 64 * 1024;

export interface Reply {
  code: number;
  /** Text of each line, without the code and separator. */
  lines: string[];
}

export class ReplyFramingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReplyFramingError';
  }
}

/** Reply text for messages: `421 too busy / go away`, cut to a readable length. */
export function describeReply(reply: Reply, max = 200): string {
  const text = `${reply.code} ${reply.lines.join(' / ')}`.trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

const LINE_RE = /^([2-5][0-9][0-9])([ -]|$)(.*)$/s;
/** What the first bytes of a reply line may be, before its end has arrived. */
const PARTIAL_RE = /^(?:$|[2-5]$|[2-5][0-9]{1,2}$|[2-5][0-9]{2}[ \r-])/;

function hasControl(bytes: Buffer): boolean {
  for (const b of bytes) if ((b < 0x20 && b !== 0x09 && b !== 0x0d) || b === 0x7f) return true;
  return false;
}

/**
 * Accumulates bytes and yields replies. After a framing error it stays failed:
 * the peer is not speaking SMTP and nothing it sends afterwards is trusted.
 */
export class ReplyParser {
  private pending: Buffer = Buffer.alloc(0);
  private current: Reply | null = null;
  private replyBytes = 0;
  private readonly replies: Array<{ reply: Reply; bytes: number }> = [];
  private failure: ReplyFramingError | null = null;

  /** Bytes received and not yet taken as a reply. */
  get bufferedBytes(): number {
    let queued = 0;
    for (const r of this.replies) queued += r.bytes;
    return this.pending.length + this.replyBytes + queued;
  }

  get error(): ReplyFramingError | null {
    return this.failure;
  }

  push(chunk: Buffer): void {
    if (this.failure) return;
    this.pending = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    let nl: number;
    while ((nl = this.pending.indexOf(0x0a)) !== -1) {
      const raw = this.pending.subarray(0, nl);
      this.pending = this.pending.subarray(nl + 1);
      if (raw.length + 1 > MAX_LINE) return this.fail(`reply line longer than ${MAX_LINE} bytes`);
      this.line(raw);
      if (this.failure) return;
    }
    if (this.pending.length > MAX_LINE) return this.fail(`reply line longer than ${MAX_LINE} bytes without CRLF`);
    // Judge an unfinished line by its start, so a peer sending binary never waits for a newline.
    if (!PARTIAL_RE.test(this.pending.subarray(0, 4).toString('latin1')) || hasControl(this.pending)) {
      this.fail(`not an SMTP reply line: ${JSON.stringify(this.pending.subarray(0, 40).toString('latin1'))}`);
    }
  }

  /** The oldest complete reply not yet taken, if any. */
  shift(): Reply | undefined {
    return this.replies.shift()?.reply;
  }

  /** Forget everything buffered (RFC 3207 §6: discard plaintext before the TLS handshake). */
  discard(): number {
    const dropped = this.bufferedBytes;
    this.pending = Buffer.alloc(0);
    this.current = null;
    this.replyBytes = 0;
    this.replies.length = 0;
    return dropped;
  }

  private line(raw: Buffer): void {
    const end = raw.length > 0 && raw[raw.length - 1] === 0x0d ? raw.length - 1 : raw.length;
    // UTF-8 (SMTPUTF8 servers greet in it); invalid bytes become U+FFFD, never an error.
    const text = raw.subarray(0, end).toString('utf8');
    const m = LINE_RE.exec(text);
    if (!m || hasControl(raw.subarray(0, end))) {
      return this.fail(`not an SMTP reply line: ${JSON.stringify(text.slice(0, 80))}`);
    }
    const code = Number(m[1]);
    const more = m[2] === '-';
    if (this.current && this.current.code !== code) {
      return this.fail(`reply code changed from ${this.current.code} to ${code} inside a multi-line reply`);
    }
    this.current ??= { code, lines: [] };
    this.current.lines.push(m[3] ?? '');
    this.replyBytes += raw.length + 1;
    if (this.replyBytes > MAX_REPLY) return this.fail(`reply larger than ${MAX_REPLY} bytes`);
    if (!more) {
      this.replies.push({ reply: this.current, bytes: this.replyBytes });
      this.current = null;
      this.replyBytes = 0;
    }
  }

  private fail(message: string): void {
    this.failure = new ReplyFramingError(message);
    this.pending = Buffer.alloc(0);
  }
}
