/**
 * Opening the SQLite file (node:sqlite, built into Node 22.13+): WAL, schema migrations, and
 * errors a person can act on. A file we cannot use is reported and left exactly as it is:
 * never deleted, truncated or recreated.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { MIGRATIONS } from './migrations.js';

export const SCHEMA_VERSION = MIGRATIONS.length;

/** The storage cannot be used at start: the service exits with code 2 and this message. */
export class StoreOpenError extends Error {
  constructor(
    readonly path: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreOpenError';
  }
}

/**
 * SQLite's primary result code, or -1 for an error from the file system (mkdir). Node before
 * 22.16 gives no `errcode`: then the code is read from SQLite's message.
 */
const sqliteCode = (e: unknown) => {
  const code = (e as { errcode?: number; code?: string }).errcode;
  if (code !== undefined) return code & 0xff;
  if ((e as { code?: string }).code !== 'ERR_SQLITE_ERROR') return -1;
  const text = String((e as Error).message);
  if (/not a database/.test(text)) return SQLITE_NOTADB;
  if (/malformed|corrupt/.test(text)) return SQLITE_CORRUPT;
  if (/locked|busy/.test(text)) return SQLITE_BUSY;
  return SQLITE_CANTOPEN;
};
// Primary result codes (the low byte of the extended code) that mean "not a usable database".
const SQLITE_CORRUPT = 11;
const SQLITE_NOTADB = 26;
const SQLITE_CANTOPEN = 14;
const SQLITE_READONLY = 8;
const SQLITE_PERM = 3;
const SQLITE_BUSY = 5;

function explain(path: string, e: unknown): StoreOpenError {
  const code = sqliteCode(e);
  const detail = (e as Error).message;
  if (code === SQLITE_NOTADB || code === SQLITE_CORRUPT) {
    return new StoreOpenError(
      path,
      `storage: ${path} is not a readable SQLite database (${detail}). It was left untouched. ` +
        'Restore it from a backup, or move it aside so that a new one is created at start, or set storage.path to another file.',
      { cause: e },
    );
  }
  if (code === SQLITE_BUSY) {
    return new StoreOpenError(
      path,
      `storage: ${path} is locked by another process (${detail}). Only one smtp-tls-probe service may use a database file; ` +
        'stop the other one or set storage.path to another file.',
      { cause: e },
    );
  }
  if (code === SQLITE_CANTOPEN || code === SQLITE_READONLY || code === SQLITE_PERM || code === -1) {
    return new StoreOpenError(
      path,
      `storage: cannot open ${path} for writing (${detail}). Check that the directory exists and that the service's user ` +
        'may write it (in Docker: mount a volume at /var/lib/smtp-tls-probe), or set storage.path to another file.',
      { cause: e },
    );
  }
  return new StoreOpenError(path, `storage: cannot use ${path}: ${detail}`, { cause: e });
}

/** Open (creating it when absent) and migrate; throws StoreOpenError. */
export function openDatabase(path: string): DatabaseSync {
  const memory = path === ':memory:';
  if (!memory) {
    try {
      mkdirSync(dirname(path), { recursive: true });
    } catch (e) {
      throw explain(path, e);
    }
  }
  let db: DatabaseSync | undefined;
  try {
    // No busy wait: a synchronous wait would stall the event loop. A lock is an error at once.
    db = new DatabaseSync(path, { timeout: 0 });
    // The first statement reads the header: a file that is not SQLite fails here.
    const version = Number((db.prepare('PRAGMA user_version').get() as { user_version: number }).user_version);
    if (version > SCHEMA_VERSION) {
      throw new StoreOpenError(
        path,
        `storage: ${path} was written by a newer smtp-tls-probe (schema version ${version}; this version knows up to ${SCHEMA_VERSION}). ` +
          'It was left untouched. Run the newer version, or set storage.path to another file.',
      );
    }
    if (!memory) db.exec('PRAGMA journal_mode = WAL');
    // WAL with synchronous=NORMAL: a power cut may lose the last probes, never the file.
    db.exec('PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON');
    if (!memory) {
      const check = db.prepare('PRAGMA quick_check(1)').get() as { quick_check: string };
      if (check.quick_check !== 'ok') {
        throw Object.assign(new Error(`integrity check: ${check.quick_check}`), { errcode: SQLITE_CORRUPT });
      }
    }
    migrate(db, version);
    return db;
  } catch (e) {
    db?.close();
    if (e instanceof StoreOpenError) throw e;
    throw explain(path, e);
  }
}

function migrate(db: DatabaseSync, from: number): void {
  for (let v = from; v < MIGRATIONS.length; v++) {
    db.exec('BEGIN IMMEDIATE');
    try {
      db.exec(MIGRATIONS[v]!);
      db.exec(`PRAGMA user_version = ${v + 1}`);
      db.exec('COMMIT');
    } catch (e) {
      db.exec('ROLLBACK');
      throw e;
    }
  }
}
