/**
 * The firmware capability's writes, each one transaction: an atomic read-modify-write whose rules
 * run on rows read inside it. A session change re-applies its rollout's halt and step rules in the
 * same transaction, so a rollout halts exactly when the failure that crossed the threshold is
 * stored. On PostgreSQL the catalogue, rollout and outcome writes take one firmware-wide lock (they
 * are rare), which makes that hold across instances; a chunk served (frequent) only locks its
 * session row.
 */
import { haltReason, nextStepDue, outcomeWrite, STALLED_AFTER_MS } from '../../firmware/rollout-rules.js';
import {
  clientGeneration,
  type FirmwareImage,
  type NewRollout,
  type OtaSession,
  type Rollout,
  type RolloutState,
  type SessionOutcome,
} from '../../model/firmware.js';
import type {
  OpenSessionInput,
  RolloutAction,
  RolloutChange,
  SessionUpdate,
} from '../../ports/firmware-store.js';
import type { AuditEntry } from '../../ports/storage.js';
import { insertAudit } from './audit-log.js';
import {
  COUNTS_SQL,
  type CountRow,
  countsFrom,
  OPEN_STATES,
  outcomeAuth,
  type RolloutRow,
  rolloutFromRow,
  type SessionRow,
  sessionFromRow,
} from './firmware-rows.js';
import type { SqlExecutor, SqlSession } from './sql-executor.js';

const FIRMWARE_LOCK = { purpose: 'firmware' } as const;

/** The states an operator's action applies in, and the state it leads to. */
const TRANSITIONS: Record<RolloutAction, { from: readonly RolloutState[]; to: RolloutState }> = {
  pause: { from: ['active'], to: 'paused' },
  resume: { from: ['paused', 'halted'], to: 'active' },
  abort: { from: ['active', 'paused', 'halted'], to: 'aborted' },
};

const SET_ROLLOUT_STATE = 'UPDATE rollouts SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?';
const SET_ROLLOUT_STEP =
  'UPDATE rollouts SET step_index = ?, step_started_at = ?, updated_at = ? WHERE id = ?';

async function loadRollout(tx: SqlSession, id: number): Promise<Rollout | undefined> {
  const row = await tx.one<RolloutRow>('SELECT * FROM rollouts WHERE id = ?', [id]);
  return row ? rolloutFromRow(row) : undefined;
}

async function loadSession(tx: SqlSession, id: number, lockRow = ''): Promise<OtaSession> {
  const row = await tx.one<SessionRow>(`SELECT * FROM ota_sessions WHERE id = ?${lockRow}`, [id]);
  if (!row) throw new Error(`no update session ${id}`);
  return sessionFromRow(row);
}

/** The halt and step rules, applied to the rollout as stored now. */
async function evaluate(tx: SqlSession, id: number, now: number): Promise<Rollout | undefined> {
  const r = await loadRollout(tx, id);
  if (r?.state !== 'active') return r;
  const counts = countsFrom(await tx.all<CountRow>(COUNTS_SQL, [now - STALLED_AFTER_MS, id]));
  const halt = haltReason(r, counts);
  if (halt) {
    await tx.run(SET_ROLLOUT_STATE, ['halted', halt, now, id]);
    await insertAudit(tx, {
      time: now,
      actor: 'system',
      action: 'rollout.halted',
      deviceId: null,
      reason: halt,
      detail: { rollout: id },
    });
    return loadRollout(tx, id);
  }
  if (nextStepDue(r, counts, now)) {
    await tx.run(SET_ROLLOUT_STEP, [r.stepIndex + 1, now, now, id]);
    const steps = r.target.kind === 'percentage' ? r.target.steps : [];
    await insertAudit(tx, {
      time: now,
      actor: 'system',
      action: 'rollout.step',
      deviceId: null,
      reason: `grew to ${steps[r.stepIndex + 1]} %`,
      detail: { rollout: id, step: r.stepIndex + 1 },
    });
    return loadRollout(tx, id);
  }
  return r;
}

export class FirmwareWrites {
  constructor(private readonly sql: SqlExecutor) {}

