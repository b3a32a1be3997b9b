/**
 * The OperatorStore for SQLite and PostgreSQL: reads on the session it is given, writes through
 * an `OperatorWrites` (SQLite: the writer's, wherever it runs; PostgreSQL: one on the pool).
 */
import type { ApiKey, Operator } from '../../model/operator.js';
import type {
  OperatorStore,
  StoredApiKey,
  StoredOperator,
  StoredSession,
} from '../../ports/operator-store.js';
import {
  type ApiKeyRow,
  apiKeyFromRow,
  type OperatorRow,
  operatorFromRow,
  type SessionRow,
  sessionFromRow,
  storedApiKeyFromRow,
  storedOperatorFromRow,
} from './operator-rows.js';
import type { OperatorWrites } from './operator-writes.js';
import type { SqlSession } from './sql-executor.js';

export class SqlOperatorStore implements OperatorStore {
  constructor(
    private readonly sql: SqlSession,
    private readonly writes: Pick<OperatorWrites, keyof OperatorWrites>,
  ) {}

  readonly addOperator: OperatorStore['addOperator'] = (...a) => this.writes.addOperator(...a);

  async getOperator(name: string): Promise<StoredOperator | null> {
    const row = await this.sql.one<OperatorRow>('SELECT * FROM operators WHERE name = ?', [name]);
    return row ? storedOperatorFromRow(row) : null;
  }

  async listOperators(): Promise<Operator[]> {
    return (await this.sql.all<OperatorRow>('SELECT * FROM operators ORDER BY name')).map(operatorFromRow);
  }

  async countAdmins(): Promise<number> {
    const row = await this.sql.one<{ n: number | string }>(
      "SELECT COUNT(*) AS n FROM operators WHERE role = 'admin' AND enabled = ?",
      [true],
    );
    return Number(row?.n ?? 0);
  }

  readonly setPassword: OperatorStore['setPassword'] = (...a) => this.writes.setPassword(...a);
  readonly setEnabled: OperatorStore['setEnabled'] = (...a) => this.writes.setEnabled(...a);
  readonly setRole: OperatorStore['setRole'] = (...a) => this.writes.setRole(...a);
  readonly recordSignIn: OperatorStore['recordSignIn'] = (...a) => this.writes.recordSignIn(...a);
  readonly recordSignInFailure: OperatorStore['recordSignInFailure'] = (...a) =>
    this.writes.recordSignInFailure(...a);
  readonly createSession: OperatorStore['createSession'] = (...a) => this.writes.createSession(...a);

  async getSession(idHash: string): Promise<StoredSession | null> {
    const row = await this.sql.one<SessionRow>('SELECT * FROM operator_sessions WHERE id_hash = ?', [idHash]);
    return row ? sessionFromRow(row) : null;
  }

  readonly touchSession: OperatorStore['touchSession'] = (...a) => this.writes.touchSession(...a);
  readonly deleteSession: OperatorStore['deleteSession'] = (...a) => this.writes.deleteSession(...a);
  readonly deleteExpiredSessions: OperatorStore['deleteExpiredSessions'] = (...a) =>
    this.writes.deleteExpiredSessions(...a);
  readonly addApiKey: OperatorStore['addApiKey'] = (...a) => this.writes.addApiKey(...a);

  async findApiKey(prefix: string): Promise<StoredApiKey | null> {
    const row = await this.sql.one<ApiKeyRow>('SELECT * FROM api_keys WHERE prefix = ?', [prefix]);
    return row ? storedApiKeyFromRow(row) : null;
  }

  async listApiKeys(): Promise<ApiKey[]> {
    return (await this.sql.all<ApiKeyRow>('SELECT * FROM api_keys ORDER BY name')).map(apiKeyFromRow);
  }

  readonly revokeApiKey: OperatorStore['revokeApiKey'] = (...a) => this.writes.revokeApiKey(...a);
  readonly touchApiKey: OperatorStore['touchApiKey'] = (...a) => this.writes.touchApiKey(...a);
}
