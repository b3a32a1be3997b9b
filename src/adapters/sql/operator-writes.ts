/**
 * Writes of operator accounts, sessions and API keys, each one transaction; an account change
 * and its audit entry (and, for a new password or a disabled account, the end of its sessions)
 * are stored together or not at all.
 */
import { type ApiKey, type LockPolicy, lockedUntil, type Operator, type Role } from '../../model/operator.js';
import type { AccountChange, NewApiKey, NewOperator, NewSession } from '../../ports/operator-store.js';
import { insertAudit } from './audit-log.js';
import { type ApiKeyRow, apiKeyFromRow, type OperatorRow, operatorFromRow } from './operator-rows.js';
import type { SqlExecutor, SqlSession } from './sql-executor.js';

const audit = (tx: SqlSession, c: AccountChange, action: string, detail: Record<string, unknown>) =>
  insertAudit(tx, { time: c.time, actor: c.actor, action, deviceId: null, reason: null, detail });

export class OperatorWrites {
  constructor(private readonly sql: SqlExecutor) {}

  addOperator(op: NewOperator): Promise<Operator | null> {
    return this.sql.transaction(null, async (tx) => {
      const row = await tx.one<OperatorRow>(
        `INSERT INTO operators (name, role, password_hash, enabled, created_at, password_changed_at, failed_sign_ins)
         VALUES (?, ?, ?, ?, ?, ?, 0) ON CONFLICT (name) DO NOTHING RETURNING *`,
        [op.name, op.role, op.passwordHash, true, op.time, op.time],
      );
      if (!row) return null;
      await audit(tx, op, 'user.added', { name: op.name, role: op.role });
      return operatorFromRow(row);
    });
  }

  setPassword(c: AccountChange, passwordHash: string): Promise<boolean> {
    return this.sql.transaction(null, async (tx) => {
      const n = await tx.run(
        `UPDATE operators SET password_hash = ?, password_changed_at = ?, failed_sign_ins = 0, locked_until = NULL
         WHERE name = ?`,
        [passwordHash, c.time, c.name],
      );
      if (n === 0) return false;
      const ended = await tx.run('DELETE FROM operator_sessions WHERE name = ?', [c.name]);
      await audit(tx, c, 'user.password_changed', { name: c.name, sessions_ended: ended });
      return true;
    });
  }

  setEnabled(c: AccountChange, enabled: boolean): Promise<boolean> {
    return this.sql.transaction(null, async (tx) => {
      const n = await tx.run(
        `UPDATE operators SET enabled = ?${enabled ? ', failed_sign_ins = 0, locked_until = NULL' : ''} WHERE name = ?`,
        [enabled, c.name],
      );
      if (n === 0) return false;
      const ended = enabled ? 0 : await tx.run('DELETE FROM operator_sessions WHERE name = ?', [c.name]);
      await audit(tx, c, enabled ? 'user.enabled' : 'user.disabled', {
        name: c.name,
        ...(enabled ? {} : { sessions_ended: ended }),
      });
      return true;
    });
  }

  setRole(c: AccountChange, role: Role): Promise<boolean> {
    return this.sql.transaction(null, async (tx) => {
      const n = await tx.run('UPDATE operators SET role = ? WHERE name = ?', [role, c.name]);
      if (n === 0) return false;
      await audit(tx, c, 'user.role_changed', { name: c.name, role });
      return true;
    });
  }

  async recordSignIn(name: string, time: number): Promise<void> {
    await this.sql.transaction(null, (tx) =>
      tx.run(
        'UPDATE operators SET last_sign_in_at = ?, failed_sign_ins = 0, locked_until = NULL WHERE name = ?',
        [time, name],
      ),
    );
  }

  recordSignInFailure(
    name: string,
    time: number,
    policy: LockPolicy,
  ): Promise<{ failures: number; lockedUntil: number | null }> {
    return this.sql.transaction(null, async (tx) => {
      const row = await tx.one<{ failed_sign_ins: number }>(
        'UPDATE operators SET failed_sign_ins = failed_sign_ins + 1 WHERE name = ? RETURNING failed_sign_ins',
        [name],
      );
      if (!row) return { failures: 0, lockedUntil: null };
      const until = lockedUntil(row.failed_sign_ins, time, policy);
      if (until !== null) await tx.run('UPDATE operators SET locked_until = ? WHERE name = ?', [until, name]);
      return { failures: row.failed_sign_ins, lockedUntil: until };
    });
  }

  async createSession(s: NewSession): Promise<void> {
    await this.sql.transaction(null, (tx) =>
      tx.run(
        'INSERT INTO operator_sessions (id_hash, name, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?)',
        [s.idHash, s.name, s.createdAt, s.createdAt, s.expiresAt],
      ),
    );
  }

  async touchSession(idHash: string, time: number): Promise<void> {
    await this.sql.transaction(null, (tx) =>
      tx.run('UPDATE operator_sessions SET last_seen_at = ? WHERE id_hash = ? AND last_seen_at < ?', [
        time,
        idHash,
        time,
      ]),
    );
  }

  async deleteSession(idHash: string): Promise<void> {
    await this.sql.transaction(null, (tx) =>
      tx.run('DELETE FROM operator_sessions WHERE id_hash = ?', [idHash]),
    );
  }

  deleteExpiredSessions(now: number, idleMs: number): Promise<number> {
    return this.sql.transaction(null, (tx) =>
      tx.run('DELETE FROM operator_sessions WHERE expires_at <= ? OR last_seen_at <= ?', [now, now - idleMs]),
    );
  }

  addApiKey(k: NewApiKey): Promise<ApiKey | null> {
    return this.sql.transaction(null, async (tx) => {
      const row = await tx.one<ApiKeyRow>(
        `INSERT INTO api_keys (name, role, prefix, hash, created_at, created_by, expires_at)
         VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *`,
        [k.name, k.role, k.prefix, k.hash, k.time, k.actor, k.expiresAt],
      );
      if (!row) return null;
      await audit(tx, k, 'apikey.created', {
        name: k.name,
        role: k.role,
        prefix: k.prefix,
        expires_at: k.expiresAt === null ? null : new Date(k.expiresAt).toISOString(),
      });
      return apiKeyFromRow(row);
    });
  }

  revokeApiKey(c: AccountChange): Promise<boolean> {
    return this.sql.transaction(null, async (tx) => {
      const n = await tx.run('UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL', [
        c.time,
        c.name,
      ]);
      if (n === 0) return false;
      await audit(tx, c, 'apikey.revoked', { name: c.name });
      return true;
    });
  }

  async touchApiKey(prefix: string, time: number): Promise<void> {
    await this.sql.transaction(null, (tx) =>
      tx.run('UPDATE api_keys SET last_used_at = ? WHERE prefix = ?', [time, prefix]),
    );
  }
}
