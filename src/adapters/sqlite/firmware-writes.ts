/**
 * The firmware capability's writes, run by the SQLite writer in its group-committed transactions:
 * each is one atomic read-modify-write, and a session change re-applies its rollout's halt and step
 * rules in the same transaction, so a rollout halts exactly when the failure that crossed the
 * threshold is stored.
 */
import type { Database } from 'better-sqlite3';
import { haltReason, nextStepDue, outcomeWrite, STALLED_AFTER_MS } from '../../firmware/rollout-rules.js';
import type {
  FirmwareImage,
  NewRollout,
  OtaSession,
  Rollout,
  RolloutCounts,
  SessionOutcome,
} from '../../model/firmware.js';
import { clientGeneration } from '../../model/firmware.js';
import type {
  OpenSessionInput,
  RolloutAction,
  RolloutChange,
  SessionUpdate,
} from '../../ports/firmware-store.js';
import type { AuditEntry } from '../../ports/storage.js';
import {
  COUNTS_SQL,
  type CountRow,
  outcomeAuth,
  type RolloutRow,
  rolloutFromRow,
  type SessionRow,
  sessionFromRow,
} from './firmware-rows.js';

const OPEN = "('downloading', 'downloaded', 'verified')";

export function countsFrom(rows: CountRow[]): RolloutCounts {
  const c: RolloutCounts = {
    sessions: 0,
    downloading: 0,
    downloaded: 0,
    verified: 0,
    succeeded: 0,
    failed: 0,
    cancelled: 0,
    inFlight: 0,
    recentSucceeded: 0,
    recentFailed: 0,
    recentUnauthenticatedSucceeded: 0,
    recentUnauthenticatedFailed: 0,
  };
  for (const r of rows) {
    c.sessions += r.n;
    c.inFlight += r.live;
    if (r.state in c) c[r.state as keyof RolloutCounts] += r.n;
    if (r.state === 'succeeded') {
      c.recentSucceeded += r.recent ?? r.n;
      c.recentUnauthenticatedSucceeded += r.recent_bare ?? 0;
    }
    if (r.state === 'failed') {
      c.recentFailed += r.recent ?? r.n;
      c.recentUnauthenticatedFailed += r.recent_bare ?? 0;
    }
  }
  return c;
}

