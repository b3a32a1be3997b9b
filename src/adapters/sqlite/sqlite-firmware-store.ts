/** The FirmwareStore on the SQLite file: reads on the request thread, writes through the writer. */
import type { Statement } from 'better-sqlite3';
import { STALLED_AFTER_MS } from '../../firmware/rollout-rules.js';
import type {
  FirmwareImage,
  Generation,
  NewRollout,
  OtaSession,
  Rollout,
  RolloutCounts,
  SessionOutcome,
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
  type RolloutRow,
  rolloutFromRow,
  type SessionRow,
  sessionFromRow,
} from './firmware-rows.js';
import { countsFrom } from './firmware-writes.js';
import type { SqliteStorage } from './sqlite-storage.js';

export class SqliteFirmwareStore implements FirmwareStore {
  private readonly st: Record<string, Statement>;

  constructor(private readonly storage: SqliteStorage) {
    const p = (sql: string) => storage.db.prepare(sql);
    this.st = {
      images: p('SELECT * FROM firmware_images ORDER BY created_at, generation'),
      image: p('SELECT * FROM firmware_images WHERE version = ? AND generation = ?'),
      rollouts: p('SELECT * FROM rollouts ORDER BY id'),
      rollout: p('SELECT * FROM rollouts WHERE id = ?'),
      counts: p(COUNTS_SQL),
      session: p('SELECT * FROM ota_sessions WHERE device_id = ? AND rollout_id = ?'),
      sessionRollouts: p('SELECT rollout_id FROM ota_sessions WHERE device_id = ?'),
      reported: p('SELECT version, reported_at FROM device_firmware WHERE device_id = ?'),
      groupsOf: p('SELECT group_name FROM rollout_groups WHERE device_id = ?'),
      groups: p('SELECT group_name, device_id FROM rollout_groups ORDER BY group_name, device_id'),
    };
  }

  async listImages(): Promise<FirmwareImage[]> {
    return (this.st.images.all() as ImageRow[]).map(imageFromRow);
  }

  async getImage(version: string, generation: Generation): Promise<FirmwareImage | undefined> {
    const row = this.st.image.get(version, generation) as ImageRow | undefined;
    return row ? imageFromRow(row) : undefined;
  }

  insertImage(image: FirmwareImage, audit: AuditEntry): Promise<FirmwareImage | undefined> {
    return this.storage.writer.writes.firmware.firmwareInsertImage(image, audit);
  }

  async listRollouts(): Promise<Rollout[]> {
    return (this.st.rollouts.all() as RolloutRow[]).map(rolloutFromRow);
  }

  async getRollout(id: number): Promise<Rollout | undefined> {
    const row = this.st.rollout.get(id) as RolloutRow | undefined;
    return row ? rolloutFromRow(row) : undefined;
  }

  createRollout(rollout: NewRollout, audit: AuditEntry): Promise<Rollout> {
    return this.storage.writer.writes.firmware.firmwareCreateRollout(rollout, audit);
  }

  changeRollout(id: number, action: RolloutAction, audit: AuditEntry): Promise<RolloutChange> {
    return this.storage.writer.writes.firmware.firmwareChangeRollout(id, action, audit);
  }

  evaluateRollout(id: number, now: number): Promise<Rollout | undefined> {
    return this.storage.writer.writes.firmware.firmwareEvaluateRollout(id, now);
  }

  async counts(rolloutId: number, now: number): Promise<RolloutCounts> {
    return countsFrom(this.st.counts.all(now - STALLED_AFTER_MS, rolloutId) as CountRow[]);
  }

  async listSessions(q: { rolloutId?: number; deviceId?: string; limit: number }): Promise<OtaSession[]> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.rolloutId !== undefined) {
      where.push('rollout_id = ?');
      args.push(q.rolloutId);
    }
    if (q.deviceId !== undefined) {
      where.push('device_id = ?');
      args.push(q.deviceId);
    }
    const sql = `SELECT * FROM ota_sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY id DESC LIMIT ?`;
    return (this.storage.db.prepare(sql).all(...args, q.limit) as SessionRow[]).map(sessionFromRow);
  }

  async getSession(deviceId: string, rolloutId: number): Promise<OtaSession | undefined> {
    const row = this.st.session.get(deviceId, rolloutId) as SessionRow | undefined;
    return row ? sessionFromRow(row) : undefined;
  }

  async sessionRolloutsOf(deviceId: string): Promise<Set<number>> {
    return new Set(
      (this.st.sessionRollouts.all(deviceId) as { rollout_id: number }[]).map((r) => r.rollout_id),
    );
  }

  openSession(input: OpenSessionInput): Promise<OtaSession> {
    return this.storage.writer.writes.firmware.firmwareOpenSession(input);
  }

  recordChunk(sessionId: number, chunk: number, now: number): Promise<OtaSession> {
    return this.storage.writer.writes.firmware.firmwareRecordChunk(sessionId, chunk, now);
  }

  recordOutcome(sessionId: number, outcome: SessionOutcome, now: number): Promise<SessionUpdate> {
    return this.storage.writer.writes.firmware.firmwareRecordOutcome(sessionId, outcome, now);
  }

  reportVersion(deviceId: string, version: string, now: number): Promise<void> {
    return this.storage.writer.writes.firmware.firmwareReportVersion(deviceId, version, now);
  }

  async reportedVersion(deviceId: string): Promise<{ version: string; reportedAt: number } | undefined> {
    const row = this.st.reported.get(deviceId) as { version: string; reported_at: number } | undefined;
    return row ? { version: row.version, reportedAt: row.reported_at } : undefined;
  }

  async groupsOf(deviceId: string): Promise<Set<string>> {
    return new Set((this.st.groupsOf.all(deviceId) as { group_name: string }[]).map((r) => r.group_name));
  }

  async listGroups(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    for (const r of this.st.groups.all() as { group_name: string; device_id: string }[]) {
      const list = out.get(r.group_name) ?? [];
      list.push(r.device_id);
      out.set(r.group_name, list);
    }
    return out;
  }

  setGroup(name: string, devices: readonly string[], audit: AuditEntry): Promise<string[]> {
    return this.storage.writer.writes.firmware.firmwareSetGroup(name, [...devices], audit);
  }
}
