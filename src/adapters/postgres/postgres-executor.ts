/**
 * The SQL executor on the PostgreSQL pool: `?` numbered as `$n`, each distinct query prepared by
 * name; a transaction runs on one pooled connection after taking its advisory lock.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import {
  numberParameters,
  type SqlDialect,
  type SqlExecutor,
  type SqlSession,
  type TxLock,
} from '../sql/sql-executor.js';
import { LOCK_SPACE } from './pool.js';

/** Second-level lock purposes of the stores' transactions (see pool.ts for the core ones). */
const TX_LOCKS: Record<TxLock['purpose'], number> = { config: 11, commands: 12, firmware: 13, devices: 14 };

export const POSTGRES_DIALECT: SqlDialect = {
  name: 'postgres',
  incrementJsonCounter: (column) =>
    `jsonb_set(${column}, ARRAY[?::text], to_jsonb(coalesce((${column} ->> ?::text)::bigint, 0) + 1))`,
  forUpdate: ' FOR UPDATE',
};

type Queryable = Pick<pg.Pool | pg.PoolClient, 'query'>;

/** Named statements, shared by every connection of the pool (each prepares a name once). */
class Statements {
  private readonly texts = new Map<string, { name: string; text: string }>();

  get(sql: string): { name: string; text: string } {
    let q = this.texts.get(sql);
    if (!q) {
      const name = `ecowatt_q_${createHash('sha256').update(sql).digest('hex').slice(0, 16)}`;
      q = { name, text: numberParameters(sql) };
      this.texts.set(sql, q);
    }
    return q;
  }
}

class PostgresSession implements SqlSession {
  constructor(
    protected readonly on: Queryable,
    protected readonly statements: Statements,
  ) {}

  private async query(sql: string, params: readonly unknown[]): Promise<pg.QueryResult> {
    return this.on.query({ ...this.statements.get(sql), values: [...params] });
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return (await this.query(sql, params)).rows as T[];
  }

  async one<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    return (await this.query(sql, params)).rows[0] as T | undefined;
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return (await this.query(sql, params)).rowCount ?? 0;
  }
}

export class PostgresExecutor extends PostgresSession implements SqlExecutor {
  readonly dialect = POSTGRES_DIALECT;

  constructor(private readonly pool: pg.Pool) {
    super(pool, new Statements());
  }

  /** A session on a connection outside the pool (one holding session state, such as a lock). */
  session(connection: Queryable): SqlSession {
    return new PostgresSession(connection, this.statements);
  }

  async transaction<T>(lock: TxLock | null, work: (tx: SqlSession) => Promise<T>): Promise<T> {
    const c = await this.pool.connect();
    let failure: Error | undefined;
    try {
      await c.query('BEGIN');
      if (lock) {
        await c.query(
          `SELECT pg_advisory_xact_lock($1, hashtext(current_schema() || '/' || coalesce($2::text, '')))`,
          [(LOCK_SPACE << 8) | TX_LOCKS[lock.purpose], lock.key ?? null],
        );
      }
      const value = await work(new PostgresSession(c, this.statements));
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
}
