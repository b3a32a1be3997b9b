/**
 * Command queue writes, once for both databases. A lease is settled and a command handed out in
 * one transaction under the device's lock, so two polls racing each other (on one SQLite writer,
 * or on several PostgreSQL instances) cannot both receive the same command, and a result recorded
 * twice changes nothing.
 */
import { isFinished, settleLease } from '../../commands/command-lease.js';
import type {
  CancelOutcome,
  NewCommand,
  ResultOutcome,
  ResultStatus,
  StoredCommand,
} from '../../ports/command-store.js';
import { insertAudit } from './audit-log.js';
import { type CommandRow, commandFromRow, commandRowId, loadCommand } from './command-rows.js';
import type { SqlExecutor, SqlSession, TxLock } from './sql-executor.js';

const deviceLock = (deviceId: string): TxLock => ({ purpose: 'commands', key: deviceId });

const SETTLE = 'UPDATE commands SET status = ?, lease_until = NULL, completed_at = ? WHERE id = ?';

/** A statement writing one command row (known to exist); answers the row as it now is. */
async function writeRow(tx: SqlSession, sql: string, params: readonly unknown[]): Promise<StoredCommand> {
  return commandFromRow((await tx.one<CommandRow>(`${sql} RETURNING *`, params)) as CommandRow);
}

function audit(
  tx: SqlSession,
  time: number,
  actor: string,
  action: string,
  c: StoredCommand,
  reason: string | null,
): Promise<number> {
  const detail = { command: c.id, type: c.type, params: c.params, attempts: c.attempts };
  return insertAudit(tx, { time, actor, action, deviceId: c.deviceId, reason, detail });
}

export class CommandWrites {
  constructor(private readonly sql: SqlExecutor) {}

  createCommand(c: NewCommand): Promise<StoredCommand> {
    return this.sql.transaction(null, async (tx) => {
      const stored = await writeRow(
        tx,
        `INSERT INTO commands (device_id, type, params, percent, status, attempts, max_attempts, lease_ms,
           created_at, created_by, reason) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)`,
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
      await audit(tx, c.createdAt, c.createdBy, 'command.created', stored, c.reason);
      return stored;
    });
  }

  cancelCommand(
    deviceId: string,
    id: string,
    actor: string,
    reason: string | null,
    time: number,
  ): Promise<CancelOutcome> {
    const rowId = commandRowId(id);
    if (rowId === undefined) return Promise.resolve({ ok: false, reason: 'not_found' });
    return this.sql.transaction(deviceLock(deviceId), async (tx): Promise<CancelOutcome> => {
      const current = await loadCommand(tx, rowId, deviceId);
      if (!current) return { ok: false, reason: 'not_found' };
      const status = settleLease(current, time);
      if (status === 'in_flight') return { ok: false, reason: 'in_flight', command: current };
      if (status !== 'pending') {
        // Only a lapsed last lease changes here (to expired), so it ended when the lease did.
        const command =
          status === current.status
            ? current
            : await writeRow(tx, SETTLE, [status, current.leaseUntil, rowId]);
        return { ok: false, reason: 'finished', command };
      }
      const cancelled = await writeRow(
        tx,
        `UPDATE commands SET status = 'cancelled', lease_until = NULL, completed_at = ?, cancelled_by = ?
         WHERE id = ?`,
        [time, actor, rowId],
      );
      await audit(tx, time, actor, 'command.cancelled', cancelled, reason);
      return { ok: true, command: cancelled };
    });
  }

  /** Settles lapsed leases (written, so a listing shows them), then hands out the oldest pending. */
  leaseNext(deviceId: string, time: number): Promise<StoredCommand[]> {
    return this.sql.transaction(deviceLock(deviceId), async (tx) => {
      const rows = await tx.all<CommandRow>(
        `SELECT * FROM commands WHERE device_id = ? AND status IN ('pending', 'in_flight') ORDER BY id`,
        [deviceId],
      );
      const open: StoredCommand[] = [];
      for (const c of rows.map(commandFromRow)) {
        const status = settleLease(c, time);
        if (status !== c.status) {
          await tx.run(SETTLE, [status, status === 'expired' ? c.leaseUntil : null, Number(c.id)]);
        }
        if (!isFinished(status)) open.push({ ...c, status });
      }
      // One command in flight at a time keeps them in order: a redelivered write never lands
      // after a later one.
      if (open.length === 0 || open.some((c) => c.status === 'in_flight')) return [];
      const next = open[0];
      return [
        await writeRow(
          tx,
          `UPDATE commands SET status = 'in_flight', attempts = attempts + 1, lease_until = ?,
             delivered_at = ? WHERE id = ?`,
          [time + next.leaseMs, time, Number(next.id)],
        ),
      ];
    });
  }

  recordResult(
    deviceId: string,
    id: string,
    status: ResultStatus,
    detail: string | null,
    time: number,
  ): Promise<ResultOutcome> {
    const rowId = commandRowId(id);
    if (rowId === undefined) return Promise.resolve({ ok: false, reason: 'not_found' });
    return this.sql.transaction(deviceLock(deviceId), async (tx): Promise<ResultOutcome> => {
      const current = await loadCommand(tx, rowId, deviceId);
      if (!current) return { ok: false, reason: 'not_found' };
      if (current.status === 'succeeded' || current.status === 'failed') {
        return { ok: true, command: current, duplicate: true };
      }
      if (current.attempts === 0) return { ok: false, reason: 'not_delivered', command: current };
      // A late result (lease lapsed, expired, or cancelled after a delivery) is still the truth.
      const command = await writeRow(
        tx,
        'UPDATE commands SET status = ?, lease_until = NULL, completed_at = ?, detail = ? WHERE id = ?',
        [status, time, detail, rowId],
      );
      return { ok: true, command, duplicate: false };
    });
  }
}
