/**
 * The CommandStore on PostgreSQL: the same rules as src/adapters/sqlite/command-writes.ts. A
 * device's lease, cancel and result run under a per-device transaction lock, so two polls racing
 * each other on different instances cannot both receive the same command, and a result recorded
 * twice changes nothing.
 */
import type pg from 'pg';
import { isFinished, settleLease } from '../../commands/command-lease.js';
import type {
  CancelOutcome,
  CommandStore,
  NewCommand,
  ResultOutcome,
  ResultStatus,
  StoredCommand,
} from '../../ports/command-store.js';
import { type CommandRow, commandFromRow, commandRowId } from '../sqlite/command-rows.js';
import { INSERT_AUDIT, inTransaction, type Sql, xactLock } from './tx.js';

const audit = (
  sql: Sql,
  time: number,
  actor: string,
  action: string,
  c: StoredCommand,
  reason: string | null,
) =>
  sql(INSERT_AUDIT, [
    time,
    actor,
    action,
    c.deviceId,
    reason,
    JSON.stringify({ command: c.id, type: c.type, params: c.params, attempts: c.attempts }),
  ]);

async function load(sql: Sql, id: number, deviceId: string): Promise<StoredCommand | undefined> {
  const [row] = await sql<CommandRow>('SELECT * FROM commands WHERE id = $1 AND device_id = $2', [
    id,
    deviceId,
  ]);
  return row ? commandFromRow(row) : undefined;
}

const SETTLE = 'UPDATE commands SET status = $1, lease_until = NULL, completed_at = $2 WHERE id = $3';

export class PostgresCommandStore implements CommandStore {
  private readonly sql: Sql;

  constructor(private readonly pool: pg.Pool) {
    this.sql = async (text, values) => (await pool.query(text, values)).rows;
  }

  createCommand(c: NewCommand): Promise<StoredCommand> {
    return inTransaction(this.pool, null, async (sql) => {
      const [{ id }] = await sql<{ id: number }>(
        `INSERT INTO commands (device_id, type, params, percent, status, attempts, max_attempts, lease_ms,
           created_at, created_by, reason) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $6, $7, $8, $9) RETURNING id`,
        [
          c.deviceId,
          c.type,
          JSON.stringify(c.params),
          c.percent,
          c.maxAttempts,
          c.leaseMs,
          c.createdAt,
          c.createdBy,
          c.reason,
        ],
      );
      const stored = (await load(sql, id, c.deviceId)) as StoredCommand;
      await audit(sql, c.createdAt, c.createdBy, 'command.created', stored, c.reason);
      return stored;
    });
  }

  async listCommands(deviceId: string, limit: number): Promise<StoredCommand[]> {
    const rows = await this.sql<CommandRow>(
      'SELECT * FROM commands WHERE device_id = $1 ORDER BY id DESC LIMIT $2',
      [deviceId, limit],
    );
    return rows.map(commandFromRow);
  }

  async getCommand(deviceId: string, id: string): Promise<StoredCommand | undefined> {
    const rowId = commandRowId(id);
    return rowId === undefined ? undefined : load(this.sql, rowId, deviceId);
  }

  cancelCommand(
    deviceId: string,
    id: string,
    actor: string,
    reason: string | null,
    time: number,
  ): Promise<CancelOutcome> {
    return inTransaction(this.pool, xactLock('commands', deviceId), async (sql) => {
      const rowId = commandRowId(id);
      const current = rowId === undefined ? undefined : await load(sql, rowId, deviceId);
      if (rowId === undefined || !current) return { ok: false, reason: 'not_found' };
      const status = settleLease(current, time);
      if (status === 'in_flight') return { ok: false, reason: 'in_flight', command: current };
      if (status !== 'pending') {
        if (status !== current.status) await sql(SETTLE, [status, current.leaseUntil, rowId]);
        return {
          ok: false,
          reason: 'finished',
          command: (await load(sql, rowId, deviceId)) as StoredCommand,
        };
      }
      await sql(
        `UPDATE commands SET status = 'cancelled', lease_until = NULL, completed_at = $1, cancelled_by = $2
         WHERE id = $3`,
        [time, actor, rowId],
      );
      const cancelled = (await load(sql, rowId, deviceId)) as StoredCommand;
      await audit(sql, time, actor, 'command.cancelled', cancelled, reason);
      return { ok: true, command: cancelled };
    });
  }

  leaseNext(deviceId: string, time: number): Promise<StoredCommand[]> {
    return inTransaction(this.pool, xactLock('commands', deviceId), async (sql) => {
      const rows = await sql<CommandRow>(
        `SELECT * FROM commands WHERE device_id = $1 AND status IN ('pending', 'in_flight') ORDER BY id`,
        [deviceId],
      );
      const open: StoredCommand[] = [];
      for (const c of rows.map(commandFromRow)) {
        const status = settleLease(c, time);
        if (status !== c.status) {
          await sql(SETTLE, [status, status === 'expired' ? c.leaseUntil : null, Number(c.id)]);
          if (status === 'expired') c.completedAt = c.leaseUntil;
          c.status = status;
          c.leaseUntil = null;
        }
        if (!isFinished(c.status)) open.push(c);
      }
      // One command in flight at a time keeps them in order: a redelivered write never lands
      // after a later one.
      if (open.length === 0 || open.some((c) => c.status === 'in_flight')) return [];
      const next = open[0];
      await sql(
        `UPDATE commands SET status = 'in_flight', attempts = attempts + 1, lease_until = $1, delivered_at = $2
         WHERE id = $3`,
        [time + next.leaseMs, time, Number(next.id)],
      );
      return [(await load(sql, Number(next.id), deviceId)) as StoredCommand];
    });
  }

  recordResult(
    deviceId: string,
    id: string,
    status: ResultStatus,
    detail: string | null,
    time: number,
  ): Promise<ResultOutcome> {
    return inTransaction(this.pool, xactLock('commands', deviceId), async (sql) => {
      const rowId = commandRowId(id);
      const current = rowId === undefined ? undefined : await load(sql, rowId, deviceId);
      if (rowId === undefined || !current) return { ok: false, reason: 'not_found' };
      if (current.status === 'succeeded' || current.status === 'failed') {
        return { ok: true, command: current, duplicate: true };
      }
      if (current.attempts === 0) return { ok: false, reason: 'not_delivered', command: current };
      // A late result (lease lapsed, expired, or cancelled after a delivery) is still the truth.
      await sql(
        'UPDATE commands SET status = $1, lease_until = NULL, completed_at = $2, detail = $3 WHERE id = $4',
        [status, time, detail, rowId],
      );
      return { ok: true, command: (await load(sql, rowId, deviceId)) as StoredCommand, duplicate: false };
    });
  }
}