  /** `undefined` if the version has an image of that generation already. */
  insertImage(image: FirmwareImage, audit: AuditEntry): Promise<FirmwareImage | undefined> {
    return this.sql.transaction(FIRMWARE_LOCK, async (tx) => {
      await tx.run(
        'INSERT INTO firmware_versions (version, created_at) VALUES (?, ?) ON CONFLICT (version) DO NOTHING',
        [image.version, image.createdAt],
      );
      const inserted = await tx.one<{ version: string }>(
        `INSERT INTO firmware_images (version, generation, original_size, encrypted_size, chunk_size, total_chunks,
           sha256, signature, iv, key_id, notes, forced, encrypted_file, manifest_file, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (version, generation) DO NOTHING RETURNING version`,
        [
          image.version,
          image.generation,
          image.originalSize,
          image.encryptedSize,
          image.chunkSize,
          image.totalChunks,
          image.sha256,
          image.signature,
          image.iv,
          image.keyId,
          image.notes,
          image.forced,
          image.encryptedFile,
          image.manifestFile,
          image.createdAt,
        ],
      );
      if (!inserted) return undefined;
      await insertAudit(tx, audit);
      return image;
    });
  }

  createRollout(r: NewRollout, audit: AuditEntry): Promise<Rollout> {
    return this.sql.transaction(FIRMWARE_LOCK, async (tx) => {
      const [{ id }] = await tx.all<{ id: number }>(
        `INSERT INTO rollouts (version, target, step_index, step_started_at, pinned, failure_threshold, min_outcomes,
           outcomes_since, state, state_reason, created_at, updated_at)
         VALUES (?, ?, 0, ?, ?, ?, ?, ?, 'active', NULL, ?, ?) RETURNING id`,
        [
          r.version,
          JSON.stringify(r.target),
          r.createdAt,
          r.pinned,
          r.failureThreshold,
          r.minOutcomes,
          r.createdAt,
          r.createdAt,
          r.createdAt,
        ],
      );
      await insertAudit(tx, { ...audit, detail: { ...audit.detail, rollout: id } });
      return (await loadRollout(tx, id)) as Rollout;
    });
  }

  changeRollout(id: number, action: RolloutAction, a: AuditEntry): Promise<RolloutChange> {
    return this.sql.transaction(FIRMWARE_LOCK, async (tx): Promise<RolloutChange> => {
      const r = await loadRollout(tx, id);
      if (!r) return { ok: false, reason: 'not_found' };
      const t = TRANSITIONS[action];
      if (!t.from.includes(r.state)) return { ok: false, reason: 'invalid_state', rollout: r };
      await tx.run(SET_ROLLOUT_STATE, [t.to, a.reason, a.time, id]);
      // A resumed step soaks again from now: the pause was not observation time.
      if (action === 'resume') await tx.run(SET_ROLLOUT_STEP, [r.stepIndex, a.time, a.time, id]);
      // Resuming a halt is the operator's judgement on the failures so far: the threshold starts afresh.
      if (action === 'resume' && r.state === 'halted') {
        await tx.run('UPDATE rollouts SET outcomes_since = ? WHERE id = ?', [a.time, id]);
      }
      if (action === 'abort') {
        await tx.run(
          `UPDATE ota_sessions SET state = 'cancelled', outcome = ?, finished_at = ?, updated_at = ?
           WHERE rollout_id = ? AND state IN ${OPEN_STATES}`,
          ['rollout aborted', a.time, a.time, id],
        );
      }
      await insertAudit(tx, a);
      return { ok: true, rollout: (await loadRollout(tx, id)) as Rollout };
    });
  }

  evaluateRollout(id: number, now: number): Promise<Rollout | undefined> {
    return this.sql.transaction(FIRMWARE_LOCK, (tx) => evaluate(tx, id, now));
  }

