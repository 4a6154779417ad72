import t from 'tap';
import { MAX_LINE, MAX_REPLY, ReplyParser, describeReply } from '../../../src/probe/smtp/reply-parser.js';

function parse(...chunks: Array<string | Buffer>) {
  const p = new ReplyParser();
  for (const c of chunks) p.push(typeof c === 'string' ? Buffer.from(c, 'latin1') : c);
  const replies = [];
  for (let r = p.shift(); r; r = p.shift()) replies.push(r);
  return { replies, error: p.error?.message ?? null, buffered: p.bufferedBytes };
}

t.test('framing table', async (t) => {
  const cases: Array<[string, string[], Array<{ code: number; lines: string[] }>, RegExp | null]> = [
    ['single line', ['220 mx.example ESMTP\r\n'], [{ code: 220, lines: ['mx.example ESMTP'] }], null],
    ['code only, no text', ['250\r\n'], [{ code: 250, lines: [''] }], null],
    ['bare LF accepted', ['220 hi\n'], [{ code: 220, lines: ['hi'] }], null],
    ['multi-line greeting', ['220-first\r\n220-second\r\n220 last\r\n'], [{ code: 220, lines: ['first', 'second', 'last'] }], null],
    ['split across chunks at every byte', ['2', '5', '0', '-', 'a\r', '\n250 b', '\r\n'], [{ code: 250, lines: ['a', 'b'] }], null],
    ['two replies in one chunk', ['250 a\r\n220 b\r\n'], [{ code: 250, lines: ['a'] }, { code: 220, lines: ['b'] }], null],
    ['incomplete reply waits', ['250-a\r\n250 b'], [], null],
    ['partial valid prefix waits', ['25'], [], null],
    ['partial line of text waits', ['220 still comi'], [], null],
    ['binary without newline fails at once', ['\x16\x03\x01\x02'], [], /not an SMTP reply line/],
    ['text without code fails at once', ['Hello'], [], /not an SMTP reply line/],
    ['not SMTP', ['HTTP/1.1 400 Bad Request\r\n'], [], /not an SMTP reply line/],
    ['binary garbage', ['\x16\x03\x01\x02\x00\x01\x00\r\n'], [], /not an SMTP reply line/],
    ['control characters in text', ['220 hi\x00there\r\n'], [], /not an SMTP reply line/],
    ['code out of range', ['199 nope\r\n'], [], /not an SMTP reply line/],
    ['code changes inside multi-line', ['250-a\r\n251 b\r\n'], [], /code changed from 250 to 251/],
    ['long line without CRLF', ['220 ' + 'x'.repeat(MAX_LINE + 10)], [], /longer than 4096 bytes without CRLF/],
    ['long line with CRLF', ['220 ' + 'x'.repeat(MAX_LINE) + '\r\n'], [], /longer than 4096 bytes/],
    ['reply too large', [Array.from({ length: 40 }, () => '250-' + 'y'.repeat(2000) + '\r\n').join('')], [], /larger than 65536 bytes/],
  ];
  for (const [name, chunks, replies, error] of cases) {
    const got = parse(...chunks);
    t.same(got.replies, replies, `${name}: replies`);
    if (error) t.match(got.error, error, `${name}: error`);
    else t.equal(got.error, null, `${name}: no error`);
  }
});

t.test('reply text is UTF-8', async (t) => {
  const got = parse(Buffer.from('220 mx.example.fr ESMTP – prêt\r\n', 'utf8'));
  t.same(got.replies, [{ code: 220, lines: ['mx.example.fr ESMTP – prêt'] }]);
});

t.test('a failed parser ignores whatever follows', async (t) => {
  const got = parse('garbage\r\n', '250 fine\r\n');
  t.same(got.replies, []);
  t.match(got.error, /not an SMTP reply/);
});

t.test('buffered bytes count queued and partial replies; discard drops them', async (t) => {
  const p = new ReplyParser();
  p.push(Buffer.from('250 a\r\n250-b\r\n25'));
  t.equal(p.bufferedBytes, 16);
  t.equal(p.discard(), 16);
  t.equal(p.bufferedBytes, 0);
  t.equal(p.shift(), undefined);
  p.push(Buffer.from('220 c\r\n'));
  t.same(p.shift(), { code: 220, lines: ['c'] }, 'works again after discard');
});

t.test('a 10 MB stream without newline stays bounded', async (t) => {
  const p = new ReplyParser();
  const chunk = Buffer.alloc(64 * 1024, 0x41);
  for (let i = 0; i < 160; i++) p.push(chunk);
  t.match(p.error?.message, /without CRLF/);
  t.ok(p.bufferedBytes <= MAX_REPLY, 'nothing kept after failing');
});

t.test('describeReply', async (t) => {
  t.equal(describeReply({ code: 421, lines: ['too busy', 'go away'] }), '421 too busy / go away');
  t.equal(describeReply({ code: 250, lines: ['x'.repeat(300)] }, 10), '250 xxxxxx…');
});
