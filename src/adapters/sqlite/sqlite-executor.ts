/**
 * The SQL executor on an SQLite connection. Each distinct text is prepared once and kept; a
 * transaction joins the writer's group commit (one fsync for every write of an event-loop turn).
 */
import type { Database, Statement } from 'better-sqlite3';
import type { SqlDialect, SqlExecutor, SqlSession, TxLock } from '../sql/sql-executor.js';
import type { GroupCommitter } from './group-commit.js';

/** Distinct queries kept prepared (a page query per IN-list length stays well below this). */
const MAX_STATEMENTS = 256;

/** better-sqlite3 binds no booleans: the schema stores them as 0/1. */
export const bind = (params: readonly unknown[]): unknown[] =>
  params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));

export const SQLITE_DIALECT: SqlDialect = {
  name: 'sqlite',
  incrementJsonCounter: (column) =>
    `json_set(${column}, '$."' || ? || '"', coalesce(json_extract(${column}, '$."' || ? || '"'), 0) + 1)`,
  forUpdate: '',
};

/** Statements on one connection (a read connection, or the writer's inside its transactions). */
export class SqliteSession implements SqlSession {
  private readonly statements = new Map<string, Statement>();

  constructor(private readonly db: Database) {}

  private prepare(sql: string): Statement {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      if (this.statements.size >= MAX_STATEMENTS) this.statements.clear();
      this.statements.set(sql, st);
    }
    return st;
  }

  async all<T>(sql: string, params: readonly unknown[] = []): Promise<T[]> {
    return this.prepare(sql).all(...bind(params)) as T[];
  }

  async one<T>(sql: string, params: readonly unknown[] = []): Promise<T | undefined> {
    return this.prepare(sql).get(...bind(params)) as T | undefined;
  }

  async run(sql: string, params: readonly unknown[] = []): Promise<number> {
    return this.prepare(sql).run(...bind(params)).changes;
  }
}

/**
 * The executor of the write connection: its transactions are savepoints of a group commit, and a
 * statement run outside a transaction joins the group too (alone in its savepoint), so nothing
 * written here is ever outside a group or lands inside another write's savepoint.
 */
export class SqliteExecutor implements SqlExecutor {
  readonly dialect = SQLITE_DIALECT;
  private readonly direct: SqliteSession;

  constructor(
    db: Database,
    private readonly committer: GroupCommitter,
  ) {
    this.direct = new SqliteSession(db);
  }

  // One writer: every transaction is already alone, no lock is needed.
  transaction<T>(_lock: TxLock | null, work: (tx: SqlSession) => Promise<T>): Promise<T> {
    return this.committer.run(() => work(this.direct));
  }

  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]> {
    return this.committer.run(() => this.direct.all<T>(sql, params));
  }

  one<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined> {
    return this.committer.run(() => this.direct.one<T>(sql, params));
  }

  run(sql: string, params?: readonly unknown[]): Promise<number> {
    return this.committer.run(() => this.direct.run(sql, params));
  }
}
