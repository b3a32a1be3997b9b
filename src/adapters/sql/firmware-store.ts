/**
 * The FirmwareStore on either database: reads on the session it is given (SQLite: the request
 * thread's read connection), writes through a `FirmwareWrites` (SQLite: the writer's, wherever it
 * runs; PostgreSQL: one on the pool).
 */
import { STALLED_AFTER_MS } from '../../firmware/rollout-rules.js';
import type { FirmwareImage, Generation, OtaSession, Rollout, RolloutCounts } from '../../model/firmware.js';
import type { FirmwareStore } from '../../ports/firmware-store.js';
import {
  COUNTS_SQL,
  type CountRow,
  countsFrom,
  type ImageRow,
  imageFromRow,
  type RolloutRow,
  rolloutFromRow,
  type SessionRow,
  sessionFromRow,
} from './firmware-rows.js';
import type { FirmwareWrites } from './firmware-writes.js';
import { groupRows } from './row-values.js';
import type { SqlSession } from './sql-executor.js';

/** What the store needs of the writes: their methods, called here or on the writer thread. */
export type FirmwareWriter = Pick<FirmwareWrites, keyof FirmwareWrites>;

export class SqlFirmwareStore implements FirmwareStore {
  constructor(
    private readonly sql: SqlSession,
    private readonly writes: FirmwareWriter,
  ) {}

  async listImages(): Promise<FirmwareImage[]> {
    const rows = await this.sql.all<ImageRow>(
      'SELECT * FROM firmware_images ORDER BY created_at, generation',
    );
    return rows.map(imageFromRow);
  }

  async getImage(version: string, generation: Generation): Promise<FirmwareImage | undefined> {
    const row = await this.sql.one<ImageRow>(
      'SELECT * FROM firmware_images WHERE version = ? AND generation = ?',
      [version, generation],
    );
    return row ? imageFromRow(row) : undefined;
  }

  readonly insertImage: FirmwareStore['insertImage'] = (...a) => this.writes.insertImage(...a);

  async listRollouts(): Promise<Rollout[]> {
    return (await this.sql.all<RolloutRow>('SELECT * FROM rollouts ORDER BY id')).map(rolloutFromRow);
  }

  async getRollout(id: number): Promise<Rollout | undefined> {
    const row = await this.sql.one<RolloutRow>('SELECT * FROM rollouts WHERE id = ?', [id]);
    return row ? rolloutFromRow(row) : undefined;
  }

  readonly createRollout: FirmwareStore['createRollout'] = (...a) => this.writes.createRollout(...a);

  readonly changeRollout: FirmwareStore['changeRollout'] = (...a) => this.writes.changeRollout(...a);

  readonly evaluateRollout: FirmwareStore['evaluateRollout'] = (...a) => this.writes.evaluateRollout(...a);

  async counts(rolloutId: number, now: number): Promise<RolloutCounts> {
    return countsFrom(await this.sql.all<CountRow>(COUNTS_SQL, [now - STALLED_AFTER_MS, rolloutId]));
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
    const rows = await this.sql.all<SessionRow>(
      `SELECT * FROM ota_sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`,
      [...args, q.limit],
    );
    return rows.map(sessionFromRow);
  }

  async getSession(deviceId: string, rolloutId: number): Promise<OtaSession | undefined> {
    const row = await this.sql.one<SessionRow>(
      'SELECT * FROM ota_sessions WHERE device_id = ? AND rollout_id = ?',
      [deviceId, rolloutId],
    );
    return row ? sessionFromRow(row) : undefined;
  }

  async sessionRolloutsOf(deviceId: string): Promise<Set<number>> {
    const rows = await this.sql.all<{ rollout_id: number }>(
      'SELECT rollout_id FROM ota_sessions WHERE device_id = ?',
      [deviceId],
    );
    return new Set(rows.map((r) => r.rollout_id));
  }

  readonly openSession: FirmwareStore['openSession'] = (...a) => this.writes.openSession(...a);

  readonly recordChunk: FirmwareStore['recordChunk'] = (...a) => this.writes.recordChunk(...a);

  readonly recordOutcome: FirmwareStore['recordOutcome'] = (...a) => this.writes.recordOutcome(...a);

  readonly reportVersion: FirmwareStore['reportVersion'] = (...a) => this.writes.reportVersion(...a);

  async reportedVersion(deviceId: string): Promise<{ version: string; reportedAt: number } | undefined> {
    const row = await this.sql.one<{ version: string; reported_at: number }>(
      'SELECT version, reported_at FROM device_firmware WHERE device_id = ?',
      [deviceId],
    );
    return row ? { version: row.version, reportedAt: row.reported_at } : undefined;
  }

  async groupsOf(deviceId: string): Promise<Set<string>> {
    const rows = await this.sql.all<{ group_name: string }>(
      'SELECT group_name FROM rollout_groups WHERE device_id = ?',
      [deviceId],
    );
    return new Set(rows.map((r) => r.group_name));
  }

  async listGroups(): Promise<Map<string, string[]>> {
    const rows = await this.sql.all<{ group_name: string; device_id: string }>(
      'SELECT group_name, device_id FROM rollout_groups ORDER BY group_name, device_id',
    );
    return groupRows(
      rows,
      (r) => r.group_name,
      (r) => r.device_id,
    );
  }

  readonly setGroup: FirmwareStore['setGroup'] = (...a) => this.writes.setGroup(...a);
}
