/** The audit log, written in the transaction of the change it records (stored with it, or not at all). */
import type { AuditEntry } from '../../ports/storage.js';
import type { SqlSession } from './sql-executor.js';

/** With `auditValues`; also prepared by the SQLite upload commit, which retires keys. */
export const INSERT_AUDIT =
  'INSERT INTO audit_log (time, actor, action, device_id, reason, detail) VALUES (?, ?, ?, ?, ?, ?)';

export const auditValues = (a: AuditEntry): (string | number | null)[] => [
  a.time,
  a.actor,
  a.action,
  a.deviceId,
  a.reason,
  a.detail ? JSON.stringify(a.detail) : null,
];

export function insertAudit(tx: SqlSession, a: AuditEntry): Promise<number> {
  return tx.run(INSERT_AUDIT, auditValues(a));
}
