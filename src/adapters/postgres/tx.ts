/**
 * Transactions for the capability stores (configuration, commands, firmware). Their rules run in
 * TypeScript on rows read inside the transaction; what SQLite gets from its single writer, these
 * get from an advisory transaction lock per capability (or per device) taken first.
 */
import type pg from 'pg';
import type { AuditEntry } from '../../ports/storage.js';
import { LOCK_SPACE } from './pool.js';

export type Sql = <R extends pg.QueryResultRow = pg.QueryResultRow>(
  text: string,
  values?: unknown[],
) => Promise<R[]>;

/** Second-level lock purposes of the capability stores (see pool.ts for the core ones). */
export const CAPABILITY_LOCKS = { config: 11, commands: 12, firmware: 13 } as const;

/** SQL taking a transaction lock for `purpose` (and `key`, e.g. a device id), per schema. */
export function xactLock(purpose: keyof typeof CAPABILITY_LOCKS, key?: string): [string, unknown[]] {
  return [
    `SELECT pg_advisory_xact_lock(${(LOCK_SPACE << 8) | CAPABILITY_LOCKS[purpose]},
       hashtext(current_schema() || '/' || coalesce($1::text, '')))`,
    [key ?? null],
  ];
}

export async function inTransaction<T>(
  pool: pg.Pool,
  lock: [string, unknown[]] | null,
  work: (sql: Sql) => Promise<T>,
): Promise<T> {
  const c = await pool.connect();
  let failure: Error | undefined;
  try {
    await c.query('BEGIN');
    if (lock) await c.query(lock[0], lock[1]);
    const sql: Sql = async <R extends pg.QueryResultRow>(text: string, values?: unknown[]) =>
      (await c.query<R>(text, values)).rows;
    const value = await work(sql);
    await c.query('COMMIT');
    return value;
  } catch (err) {
    failure = err as Error;
    throw err;
  } finally {
    // A failed transaction's connection is discarded, which rolls it back.
    c.release(failure);
  }
}

export const INSERT_AUDIT = `INSERT INTO audit_log (time, actor, action, device_id, reason, detail)
  VALUES ($1, $2, $3, $4, $5, $6)`;

export const auditValues = (a: AuditEntry): unknown[] => [
  a.time,
  a.actor,
  a.action,
  a.deviceId,
  a.reason,
  a.detail ? JSON.stringify(a.detail) : null,
];
