/**
 * The port every store is written against, once for both databases. SQL is written with `?`
 * parameters and portable syntax (`ON CONFLICT … DO UPDATE`, `RETURNING`); each adapter maps it to
 * its database (SQLite: prepared statements kept per text, booleans bound as 0/1; PostgreSQL: `?`
 * numbered `$n`, statements prepared by name). What the two databases spell differently is asked
 * of the `dialect`; rows are mapped with the helpers of `row-values.ts`, which accept both.
 */

/** A connection, or an open transaction on one. */
export interface SqlSession {
  all<T>(sql: string, params?: readonly unknown[]): Promise<T[]>;
  one<T>(sql: string, params?: readonly unknown[]): Promise<T | undefined>;
  /** Runs a statement that returns no rows; resolves to the number of rows it changed. */
  run(sql: string, params?: readonly unknown[]): Promise<number>;
}

/**
 * What a transaction serialises against. SQLite has one writer, so every write transaction is
 * already alone; PostgreSQL takes an advisory transaction lock per purpose (and key) first, so
 * rules checked on rows read inside the transaction hold across instances.
 */
export interface TxLock {
  purpose: 'config' | 'commands' | 'firmware' | 'devices';
  /** Narrows the lock, e.g. to one device. */
  key?: string;
}

export interface SqlDialect {
  name: 'sqlite' | 'postgres';
  /**
   * An expression adding 1 to a counter of the JSON object in `column`, creating it at 1. It takes
   * the counter's key as two parameters (the same value twice). Keys are free text (a generation
   * such as `1.3` holds a dot).
   */
  incrementJsonCounter(column: string): string;
  /**
   * Ends a SELECT inside a transaction so the rows it reads stay locked until it ends: PostgreSQL
   * needs it where a write without the transaction's lock may change them concurrently; SQLite's
   * single writer already holds them (and has no such clause).
   */
  forUpdate: string;
}

export interface SqlExecutor extends SqlSession {
  readonly dialect: SqlDialect;
  /**
   * Runs `work` in one transaction: all its writes are stored, or none. Resolves once durable.
   * `work` must only await the session it is given (SQLite runs it inside a group commit).
   */
  transaction<T>(lock: TxLock | null, work: (tx: SqlSession) => Promise<T>): Promise<T>;
}

/** PostgreSQL numbers its parameters: `?` → `$1`, `$2` … (our SQL has no other `?`). */
export function numberParameters(sql: string): string {
  let n = 0;
  return sql.replace(/\?/g, () => `$${++n}`);
}
