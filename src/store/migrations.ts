/**
 * The database schema, as migrations applied in order at start (PRAGMA user_version counts
 * those applied). Append only: a released migration is never edited.
 * Times are milliseconds since the epoch.
 */
export const MIGRATIONS: readonly string[] = [
  `
  -- The latest result of each target, and since when its status is what it is.
  CREATE TABLE targets (
    name TEXT PRIMARY KEY,
    latest TEXT NOT NULL,
    status TEXT NOT NULL,
    status_since INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  -- History grows with changes, not probes: consecutive probes of a target with the same
  -- outcome (status, reason codes, and per address status, reasons, thumbprint) extend one span.
  CREATE TABLE spans (
    id INTEGER PRIMARY KEY,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    status TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL
  );
  -- By target in id order (= time order: spans of a target never overlap). Not on last_seen:
  -- extending a span, the most frequent write, then updates no index.
  CREATE INDEX spans_by_target ON spans (target);
  -- Per address, the last certificate seen there and when it last really changed.
  CREATE TABLE addresses (
    target TEXT NOT NULL,
    address TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    changed_at INTEGER NOT NULL,
    PRIMARY KEY (target, address)
  ) WITHOUT ROWID;
  -- Every distinct certificate seen at an address, once, with its facts.
  CREATE TABLE certificates (
    target TEXT NOT NULL,
    address TEXT NOT NULL,
    thumbprint TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    subject TEXT NOT NULL,
    issuer TEXT NOT NULL,
    sans TEXT NOT NULL,
    not_after INTEGER NOT NULL,
    tls_certificate_name TEXT NOT NULL,
    first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (target, address, thumbprint)
  ) WITHOUT ROWID;
  CREATE INDEX certificates_by_age ON certificates (last_seen);
  `,
  `
  -- Domain mode: the latest result of each scheduled mail domain, and since when its status holds.
  CREATE TABLE domains (
    name TEXT PRIMARY KEY,
    latest TEXT NOT NULL,
    status TEXT NOT NULL,
    status_since INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  );
  `,
];