export const firmwareWrites = (db: Database) => {
  const p = (sql: string) => db.prepare(sql);
  const st = {
    imageExists: p('SELECT 1 FROM firmware_images WHERE version = ? AND generation = ?'),
    insertVersion: p('INSERT OR IGNORE INTO firmware_versions (version, created_at) VALUES (?, ?)'),
    insertImage:
      p(`INSERT INTO firmware_images (version, generation, original_size, encrypted_size, chunk_size,
      total_chunks, sha256, signature, iv, key_id, notes, forced, encrypted_file, manifest_file, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    insertAudit: p(`INSERT INTO audit_log (time, actor, action, device_id, reason, detail)
      VALUES (?, ?, ?, ?, ?, ?)`),
    rollout: p('SELECT * FROM rollouts WHERE id = ?'),
    insertRollout: p(`INSERT INTO rollouts (version, target, step_index, step_started_at, pinned,
      failure_threshold, min_outcomes, outcomes_since, state, state_reason, created_at, updated_at)
      VALUES (?, ?, 0, ?, ?, ?, ?, ?, 'active', NULL, ?, ?)`),
    resetOutcomes: p('UPDATE rollouts SET outcomes_since = ? WHERE id = ?'),
    setRolloutState: p('UPDATE rollouts SET state = ?, state_reason = ?, updated_at = ? WHERE id = ?'),
    setRolloutStep: p('UPDATE rollouts SET step_index = ?, step_started_at = ?, updated_at = ? WHERE id = ?'),
    cancelSessions:
      p(`UPDATE ota_sessions SET state = 'cancelled', outcome = ?, finished_at = ?, updated_at = ?
      WHERE rollout_id = ? AND state IN ${OPEN}`),
    counts: p(COUNTS_SQL),
    session: p('SELECT * FROM ota_sessions WHERE id = ?'),
    sessionOf: p('SELECT * FROM ota_sessions WHERE device_id = ? AND rollout_id = ?'),
    insertSession:
      p(`INSERT INTO ota_sessions (device_id, rollout_id, version, from_version, state, rollout_step,
      client, total_chunks, next_chunk, max_chunk, chunks_served, restarts, started_at, updated_at)
      VALUES (?, ?, ?, ?, 'downloading', ?, ?, ?, 0, -1, 0, 0, ?, ?)`),
    imageChunks: p('SELECT total_chunks FROM firmware_images WHERE version = ? AND generation = ?'),
    chunkServed:
      p(`UPDATE ota_sessions SET next_chunk = ?, max_chunk = max(max_chunk, ?), chunks_served = chunks_served + 1,
      restarts = restarts + ?, state = ?, last_chunk_at = ?, updated_at = ? WHERE id = ?`),
    finish: p(
      'UPDATE ota_sessions SET state = ?, outcome = ?, outcome_auth = ?, finished_at = ?, updated_at = ? WHERE id = ?',
    ),
    setState: p('UPDATE ota_sessions SET state = ?, updated_at = ? WHERE id = ?'),
    setPhase: p('UPDATE ota_sessions SET phase = ?, updated_at = ? WHERE id = ?'),
    reportVersion: p(`INSERT INTO device_firmware (device_id, version, reported_at) VALUES (?, ?, ?)
      ON CONFLICT (device_id) DO UPDATE SET version = excluded.version, reported_at = excluded.reported_at`),
    deleteGroup: p('DELETE FROM rollout_groups WHERE group_name = ?'),
    insertMember: p('INSERT OR IGNORE INTO rollout_groups (group_name, device_id) VALUES (?, ?)'),
    members: p('SELECT device_id FROM rollout_groups WHERE group_name = ? ORDER BY device_id'),
  };

  const audit = (a: AuditEntry) =>
    st.insertAudit.run(
      a.time,
      a.actor,
      a.action,
      a.deviceId,
      a.reason,
      a.detail ? JSON.stringify(a.detail) : null,
    );
  const loadRollout = (id: number) => {
    const row = st.rollout.get(id) as RolloutRow | undefined;
    return row ? rolloutFromRow(row) : undefined;
  };
  const loadSession = (id: number) => {
    const row = st.session.get(id) as SessionRow | undefined;
    if (!row) throw new Error(`no update session ${id}`);
    return sessionFromRow(row);
  };

  const evaluate = (id: number, now: number): Rollout | undefined => {
    const r = loadRollout(id);
    if (r?.state !== 'active') return r;
    const counts = countsFrom(st.counts.all(now - STALLED_AFTER_MS, id) as CountRow[]);
    const halt = haltReason(r, counts);
    if (halt) {
      st.setRolloutState.run('halted', halt, now, id);
      audit({
        time: now,
        actor: 'system',
        action: 'rollout.halted',
        deviceId: null,
        reason: halt,
        detail: { rollout: id },
      });
      return loadRollout(id);
    }
    if (nextStepDue(r, counts, now)) {
      st.setRolloutStep.run(r.stepIndex + 1, now, now, id);
      const steps = r.target.kind === 'percentage' ? r.target.steps : [];
      audit({
        time: now,
        actor: 'system',
        action: 'rollout.step',
        deviceId: null,
        reason: `grew to ${steps[r.stepIndex + 1]} %`,
        detail: { rollout: id, step: r.stepIndex + 1 },
      });
      return loadRollout(id);
    }
    return r;
  };

  return {
    firmwareInsertImage(image: FirmwareImage, a: AuditEntry): FirmwareImage | undefined {
      if (st.imageExists.get(image.version, image.generation)) return undefined;
      st.insertVersion.run(image.version, image.createdAt);
      st.insertImage.run(
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
        image.forced ? 1 : 0,
        image.encryptedFile,
        image.manifestFile,
        image.createdAt,
      );
      audit(a);
      return image;
    },

    firmwareCreateRollout(r: NewRollout, a: AuditEntry): Rollout {
      const id = Number(
        st.insertRollout.run(
          r.version,
          JSON.stringify(r.target),
          r.createdAt,
          r.pinned ? 1 : 0,
          r.failureThreshold,
          r.minOutcomes,
          r.createdAt,
          r.createdAt,
          r.createdAt,
        ).lastInsertRowid,
      );
      audit({ ...a, detail: { ...a.detail, rollout: id } });
      return loadRollout(id) as Rollout;
    },

    firmwareChangeRollout(id: number, action: RolloutAction, a: AuditEntry): RolloutChange {
      const r = loadRollout(id);
      if (!r) return { ok: false, reason: 'not_found' };
      const allowed: Record<RolloutAction, readonly string[]> = {
        pause: ['active'],
        resume: ['paused', 'halted'],
        abort: ['active', 'paused', 'halted'],
      };
      if (!allowed[action].includes(r.state)) return { ok: false, reason: 'invalid_state', rollout: r };
      const next = action === 'pause' ? 'paused' : action === 'resume' ? 'active' : 'aborted';
      st.setRolloutState.run(next, a.reason, a.time, id);
      // A resumed step soaks again from now: the pause was not observation time.
      if (action === 'resume') st.setRolloutStep.run(r.stepIndex, a.time, a.time, id);
      // Resuming a halt is the operator's judgement on the failures so far: the threshold starts afresh.
      if (action === 'resume' && r.state === 'halted') st.resetOutcomes.run(a.time, id);
      if (action === 'abort') st.cancelSessions.run('rollout aborted', a.time, a.time, id);
      audit(a);
      return { ok: true, rollout: loadRollout(id) as Rollout };
    },

    firmwareEvaluateRollout(id: number, now: number): Rollout | undefined {
      return evaluate(id, now);
    },

    firmwareOpenSession(input: OpenSessionInput): OtaSession {
      const existing = st.sessionOf.get(input.deviceId, input.rolloutId) as SessionRow | undefined;
      if (existing) return sessionFromRow(existing);
      const r = loadRollout(input.rolloutId);
      if (!r) throw new Error(`no rollout ${input.rolloutId}`);
      const generation = clientGeneration(input.client);
      const image = st.imageChunks.get(r.version, generation) as { total_chunks: number } | undefined;
      if (!image) throw new Error(`no ${generation} firmware ${r.version}`);
      const id = Number(
        st.insertSession.run(
          input.deviceId,
          r.id,
          r.version,
          input.fromVersion,
          r.stepIndex,
          input.client,
          image.total_chunks,
          input.now,
          input.now,
        ).lastInsertRowid,
      );
      return loadSession(id);
    },

    firmwareRecordChunk(sessionId: number, chunk: number, now: number): OtaSession {
      const s = loadSession(sessionId);
      const restart = chunk === 0 && s.nextChunk > 0 ? 1 : 0;
      const last = chunk === s.totalChunks - 1;
      // A chunk re-read after the download finished does not undo what the device reported.
      const state = s.state === 'downloading' && last ? 'downloaded' : s.state;
      st.chunkServed.run(chunk + 1, chunk, restart, state, now, now, sessionId);
      return loadSession(sessionId);
    },

    firmwareRecordOutcome(sessionId: number, outcome: SessionOutcome, now: number): SessionUpdate {
      const s = loadSession(sessionId);
      const w = outcomeWrite(s, outcome);
      if (w.kind === 'phase') st.setPhase.run(w.phase, now, sessionId);
      else if (w.kind === 'verified') st.setState.run('verified', now, sessionId);
      else if (w.kind === 'finish') {
        st.finish.run(w.state, w.detail, outcomeAuth(w.authenticated), now, now, sessionId);
      }
      const rollout = evaluate(s.rolloutId, now) ?? (loadRollout(s.rolloutId) as Rollout);
      return { session: loadSession(sessionId), rollout };
    },

    firmwareReportVersion(deviceId: string, version: string, now: number): undefined {
      st.reportVersion.run(deviceId, version, now);
      return undefined;
    },

    firmwareSetGroup(name: string, devices: string[], a: AuditEntry): string[] {
      st.deleteGroup.run(name);
      for (const d of devices) st.insertMember.run(name, d);
      audit(a);
      return (st.members.all(name) as { device_id: string }[]).map((r) => r.device_id);
    },
  };
};
