/** Row ↔ model conversion for control commands, shared by both databases' reads and writes. */
import type { CommandType } from '../../model/command.js';
import type { CommandStatus, StoredCommand } from '../../ports/command-store.js';
import { json } from './row-values.js';
import type { SqlSession } from './sql-executor.js';

export interface CommandRow {
  id: number;
  device_id: string;
  type: string;
  /** JSON text in both databases. */
  params: string;
  percent: number;
  status: string;
  attempts: number;
  max_attempts: number;
  lease_ms: number;
  lease_until: number | null;
  created_at: number;
  created_by: string;
  reason: string | null;
  delivered_at: number | null;
  completed_at: number | null;
  detail: string | null;
  cancelled_by: string | null;
}

/** Command ids are decimal strings outside the database (the later firmware reads them as text). */
export const commandRowId = (id: string): number | undefined =>
  /^\d{1,15}$/.test(id) ? Number(id) : undefined;

export function commandFromRow(r: CommandRow): StoredCommand {
  return {
    id: String(r.id),
    deviceId: r.device_id,
    type: r.type as CommandType,
    params: json<Record<string, number>>(r.params),
    percent: r.percent,
    status: r.status as CommandStatus,
    attempts: r.attempts,
    maxAttempts: r.max_attempts,
    leaseMs: r.lease_ms,
    leaseUntil: r.lease_until,
    createdAt: r.created_at,
    createdBy: r.created_by,
    reason: r.reason,
    deliveredAt: r.delivered_at,
    completedAt: r.completed_at,
    detail: r.detail,
    cancelledBy: r.cancelled_by,
  };
}

/** A device's command: an id of another device's command is as unknown as one never issued. */
export async function loadCommand(
  sql: SqlSession,
  id: number,
  deviceId: string,
): Promise<StoredCommand | undefined> {
  const row = await sql.one<CommandRow>('SELECT * FROM commands WHERE id = ? AND device_id = ?', [
    id,
    deviceId,
  ]);
  return row ? commandFromRow(row) : undefined;
}
