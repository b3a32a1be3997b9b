/**
 * The upload commit with its replay-state advance, and the replay advance of other authenticated
 * requests: the hot path, on statements prepared once. Runs on the write connection (the writer
 * thread, or inline for an in-memory database); each method runs inside a savepoint of the group
 * commit (write-side.ts).
 */

import type { Database, Statement } from 'better-sqlite3';
import { checkUploadPolicy } from '../../devices/upload-policy.js';
import { keysRetiredByUse } from '../../model/device.js';
import type { ReplayState } from '../../model/replay.js';
import { armedAt, checkReplay } from '../../model/replay-window.js';
import type { CommitOutcome, NonceOutcome, UploadCommit } from '../../ports/storage.js';
import { encodeQualities } from '../blocks.js';
import { auditValues, INSERT_AUDIT } from '../sql/audit-log.js';
import {
  type DeviceRow,
  encodeSeen,
  INSERT_DEVICE,
  newDeviceValues,
  policyFromRow,
  replayFromRow,
} from '../sql/device-rows.js';
import { bind } from './sqlite-executor.js';

type CommitDeviceRow = Pick<
  DeviceRow,
  | 'status'
  | 'allow_unsecured'
  | 'require_encryption'
  | 'replay_mode'
  | 'allow_unsecured_config'
  | 'require_v2'
  | 'replay_high'
  | 'replay_seen'
>;

export class SqliteWriter {
  private readonly st: Record<string, Statement>;