  openSession(input: OpenSessionInput): Promise<OtaSession> {
    return this.sql.transaction(FIRMWARE_LOCK, async (tx) => {
      const existing = await tx.one<SessionRow>(
        'SELECT * FROM ota_sessions WHERE device_id = ? AND rollout_id = ?',
        [input.deviceId, input.rolloutId],
      );
      if (existing) return sessionFromRow(existing);
      const r = await loadRollout(tx, input.rolloutId);
      if (!r) throw new Error(`no rollout ${input.rolloutId}`);
      const generation = clientGeneration(input.client);
      const image = await tx.one<{ total_chunks: number }>(
        'SELECT total_chunks FROM firmware_images WHERE version = ? AND generation = ?',
        [r.version, generation],
      );
      if (!image) throw new Error(`no ${generation} firmware ${r.version}`);
      const [{ id }] = await tx.all<{ id: number }>(
        `INSERT INTO ota_sessions (device_id, rollout_id, version, from_version, state, rollout_step, client,
           total_chunks, next_chunk, max_chunk, chunks_served, restarts, started_at, updated_at)
         VALUES (?, ?, ?, ?, 'downloading', ?, ?, ?, 0, -1, 0, 0, ?, ?) RETURNING id`,
        [
          input.deviceId,
          r.id,
          r.version,
          input.fromVersion,
          r.stepIndex,
          input.client,
          image.total_chunks,
          input.now,
          input.now,
        ],
      );
      return loadSession(tx, id);
    });
  }

  recordChunk(sessionId: number, chunk: number, now: number): Promise<OtaSession> {
    return this.sql.transaction(null, async (tx) => {
      const s = await loadSession(tx, sessionId, this.sql.dialect.forUpdate);
      const restart = chunk === 0 && s.nextChunk > 0 ? 1 : 0;
      const last = chunk === s.totalChunks - 1;
      // A chunk re-read after the download finished does not undo what the device reported.
      const state = s.state === 'downloading' && last ? 'downloaded' : s.state;
      await tx.run(
        `UPDATE ota_sessions SET next_chunk = ?, max_chunk = ?, chunks_served = chunks_served + 1,
           restarts = restarts + ?, state = ?, last_chunk_at = ?, updated_at = ? WHERE id = ?`,
        [chunk + 1, Math.max(s.maxChunk, chunk), restart, state, now, now, sessionId],
      );
      return loadSession(tx, sessionId);
    });
  }

  recordOutcome(sessionId: number, outcome: SessionOutcome, now: number): Promise<SessionUpdate> {
    return this.sql.transaction(FIRMWARE_LOCK, async (tx) => {
      // Locked against chunks served, which do not take the firmware lock.
      const s = await loadSession(tx, sessionId, this.sql.dialect.forUpdate);
      const w = outcomeWrite(s, outcome);
      if (w.kind === 'phase') {
        await tx.run('UPDATE ota_sessions SET phase = ?, updated_at = ? WHERE id = ?', [
          w.phase,
          now,
          sessionId,
        ]);
      } else if (w.kind === 'verified') {
        await tx.run('UPDATE ota_sessions SET state = ?, updated_at = ? WHERE id = ?', [
          'verified',
          now,
          sessionId,
        ]);
      } else if (w.kind === 'finish') {
        await tx.run(
          `UPDATE ota_sessions SET state = ?, outcome = ?, outcome_auth = ?, finished_at = ?, updated_at = ?
           WHERE id = ?`,
          [w.state, w.detail, outcomeAuth(w.authenticated), now, now, sessionId],
        );
      }
      const rollout =
        (await evaluate(tx, s.rolloutId, now)) ?? ((await loadRollout(tx, s.rolloutId)) as Rollout);
      return { session: await loadSession(tx, sessionId), rollout };
    });
  }

  async reportVersion(deviceId: string, version: string, now: number): Promise<void> {
    await this.sql.run(
      `INSERT INTO device_firmware (device_id, version, reported_at) VALUES (?, ?, ?)
       ON CONFLICT (device_id) DO UPDATE SET version = excluded.version, reported_at = excluded.reported_at`,
      [deviceId, version, now],
    );
  }

  /** Replaces a group's members; an empty list deletes the group. */
  setGroup(name: string, devices: readonly string[], audit: AuditEntry): Promise<string[]> {
    return this.sql.transaction(FIRMWARE_LOCK, async (tx) => {
      await tx.run('DELETE FROM rollout_groups WHERE group_name = ?', [name]);
      for (const d of devices) {
        await tx.run(
          'INSERT INTO rollout_groups (group_name, device_id) VALUES (?, ?) ON CONFLICT DO NOTHING',
          [name, d],
        );
      }
      await insertAudit(tx, audit);
      const rows = await tx.all<{ device_id: string }>(
        'SELECT device_id FROM rollout_groups WHERE group_name = ? ORDER BY device_id',
        [name],
      );
      return rows.map((r) => r.device_id);
    });
  }
}
