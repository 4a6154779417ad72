/**
 * Reading a file the operator names (the configuration, a CA file) with bounded work: only a
 * regular file is read, and only up to a size limit. The open does not block (a FIFO with no
 * writer would otherwise stop the event loop in open(2) for good) and a device such as
 * /dev/zero is refused before a byte is read.
 */
// Node's own module object rather than an ESM import, whose namespace reads every export
// and so loads what a one-shot check never uses (README "Performance", `check`).
const { closeSync, constants, fstatSync, openSync, readSync } = process.getBuiltinModule('node:fs');

/** The text, or why not: an errno code (`ENOENT`), or a sentence. */
export type FileRead = { text: string } | { problem: string };

const errorText = (e: unknown) => (e as NodeJS.ErrnoException).code ?? (e as Error).message;

function mebibytes(bytes: number): string {
  return `${bytes / 1024 / 1024} MiB`;
}

export function readRegularFile(path: string, maxBytes: number): FileRead {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (e) {
    return { problem: errorText(e) };
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return { problem: 'not a regular file (a pipe, a device or a directory)' };
    if (stat.size > maxBytes) return { problem: `the file is larger than ${mebibytes(maxBytes)}` };
    // The size can change while reading: read at most one byte past the limit to tell.
    const buffer = Buffer.alloc(Math.min(maxBytes, stat.size) + 1);
    let length = 0;
    while (length < buffer.length) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      if (n === 0) break;
      length += n;
    }
    if (length > maxBytes) return { problem: `the file is larger than ${mebibytes(maxBytes)}` };
    return { text: buffer.toString('utf8', 0, length) };
  } catch (e) {
    return { problem: errorText(e) };
  } finally {
    closeSync(fd);
  }
}

/** A bundle of every public root is about 250 KB. */
export const MAX_CA_BYTES = 4 * 1024 * 1024;

/** A CA file: a regular file of at most MAX_CA_BYTES (a FIFO or /dev/zero must not hang a reload). */
export function readCaFile(path: string): string {
  const read = readRegularFile(path, MAX_CA_BYTES);
  if ('problem' in read) throw Object.assign(new Error(read.problem), /^E[A-Z]+$/.test(read.problem) ? { code: read.problem } : {});
  return read.text;
}
