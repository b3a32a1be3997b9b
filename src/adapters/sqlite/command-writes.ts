/**
 * Command queue writes, run by the SQLite writer inside its group-committed transactions: a
 * lease is settled and a command handed out in one transaction, so two polls racing each other
 * cannot both receive the same command, and a result recorded twice changes nothing.
 */
import type { Database } from 'better-sqlite3';
import { isFinished, settleLease } from '../../commands/command-lease.js';
import type {
  CancelOutcome,
  NewCommand,
  ResultOutcome,
  ResultStatus,
  StoredCommand,
} from '../../ports/command-store.js';
import { type CommandRow, commandFromRow, commandRowId } from './command-rows.js';

export function commandWrites(db: Database) {
  const p = (sql: string) => db.prepare(sql);
  const st = {
    insert:
      p(`INSERT INTO commands (device_id, type, params, percent, status, attempts, max_attempts, lease_ms,
      created_at, created_by, reason) VALUES (?, ?, ?, ?, 'pending', 0, ?, ?, ?, ?, ?)`),
    byId: p('SELECT * FROM commands WHERE id = ? AND device_id = ?'),
    open: p(`SELECT * FROM commands WHERE device_id = ? AND status IN ('pending', 'in_flight') ORDER BY id`),
    settle: p('UPDATE commands SET status = ?, lease_until = NULL, completed_at = ? WHERE id = ?'),
    lease:
      p(`UPDATE commands SET status = 'in_flight', attempts = attempts + 1, lease_until = ?, delivered_at = ?
      WHERE id = ?`),
    cancel:
      p(`UPDATE commands SET status = 'cancelled', lease_until = NULL, completed_at = ?, cancelled_by = ?
      WHERE id = ?`),
    complete: p(
      'UPDATE commands SET status = ?, lease_until = NULL, completed_at = ?, detail = ? WHERE id = ?',
    ),
    insertAudit: p(`INSERT INTO audit_log (time, actor, action, device_id, reason, detail)
      VALUES (?, ?, ?, ?, ?, ?)`),
  };
  const load = (id: number, deviceId: string) => {
    const row = st.byId.get(id, deviceId) as CommandRow | undefined;
    return row ? commandFromRow(row) : undefined;
  };
  const audit = (time: number, actor: string, action: string, c: StoredCommand, reason: string | null) =>
    st.insertAudit.run(
      time,
      actor,
      action,
      c.deviceId,
      reason,
      JSON.stringify({ command: c.id, type: c.type, params: c.params, attempts: c.attempts }),
    );

  function createCommand(c: NewCommand): StoredCommand {
    const id = Number(
      st.insert.run(
        c.deviceId,
        c.type,
        JSON.stringify(c.params),
        c.percent,
        c.maxAttempts,
        c.leaseMs,
        c.createdAt,
        c.createdBy,
        c.reason,
      ).lastInsertRowid,
    );
    const stored = load(id, c.deviceId) as StoredCommand;
    audit(c.createdAt, c.createdBy, 'command.created', stored, c.reason);
    return stored;
  }

  /** Brings lapsed leases up to date; `settled` statuses are written, so a listing shows them. */
  function settle(deviceId: string, time: number): StoredCommand[] {
    const open = (st.open.all(deviceId) as CommandRow[]).map(commandFromRow);
    for (const c of open) {
      const status = settleLease(c, time);
      if (status === c.status) continue;
      st.settle.run(status, status === 'expired' ? c.leaseUntil : null, Number(c.id));
      c.status = status;
      if (status === 'expired') c.completedAt = c.leaseUntil;
      c.leaseUntil = null;
    }
    return open;
  }

  function leaseNextCommand(deviceId: string, time: number): StoredCommand[] {
    const open = settle(deviceId, time).filter((c) => !isFinished(c.status));
    // One command in flight at a time keeps them in order: a redelivered write never lands
    // after a later one.
    if (open.length === 0 || open.some((c) => c.status === 'in_flight')) return [];
    const next = open[0];
    st.lease.run(time + next.leaseMs, time, Number(next.id));
    return [load(Number(next.id), deviceId) as StoredCommand];
  }

  function cancelCommand(
    deviceId: string,
    id: string,
    actor: string,
    reason: string | null,
    time: number,
  ): CancelOutcome {
    const rowId = commandRowId(id);
    const current = rowId === undefined ? undefined : load(rowId, deviceId);
    if (rowId === undefined || !current) return { ok: false, reason: 'not_found' };
    const status = settleLease(current, time);
    if (status === 'in_flight') return { ok: false, reason: 'in_flight', command: current };
    if (status !== 'pending') {
      if (status !== current.status) st.settle.run(status, current.leaseUntil, rowId);
      return { ok: false, reason: 'finished', command: load(rowId, deviceId) as StoredCommand };
    }
    st.cancel.run(time, actor, rowId);
    const cancelled = load(rowId, deviceId) as StoredCommand;
    audit(time, actor, 'command.cancelled', cancelled, reason);
    return { ok: true, command: cancelled };
  }

  function recordCommandResult(
    deviceId: string,
    id: string,
    status: ResultStatus,
    detail: string | null,
    time: number,
  ): ResultOutcome {
    const rowId = commandRowId(id);
    const current = rowId === undefined ? undefined : load(rowId, deviceId);
    if (rowId === undefined || !current) return { ok: false, reason: 'not_found' };
    if (current.status === 'succeeded' || current.status === 'failed') {
      return { ok: true, command: current, duplicate: true };
    }
    if (current.attempts === 0) return { ok: false, reason: 'not_delivered', command: current };
    // A late result (lease lapsed, expired, or cancelled after a delivery) is still the truth.
    st.complete.run(status, time, detail, rowId);
    return { ok: true, command: load(rowId, deviceId) as StoredCommand, duplicate: false };
  }

  return { createCommand, cancelCommand, leaseNextCommand, recordCommandResult };
}
