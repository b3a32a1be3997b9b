/**
 * The statements of an upload commit. Everything an upload writes is ONE statement
 * (data-modifying CTEs): the upload, its outbox records, the packets' dedupe keys (ON CONFLICT DO
 * NOTHING decides which packets are re-sends), the packets, the fresh packets' blocks (multi-row,
 * from arrays) and the device's counters and replay state.
 *
 * The statement is guarded: its first CTE locks the device row only if the row still has the
 * registry version and replay state the decision was made on (READ COMMITTED re-checks the
 * condition on the newest row version after waiting for a concurrent writer). Every registry
 * change bumps `registry_version`, every accepted nonce changes the replay state, so a row that
 * passes the guard is one on which the same policy and replay decision would be taken; if it
 * does not pass, nothing is written and the caller decides again under the lock.
 *
 * That gives two ways to commit (postgres-storage.ts):
 * - fast: the decision is taken on this instance's cached copy of the device row and the guarded
 *   statement runs alone, as its own transaction: one statement, one round trip;
 * - locked (first upload of a device on this instance, cache stale, rejections, key rotation,
 *   Redis replay store): [BEGIN, lock the row, read its active keys] then [write, COMMIT],
 *   pipelined: two round trips.
 */
import type { ReplayState } from '../../model/replay.js';
import type { UploadCommit } from '../../ports/storage.js';
import { encodeQualities } from '../blocks.js';
import { encodeSeen, INSERT_DEVICE } from '../sql/device-rows.js';
import { numberParameters } from '../sql/sql-executor.js';

/** What the upload commit reads of a device under its row lock (LOCK_DEVICE, ACTIVE_KIDS). */
export interface LockedDeviceRow {
  status: string;
  allow_unsecured: boolean;
  allow_unsecured_config: boolean;
  require_v2: boolean;
  require_encryption: boolean;
  replay_mode: string;
  replay_high: number | null;
  replay_seen: string;
  registry_version: number;
  /** Active key ids, oldest first. */
  active_kids: string[];
}

export const LOCK_DEVICE = {
  name: 'ecowatt_lock_device',
  text: `SELECT status, allow_unsecured, allow_unsecured_config, require_v2, require_encryption, replay_mode,
    replay_high, replay_seen, registry_version FROM devices WHERE id = $1 FOR NO KEY UPDATE`,
};

/**
 * Sent right after LOCK_DEVICE (same pipeline): a statement of its own takes a new snapshot, so
 * it sees keys committed while the lock was awaited (a sub-select of the locking statement would
 * not).
 */
export const ACTIVE_KIDS = {
  name: 'ecowatt_active_kids',
  text: `SELECT coalesce(array_agg(kid ORDER BY created_at, kid), '{}') AS active_kids FROM device_keys
    WHERE device_id = $1 AND status = 'active'`,
};

/** A device's first upload registers it; one registered concurrently by another upload is kept. */
export const REGISTER_DEVICE = `${numberParameters(INSERT_DEVICE)} ON CONFLICT (id) DO NOTHING`;

