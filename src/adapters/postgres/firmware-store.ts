/**
 * The FirmwareStore on PostgreSQL: the same rules as src/adapters/sqlite/firmware-writes.ts.
 * Catalogue, rollout and session-outcome writes run under one firmware-wide transaction lock (they
 * are rare), so a rollout halts exactly when the failure that crossed its threshold is stored, even
 * with several instances; a chunk served (frequent) only locks its session row.
 */
import type pg from 'pg';
import { haltReason, nextStepDue, outcomeWrite, STALLED_AFTER_MS } from '../../firmware/rollout-rules.js';
import {
  clientGeneration,
  type FirmwareImage,
  type Generation,
  type NewRollout,
  type OtaSession,
  type Rollout,
  type RolloutCounts,
  type SessionOutcome,
} from '../../model/firmware.js';
import type {
  FirmwareStore,
  OpenSessionInput,
  RolloutAction,
  RolloutChange,
  SessionUpdate,
} from '../../ports/firmware-store.js';
import type { AuditEntry } from '../../ports/storage.js';
import {
  COUNTS_SQL,
  type CountRow,
  type ImageRow,
  imageFromRow,
  outcomeAuth,
  type RolloutRow,
  rolloutFromRow,
  type SessionRow,
  sessionFromRow,
} from '../sqlite/firmware-rows.js';
import { countsFrom } from '../sqlite/firmware-writes.js';
import { auditValues, INSERT_AUDIT, inTransaction, type Sql, xactLock } from './tx.js';

/** PostgreSQL keeps booleans as booleans; the shared converters read SQLite's 0/1. */
type PgImageRow = Omit<ImageRow, 'forced'> & { forced: boolean };
type PgRolloutRow = Omit<RolloutRow, 'pinned'> & { pinned: boolean };

const image = (r: PgImageRow) => imageFromRow({ ...r, forced: r.forced ? 1 : 0 });
const rollout = (r: PgRolloutRow) => rolloutFromRow({ ...r, pinned: r.pinned ? 1 : 0 });

const OPEN = "('downloading', 'downloaded', 'verified')";

