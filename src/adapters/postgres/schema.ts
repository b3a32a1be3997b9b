/**
 * PostgreSQL schema as numbered migrations, applied in order and recorded in `schema_migrations`
 * (at start-up, or by `ecowatt migrate`). Applied migrations are never edited: a change is a new
 * entry. Tables live in the connection's `search_path` schema, so one database can hold several
 * isolated deployments (the tests use a schema per suite).
 *
 * Times are milliseconds since the epoch (`bigint`), as in the SQLite store, so both adapters share
 * the row conversions' meaning and the cursor format.
 */

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'ingestion, registry, events, audit, outbox',
    sql: `
    CREATE TABLE devices (
      id text PRIMARY KEY,
      status text NOT NULL,
      allow_unsecured boolean NOT NULL,
      require_encryption boolean NOT NULL,
      replay_mode text NOT NULL,
      auto_registered boolean NOT NULL,
      created_at bigint NOT NULL,
      first_seen bigint,
      last_seen bigint,
      last_nonce bigint,
      last_source text,
      replay_high bigint,
      replay_seen text NOT NULL DEFAULT '0',
      uploads bigint NOT NULL DEFAULT 0,
      readings bigint NOT NULL DEFAULT 0,
      quarantined_packets bigint NOT NULL DEFAULT 0,
      duplicate_packets bigint NOT NULL DEFAULT 0,
      nonce_gaps bigint NOT NULL DEFAULT 0,
      rejects jsonb NOT NULL DEFAULT '{}',
      -- bumped by every change of status, policy or keys: what an upload's decision depends on
      registry_version bigint NOT NULL DEFAULT 0
    );
    CREATE TABLE device_keys (
      device_id text NOT NULL REFERENCES devices(id),
      kid text NOT NULL,
      kind text NOT NULL DEFAULT 'v1',
      hmac_key text NOT NULL,
      aes_key text,
      iv text,
      status text NOT NULL,
      created_at bigint NOT NULL,
      last_used_at bigint,
      retired_at bigint,
      PRIMARY KEY (device_id, kid)
    );
    CREATE TABLE uploads (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      device_id text NOT NULL,
      nonce bigint,
      protocol text NOT NULL,
      encrypted boolean NOT NULL,
      key_kid text,
      received_at bigint NOT NULL,
      source text NOT NULL,
      request_id text NOT NULL,
      device_timestamp bigint,
      gap integer NOT NULL
    );
    CREATE INDEX uploads_device ON uploads (device_id, id);
    -- retention only: BRIN costs next to nothing per insert and suits an append-only time column
    CREATE INDEX uploads_received ON uploads USING brin (received_at);
    CREATE TABLE packets (
      upload_id bigint NOT NULL,
      idx integer NOT NULL,
      device_timestamp bigint,
      bytes text NOT NULL,
      method text,
      label text,
      status text NOT NULL,
      reason text,
      notes text NOT NULL,
      duplicate boolean NOT NULL,
      sample_count integer NOT NULL,
      PRIMARY KEY (upload_id, idx)
    );
    CREATE TABLE packet_keys (
      dedupe_key text PRIMARY KEY,
      upload_id bigint NOT NULL,
      idx integer NOT NULL
    );
    -- retention deletes a pruned upload's keys by upload id range
    CREATE INDEX packet_keys_upload ON packet_keys USING brin (upload_id);
    -- one row per decoded packet (its samples × registers), as in the SQLite store
    CREATE TABLE blocks (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      device_id text NOT NULL,
      time bigint NOT NULL,
      step integer NOT NULL,
      samples integer NOT NULL,
      upload_id bigint NOT NULL,
      packet_idx integer NOT NULL,
      layout text NOT NULL,
      raw text NOT NULL,
      quality text NOT NULL
    );
    CREATE INDEX blocks_device_time ON blocks (device_id, time, id);
    -- the relay reads an upload's blocks; retention deletes them
    CREATE INDEX blocks_upload ON blocks (upload_id);
    CREATE TABLE security_events (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      time bigint NOT NULL,
      device_id text,
      code text NOT NULL,
      reason text NOT NULL,
      source text,
      nonce bigint,
      request_id text,
      detail jsonb
    );
    CREATE INDEX security_events_device ON security_events (device_id, id);
    CREATE TABLE audit_log (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      time bigint NOT NULL,
      actor text NOT NULL,
      action text NOT NULL,
      device_id text,
      reason text,
      detail jsonb
    );
    CREATE INDEX audit_log_device ON audit_log (device_id, id);
    -- id: insertion order (per device also commit order: the device row lock serialises them);
    -- seq: the relay's order, stamped once committed (see outbox-leader.ts)
    CREATE SEQUENCE outbox_seq;
    CREATE TABLE outbox (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      seq bigint,
      device_id text,
      kind text NOT NULL,
      ref_id text,
      payload text,
      created_at bigint NOT NULL
    );
    -- partial: an insert (seq still NULL) touches one small index, not two
    CREATE UNIQUE INDEX outbox_by_seq ON outbox (seq) WHERE seq IS NOT NULL;
    CREATE INDEX outbox_unstamped ON outbox (id) WHERE seq IS NULL;
    `,
  },
  {
    version: 2,
    name: 'remote configuration and commands',
    sql: `
    ALTER TABLE devices ADD COLUMN allow_unsecured_config boolean NOT NULL DEFAULT false;
    CREATE TABLE config_scopes (
      scope text PRIMARY KEY,
      config text NOT NULL,
      versions text NOT NULL,
      version bigint NOT NULL,
      updated_at bigint NOT NULL
    );
    CREATE TABLE config_changes (
      version bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      scope text NOT NULL,
      changes text NOT NULL,
      result text NOT NULL,
      actor text NOT NULL,
      reason text,
      source text NOT NULL,
      time bigint NOT NULL
    );
    CREATE INDEX config_changes_scope ON config_changes (scope, version);
    CREATE TABLE config_deliveries (
      device_id text NOT NULL,
      key text NOT NULL,
      value text NOT NULL,
      version bigint NOT NULL,
      first_at bigint NOT NULL,
      last_at bigint NOT NULL,
      offers integer NOT NULL,
      PRIMARY KEY (device_id, key)
    );
    CREATE TABLE commands (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      device_id text NOT NULL,
      type text NOT NULL,
      params text NOT NULL,
      percent integer NOT NULL,
      status text NOT NULL,
      attempts integer NOT NULL,
      max_attempts integer NOT NULL,
      lease_ms bigint NOT NULL,
      lease_until bigint,
      created_at bigint NOT NULL,
      created_by text NOT NULL,
      reason text,
      delivered_at bigint,
      completed_at bigint,
      detail text,
      cancelled_by text
    );
    CREATE INDEX commands_device ON commands (device_id, status, id);
    `,
  },
  {
    version: 3,
    name: 'firmware catalogue, rollouts, update sessions',
    sql: `
    CREATE TABLE firmware_images (
      version text PRIMARY KEY,
      original_size bigint NOT NULL,
      encrypted_size bigint NOT NULL,
      chunk_size integer NOT NULL,
      total_chunks integer NOT NULL,
      sha256 text NOT NULL,
      signature text NOT NULL,
      iv text NOT NULL,
      key_id text NOT NULL,
      notes text,
      forced boolean NOT NULL,
      encrypted_file text NOT NULL,
      manifest_file text NOT NULL,
      created_at bigint NOT NULL
    );
    CREATE TABLE rollouts (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      version text NOT NULL REFERENCES firmware_images(version),
      target text NOT NULL,
      step_index integer NOT NULL,
      step_started_at bigint NOT NULL,
      pinned boolean NOT NULL,
      failure_threshold double precision NOT NULL,
      min_outcomes integer NOT NULL,
      outcomes_since bigint NOT NULL,
      state text NOT NULL,
      state_reason text,
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL
    );
    CREATE TABLE ota_sessions (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      device_id text NOT NULL,
      rollout_id bigint NOT NULL REFERENCES rollouts(id),
      version text NOT NULL,
      from_version text,
      state text NOT NULL,
      rollout_step integer NOT NULL,
      client text NOT NULL,
      total_chunks integer NOT NULL,
      next_chunk integer NOT NULL,
      max_chunk integer NOT NULL,
      chunks_served integer NOT NULL,
      restarts integer NOT NULL,
      phase text,
      outcome text,
      started_at bigint NOT NULL,
      last_chunk_at bigint,
      updated_at bigint NOT NULL,
      finished_at bigint,
      UNIQUE (device_id, rollout_id)
    );
    CREATE INDEX ota_sessions_rollout ON ota_sessions (rollout_id, state);
    CREATE TABLE device_firmware (
      device_id text PRIMARY KEY,
      version text NOT NULL,
      reported_at bigint NOT NULL
    );
    CREATE TABLE rollout_groups (
      group_name text NOT NULL,
      device_id text NOT NULL,
      PRIMARY KEY (group_name, device_id)
    );
    CREATE INDEX rollout_groups_device ON rollout_groups (device_id);
    `,
  },
  {
    version: 4,
    name: 'v2-only policy, decoder state',
    sql: `
    ALTER TABLE devices ADD COLUMN require_v2 boolean NOT NULL DEFAULT false;
    ALTER TABLE devices ADD COLUMN decoder_state text;
    `,
  },
  {
    version: 5,
    name: 'firmware generation, authenticated source',
    sql: `
    ALTER TABLE devices ADD COLUMN generation text;
    ALTER TABLE devices ADD COLUMN auth_source text;
    ALTER TABLE devices ADD COLUMN auth_at bigint;
    ALTER TABLE devices ADD COLUMN control_counts jsonb NOT NULL DEFAULT '{}';
    `,
  },
  {
    version: 7,
    name: 'device reports: registrations, energy, faults',
    sql: `
    CREATE TABLE device_reports (
      id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      device_id text NOT NULL,
      kind text NOT NULL,
      received_at bigint NOT NULL,
      source text NOT NULL,
      verified boolean NOT NULL,
      body jsonb NOT NULL
    );
    CREATE INDEX device_reports_device ON device_reports (device_id, kind, id);
    CREATE INDEX device_reports_kind ON device_reports (kind, id);
    `,
  },
  {
    version: 8,
    name: 'configuration reports of 1.3 devices',
    sql: `
    CREATE TABLE config_reports (
      device_id text NOT NULL,
      key text NOT NULL,
      value text NOT NULL,
      outcome text NOT NULL,
      basis text NOT NULL,
      at bigint NOT NULL,
      PRIMARY KEY (device_id, key)
    );
    `,
  },
  {
    version: 6,
    name: 'firmware images per generation, unauthenticated outcomes',
    sql: `
    -- the old table becomes the list of versions rollouts reference (its foreign key follows the
    -- rename); images are keyed by (version, generation); existing images are e84f720
    ALTER TABLE firmware_images RENAME TO firmware_versions;
    ALTER TABLE firmware_versions RENAME CONSTRAINT firmware_images_pkey TO firmware_versions_pkey;
    CREATE TABLE firmware_images (
      version text NOT NULL REFERENCES firmware_versions(version),
      generation text NOT NULL,
      original_size bigint NOT NULL,
      encrypted_size bigint NOT NULL,
      chunk_size integer NOT NULL,
      total_chunks integer NOT NULL,
      sha256 text NOT NULL,
      signature text NOT NULL,
      iv text NOT NULL,
      key_id text NOT NULL,
      notes text,
      forced boolean NOT NULL,
      encrypted_file text NOT NULL,
      manifest_file text NOT NULL,
      created_at bigint NOT NULL,
      PRIMARY KEY (version, generation)
    );
    INSERT INTO firmware_images (version, generation, original_size, encrypted_size, chunk_size, total_chunks,
      sha256, signature, iv, key_id, notes, forced, encrypted_file, manifest_file, created_at)
    SELECT version, 'e84f720', original_size, encrypted_size, chunk_size, total_chunks, sha256, signature, iv,
      key_id, notes, forced, encrypted_file, manifest_file, created_at FROM firmware_versions;
    ALTER TABLE firmware_versions
      DROP COLUMN original_size, DROP COLUMN encrypted_size, DROP COLUMN chunk_size, DROP COLUMN total_chunks,
      DROP COLUMN sha256, DROP COLUMN signature, DROP COLUMN iv, DROP COLUMN key_id, DROP COLUMN notes,
      DROP COLUMN forced, DROP COLUMN encrypted_file, DROP COLUMN manifest_file;
    -- whether the request that settled a session's outcome was authenticated (bare ones never halt)
    ALTER TABLE ota_sessions ADD COLUMN outcome_auth text;
    `,
  },
  {
    version: 9,
    name: 'nonce gaps beyond 2^31',
    sql: `
    -- A nonce gap spans up to 2^32 (a counter far ahead, or wrapped): an integer column refused
    -- such an upload (stored everywhere else as a 64-bit integer, as in SQLite). Rewrites the table.
    ALTER TABLE uploads ALTER COLUMN gap TYPE bigint;
    `,
  },
  {
    version: 10,
    name: 'readings partitioned by time',
    sql: `
    -- Readings partitioned by sample time (see block-partitions.ts, which makes the slot
    -- partitions). The table as it was is attached, unchanged, as the partition of every time
    -- before the next UTC midnight: no row is copied, however large it is. Rows dated after that
    -- (device clocks ahead) move to the default partition first. An empty table is just dropped.
    DO $migration$
    DECLARE
      boundary bigint := (extract(epoch FROM date_trunc('day', now() AT TIME ZONE 'UTC')) * 1000)::bigint + 86400000;
      next_id bigint;
      old_rows boolean;
    BEGIN
      ALTER TABLE blocks RENAME TO blocks_legacy;
      ALTER INDEX blocks_device_time RENAME TO blocks_legacy_device_time;
      ALTER INDEX blocks_upload RENAME TO blocks_legacy_upload;
      ALTER INDEX blocks_pkey RENAME TO blocks_legacy_pkey;
      -- a partition cannot keep an identity column: ids continue from one sequence of the parent
      ALTER TABLE blocks_legacy ALTER COLUMN id DROP IDENTITY;
      SELECT COALESCE(max(id), 0) + 1 INTO next_id FROM blocks_legacy;
      CREATE SEQUENCE blocks_id_seq AS bigint;
      EXECUTE format('ALTER SEQUENCE blocks_id_seq RESTART WITH %s', next_id);
      CREATE TABLE blocks (
        id bigint NOT NULL DEFAULT nextval('blocks_id_seq'),
        device_id text NOT NULL,
        time bigint NOT NULL,
        step integer NOT NULL,
        samples integer NOT NULL,
        upload_id bigint NOT NULL,
        packet_idx integer NOT NULL,
        layout text NOT NULL,
        raw text NOT NULL,
        quality text NOT NULL
      ) PARTITION BY RANGE (time);
      ALTER SEQUENCE blocks_id_seq OWNED BY blocks.id;
      CREATE TABLE blocks_default PARTITION OF blocks DEFAULT;
      -- a device-day query reads the index of one or two partitions
      CREATE INDEX blocks_device_time ON blocks (device_id, time, id);
      -- the relay reads an upload's blocks
      CREATE INDEX blocks_upload ON blocks (upload_id);
      SELECT EXISTS (SELECT 1 FROM blocks_legacy) INTO old_rows;
      IF NOT old_rows THEN
        DROP TABLE blocks_legacy;
      ELSE
        INSERT INTO blocks_default SELECT * FROM blocks_legacy WHERE time >= boundary;
        DELETE FROM blocks_legacy WHERE time >= boundary;
        EXECUTE format('ALTER TABLE blocks_legacy ADD CONSTRAINT blocks_legacy_range CHECK (time < %s)', boundary);
        EXECUTE format('ALTER TABLE blocks ATTACH PARTITION blocks_legacy FOR VALUES FROM (MINVALUE) TO (%s)', boundary);
        ALTER TABLE blocks_legacy DROP CONSTRAINT blocks_legacy_range;
      END IF;
    END
    $migration$;
    `,
  },
  // Version 10 is taken by the partitioning work; operators are 11.
  {
    version: 11,
    name: 'operator accounts, sessions and API keys',
    sql: `
    CREATE TABLE operators (
      name text PRIMARY KEY,
      role text NOT NULL,
      password_hash text NOT NULL,
      enabled boolean NOT NULL,
      created_at bigint NOT NULL,
      last_sign_in_at bigint,
      password_changed_at bigint NOT NULL,
      failed_sign_ins integer NOT NULL DEFAULT 0,
      locked_until bigint
    );
    CREATE TABLE operator_sessions (
      id_hash text PRIMARY KEY,
      name text NOT NULL REFERENCES operators(name),
      created_at bigint NOT NULL,
      last_seen_at bigint NOT NULL,
      expires_at bigint NOT NULL
    );
    CREATE INDEX operator_sessions_name ON operator_sessions (name);
    CREATE TABLE api_keys (
      name text PRIMARY KEY,
      role text NOT NULL,
      prefix text NOT NULL UNIQUE,
      hash text NOT NULL,
      created_at bigint NOT NULL,
      created_by text NOT NULL,
      expires_at bigint,
      last_used_at bigint,
      revoked_at bigint
    );
    `,
  },
];