  constructor(
    db: Database,
    /** Record what the MQTT relay must publish (off when no broker is configured). */
    private readonly outbox = true,
  ) {
    const p = (sql: string) => db.prepare(sql);
    this.st = {
      // What a commit or a nonce decides with, and no more: the whole row (its decoder state
      // included) costs more to read than the decision.
      commitDevice:
        p(`SELECT status, allow_unsecured, require_encryption, replay_mode, allow_unsecured_config,
        require_v2, replay_high, replay_seen FROM devices WHERE id = ?`),
      activeKeys: p(
        "SELECT kid FROM device_keys WHERE device_id = ? AND status = 'active' ORDER BY created_at, kid",
      ),
      insertDevice: p(INSERT_DEVICE),
      insertUpload:
        p(`INSERT INTO uploads (device_id, nonce, protocol, encrypted, key_kid, received_at, source,
        request_id, device_timestamp, gap) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertPacketKey: p('INSERT OR IGNORE INTO packet_keys (dedupe_key, upload_id, idx) VALUES (?, ?, ?)'),
      insertPacket:
        p(`INSERT INTO packets (upload_id, idx, device_timestamp, bytes, method, label, status, reason,
        notes, duplicate, sample_count) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      insertBlock:
        p(`INSERT INTO blocks (device_id, time, step, samples, upload_id, packet_idx, layout, raw, quality)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
      updateAfterUpload: p(`UPDATE devices SET first_seen = coalesce(first_seen, @now), last_seen = @now,
        last_nonce = coalesce(@nonce, last_nonce), last_source = @source, replay_high = @high, replay_seen = @seen,
        uploads = uploads + 1, readings = readings + @readings, quarantined_packets = quarantined_packets + @quarantined,
        duplicate_packets = duplicate_packets + @duplicates, nonce_gaps = nonce_gaps + @gap,
        decoder_state = coalesce(@decoderState, decoder_state), generation = @generation,
        auth_source = CASE WHEN @nonce IS NULL THEN auth_source ELSE @source END,
        auth_at = CASE WHEN @nonce IS NULL THEN auth_at ELSE @now END WHERE id = @id`),
      insertOutbox: p(
        'INSERT INTO outbox (device_id, kind, ref_id, payload, created_at) VALUES (?, ?, ?, ?, ?)',
      ),
      touchKey: p('UPDATE device_keys SET last_used_at = ? WHERE device_id = ? AND kid = ?'),
      retireKey: p(
        "UPDATE device_keys SET status = 'retired', retired_at = ? WHERE device_id = ? AND kid = ? AND status = 'active'",
      ),
      insertAudit: p(INSERT_AUDIT),
      advanceReplay: p(
        'UPDATE devices SET replay_high = ?, replay_seen = ?, last_nonce = ?, nonce_gaps = nonce_gaps + ? WHERE id = ?',
      ),
    };
  }

  commitUpload(u: UploadCommit): CommitOutcome {
    let row = this.st.commitDevice.get(u.deviceId) as CommitDeviceRow | undefined;
    // The device row's policy, read inside the transaction, is the one that counts; a device this
    // upload registers gets `registerWith`.
    const policy = row ? policyFromRow(row) : u.registerWith;
    const rejection = checkUploadPolicy(
      {
        status: row?.status === 'disabled' ? 'disabled' : 'active',
        policy,
        hasOwnKeys: row !== undefined && this.st.activeKeys.get(u.deviceId) !== undefined,
      },
      u,
    );
    if (rejection) return { ok: false, code: 'policy', reason: rejection };
    let registered = false;
    if (!row) {
      this.st.insertDevice.run(
        ...bind(
          newDeviceValues({
            id: u.deviceId,
            status: 'active',
            policy,
            autoRegistered: true,
            createdAt: u.receivedAt,
            replay: armedAt(u.initialHigh),
          }),
        ),
      );
      row = this.st.commitDevice.get(u.deviceId) as CommitDeviceRow;
      registered = true;
    }

    let state: ReplayState = replayFromRow(row);
    let gap = 0;
    if (u.nonce !== null) {
      const decision = checkReplay(state, u.nonce, policy.replay, u.counterResetThreshold);
      if (!decision.accept)
        return { ok: false, code: 'replayed_nonce', reason: decision.reason, high: state.high };
      state = decision.next;
      gap = decision.gap;
    }

    const uploadId = Number(
      this.st.insertUpload.run(
        u.deviceId,
        u.nonce,
        u.protocol,
        u.encrypted ? 1 : 0,
        u.keyKid,
        u.receivedAt,
        u.source,
        u.requestId,
        u.deviceTimestamp,
        gap,
      ).lastInsertRowid,
    );
    if (this.outbox) {
      // Discovery before data: a subscriber learns of a device before its first readings.
      if (registered) this.st.insertOutbox.run(u.deviceId, 'device', u.deviceId, null, u.receivedAt);
      this.st.insertOutbox.run(u.deviceId, 'upload', String(uploadId), null, u.receivedAt);
    }
    let readings = 0;
    let samples = 0;
    let quarantined = 0;
    const duplicates: number[] = [];
    for (const pk of u.packets) {
      const fresh = this.st.insertPacketKey.run(pk.dedupeKey, uploadId, pk.index).changes === 1;
      if (!fresh) duplicates.push(pk.index);
      if (pk.status === 'quarantined') quarantined++;
      const b = pk.block;
      this.st.insertPacket.run(
        uploadId,
        pk.index,
        pk.deviceTimestamp,
        pk.bytes,
        pk.method,
        pk.label,
        pk.status,
        pk.reason,
        JSON.stringify(pk.notes),
        fresh ? 0 : 1,
        b ? b.samples : 0,
      );
      if (!fresh || !b) continue;
      this.st.insertBlock.run(
        u.deviceId,
        b.time,
        b.step,
        b.samples,
        uploadId,
        pk.index,
        b.layout.join(','),
        JSON.stringify(b.values),
        encodeQualities(b.quality),
      );
      samples += b.samples;
      readings += b.values.length;
    }
    this.st.updateAfterUpload.run({
      id: u.deviceId,
      now: u.receivedAt,
      nonce: u.nonce,
      source: u.source,
      high: state.high,
      seen: encodeSeen(state.seen),
      readings,
      quarantined,
      duplicates: duplicates.length,
      gap,
      decoderState: u.decoderState ?? null,
      generation: u.generation,
    });
    return {
      ok: true,
      uploadId: String(uploadId),
      gap,
      duplicatePackets: duplicates,
      readingsStored: readings,
      samplesStored: samples,
      registered,
      retiredKeys: u.keyKid ? this.finishRotation(u.deviceId, u.keyKid, u.receivedAt) : [],
    };
  }

  acceptNonce(deviceId: string, nonce: number, counterResetThreshold: number): NonceOutcome {
    const row = this.st.commitDevice.get(deviceId) as CommitDeviceRow | undefined;
    if (!row) return { ok: false, reason: 'unknown_device', high: null };
    const state: ReplayState = replayFromRow(row);
    const decision = checkReplay(state, nonce, policyFromRow(row).replay, counterResetThreshold);
    if (!decision.accept) return { ok: false, reason: decision.reason, high: state.high };
    this.st.advanceReplay.run(
      decision.next.high,
      encodeSeen(decision.next.seen),
      nonce,
      Math.max(0, decision.gap),
      deviceId,
    );
    return { ok: true, gap: decision.gap };
  }

  /** A rotation ends when the device is seen using its newest key: older keys are retired. */
  private finishRotation(deviceId: string, kid: string, now: number): string[] {
    this.st.touchKey.run(now, deviceId, kid);
    const active = (this.st.activeKeys.all(deviceId) as { kid: string }[]).map((k) => k.kid);
    const retired = keysRetiredByUse(active, kid);
    for (const old of retired) {
      this.st.retireKey.run(now, deviceId, old);
      this.st.insertAudit.run(
        ...auditValues({
          time: now,
          actor: 'system',
          action: 'key.retired',
          deviceId,
          reason: `device used its new key ${kid}`,
          detail: { kid: old },
        }),
      );
    }
    return retired;
  }
}