export const WRITE_UPLOAD = {
  name: 'ecowatt_write_upload',
  text: `WITH g AS (
    SELECT id FROM devices WHERE id = $1 AND registry_version = $34 AND replay_high IS NOT DISTINCT FROM $35
      AND replay_seen = $36 FOR NO KEY UPDATE
  ),
  up AS (
    INSERT INTO uploads (device_id, nonce, protocol, encrypted, key_kid, received_at, source, request_id,
      device_timestamp, gap)
    SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10 FROM g RETURNING id
  ),
  ob AS (
    INSERT INTO outbox (device_id, kind, ref_id, created_at)
    SELECT $1, k.kind, CASE k.kind WHEN 'device' THEN $1 ELSE up.id::text END, $6
    FROM up, (VALUES (1, 'device'), (2, 'upload')) AS k(ord, kind)
    WHERE $32::boolean AND (k.kind = 'upload' OR $33::boolean)
    ORDER BY k.ord
  ),
  pk AS (
    INSERT INTO packet_keys (dedupe_key, upload_id, idx)
    SELECT k.key, up.id, k.idx FROM up, unnest($12::text[], $11::int[]) WITH ORDINALITY AS k(key, idx, ord)
    ORDER BY k.ord
    ON CONFLICT DO NOTHING RETURNING idx
  ),
  pa AS (
    INSERT INTO packets (upload_id, idx, device_timestamp, bytes, method, label, status, reason, notes,
      duplicate, sample_count)
    SELECT up.id, p.idx, p.ts, p.bytes, p.method, p.label, p.status, p.reason, p.notes,
      p.idx NOT IN (SELECT idx FROM pk), p.samples
    FROM up, unnest($11::int[], $13::bigint[], $14::text[], $15::text[], $16::text[], $17::text[],
      $18::text[], $19::text[], $20::int[]) AS p(idx, ts, bytes, method, label, status, reason, notes, samples)
  ),
  fresh AS (
    SELECT b.* FROM unnest($21::int[], $22::bigint[], $23::int[], $24::int[], $25::text[], $26::text[],
      $27::text[], $28::int[]) AS b(idx, time, step, samples, layout, raw, quality, readings)
    WHERE b.idx IN (SELECT idx FROM pk)
  ),
  bl AS (
    INSERT INTO blocks (device_id, time, step, samples, upload_id, packet_idx, layout, raw, quality)
    SELECT $1, f.time, f.step, f.samples, up.id, f.idx, f.layout, f.raw, f.quality FROM up, fresh f ORDER BY f.idx
  ),
  kt AS (
    UPDATE device_keys SET last_used_at = $6
    WHERE $5::text IS NOT NULL AND device_id = $1 AND kid = $5 AND EXISTS (SELECT 1 FROM up)
  ),
  dv AS (
    UPDATE devices SET first_seen = coalesce(first_seen, $6), last_seen = $6, last_nonce = coalesce($2, last_nonce),
      last_source = $7, replay_high = $29, replay_seen = $30, uploads = uploads + 1,
      readings = readings + (SELECT coalesce(sum(readings), 0) FROM fresh),
      quarantined_packets = quarantined_packets + $31,
      duplicate_packets = duplicate_packets + (cardinality($11::int[]) - (SELECT count(*) FROM pk)),
      nonce_gaps = nonce_gaps + $10, decoder_state = coalesce($37, decoder_state), generation = $38,
      auth_source = CASE WHEN $2::bigint IS NULL THEN auth_source ELSE $7 END,
      auth_at = CASE WHEN $2::bigint IS NULL THEN auth_at ELSE $6 END
    WHERE id = (SELECT id FROM g)
  )
  SELECT (SELECT id FROM up) AS upload_id, ARRAY(SELECT idx FROM pk) AS fresh,
    (SELECT coalesce(sum(samples), 0) FROM fresh) AS samples,
    (SELECT coalesce(sum(readings), 0) FROM fresh) AS readings`,
};

export interface WrittenUpload {
  /** `null`: the guard did not pass, nothing was written. */
  upload_id: number | null;
  fresh: number[];
  samples: number;
  readings: number;
}

export interface UploadGuard {
  registryVersion: number;
  /** The replay state the decision was taken on. */
  before: ReplayState;
}

export function writeUploadValues(
  u: UploadCommit,
  gap: number,
  state: ReplayState,
  outbox: boolean,
  registered: boolean,
  guard: UploadGuard,
): unknown[] {
  const p = u.packets;
  const blocks = p.filter((pk) => pk.block !== null);
  const quarantined = p.filter((pk) => pk.status === 'quarantined').length;
  return [
    u.deviceId,
    u.nonce,
    u.protocol,
    u.encrypted,
    u.keyKid,
    u.receivedAt,
    u.source,
    u.requestId,
    u.deviceTimestamp,
    gap,
    p.map((pk) => pk.index),
    p.map((pk) => pk.dedupeKey),
    p.map((pk) => pk.deviceTimestamp),
    p.map((pk) => pk.bytes),
    p.map((pk) => pk.method),
    p.map((pk) => pk.label),
    p.map((pk) => pk.status),
    p.map((pk) => pk.reason),
    p.map((pk) => JSON.stringify(pk.notes)),
    p.map((pk) => (pk.block ? pk.block.samples : 0)),
    blocks.map((pk) => pk.index),
    blocks.map((pk) => pk.block?.time),
    blocks.map((pk) => pk.block?.step),
    blocks.map((pk) => pk.block?.samples),
    blocks.map((pk) => pk.block?.layout.join(',')),
    blocks.map((pk) => JSON.stringify(pk.block?.values)),
    blocks.map((pk) => encodeQualities(pk.block?.quality ?? [])),
    blocks.map((pk) => pk.block?.values.length),
    state.high,
    encodeSeen(state.seen),
    quarantined,
    outbox,
    registered,
    guard.registryVersion,
    guard.before.high,
    encodeSeen(guard.before.seen),
    u.decoderState ?? null,
    u.generation,
  ];
}

/** Rotation finished: the device used its newest key, the older active ones are retired (audited). */
export const RETIRE_KEYS = `WITH r AS (
    UPDATE device_keys SET status = 'retired', retired_at = $2
    WHERE device_id = $1 AND kid = ANY($3::text[]) AND status = 'active' RETURNING kid
  ),
  v AS (UPDATE devices SET registry_version = registry_version + 1 WHERE id = $1)
  INSERT INTO audit_log (time, actor, action, device_id, reason, detail)
  SELECT $2, 'system', 'key.retired', $1, $4, jsonb_build_object('kid', r.kid) FROM r
  ORDER BY array_position($3::text[], r.kid)`;
