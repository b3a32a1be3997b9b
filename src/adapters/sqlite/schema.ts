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
  `
  ALTER TABLE devices ADD COLUMN allow_unsecured_config INTEGER NOT NULL DEFAULT 0;
  CREATE TABLE config_scopes (
    scope TEXT PRIMARY KEY,
    config TEXT NOT NULL,
    versions TEXT NOT NULL,
    version INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE config_changes (
    version INTEGER PRIMARY KEY AUTOINCREMENT,
    scope TEXT NOT NULL,
    changes TEXT NOT NULL,
    result TEXT NOT NULL,
    actor TEXT NOT NULL,
    reason TEXT,
    source TEXT NOT NULL,
    time INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX config_changes_scope ON config_changes(scope, version);
  CREATE TABLE config_deliveries (
    device_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    version INTEGER NOT NULL,
    first_at INTEGER NOT NULL,
    last_at INTEGER NOT NULL,
    offers INTEGER NOT NULL,
    PRIMARY KEY (device_id, key)
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE commands (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    type TEXT NOT NULL,
    params TEXT NOT NULL,
    percent INTEGER NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    max_attempts INTEGER NOT NULL,
    lease_ms INTEGER NOT NULL,
    lease_until INTEGER,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    reason TEXT,
    delivered_at INTEGER,
    completed_at INTEGER,
    detail TEXT,
    cancelled_by TEXT
  ) STRICT;
  CREATE INDEX commands_device ON commands(device_id, status, id);
  `,
  `
  CREATE TABLE firmware_images (
    version TEXT PRIMARY KEY,
    original_size INTEGER NOT NULL,
    encrypted_size INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    total_chunks INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    signature TEXT NOT NULL,
    iv TEXT NOT NULL,
    key_id TEXT NOT NULL,
    notes TEXT,
    forced INTEGER NOT NULL,
    encrypted_file TEXT NOT NULL,
    manifest_file TEXT NOT NULL,
    created_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE rollouts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    version TEXT NOT NULL REFERENCES firmware_images(version),
    target TEXT NOT NULL,
    step_index INTEGER NOT NULL,
    step_started_at INTEGER NOT NULL,
    pinned INTEGER NOT NULL,
    failure_threshold REAL NOT NULL,
    min_outcomes INTEGER NOT NULL,
    outcomes_since INTEGER NOT NULL,
    state TEXT NOT NULL,
    state_reason TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
  ) STRICT;
  CREATE TABLE ota_sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    rollout_id INTEGER NOT NULL REFERENCES rollouts(id),
    version TEXT NOT NULL,
    from_version TEXT,
    state TEXT NOT NULL,
    rollout_step INTEGER NOT NULL,
    client TEXT NOT NULL,
    total_chunks INTEGER NOT NULL,
    next_chunk INTEGER NOT NULL,
    max_chunk INTEGER NOT NULL,
    chunks_served INTEGER NOT NULL,
    restarts INTEGER NOT NULL,
    phase TEXT,
    outcome TEXT,
    started_at INTEGER NOT NULL,
    last_chunk_at INTEGER,
    updated_at INTEGER NOT NULL,
    finished_at INTEGER,
    UNIQUE (device_id, rollout_id)
  ) STRICT;
  CREATE INDEX ota_sessions_rollout ON ota_sessions(rollout_id, state);
  CREATE TABLE device_firmware (
    device_id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    reported_at INTEGER NOT NULL
  ) STRICT, WITHOUT ROWID;
  CREATE TABLE rollout_groups (
    group_name TEXT NOT NULL,
    device_id TEXT NOT NULL,
    PRIMARY KEY (group_name, device_id)
  ) STRICT, WITHOUT ROWID;
  CREATE INDEX rollout_groups_device ON rollout_groups(device_id);
  `,
  `
  CREATE INDEX blocks_upload ON blocks(upload_id, packet_idx);
  `,
  `
  ALTER TABLE devices ADD COLUMN decoder_state TEXT;
  `,
  `
  ALTER TABLE devices ADD COLUMN require_v2 INTEGER NOT NULL DEFAULT 0;
  `,
  `
  ALTER TABLE devices ADD COLUMN generation TEXT;
  ALTER TABLE devices ADD COLUMN auth_source TEXT;
  ALTER TABLE devices ADD COLUMN auth_at INTEGER;
  ALTER TABLE devices ADD COLUMN control_counts TEXT NOT NULL DEFAULT '{}';
  `,
  `
  CREATE TABLE device_reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    received_at INTEGER NOT NULL,
    source TEXT NOT NULL,
    verified INTEGER NOT NULL,
    body TEXT NOT NULL
  ) STRICT;
  CREATE INDEX device_reports_device ON device_reports(device_id, kind, id);
  CREATE INDEX device_reports_kind ON device_reports(kind, id);
  `,
  `
  CREATE TABLE config_reports (
    device_id TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    outcome TEXT NOT NULL,
    basis TEXT NOT NULL,
    at INTEGER NOT NULL,
    PRIMARY KEY (device_id, key)
  ) STRICT, WITHOUT ROWID;
  `,
  `
  -- Firmware images per generation (e84f720, 1.3): the old table becomes the list of versions that
  -- rollouts reference; images are keyed by (version, generation). Existing images are e84f720.
  ALTER TABLE firmware_images RENAME TO firmware_versions;
  CREATE TABLE firmware_images (
    version TEXT NOT NULL REFERENCES firmware_versions(version),
    generation TEXT NOT NULL,
    original_size INTEGER NOT NULL,
    encrypted_size INTEGER NOT NULL,
    chunk_size INTEGER NOT NULL,
    total_chunks INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    signature TEXT NOT NULL,
    iv TEXT NOT NULL,
    key_id TEXT NOT NULL,
    notes TEXT,
    forced INTEGER NOT NULL,
    encrypted_file TEXT NOT NULL,
    manifest_file TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (version, generation)
  ) STRICT;
  INSERT INTO firmware_images (version, generation, original_size, encrypted_size, chunk_size, total_chunks,
    sha256, signature, iv, key_id, notes, forced, encrypted_file, manifest_file, created_at)
  SELECT version, 'e84f720', original_size, encrypted_size, chunk_size, total_chunks, sha256, signature, iv,
    key_id, notes, forced, encrypted_file, manifest_file, created_at FROM firmware_versions;
  ALTER TABLE firmware_versions DROP COLUMN original_size;
  ALTER TABLE firmware_versions DROP COLUMN encrypted_size;
  ALTER TABLE firmware_versions DROP COLUMN chunk_size;
  ALTER TABLE firmware_versions DROP COLUMN total_chunks;
  ALTER TABLE firmware_versions DROP COLUMN sha256;
  ALTER TABLE firmware_versions DROP COLUMN signature;
  ALTER TABLE firmware_versions DROP COLUMN iv;
  ALTER TABLE firmware_versions DROP COLUMN key_id;
  ALTER TABLE firmware_versions DROP COLUMN notes;
  ALTER TABLE firmware_versions DROP COLUMN forced;
  ALTER TABLE firmware_versions DROP COLUMN encrypted_file;
  ALTER TABLE firmware_versions DROP COLUMN manifest_file;
  -- whether the request that settled a session's outcome was authenticated (bare ones never halt)
  ALTER TABLE ota_sessions ADD COLUMN outcome_auth TEXT;
  `,
  `
  -- Operator accounts, their sign-in sessions and API keys (secrets only as hashes).
  CREATE TABLE operators (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    last_sign_in_at INTEGER,
    password_changed_at INTEGER NOT NULL,
    failed_sign_ins INTEGER NOT NULL DEFAULT 0,
    locked_until INTEGER
  ) STRICT;
  CREATE TABLE operator_sessions (
    id_hash TEXT PRIMARY KEY,
    name TEXT NOT NULL REFERENCES operators(name),
    created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
  ) STRICT;
  CREATE INDEX operator_sessions_name ON operator_sessions(name);
  CREATE TABLE api_keys (
    name TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    prefix TEXT NOT NULL UNIQUE,
    hash TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    expires_at INTEGER,
    last_used_at INTEGER,
    revoked_at INTEGER
  ) STRICT;
  `,
];
