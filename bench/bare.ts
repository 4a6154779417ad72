/**
 * The reference the engine is measured against: a bare Node client doing the same dialogue
 * (greeting, EHLO, STARTTLS, handshake, EHLO over TLS, QUIT) with no judgement at all.
 * It reads just enough to know a reply is complete; it trusts the given CA like the engine
 * does, with verification left to us (rejectUnauthorized false), so both pay the same
 * OpenSSL path verification.
 */
import net from 'node:net';
import tls from 'node:tls';

/** Resolves on a complete (final-line) reply on `socket`. */
function reply(socket: net.Socket | tls.TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (/(^|\r\n)\d{3} [^\r\n]*\r\n$/.test(text)) {
        socket.off('data', onData);
        socket.off('error', reject);
        resolve(text);
      }
    };
    socket.on('data', onData);
    socket.once('error', reject);
  });
}

export async function bareProbe(host: string, port: number, servername: string, ca: string): Promise<number> {
  const t0 = performance.now();
  const plain = net.connect({ host, port });
  await reply(plain);
  plain.write('EHLO bench\r\n');
  await reply(plain);
  plain.write('STARTTLS\r\n');
  await reply(plain);
  plain.pause();
  const secure = tls.connect({ socket: plain, servername, ca, rejectUnauthorized: false, checkServerIdentity: () => undefined });
  await new Promise<void>((resolve, reject) => {
    secure.once('secureConnect', resolve);
    secure.once('error', reject);
  });
  secure.getPeerCertificate(true);
  secure.write('EHLO bench\r\n');
  await reply(secure);
  secure.end('QUIT\r\n');
  secure.destroy();
  plain.destroy();
  return performance.now() - t0;
}