/** COUNTS_SQL of firmware-rows.ts: per state, live open sessions, outcomes that count, bare ones. */
function numbered(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
const COUNTS = numbered(COUNTS_SQL);

async function loadRollout(sql: Sql, id: number): Promise<Rollout | undefined> {
  const [row] = await sql<PgRolloutRow>('SELECT * FROM rollouts WHERE id = $1', [id]);
  return row ? rollout(row) : undefined;
}

async function loadSession(sql: Sql, id: number, lock = false): Promise<OtaSession> {
  const [row] = await sql<SessionRow>(
    `SELECT * FROM ota_sessions WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  if (!row) throw new Error(`no update session ${id}`);
  return sessionFromRow(row);
}

async function counts(sql: Sql, rolloutId: number, now: number): Promise<RolloutCounts> {
  return countsFrom(await sql<CountRow>(COUNTS, [now - STALLED_AFTER_MS, rolloutId]));
}

/** The halt and step rules, applied to the rollout as stored now. */
async function evaluate(sql: Sql, id: number, now: number): Promise<Rollout | undefined> {
  const r = await loadRollout(sql, id);
  if (r?.state !== 'active') return r;
  const c = await counts(sql, id, now);
  const halt = haltReason(r, c);
  if (halt) {
    await sql('UPDATE rollouts SET state = $1, state_reason = $2, updated_at = $3 WHERE id = $4', [
      'halted',
      halt,
      now,
      id,
    ]);
    await sql(
      INSERT_AUDIT,
      auditValues({
        time: now,
        actor: 'system',
        action: 'rollout.halted',
        deviceId: null,
        reason: halt,
        detail: { rollout: id },
      }),
    );
    return loadRollout(sql, id);
  }
  if (nextStepDue(r, c, now)) {
    await sql('UPDATE rollouts SET step_index = $1, step_started_at = $2, updated_at = $2 WHERE id = $3', [
      r.stepIndex + 1,
      now,
      id,
    ]);
    const steps = r.target.kind === 'percentage' ? r.target.steps : [];
    await sql(
      INSERT_AUDIT,
      auditValues({
        time: now,
        actor: 'system',
        action: 'rollout.step',
        deviceId: null,
        reason: `grew to ${steps[r.stepIndex + 1]} %`,
        detail: { rollout: id, step: r.stepIndex + 1 },
      }),
    );
    return loadRollout(sql, id);
  }
  return r;
}

export class PostgresFirmwareStore implements FirmwareStore {
  private readonly sql: Sql;

  constructor(private readonly pool: pg.Pool) {
    this.sql = async (text, values) => (await pool.query(text, values)).rows;
  }

  private locked<T>(work: (sql: Sql) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, xactLock('firmware'), work);
  }

  async listImages(): Promise<FirmwareImage[]> {
    return (await this.sql<PgImageRow>('SELECT * FROM firmware_images ORDER BY created_at, generation')).map(
      image,
    );
  }

  async getImage(version: string, generation: Generation): Promise<FirmwareImage | undefined> {
    const [row] = await this.sql<PgImageRow>(
      'SELECT * FROM firmware_images WHERE version = $1 AND generation = $2',
      [version, generation],
    );
    return row ? image(row) : undefined;
  }

  insertImage(img: FirmwareImage, audit: AuditEntry): Promise<FirmwareImage | undefined> {
    return this.locked(async (sql) => {
      await sql(
        'INSERT INTO firmware_versions (version, created_at) VALUES ($1, $2) ON CONFLICT (version) DO NOTHING',
        [img.version, img.createdAt],
      );
      const inserted = await sql(
        `INSERT INTO firmware_images (version, generation, original_size, encrypted_size, chunk_size, total_chunks,
           sha256, signature, iv, key_id, notes, forced, encrypted_file, manifest_file, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (version, generation) DO NOTHING RETURNING version`,
        [
          img.version,
          img.generation,
          img.originalSize,
          img.encryptedSize,
          img.chunkSize,
          img.totalChunks,
          img.sha256,
          img.signature,
          img.iv,
          img.keyId,
          img.notes,
          img.forced,
          img.encryptedFile,
          img.manifestFile,
          img.createdAt,
        ],
      );
      if (inserted.length === 0) return undefined;
      await sql(INSERT_AUDIT, auditValues(audit));
      return img;
    });
  }

  async listRollouts(): Promise<Rollout[]> {
    return (await this.sql<PgRolloutRow>('SELECT * FROM rollouts ORDER BY id')).map(rollout);
  }

  getRollout(id: number): Promise<Rollout | undefined> {
    return loadRollout(this.sql, id);
  }

  createRollout(r: NewRollout, audit: AuditEntry): Promise<Rollout> {
    return this.locked(async (sql) => {
      const [{ id }] = await sql<{ id: number }>(
        `INSERT INTO rollouts (version, target, step_index, step_started_at, pinned, failure_threshold, min_outcomes,
           outcomes_since, state, state_reason, created_at, updated_at)
         VALUES ($1, $2, 0, $3, $4, $5, $6, $3, 'active', NULL, $3, $3) RETURNING id`,
        [r.version, JSON.stringify(r.target), r.createdAt, r.pinned, r.failureThreshold, r.minOutcomes],
      );
      await sql(INSERT_AUDIT, auditValues({ ...audit, detail: { ...audit.detail, rollout: id } }));
      return (await loadRollout(sql, id)) as Rollout;
    });
  }

  changeRollout(id: number, action: RolloutAction, a: AuditEntry): Promise<RolloutChange> {
    return this.locked(async (sql) => {
      const r = await loadRollout(sql, id);
      if (!r) return { ok: false, reason: 'not_found' };
      const allowed: Record<RolloutAction, readonly string[]> = {
        pause: ['active'],
        resume: ['paused', 'halted'],
        abort: ['active', 'paused', 'halted'],
      };
      if (!allowed[action].includes(r.state)) return { ok: false, reason: 'invalid_state', rollout: r };
      const next = action === 'pause' ? 'paused' : action === 'resume' ? 'active' : 'aborted';
      await sql('UPDATE rollouts SET state = $1, state_reason = $2, updated_at = $3 WHERE id = $4', [
        next,
        a.reason,
        a.time,
        id,
      ]);
      // A resumed step soaks again from now: the pause was not observation time.
      if (action === 'resume') {
        await sql(
          'UPDATE rollouts SET step_index = $1, step_started_at = $2, updated_at = $2 WHERE id = $3',
          [r.stepIndex, a.time, id],
        );
      }
      // Resuming a halt is the operator's judgement on the failures so far: the threshold starts afresh.
      if (action === 'resume' && r.state === 'halted') {
        await sql('UPDATE rollouts SET outcomes_since = $1 WHERE id = $2', [a.time, id]);
      }
      if (action === 'abort') {
        await sql(
          `UPDATE ota_sessions SET state = 'cancelled', outcome = $1, finished_at = $2, updated_at = $2
           WHERE rollout_id = $3 AND state IN ${OPEN}`,
          ['rollout aborted', a.time, id],
        );
      }
      await sql(INSERT_AUDIT, auditValues(a));
      return { ok: true, rollout: (await loadRollout(sql, id)) as Rollout };
    });
  }

  evaluateRollout(id: number, now: number): Promise<Rollout | undefined> {
    return this.locked((sql) => evaluate(sql, id, now));
  }

  counts(rolloutId: number, now: number): Promise<RolloutCounts> {
    return counts(this.sql, rolloutId, now);
  }

  async listSessions(q: { rolloutId?: number; deviceId?: string; limit: number }): Promise<OtaSession[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.rolloutId !== undefined) {
      args.push(q.rolloutId);
      where.push(`rollout_id = $${args.length}`);
    }
    if (q.deviceId !== undefined) {
      args.push(q.deviceId);
      where.push(`device_id = $${args.length}`);
    }
    args.push(q.limit);
    const rows = await this.sql<SessionRow>(
      `SELECT * FROM ota_sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY id DESC LIMIT $${args.length}`,
      args,
    );
    return rows.map(sessionFromRow);
  }

  async getSession(deviceId: string, rolloutId: number): Promise<OtaSession | undefined> {
    const [row] = await this.sql<SessionRow>(
      'SELECT * FROM ota_sessions WHERE device_id = $1 AND rollout_id = $2',
      [deviceId, rolloutId],
    );
    return row ? sessionFromRow(row) : undefined;
  }

  async sessionRolloutsOf(deviceId: string): Promise<Set<number>> {
    const rows = await this.sql<{ rollout_id: number }>(
      'SELECT rollout_id FROM ota_sessions WHERE device_id = $1',
      [deviceId],
    );
    return new Set(rows.map((r) => r.rollout_id));
  }

  openSession(input: OpenSessionInput): Promise<OtaSession> {
    return this.locked(async (sql) => {
      const [existing] = await sql<SessionRow>(
        'SELECT * FROM ota_sessions WHERE device_id = $1 AND rollout_id = $2',
        [input.deviceId, input.rolloutId],
      );
      if (existing) return sessionFromRow(existing);
      const r = await loadRollout(sql, input.rolloutId);
      if (!r) throw new Error(`no rollout ${input.rolloutId}`);
      const generation = clientGeneration(input.client);
      const [img] = await sql<{ total_chunks: number }>(
        'SELECT total_chunks FROM firmware_images WHERE version = $1 AND generation = $2',
        [r.version, generation],
      );
      if (!img) throw new Error(`no ${generation} firmware ${r.version}`);
      const [{ id }] = await sql<{ id: number }>(
        `INSERT INTO ota_sessions (device_id, rollout_id, version, from_version, state, rollout_step, client,
           total_chunks, next_chunk, max_chunk, chunks_served, restarts, started_at, updated_at)
         VALUES ($1, $2, $3, $4, 'downloading', $5, $6, $7, 0, -1, 0, 0, $8, $8) RETURNING id`,
        [
          input.deviceId,
          r.id,
          r.version,
          input.fromVersion,
          r.stepIndex,
          input.client,
          img.total_chunks,
          input.now,
        ],
      );
      return loadSession(sql, id);
    });
  }

  recordChunk(sessionId: number, chunk: number, now: number): Promise<OtaSession> {
    return inTransaction(this.pool, null, async (sql) => {
      const s = await loadSession(sql, sessionId, true);
      const restart = chunk === 0 && s.nextChunk > 0 ? 1 : 0;
      const last = chunk === s.totalChunks - 1;
      // A chunk re-read after the download finished does not undo what the device reported.
      const state = s.state === 'downloading' && last ? 'downloaded' : s.state;
      await sql(
        `UPDATE ota_sessions SET next_chunk = $1, max_chunk = greatest(max_chunk, $2),
           chunks_served = chunks_served + 1, restarts = restarts + $3, state = $4, last_chunk_at = $5,
           updated_at = $5 WHERE id = $6`,
        [chunk + 1, chunk, restart, state, now, sessionId],
      );
      return loadSession(sql, sessionId);
    });
  }

  recordOutcome(sessionId: number, outcome: SessionOutcome, now: number): Promise<SessionUpdate> {
    return this.locked(async (sql) => {
      const s = await loadSession(sql, sessionId, true);
      const w = outcomeWrite(s, outcome);
      if (w.kind === 'phase') {
        await sql('UPDATE ota_sessions SET phase = $1, updated_at = $2 WHERE id = $3', [
          w.phase,
          now,
          sessionId,
        ]);
      } else if (w.kind === 'verified') {
        await sql('UPDATE ota_sessions SET state = $1, updated_at = $2 WHERE id = $3', [
          'verified',
          now,
          sessionId,
        ]);
      } else if (w.kind === 'finish') {
        await sql(
          `UPDATE ota_sessions SET state = $1, outcome = $2, outcome_auth = $3, finished_at = $4, updated_at = $4
           WHERE id = $5`,
          [w.state, w.detail, outcomeAuth(w.authenticated), now, sessionId],
        );
      }
      const r = (await evaluate(sql, s.rolloutId, now)) ?? ((await loadRollout(sql, s.rolloutId)) as Rollout);
      return { session: await loadSession(sql, sessionId), rollout: r };
    });
  }

  async reportVersion(deviceId: string, version: string, now: number): Promise<void> {
    await this.sql(
      `INSERT INTO device_firmware (device_id, version, reported_at) VALUES ($1, $2, $3)
       ON CONFLICT (device_id) DO UPDATE SET version = excluded.version, reported_at = excluded.reported_at`,
      [deviceId, version, now],
    );
  }

  async reportedVersion(deviceId: string): Promise<{ version: string; reportedAt: number } | undefined> {
    const [row] = await this.sql<{ version: string; reported_at: number }>(
      'SELECT version, reported_at FROM device_firmware WHERE device_id = $1',
      [deviceId],
    );
    return row ? { version: row.version, reportedAt: row.reported_at } : undefined;
  }

  async groupsOf(deviceId: string): Promise<Set<string>> {
    const rows = await this.sql<{ group_name: string }>(
      'SELECT group_name FROM rollout_groups WHERE device_id = $1',
      [deviceId],
    );
    return new Set(rows.map((r) => r.group_name));
  }

  async listGroups(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    const rows = await this.sql<{ group_name: string; device_id: string }>(
      'SELECT group_name, device_id FROM rollout_groups ORDER BY group_name, device_id',
    );
    for (const r of rows) {
      const list = out.get(r.group_name) ?? [];
      list.push(r.device_id);
      out.set(r.group_name, list);
    }
    return out;
  }

  setGroup(name: string, devices: readonly string[], audit: AuditEntry): Promise<string[]> {
    return this.locked(async (sql) => {
      await sql('DELETE FROM rollout_groups WHERE group_name = $1', [name]);
      await sql(
        `INSERT INTO rollout_groups (group_name, device_id) SELECT $1, d FROM unnest($2::text[]) AS d
         ON CONFLICT DO NOTHING`,
        [name, [...devices]],
      );
      await sql(INSERT_AUDIT, auditValues(audit));
      const rows = await sql<{ device_id: string }>(
        'SELECT device_id FROM rollout_groups WHERE group_name = $1 ORDER BY device_id',
        [name],
      );
      return rows.map((r) => r.device_id);
    });
  }
}
