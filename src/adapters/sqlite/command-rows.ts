/** Row ↔ model conversion for control commands, shared by the read side and the writer. */
import type { CommandType } from '../../model/command.js';
import type { CommandStatus, StoredCommand } from '../../ports/command-store.js';

export interface CommandRow {
  id: number;
  device_id: string;
  type: string;
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
    params: JSON.parse(r.params) as Record<string, number>,
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
