/** SQLite schema, applied in numbered steps so an existing data directory is upgraded in place. */

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    allow_unsecured INTEGER NOT NULL,
    require_encryption INTEGER NOT NULL,
    replay_mode TEXT NOT NULL,
    auto_registered INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    first_seen INTEGER,
    last_seen INTEGER,
    last_nonce INTEGER,
    last_source TEXT,
    replay_high INTEGER,
    replay_seen TEXT NOT NULL DEFAULT '0',
    uploads INTEGER NOT NULL DEFAULT 0,
    readings INTEGER NOT NULL DEFAULT 0,
    quarantined_packets INTEGER NOT NULL DEFAULT 0,
    duplicate_packets INTEGER NOT NULL DEFAULT 0,
    nonce_gaps INTEGER NOT NULL DEFAULT 0,
    rejects TEXT NOT NULL DEFAULT '{}'
  ) STRICT;
  CREATE TABLE device_keys (
    device_id TEXT NOT NULL REFERENCES devices(id),
    kid TEXT NOT NULL,
    hmac_key TEXT NOT NULL,
    aes_key TEXT,
    iv TEXT,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    last_used_at INTEGER,
    retired_at INTEGER,
    PRIMARY KEY (device_id, kid)
  ) STRICT;
  CREATE TABLE uploads (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    nonce INTEGER,
    protocol TEXT NOT NULL,
    encrypted INTEGER NOT NULL,
    key_kid TEXT,
    received_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    request_id TEXT NOT NULL,
    device_timestamp INTEGER,
    gap INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX uploads_device ON uploads(device_id, id);
  CREATE TABLE packets (
    upload_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    device_timestamp INTEGER,
    bytes TEXT NOT NULL,
    method TEXT,
    label TEXT,
    status TEXT NOT NULL,
    reason TEXT,
    notes TEXT NOT NULL,
    duplicate INTEGER NOT NULL,
    sample_count INTEGER NOT NULL,
    PRIMARY KEY (upload_id, idx)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE packet_keys (
    dedupe_key TEXT PRIMARY KEY,
    upload_id INTEGER NOT NULL,
    idx INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE blocks (
    id INTEGER PRIMARY KEY,
    device_id TEXT NOT NULL,
    time INTEGER NOT NULL,
    step INTEGER NOT NULL,
    samples INTEGER NOT NULL,
    upload_id INTEGER NOT NULL,
    packet_idx INTEGER NOT NULL,
    layout TEXT NOT NULL,
    raw TEXT NOT NULL,
    quality TEXT NOT NULL
  ) STRICT;
  CREATE INDEX blocks_device_time ON blocks(device_id, time, id);
  CREATE TABLE security_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    device_id TEXT,
    code TEXT NOT NULL,
    reason TEXT NOT NULL,
    source TEXT,
    nonce INTEGER,
    request_id TEXT,
    detail TEXT
  ) STRICT;
  CREATE INDEX security_events_device ON security_events(device_id, id);
  CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    device_id TEXT,
    reason TEXT,
    detail TEXT
  ) STRICT;
  `,
  `
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT,
    kind TEXT NOT NULL,
    ref_id TEXT,
    payload TEXT,
    created_at INTEGER NOT NULL
  ) STRICT;
  `,
  `
  ALTER TABLE device_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'v1';
  `,
];
